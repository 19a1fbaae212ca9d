import { useState } from 'react';
import { useApolloClient } from '@apollo/client/react';
import { login, signup } from '../auth';
import { explain } from '../errors';
import { RequestPasswordResetMutation } from '../operations';
import { ProviderButton } from './ProviderSignIn';

export function AuthForms() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [email, setEmail] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [forgot, setForgot] = useState(false);

  const run = (action: () => Promise<unknown>) => async () => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(explain(e));
      setBusy(false);
    }
  };

  if (forgot) return <ForgotPassword onBack={() => setForgot(false)} />;

  return (
    <section className="card">
      <h2>Log in or sign up</h2>
      <form onSubmit={(e) => { e.preventDefault(); void run(() => login(username, password))(); }}>
        <label>
          Username
          <input value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="username" />
        </label>
        <label>
          Password
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="current-password" />
        </label>
        <label>
          Email (sign up only, optional: for password resets)
          <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="email" />
        </label>
        <div className="row">
          <button type="submit" disabled={busy}>Log in</button>
          <button type="button" disabled={busy} onClick={() => void run(() => signup(username, password, email))()}>
            Sign up
          </button>
          <button type="button" className="link" onClick={() => setForgot(true)}>
            Forgot password?
          </button>
        </div>
        {error && <p role="alert" className="error">{error}</p>}
      </form>
      <ProviderButton />
    </section>
  );
}

/**
 * Asks for a reset link. The answer is the same for every address (authql answers `true`
 * whether or not an account has it), so the page says the same thing too.
 */
function ForgotPassword({ onBack }: { onBack: () => void }) {
  const client = useApolloClient();
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      await client.mutate({ mutation: RequestPasswordResetMutation, variables: { email } });
      setSent(true);
    } catch (e) {
      setError(explain(e));
    }
  };

  return (
    <section className="card">
      <h2>Forgot your password?</h2>
      {sent ? (
        <p role="status" className="ok" data-testid="reset-requested">
          If an account has this address, we sent it a link to choose a new password. It works
          for 30 minutes.
        </p>
      ) : (
        <form onSubmit={submit}>
          <label>
            Your account's email
            <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="email" />
          </label>
          <button type="submit">Send me a link</button>
          {error && <p role="alert" className="error">{error}</p>}
        </form>
      )}
      <button type="button" className="link" onClick={onBack}>
        Back to log in
      </button>
    </section>
  );
}
