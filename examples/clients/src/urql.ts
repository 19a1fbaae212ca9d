// urql (@urql/core 6, the client core of urql v5) + @urql/exchange-auth + graphql-ws
// against authql, in Node.js (no browser; urql's React bindings are not needed).
//
//   authExchange ─► fetchExchange (POST /graphql, counting fetch)
//                └► subscriptionExchange ─► graphql-ws (/graphql/ws)
//
// - addAuthToOperation puts `Authorization: Bearer <access token>` on every operation,
//   unless its context says `anonymous: true`, and records the credential generation.
// - didAuthError: TOKEN_EXPIRED → the exchange queues the operation, calls refreshAuth
//   once for all that fail together, then re-executes them with the new token.
//   TOKEN_REVOKED / INVALID_TOKEN → sign out (no refresh, no retry).
// - refreshAuth awaits the shared single-flight `refreshOnce` (src/shared.ts), which sends
//   `refresh` over a bare fetch, not through this client: a refresh that answers an error
//   signs out, and the queued operations get that error at once (no waiting on itself).
//   (authExchange's own `utils.mutate` would bypass the exchange as well; the bare fetch is
//   shared with the socket, which must refresh too.)
//
// Run: AUTHQL_URL=http://127.0.0.1:8000 AUTHQL_ADMIN_PASSWORD=… npm run urql (see run.sh).
import { Client, CombinedError, fetchExchange, makeOperation, subscriptionExchange } from '@urql/core';
import { authExchange } from '@urql/exchange-auth';
import { createClient as createSseClient } from 'graphql-sse';
import {
  AuthSession,
  CreateItemMutation,
  FATAL_CODES,
  GRAPHQL_HTTP_URL,
  ItemEventsSubscription,
  ItemsPageQuery,
  LoginMutation,
  LogoutMutation,
  MeQuery,
  ProbeQuery,
  SignedOutError,
  SignupMutation,
  assert,
  bareData,
  bareRequest,
  countSent,
  countingFetch,
  createAuthWsClient,
  createStoreAsAdmin,
  freshUsername,
  requireShortTokens,
  runProgram,
  sentRequests,
  sleep,
  subscriptionOverHttp,
  waitFor,
  waitUntilExpired,
  withTimeout,
  type AuthWsClient,
  type ItemEvent,
} from './shared.js';

/** One urql client with its own token store and socket (the probe in step 5 makes a second). */
function createUrql(auth: AuthSession): { client: Client; ws: AuthWsClient } {
  /** The newest credential generation that answered TOKEN_EXPIRED since the last refreshAuth. */
  let failedGeneration = -1;

  const auth$ = authExchange(async (utils) => ({
    addAuthToOperation(operation) {
      const token = auth.accessToken;
      if (operation.context.anonymous || !token) return operation;
      const withHeader = utils.appendHeaders(operation, { authorization: `Bearer ${token}` });
      return makeOperation(withHeader.kind, withHeader, { ...withHeader.context, authGeneration: auth.generation });
    },
    didAuthError(error, operation) {
      if (operation.context.anonymous || !auth.signedIn) return false;
      const codes = error.graphQLErrors.map((e) => e.extensions?.code);
      const sentWith = typeof operation.context.authGeneration === 'number' ? operation.context.authGeneration : -1;
      if (codes.includes('TOKEN_EXPIRED')) {
        failedGeneration = Math.max(failedGeneration, sentWith);
        return true; // queued; refreshAuth below runs once for the whole queue
      }
      const fatal = codes.find((code) => FATAL_CODES.includes(String(code)));
      if (fatal && sentWith === auth.generation) auth.signOut(`${fatal} on ${operation.kind}`);
      return false;
    },
    async refreshAuth() {
      // An answer to an older credential than the current one needs no refresh, just the
      // retry: refreshOnce resolves at once for a stale generation. (authExchange calls this
      // again for a TOKEN_EXPIRED that arrives after the previous refresh finished.)
      const generation = failedGeneration;
      failedGeneration = -1;
      await auth.refreshOnce(generation);
    },
  }));

  const ws = createAuthWsClient(auth);
  const client = new Client({
    url: GRAPHQL_HTTP_URL,
    fetch: countingFetch,
    // No cacheExchange: every query goes to the server (this program checks answers).
    requestPolicy: 'network-only',
    exchanges: [
      auth$,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({
            unsubscribe: ws.client.subscribe({ ...request, query: request.query ?? '' }, sink),
          }),
        }),
      }),
    ],
  });
  return { client, ws };
}

/** A result's GraphQL error codes, or its network error, as text (for failure messages). */
function describe(error: CombinedError | undefined): string {
  return error ? error.message : 'no error';
}

// ---- the program --------------------------------------------------------------------------

const auth = new AuthSession('urql');
const { client, ws } = createUrql(auth);
const username = freshUsername('urql');
const password = `pw-${Math.random().toString(36).slice(2)}-long-enough`;
let storeId = '';

