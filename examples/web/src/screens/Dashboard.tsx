// Four queries at once (three need a token). When the access token has expired, all three
// answer TOKEN_EXPIRED together; the error link in src/apollo.ts makes them share one
// `refresh` and retry — the counter below shows how many refreshes this page sent.
import { useState } from 'react';
import { useApolloClient, useQuery } from '@apollo/client/react';
import { MeQuery, MyItemsQuery, MySessionsQuery, StoresQuery, UsersCountQuery } from '../operations';
import { explain } from '../errors';
import { useAuth } from '../useAuth';

/** Admins only (`users` requires role ADMIN): asked only when `me` says so. */
function UsersTile() {
  const users = useQuery(UsersCountQuery);
  return (
    <div className="tile" data-testid="tile-users">
      <h3>Users (admin)</h3>
      {users.error ? (
        <p className="error">{explain(users.error)}</p>
      ) : users.loading ? (
        <p>Loading…</p>
      ) : (
        <p>{users.data?.users.totalCount} users</p>
      )}
    </div>
  );
}

export function Dashboard() {
  const client = useApolloClient();
  const { refreshes } = useAuth();
  const me = useQuery(MeQuery);
  const items = useQuery(MyItemsQuery);
  const sessions = useQuery(MySessionsQuery);
  const stores = useQuery(StoresQuery);
  const [reloads, setReloads] = useState(0);
  const [reloading, setReloading] = useState(false);

  const reloadAll = async () => {
    setReloading(true);
    try {
      await client.refetchQueries({ include: 'active' });
    } catch {
      // Each tile shows its own error.
    } finally {
      setReloading(false);
      setReloads((n) => n + 1);
    }
  };

  const card = (title: string, testId: string, q: { loading: boolean; error?: unknown }, body: React.ReactNode) => (
    <div className="tile" data-testid={testId}>
      <h3>{title}</h3>
      {q.error ? <p className="error">{explain(q.error)}</p> : q.loading ? <p>Loading…</p> : body}
    </div>
  );

  return (
    <section className="card">
      <h2>Dashboard</h2>
      <div className="row">
        <button onClick={() => void reloadAll()} disabled={reloading}>Reload all</button>
        <span data-testid="reloads">{reloading ? 'Reloading…' : `Reloaded ${reloads} times`}</span>
        <span data-testid="refreshes">Token refreshes by this page: {refreshes}</span>
      </div>
      <div className="tiles">
        {card('Me', 'tile-me', me, <p>{me.data?.me.username} ({me.data?.me.role})</p>)}
        {card('My items', 'tile-items', items, <p>{items.data?.me.items.totalCount} items</p>)}
        {card('My sessions', 'tile-sessions', sessions, <p>{sessions.data?.mySessions.length} live sessions</p>)}
        {card('Stores', 'tile-stores', stores, <p>{stores.data?.stores.totalCount} stores</p>)}
        {me.data?.me.role === 'ADMIN' && <UsersTile />}
      </div>
    </section>
  );
}
