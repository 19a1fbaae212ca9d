// mySessions, "sign out other devices" (logout(scope: OTHERS)) and revoking one session
// (revokeSession): the ended sessions' tokens answer TOKEN_REVOKED at once and their
// WebSockets close with 4403, which signs those tabs out (src/apollo.ts).
import { useState } from 'react';
import { useApolloClient, useQuery } from '@apollo/client/react';
import { LogoutMutation, MySessionsQuery, RevokeSessionMutation } from '../operations';
import { explain } from '../errors';

export function Sessions() {
  const client = useApolloClient();
  const { data, error, loading, refetch } = useQuery(MySessionsQuery, { fetchPolicy: 'network-only' });
  const [notice, setNotice] = useState<string | null>(null);

  const act = async (what: string, run: () => Promise<unknown>) => {
    try {
      await run();
      setNotice(what);
      await refetch();
    } catch (e) {
      setNotice(`Failed: ${explain(e)}`);
    }
  };

  if (loading && !data) return <p>Loading sessions…</p>;
  return (
    <section className="card">
      <h2>Sessions</h2>
      {error && <p role="alert" className="error">{explain(error)}</p>}
      {notice && <p role="status" data-testid="sessions-notice">{notice}</p>}
      <button
        onClick={() =>
          void act('Signed out every other device.', () =>
            client.mutate({ mutation: LogoutMutation, variables: { scope: 'OTHERS' } }),
          )
        }
      >
        Sign out other devices
      </button>
      <table>
        <thead>
          <tr><th>Started</th><th>Last used</th><th>Device</th><th>Address</th><th /></tr>
        </thead>
        <tbody>
          {data?.mySessions.map((s) => (
            <tr key={s.id} data-testid={s.current ? 'session-current' : 'session-other'}>
              <td>{new Date(s.createdAt).toLocaleString()}</td>
              <td>{new Date(s.lastUsedAt).toLocaleString()}</td>
              <td>{s.userAgent?.slice(0, 60) ?? '—'}</td>
              <td>{s.ipAddress ?? '—'}</td>
              <td>
                {s.current ? (
                  <strong>this device</strong>
                ) : (
                  <button
                    onClick={() =>
                      void act('Session revoked.', () =>
                        client.mutate({ mutation: RevokeSessionMutation, variables: { id: s.id } }),
                      )
                    }
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
