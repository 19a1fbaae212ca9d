// "Sign in with your provider" (src/oidc.ts): the button, shown when /oidc.json names a
// provider, and the page the provider sends the browser back to.
import { useEffect, useRef, useState } from 'react';
import { finishSignIn, providerConfig, startSignIn, type ProviderConfig } from '../oidc';

export function ProviderButton() {
  const [config, setConfig] = useState<ProviderConfig | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    void providerConfig().then(setConfig);
  }, []);
  if (!config) return null;
  return (
    <div className="row">
      <button type="button" onClick={() => void startSignIn(config).catch((e: Error) => setError(e.message))}>
        Sign in with your provider
      </button>
      {error && <p role="alert" className="error">{error}</p>}
    </div>
  );
}

export function ProviderCallback() {
  const [error, setError] = useState<string | null>(null);
  const started = useRef(false);
  useEffect(() => {
    // Once: the code is single use (React's development double effect would spend it).
    if (started.current) return;
    started.current = true;
    finishSignIn().catch((e: Error) => setError(e.message));
  }, []);
  return (
    <section className="card">
      <h2>Signing in…</h2>
      {error && (
        <p role="alert" className="error" data-testid="provider-error">
          Sign-in failed: {error}. <a href="/">Back to the shop</a>
        </p>
      )}
    </section>
  );
}
