// Apollo Client 4 + graphql-ws against authql, in Node.js (no browser).
//
//   errorLink ─► authLink ─► split ─┬─► HttpLink (POST /graphql, counting fetch)
//                                   └─► GraphQLWsLink (/graphql/ws, graphql-transport-ws)
//
// - authLink puts `Authorization: Bearer <access token>` on every operation, unless its
//   context says `anonymous: true`, and records the credential generation it used.
// - errorLink sits before authLink, so a retry (`forward(operation)`) passes through
//   authLink again and picks up the new token. On TOKEN_EXPIRED it awaits the shared
//   single-flight `refreshOnce` and retries; on TOKEN_REVOKED / INVALID_TOKEN it signs out.
// - The `refresh` mutation never goes through this client (src/shared.ts sends it with a
//   bare fetch), so a refresh that answers TOKEN_EXPIRED cannot wait on itself: it signs
//   the user out and every waiting operation fails at once.
//
// Run: AUTHQL_URL=http://127.0.0.1:8000 AUTHQL_ADMIN_PASSWORD=… npm run apollo (see run.sh).
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { ErrorLink } from '@apollo/client/link/error';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { createHash } from 'node:crypto';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { OperationTypeNode } from 'graphql';
import { from, switchMap } from 'rxjs';
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
  keepOneSocket,
  requireShortTokens,
  runProgram,
  sentRequests,
  sleep,
  subscriptionOverHttp,
  typed,
  waitFor,
  waitUntilExpired,
  withTimeout,
  type AuthWsClient,
  type ItemEvent,
} from './shared.js';

/** What our links read from an operation's context. */
interface AuthContext {
  /** Send without a token (a public page). */
  anonymous?: boolean;
  /** The credential generation the last attempt was sent with (set by authLink). */
  authGeneration?: number;
  /** How many times this operation was retried after a refresh. */
  authRetries?: number;
}

/** One Apollo client with its own token store and socket (the probe in step 5 makes a second). */
function createApollo(auth: AuthSession): { client: ApolloClient; ws: AuthWsClient } {
  const authLink = new ApolloLink((operation, forward) => {
    const { anonymous } = operation.getContext() as AuthContext;
    const token = auth.accessToken;
    operation.setContext(({ headers = {} }: { headers?: Record<string, string> }) => ({
      headers: anonymous || !token ? headers : { ...headers, authorization: `Bearer ${token}` },
      authGeneration: auth.generation,
    }));
    return forward(operation);
  });

  const errorLink = new ErrorLink(({ error, operation, forward }) => {
    if (!CombinedGraphQLErrors.is(error)) return; // network errors: nothing to do with tokens
    const context = operation.getContext() as AuthContext;
    if (context.anonymous || !auth.signedIn) return;
    const codes = error.errors.map((e) => e.extensions?.code);
    const retries = context.authRetries ?? 0;
    if (codes.includes('TOKEN_EXPIRED') && retries < 2) {
      // Single flight: every operation failing together awaits the same refresh, then
      // retries. A refresh that fails rejects here (SignedOutError): the operation errors.
      return from(auth.refreshOnce(context.authGeneration)).pipe(
        switchMap(() => {
          operation.setContext({ authRetries: retries + 1 });
          return forward(operation);
        }),
      );
    }
    const fatal = codes.find((code) => FATAL_CODES.includes(String(code)));
    if (fatal && context.authGeneration === auth.generation) auth.signOut(`${fatal} on ${operation.operationName}`);
  });

  const ws = createAuthWsClient(auth);
  const transport = ApolloLink.split(
    ({ operationType }) => operationType === OperationTypeNode.SUBSCRIPTION,
    new GraphQLWsLink(ws.client),
    new HttpLink({ uri: GRAPHQL_HTTP_URL, fetch: countingFetch }),
  );
  const client = new ApolloClient({
    link: ApolloLink.from([errorLink, authLink, transport]),
    cache: new InMemoryCache(),
  });
  return { client, ws };
}

// ---- the program --------------------------------------------------------------------------

const auth = new AuthSession('apollo');
const { client, ws } = createApollo(auth);
const username = freshUsername('apollo');
const password = `pw-${Math.random().toString(36).slice(2)}-long-enough`;
let storeId = '';

