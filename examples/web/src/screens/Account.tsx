// The account: who am I, refresh the token by hand (which leaves a non-fresh token — then
// deleteItem or changePassword ask for the password again), and change the password.
import { useState } from 'react';
import { useApolloClient, useQuery } from '@apollo/client/react';
import { acceptPayload, refreshOnce } from '../auth';
import { ChangePasswordMutation, MeQuery } from '../operations';
import { explain } from '../errors';
import { Cancelled, useFreshAction } from '../FreshToken';
import { useAuth } from '../useAuth';

export function Account() {
  const client = useApolloClient();
  const fresh = useFreshAction();
  const { session, refreshes } = useAuth();
  const me = useQuery(MeQuery);
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [notice, setNotice] = useState<string | null>(null);

  const refreshNow = async () => {
    try {
      await refreshOnce();
      setNotice('Token refreshed: it is no longer fresh.');
    } catch (e) {
      setNotice(`Refresh failed: ${explain(e)}`);
    }
  };

  const changePassword = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      const result = await fresh(() =>
        client.mutate({
          mutation: ChangePasswordMutation,
          variables: { input: { currentPassword: current, newPassword: next } },
        }),
      );
      // Every other session ended; this answer is the new pair of a new session.
      if (result.data) acceptPayload(result.data.changePassword);
      setNotice('Password changed; every other session was signed out.');
    } catch (e) {
      setNotice(e instanceof Cancelled ? 'Password not changed.' : `Password not changed: ${explain(e)}`);
    }
  };

  return (
    <section className="card">
      <h2>Account</h2>
      <p>
        {me.data?.me.username} — {me.data?.me.role} — mode: {session?.mode}
      </p>
      {notice && <p role="status" data-testid="account-notice">{notice}</p>}
      <div className="row">
        <button onClick={() => void refreshNow()}>Refresh token now</button>
        <span>Token refreshes by this page: {refreshes}</span>
      </div>
      <form onSubmit={changePassword}>
        <h3>Change password</h3>
        <label>
          Current password
          <input type="password" value={current} onChange={(e) => setCurrent(e.target.value)} autoComplete="current-password" />
        </label>
        <label>
          New password
          <input type="password" value={next} onChange={(e) => setNext(e.target.value)} autoComplete="new-password" />
        </label>
        <button type="submit">Change password</button>
      </form>
    </section>
  );
}
