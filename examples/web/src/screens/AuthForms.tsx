import { useState } from 'react';
import { login, signup } from '../auth';
import { explain } from '../errors';

export function AuthForms() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = (action: typeof login) => async () => {
    setBusy(true);
    setError(null);
    try {
      await action(username, password);
    } catch (e) {
      setError(explain(e));
      setBusy(false);
    }
  };

  return (
    <section className="card">
      <h2>Log in or sign up</h2>
      <form onSubmit={(e) => { e.preventDefault(); void run(login)(); }}>
        <label>
          Username
          <input value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="username" />
        </label>
        <label>
          Password
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="current-password" />
        </label>
        <div className="row">
          <button type="submit" disabled={busy}>Log in</button>
          <button type="button" disabled={busy} onClick={() => void run(signup)()}>Sign up</button>
        </div>
        {error && <p role="alert" className="error">{error}</p>}
      </form>
    </section>
  );
}
