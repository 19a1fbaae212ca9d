// The two pages mailed links point to: {APP_URL}/reset-password#token=… and
// {APP_URL}/verify-email#token=… (docs/frontend.md "Forgot password and email
// verification"). The token is in the fragment, which the browser sends to no server.
import { useEffect, useRef, useState } from 'react';
import { useApolloClient } from '@apollo/client/react';
import { explain } from '../errors';
import { ResetPasswordMutation, VerifyEmailMutation } from '../operations';

/** The token of the URL fragment, read once; then the fragment leaves the address bar and the history. */
function useFragmentToken(): string {
  const [token] = useState(() => new URLSearchParams(window.location.hash.slice(1)).get('token') ?? '');
  useEffect(() => {
    if (window.location.hash) window.history.replaceState(null, '', window.location.pathname);
  }, []);
  return token;
}

export function ResetPassword() {
  const client = useApolloClient();
  const linked = useFragmentToken();
  const [token, setToken] = useState(linked);
  const [password, setPassword] = useState('');
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      await client.mutate({ mutation: ResetPasswordMutation, variables: { token, newPassword: password } });
      setDone(true);
    } catch (e) {
      setError(explain(e));
    }
  };

  return (
    <section className="card">
      <h2>Choose a new password</h2>
      {done ? (
        <p role="status" className="ok" data-testid="reset-done">
          Password changed, and every device was signed out. <a href="/">Log in</a> with the new password.
        </p>
      ) : (
        <form onSubmit={submit}>
          {/* Filled from the link; a code typed from the mail works the same. */}
          <label>
            Code from the mail
            <input value={token} onChange={(e) => setToken(e.target.value)} autoComplete="one-time-code" />
          </label>
          <label>
            New password
            <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="new-password" />
          </label>
          <button type="submit">Set password</button>
          {error && (
            <p role="alert" className="error">
              {error} <a href="/">Request a new link</a>
            </p>
          )}
        </form>
      )}
    </section>
  );
}

export function VerifyEmail() {
  const client = useApolloClient();
  const token = useFragmentToken();
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  const sent = useRef(false);

  useEffect(() => {
    // Once, also under StrictMode's double effects: a second call would find the token used.
    if (sent.current) return;
    sent.current = true;
    client
      .mutate({ mutation: VerifyEmailMutation, variables: { token } })
      .then(() => setOutcome({ ok: true, text: 'Email address confirmed. Thank you!' }))
      .catch((e) => setOutcome({ ok: false, text: explain(e) }));
  }, [client, token]);

  return (
    <section className="card">
      <h2>Confirm your email address</h2>
      {outcome === null ? (
        <p>Checking the link…</p>
      ) : (
        <p role={outcome.ok ? 'status' : 'alert'} className={outcome.ok ? 'ok' : 'error'} data-testid="verify-outcome">
          {outcome.text}
        </p>
      )}
      <a href="/">Back to the shop</a>
    </section>
  );
}