/** A mutation through the client, wanting data. */
async function createItem(name: string, price: string) {
  const result = await client.mutation(CreateItemMutation, { input: { storeId, name, price } }).toPromise();
  assert(result.data, `createItem ${name}: ${describe(result.error)}`);
  return result.data.createItem;
}

await runProgram(
  'urql',
  [
    [
      'signup',
      async () => {
        // Token mutations go over a bare fetch, not through the client (see header comment).
        const data = await bareData(SignupMutation, { input: { username, password } });
        auth.accept(data.signup);
        assert(data.signup.user.username === username, 'signup answered another user');
        return `${username} (id ${data.signup.user.id}), access token for ${data.signup.expiresIn} s`;
      },
    ],
    [
      'login',
      async () => {
        const data = await bareData(LoginMutation, { input: { username, password } });
        assert(data.login.user.id === auth.user?.id, 'login answered another user than signup');
        auth.accept(data.login);
        return 'same password, a new session';
      },
    ],
    [
      'partial-data',
      async () => {
        // Something to list: a store (the admin's job) and two items owned by this user.
        storeId = await createStoreAsAdmin(`urql store ${username}`);
        for (const name of ['urql lamp', 'urql chair']) {
          const item = await createItem(name, '9.50');
          assert(item.owner?.username === username, `createItem ${name}: owner is not ${username}`);
        }
        // The public page, sent WITHOUT a token: `owner` is guarded, so each owner is null
        // with its own AUTHORIZATION_REQUIRED error. urql always keeps both: result.data is
        // the partial data, result.error.graphQLErrors the errors beside it.
        const result = await client.query(ItemsPageQuery, {}, { anonymous: true }).toPromise();
        const { data, error } = result;
        assert(data, `no data beside the errors: ${describe(error)}`);
        const nodes = data.items.nodes;
        assert(nodes.length >= 2, `expected at least 2 items on the page, got ${nodes.length}`);
        assert(nodes.every((n) => n.owner === null), 'an owner was visible without a token');
        assert(error && !error.networkError, `expected GraphQL errors only, got ${describe(error)}`);
        const codes = error.graphQLErrors.map((e) => e.extensions?.code);
        assert(codes.every((c) => c === 'AUTHORIZATION_REQUIRED'), `unexpected codes ${codes.join(', ')}`);
        const owners = new Set(error.graphQLErrors.map((e) => e.path?.join('.')));
        const expected = nodes.map((_, i) => `items.nodes.${i}.owner`);
        assert(
          error.graphQLErrors.length === nodes.length && expected.every((p) => owners.has(p)),
          `expected one error per owner (${expected.join(', ')}), got ${[...owners].join(', ')}`,
        );
        return `${nodes.length} items with owner null and ${error.graphQLErrors.length} AUTHORIZATION_REQUIRED errors, both kept (result.data + result.error)`;
      },
    ],
    [
      'subscription',
      async () => {
        requireShortTokens(auth);
        const events: ItemEvent[] = [];
        const errors: string[] = [];
        const started = Date.now();
        const subscription = client.subscription(ItemEventsSubscription, {}).subscribe((result) => {
          if (result.data) events.push(result.data.itemEvents);
          if (result.error) errors.push(result.error.message);
        });
        const noErrors = () => assert(errors.length === 0, `subscription error: ${errors.join('; ')}`);
        const expiries = () => ws.log.closes.filter((c) => c.code === 4403 && c.reason === 'TOKEN_EXPIRED').length;

        /** Creates an item over HTTP once the socket is live with ≥ 1 s of token left, and awaits its event. */
        const roundTrip = async (name: string) => {
          await waitFor(() => ws.log.open && ws.log.tokenExpiresAt - Date.now() > 1_000, 5_000, 'no live socket with time left on its token');
          await ws.waitLive(2_000);
          const { id } = await createItem(name, '1.25');
          await waitFor(() => events.some((e) => e.kind === 'CREATED' && e.itemId === id), 5_000, `no CREATED event for item ${id} on the subscription`);
          assert(events.find((e) => e.itemId === id)?.item?.name === name, 'the event carries another item name');
        };

        try {
          await waitFor(() => ws.log.connects >= 1, 5_000, 'the socket did not connect');
          // 1. The server closes the socket with 4403 TOKEN_EXPIRED; we refresh and reconnect.
          await waitFor(() => expiries() >= 1 && ws.log.open, 8_000, 'no 4403 TOKEN_EXPIRED close followed by a reconnect');
          noErrors();
          await roundTrip(`urql after expiry ${username}`);
          // 2. Keep it open for ~3 token lifetimes, then prove it still delivers.
          await waitFor(() => Date.now() - started >= 10_000 && expiries() >= 2, 12_000, 'fewer than 2 expiries in the window');
          await roundTrip(`urql at the end ${username}`);
          noErrors();
        } finally {
          subscription.unsubscribe();
        }
        assert(auth.signedIn, `signed out during the subscription: ${auth.signedOutReason}`);
        const other = ws.log.closes.filter((c) => !(c.code === 4403 && c.reason === 'TOKEN_EXPIRED'));
        assert(other.length === 0, `unexpected closes: ${JSON.stringify(other)}`);
        return `open ${((Date.now() - started) / 1000).toFixed(1)} s, closed ${expiries()}× with 4403 TOKEN_EXPIRED, refreshed and reconnected each time (${ws.log.connects} connects); events for items created after the 1st and last expiry arrived`;
      },
    ],
    [
      'sse-subscription',
      async () =>
        // The graphql-sse client (GraphQL over Server-Sent Events, distinct connections
        // mode): the same subscription without a WebSocket, one POST per subscription.
        subscriptionOverHttp(
          username,
          password,
          (token, log) => {
            const sse = createSseClient({ url: GRAPHQL_HTTP_URL, headers: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
            const stop = sse.subscribe<{ itemEvents: ItemEvent }>(
              { query: 'subscription { itemEvents { kind itemId item { name } } }' },
              {
                next: ({ data, errors }) => {
                  if (data) log.events.push(data.itemEvents);
                  for (const error of errors ?? []) log.codes.push(String(error.extensions?.code));
                },
                error: (error) => log.failures.push(error instanceof Error ? error.message : error),
                complete: () => (log.completed = true),
              },
            );
            return () => {
              stop();
              sse.dispose();
            };
          },
          async (name) => (await createItem(name, '3.00')).id,
        ),
    ],
    [
      'single-flight-refresh',
      async () => {
        // a) Several queries at once with an expired access token: one refresh, all succeed.
        await waitUntilExpired(auth);
        const expired = auth.accessToken; // kept for b)
        assert(expired, 'no access token');
        const before = sentRequests.length;
        const refreshesBefore = auth.refreshes;
        const results = await withTimeout(
          Promise.all([1, 2, 3, 4, 5].map((first) => client.query(ProbeQuery, { first }).toPromise())),
          8_000,
          'the concurrent queries did not finish',
        );
        for (const { data, error } of results) assert(data?.me.id === auth.user?.id, `a query failed: ${describe(error)}`);
        const refreshes = countSent('Refresh', before);
        assert(refreshes === 1, `expected exactly 1 refresh mutation, ${refreshes} were sent`);
        assert(auth.refreshes - refreshesBefore === 1, 'refreshOnce ran more than once');
        const probes = countSent('Probe', before);
        assert(probes === 10, `expected 5 expired attempts + 5 retries, ${probes} Probe requests were sent`);
        const refreshRequest = sentRequests.slice(before).find((r) => r.operationName === 'Refresh');
        assert(refreshRequest && !refreshRequest.authorization, 'the refresh mutation carried an access token');

        // b) A refresh that answers an error signs out — it cannot wait on itself. A second
        // client whose refresh credential is an expired token: the server answers the
        // refresh with TOKEN_EXPIRED, exactly the answer that made a refresh routed through
        // the client's own error handling wait for itself for ever.
        const probeAuth = new AuthSession('urql-probe');
        probeAuth.set({ accessToken: expired, refreshToken: expired }, auth.user);
        const { client: probe, ws: probeWs } = createUrql(probeAuth);
        const probeStart = sentRequests.length;
        const t0 = Date.now();
        const result = await withTimeout(
          probe.query(MeQuery, {}).toPromise(),
          5_000,
          'HANG: a refresh answering an error did not end the query (refresh waiting on itself?)',
        );
        probeWs.client.dispose();
        assert(!result.data, 'the probe query answered data');
        assert(
          result.error?.networkError instanceof SignedOutError,
          `expected a sign-out, got ${describe(result.error)}`,
        );
        assert(!probeAuth.signedIn && probeAuth.signedOutReason === 'refresh answered TOKEN_EXPIRED', `probe not signed out as expected: ${probeAuth.signedOutReason}`);
        assert(countSent('Refresh', probeStart) === 1, 'the probe sent more than one refresh');
        return `5 concurrent queries with an expired token → 1 refresh (no Authorization header), 5 retries, all answered; a refresh answering TOKEN_EXPIRED signed out in ${Date.now() - t0} ms`;
      },
    ],
    [
      'logout',
      async () => {
        // The old access token must still be unexpired, so that the check below can tell
        // TOKEN_REVOKED from TOKEN_EXPIRED: refresh when less than 1.5 s is left.
        if (auth.msUntilExpiry() < 1_500) await auth.refreshOnce();
        const oldAccess = auth.accessToken;
        assert(oldAccess, 'no access token');
        const result = await client.mutation(LogoutMutation, { t: auth.refreshToken }).toPromise();
        assert(result.data?.logout === true, `logout did not answer true: ${describe(result.error)}`);
        auth.signOut('logged out');
        const { errors } = await bareRequest(MeQuery, {}, oldAccess);
        const code = errors[0]?.extensions?.code;
        assert(code === 'TOKEN_REVOKED', `the old access token answered ${code ?? 'no error'} on { me { id } }, expected TOKEN_REVOKED`);
        return 'the old access token now answers TOKEN_REVOKED';
      },
    ],
  ],
  async () => {
    ws.client.dispose();
    await sleep(0);
  },
);