await runProgram(
  'apollo',
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
        storeId = await createStoreAsAdmin(`apollo store ${username}`);
        for (const name of ['apollo lamp', 'apollo chair']) {
          const { data } = await client.mutate({ mutation: CreateItemMutation, variables: { input: { storeId, name, price: '9.50' } } });
          assert(data?.createItem.owner?.username === username, `createItem ${name}: owner is not ${username}`);
        }
        // The public page, sent WITHOUT a token: `owner` is guarded, so each owner is null
        // with its own AUTHORIZATION_REQUIRED error. errorPolicy "all" keeps data AND errors
        // (the default "none" would throw the whole page away).
        const { data, error } = await client.query({
          query: ItemsPageQuery,
          context: { anonymous: true } satisfies AuthContext,
          errorPolicy: 'all',
          fetchPolicy: 'network-only',
        });
        assert(data, `no data beside the errors: ${error?.message}`);
        const nodes = data.items.nodes;
        assert(nodes.length >= 2, `expected at least 2 items on the page, got ${nodes.length}`);
        assert(nodes.every((n) => n.owner === null), 'an owner was visible without a token');
        assert(CombinedGraphQLErrors.is(error), `expected GraphQL errors, got ${error?.message ?? 'none'}`);
        const codes = error.errors.map((e) => e.extensions?.code);
        assert(codes.every((c) => c === 'AUTHORIZATION_REQUIRED'), `unexpected codes ${codes.join(', ')}`);
        const owners = new Set(error.errors.map((e) => e.path?.join('.')));
        const expected = nodes.map((_, i) => `items.nodes.${i}.owner`);
        assert(
          error.errors.length === nodes.length && expected.every((p) => owners.has(p)),
          `expected one error per owner (${expected.join(', ')}), got ${[...owners].join(', ')}`,
        );
        return `${nodes.length} items with owner null and ${error.errors.length} AUTHORIZATION_REQUIRED errors, both kept (errorPolicy "all")`;
      },
    ],
    [
      'subscription',
      async () => {
        requireShortTokens(auth);
        const events: ItemEvent[] = [];
        const errors: string[] = [];
        const started = Date.now();
        const subscription = client.subscribe({ query: ItemEventsSubscription }).subscribe({
          next: ({ data, error }) => {
            if (data) events.push(data.itemEvents);
            if (error) errors.push(error.message);
          },
          error: (error: unknown) => errors.push(error instanceof Error ? error.message : JSON.stringify(error)),
        });
        const noErrors = () => assert(errors.length === 0, `subscription error: ${errors.join('; ')}`);
        const expiries = () => ws.log.closes.filter((c) => c.code === 4403 && c.reason === 'TOKEN_EXPIRED').length;

        /** Creates an item over HTTP once the socket is live with ≥ 1 s of token left, and awaits its event. */
        const roundTrip = async (name: string) => {
          await waitFor(() => ws.log.open && ws.log.tokenExpiresAt - Date.now() > 1_000, 5_000, 'no live socket with time left on its token');
          await ws.waitLive(2_000);
          const { data } = await client.mutate({ mutation: CreateItemMutation, variables: { input: { storeId, name, price: '1.25' } } });
          const id = data?.createItem.id;
          assert(id, `createItem ${name} answered no id`);
          await waitFor(() => events.some((e) => e.kind === 'CREATED' && e.itemId === id), 5_000, `no CREATED event for item ${id} on the subscription`);
          assert(events.find((e) => e.itemId === id)?.item?.name === name, 'the event carries another item name');
        };

        try {
          await waitFor(() => ws.log.connects >= 1, 5_000, 'the socket did not connect');
          // 1. The server closes the socket with 4403 TOKEN_EXPIRED; we refresh and reconnect.
          await waitFor(() => expiries() >= 1 && ws.log.open, 8_000, 'no 4403 TOKEN_EXPIRED close followed by a reconnect');
          noErrors();
          await roundTrip(`apollo after expiry ${username}`);
          // 2. Keep it open for ~3 token lifetimes, then prove it still delivers.
          await waitFor(() => Date.now() - started >= 10_000 && expiries() >= 2, 12_000, 'fewer than 2 expiries in the window');
          await roundTrip(`apollo at the end ${username}`);
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
      'one-socket',
      async () => {
        requireShortTokens(auth);
        // 3 token lifetimes on one socket, refreshing over it: no close, no reconnect.
        return keepOneSocket(username, password, 9_500, async (name) => {
          const { data } = await client.mutate({ mutation: CreateItemMutation, variables: { input: { storeId, name, price: '2.50' } } });
          assert(data?.createItem.id, `createItem ${name} answered no id`);
          return data.createItem.id;
        });
      },
    ],
    [
      'http-subscription',
      async () =>
        // Apollo Client alone over HTTP (no WebSocket link): HttpLink sends a subscription as
        // a POST asking for multipart/mixed;subscriptionSpec=1.0 and reads the parts.
        subscriptionOverHttp(
          username,
          password,
          (token, log) => {
            const http = new ApolloClient({
              link: new HttpLink({ uri: GRAPHQL_HTTP_URL, headers: { authorization: `Bearer ${token}` } }),
              cache: new InMemoryCache(),
            });
            const subscription = http.subscribe({ query: ItemEventsSubscription, errorPolicy: 'all' }).subscribe({
              next: ({ data, error }) => {
                if (data) log.events.push(data.itemEvents);
                if (CombinedGraphQLErrors.is(error)) log.codes.push(...error.errors.map((e) => String(e.extensions?.code)));
                else if (error) log.failures.push(error.message);
              },
              error: (error: unknown) => log.failures.push(error instanceof Error ? error.message : error),
              complete: () => (log.completed = true),
            });
            return () => subscription.unsubscribe();
          },
          async (name) => {
            const { data } = await client.mutate({ mutation: CreateItemMutation, variables: { input: { storeId, name, price: '3.00' } } });
            assert(data?.createItem.id, `createItem ${name} answered no id`);
            return data.createItem.id;
          },
        ),
    ],
    [
      'apq',
      async () => {
        // Apollo's automatic persisted queries against PERSISTED_DOCUMENTS=off (the
        // default): the first request sends the hash alone (GET), the server answers
        // PersistedQueryNotFound, the link sends hash + text (a registration, as a POST); from then on
        // the hash alone runs it. Queries go as GET (useGETForHashedQueries).
        const sent: { method: string; text: boolean }[] = [];
        const recording: typeof fetch = (input, init) => {
          const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
          const text = init?.body ? String(init.body).includes('"query"') : new URL(url).searchParams.has('query');
          sent.push({ method: init?.method ?? 'GET', text });
          return countingFetch(input, init);
        };
        const apq = new ApolloClient({
          link: ApolloLink.from([
            new PersistedQueryLink({ sha256: (text) => createHash('sha256').update(text).digest('hex'), useGETForHashedQueries: true }),
            new HttpLink({ uri: GRAPHQL_HTTP_URL, fetch: recording }),
          ]),
          cache: new InMemoryCache(),
        });
        // A document no one sent before in this process run (a fresh alias).
        const probe = typed<{ items: { totalCount: number } }>(`query ApqProbe { ${freshUsername('apq')}: __typename items(first: 1) { totalCount } }`);
        for (let round = 0; round < 2; round += 1) {
          const { data, error } = await apq.query({ query: probe, fetchPolicy: 'network-only' });
          assert(data && !error, `apq round ${round}: ${error?.message}`);
        }
        const shape = sent.map((s) => `${s.method}${s.text ? '+text' : ''}`).join(', ');
        assert(shape === 'GET, POST+text, GET', `expected hash, hash + text, hash; sent ${shape}`);
        return `sent ${shape}: registered on the first miss, then the hash alone ran it`;
      },
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
          Promise.all(
            [1, 2, 3, 4, 5].map((first) =>
              client.query({ query: ProbeQuery, variables: { first }, fetchPolicy: 'network-only' }),
            ),
          ),
          8_000,
          'the concurrent queries did not finish',
        );
        for (const { data } of results) assert(data?.me.id === auth.user?.id, 'a query answered another user');
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
        // the client's own error link wait for itself for ever.
        const probeAuth = new AuthSession('apollo-probe');
        probeAuth.set({ accessToken: expired, refreshToken: expired }, auth.user);
        const { client: probe, ws: probeWs } = createApollo(probeAuth);
        const probeStart = sentRequests.length;
        const t0 = Date.now();
        const outcome = await withTimeout(
          probe.query({ query: MeQuery, fetchPolicy: 'network-only' }).then(
            () => 'data',
            (error: unknown) => error,
          ),
          5_000,
          'HANG: a refresh answering an error did not end the query (refresh waiting on itself?)',
        );
        probeWs.client.dispose();
        assert(outcome instanceof SignedOutError, `expected a sign-out, got ${outcome instanceof Error ? outcome.message : String(outcome)}`);
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
        const { data } = await client.mutate({ mutation: LogoutMutation, variables: { t: auth.refreshToken } });
        assert(data?.logout === true, 'logout did not answer true');
        auth.signOut('logged out');
        await client.clearStore();
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
