// The item catalogue: public, except `owner`, which requires an authenticated caller. With
// errorPolicy 'all' an anonymous visitor gets the items *and* one error per owner (a
// partial result), rendered as "log in to see owners"; signed in, owners appear. Signed in,
// the `itemEvents` subscription keeps the list live.
import { useState, useSyncExternalStore } from 'react';
import { getSocket, subscribeSocket } from '../apollo';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { useApolloClient, useQuery, useSubscription } from '@apollo/client/react';
import {
  CatalogueQuery,
  CreateItemMutation,
  DeleteItemMutation,
  ItemEventsSubscription,
  UpdateItemMutation,
} from '../operations';
import type { ItemFieldsFragment } from '../gql/graphql';
import { explain } from '../errors';
import { Cancelled, useFreshAction } from '../FreshToken';
import { useAuth } from '../useAuth';

export function Catalogue() {
  const { session } = useAuth();
  const { data, error, loading, refetch } = useQuery(CatalogueQuery, { errorPolicy: 'all' });
  const [events, setEvents] = useState<string[]>([]);
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const live = useSyncExternalStore(subscribeSocket, getSocket);

  // Live updates. UPDATED items are normalized (Item:id), so the cache updates every row
  // showing them; CREATED and DELETED change the list itself: refetch it.
  const { error: liveError } = useSubscription(ItemEventsSubscription, {
    skip: !session,
    onData: ({ data: event }) => {
      const e = event.data?.itemEvents;
      if (!e) return;
      setEvents((list) => [`${e.kind} ${e.item?.name ?? `item ${e.itemId}`}`, ...list].slice(0, 5));
      if (e.kind !== 'UPDATED') refetch().catch(() => undefined);
    },
  });

  const ownerErrors = CombinedGraphQLErrors.is(error)
    ? error.errors.filter((e) => e.path?.at(-1) === 'owner')
    : [];
  const otherError = error && ownerErrors.length !== (CombinedGraphQLErrors.is(error) ? error.errors.length : -1);

  if (loading && !data) return <p>Loading the catalogue…</p>;

  return (
    <section className="card">
      <h2>Catalogue</h2>
      {ownerErrors.length > 0 && (
        <p className="partial" data-testid="partial">
          Partial result: {data?.items.totalCount ?? 0} items, owners hidden — log in to see owners.
          <small> ({ownerErrors.length} × {String(ownerErrors[0].extensions?.code)} on <code>owner</code>)</small>
        </p>
      )}
      {otherError && <p role="alert" className="error">{explain(error)}</p>}
      {session && (
        <p className="live" data-testid="live">
          Live updates: {liveError ? `stopped (${liveError.message})` : live.state}
          {events.length > 0 && <> — latest: {events.join(', ')}</>}
        </p>
      )}
      {notice && (
        <p role={notice.ok ? 'status' : 'alert'} className={notice.ok ? 'ok' : 'error'} data-testid="notice">
          {notice.text}
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th>Item</th>
            <th>Price</th>
            <th>Store</th>
            <th>Owner</th>
            {session && <th />}
          </tr>
        </thead>
        <tbody>
          {data?.items.nodes.map((item) => (
            <ItemRow key={item.id} item={item} signedIn={!!session} onNotice={setNotice} />
          ))}
        </tbody>
      </table>
      {session && data && <CreateItem stores={data.stores.nodes} onNotice={setNotice} onCreated={() => refetch().catch(() => undefined)} />}
    </section>
  );
}

type Notify = (notice: { ok: boolean; text: string } | null) => void;

function ItemRow({ item, signedIn, onNotice }: { item: ItemFieldsFragment; signedIn: boolean; onNotice: Notify }) {
  const client = useApolloClient();
  const fresh = useFreshAction();
  const [editing, setEditing] = useState(false);
  const [price, setPrice] = useState(item.price);

  const save = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      await client.mutate({ mutation: UpdateItemMutation, variables: { id: item.id, input: { price } } });
      setEditing(false);
      onNotice({ ok: true, text: `Saved ${item.name}.` });
    } catch (e) {
      onNotice({ ok: false, text: `Could not save ${item.name}: ${explain(e)}` });
    }
  };

  const remove = async () => {
    try {
      await fresh(() => client.mutate({ mutation: DeleteItemMutation, variables: { id: item.id } }));
      client.cache.evict({ id: client.cache.identify({ __typename: 'Item', id: item.id }) });
      client.cache.gc();
      onNotice({ ok: true, text: `Deleted ${item.name}.` });
    } catch (e) {
      if (e instanceof Cancelled) return onNotice({ ok: false, text: `${item.name} was not deleted.` });
      onNotice({ ok: false, text: `Could not delete ${item.name}: ${explain(e)}` });
    }
  };

  return (
    <tr data-testid={`item-${item.name}`}>
      <td>{item.name}</td>
      <td>
        {editing ? (
          <form onSubmit={save} className="inline">
            <input aria-label={`Price of ${item.name}`} value={price} onChange={(e) => setPrice(e.target.value)} />
            <button type="submit">Save</button>
            <button type="button" onClick={() => setEditing(false)}>Cancel</button>
          </form>
        ) : (
          item.price
        )}
      </td>
      <td>{item.store.name}</td>
      <td>{item.owner ? item.owner.username : <em className="muted">log in to see owners</em>}</td>
      {signedIn && (
        <td className="actions">
          {!editing && <button onClick={() => { setPrice(item.price); setEditing(true); }}>Edit</button>}
          <button onClick={() => void remove()}>Delete</button>
        </td>
      )}
    </tr>
  );
}

function CreateItem({ stores, onNotice, onCreated }: { stores: { id: string; name: string }[]; onNotice: Notify; onCreated: () => void }) {
  const client = useApolloClient();
  const [storeId, setStoreId] = useState('');
  const [name, setName] = useState('');
  const [price, setPrice] = useState('');

  if (stores.length === 0) return <p className="muted">No store yet: an admin must create one (createStore).</p>;

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      const result = await client.mutate({
        mutation: CreateItemMutation,
        variables: { input: { storeId: storeId || stores[0].id, name, price } },
      });
      onNotice({ ok: true, text: `Created ${result.data?.createItem.name}.` });
      setName('');
      setPrice('');
      onCreated();
    } catch (e) {
      onNotice({ ok: false, text: `Could not create the item: ${explain(e)}` });
    }
  };

  return (
    <form onSubmit={submit} className="create">
      <h3>New item</h3>
      <label>
        Store
        <select value={storeId} onChange={(e) => setStoreId(e.target.value)}>
          {stores.map((s) => (
            <option key={s.id} value={s.id}>{s.name}</option>
          ))}
        </select>
      </label>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        Price
        <input value={price} onChange={(e) => setPrice(e.target.value)} placeholder="12.50" />
      </label>
      <button type="submit">Create item</button>
    </form>
  );
}
