// The account: who am I, refresh the token by hand (which leaves a non-fresh token — then
// deleteItem, changePassword or changeEmail ask for the password again), change the
// password, the email address (its verification, and changing it), and the second factor.
import { useState } from 'react';
import { useApolloClient, useQuery } from '@apollo/client/react';
import { acceptPayload, refreshOnce } from '../auth';
import {
  ChangeEmailMutation,
  ChangePasswordMutation,
  MeQuery,
  RequestEmailVerificationMutation,
} from '../operations';
import { explain } from '../errors';
import { Cancelled, useFreshAction } from '../FreshToken';
import { useAuth } from '../useAuth';
import { TwoFactorSettings } from './SecondFactor';

export function Account() {
  const client = useApolloClient();
  const fresh = useFreshAction();
  const { session, refreshes } = useAuth();
  const me = useQuery(MeQuery);
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const [newEmail, setNewEmail] = useState('');

  const resendVerification = async () => {
    try {
      const result = await client.mutate({ mutation: RequestEmailVerificationMutation });
      setNotice(
        result.data?.requestEmailVerification
          ? 'We sent a new link to your address.'
          : 'Nothing to confirm: no address, or it is confirmed already.',
      );
    } catch (e) {
      setNotice(`No link sent: ${explain(e)}`);
    }
  };

  const changeEmail = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      await fresh(() => client.mutate({ mutation: ChangeEmailMutation, variables: { newEmail } }));
      // The same answer whether or not the address is taken: say the same thing.
      setNotice(`We sent a link to ${newEmail}: your address changes once you follow it.`);
    } catch (e) {
      setNotice(e instanceof Cancelled ? 'Address not changed.' : `Address not changed: ${explain(e)}`);
    }
  };

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
      <p data-testid="email-status">
        Email: {me.data?.me.email ?? 'none'}
        {me.data?.me.email && (me.data.me.emailVerified ? ' (confirmed)' : ' (not confirmed yet)')}
        {me.data?.me.email && !me.data.me.emailVerified && (
          <button type="button" className="link" onClick={() => void resendVerification()}>
            Send the link again
          </button>
        )}
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
      <TwoFactorSettings
        mfaEnabled={me.data?.me.mfaEnabled ?? false}
        codesLeft={me.data?.me.recoveryCodesLeft ?? null}
        changed={() => void me.refetch()}
      />
      <form onSubmit={changeEmail}>
        <h3>Change email</h3>
        <label>
          New email
          <input type="email" value={newEmail} onChange={(e) => setNewEmail(e.target.value)} autoComplete="email" />
        </label>
        <button type="submit">Change email</button>
      </form>
    </section>
  );
}
