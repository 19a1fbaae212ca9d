// What the Apollo and urql programs share: where the server is, the typed operations, the
// token store with its single-flight `refreshOnce`, a bare `fetch` for the token
// mutations, the graphql-ws client that survives token expiry, and the step runner.
//
// Nothing here knows about Apollo or urql: src/apollo.ts and src/urql.ts wire the same
// pieces into each client's own middleware (links, exchanges).
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { getOperationAST, parse } from 'graphql';
import { createClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';

// ---- where ------------------------------------------------------------------------------

/** The server's base URL, e.g. http://127.0.0.1:8000 (run.sh sets it). */
export const AUTHQL_URL = (process.env.AUTHQL_URL ?? 'http://127.0.0.1:8000').replace(/\/+$/, '');
export const GRAPHQL_HTTP_URL = `${AUTHQL_URL}/graphql`;
export const GRAPHQL_WS_URL = `${GRAPHQL_HTTP_URL.replace(/^http/, 'ws')}/ws`;

/** No single HTTP request may take longer than this (nothing hangs). */
export const REQUEST_TIMEOUT_MS = 10_000;
/** The whole program must finish within this. */
export const PROGRAM_TIMEOUT_MS = 60_000;
/**
 * Refresh before (re)connecting the socket when the access token has less than this left:
 * a `connection_init` with a token about to expire buys a socket that closes at once.
 */
export const REFRESH_MARGIN_MS = 1_000;

// ---- typed operations -------------------------------------------------------------------

/** A parsed document that carries its result and variable types (TypedDocumentNode). */
export function typed<TData, TVariables extends Record<string, unknown> = Record<string, never>>(
  source: string,
): TypedDocumentNode<TData, TVariables> {
  return parse(source) as TypedDocumentNode<TData, TVariables>;
}

export type Role = 'USER' | 'ADMIN';
export interface TokenPair {
  accessToken: string;
  refreshToken: string;
}
/** AuthPayload as selected below. Both tokens are null only in cookie mode (not used here). */
export interface AuthPayload {
  accessToken: string | null;
  refreshToken: string | null;
  expiresIn: number;
  user: { id: string; username: string; role: Role };
}
const AUTH_FIELDS = 'accessToken refreshToken expiresIn user { id username role }';

export const SignupMutation = typed<
  { signup: AuthPayload },
  { input: { username: string; password: string; email?: string | null } }
>(`mutation Signup($input: SignupInput!) { signup(input: $input) { ${AUTH_FIELDS} } }`);

export const LoginMutation = typed<
  { login: AuthPayload },
  { input: { username: string; password: string } }
>(`mutation Login($input: LoginInput!) { login(input: $input) { ${AUTH_FIELDS} } }`);

export const RefreshMutation = typed<
  { refresh: AuthPayload },
  { refreshToken: string | null }
>(`mutation Refresh($refreshToken: String) { refresh(refreshToken: $refreshToken) { ${AUTH_FIELDS} } }`);

export const LogoutMutation = typed<{ logout: boolean }, { t: string | null }>(
  `mutation Logout($t: String) { logout(refreshToken: $t) }`,
);

export const CreateStoreMutation = typed<
  { createStore: { id: string; name: string } },
  { input: { name: string } }
>(`mutation CreateStore($input: CreateStoreInput!) { createStore(input: $input) { id name } }`);

export interface CreatedItem {
  id: string;
  name: string;
  owner: { username: string } | null;
}
export const CreateItemMutation = typed<
  { createItem: CreatedItem },
  { input: { storeId: string; name: string; price: string; description?: string | null } }
>(`mutation CreateItem($input: CreateItemInput!) { createItem(input: $input) { id name owner { username } } }`);

/** The public page of step 3; `owner` is guarded (authenticated callers only). */
export interface ItemsPageData {
  items: { nodes: { name: string; owner: { username: string } | null }[] };
}
export const ItemsPageQuery = typed<ItemsPageData>(
  `query ItemsPage { items(first: 5) { nodes { name owner { username } } } }`,
);

export const MeQuery = typed<{ me: { id: string } }>(`query Me { me { id } }`);

/**
 * Step 5's concurrent queries. Each gets its own `$first` so that neither client merges
 * them into one request (Apollo's query deduplication, urql's operation keys).
 */
export const ProbeQuery = typed<
  { me: { id: string; username: string }; items: { totalCount: number } },
  { first: number }
>(`query Probe($first: Int!) { me { id username } items(first: $first) { totalCount } }`);

export type ItemEventKind = 'CREATED' | 'UPDATED' | 'DELETED';
export interface ItemEvent {
  kind: ItemEventKind;
  itemId: string;
  item: { name: string } | null;
}
export const ItemEventsSubscription = typed<{ itemEvents: ItemEvent }>(
  `subscription ItemEvents { itemEvents { kind itemId item { name } } }`,
);

// ---- HTTP: a counting fetch, and a bare request outside any client ------------------------

/** One line per HTTP request sent to /graphql by anyone in this process. */
export interface SentRequest {
  operationName: string;
  authorization: boolean;
}
export const sentRequests: SentRequest[] = [];

/** How many requests named `operationName` were sent since `since` (an index into sentRequests). */
export function countSent(operationName: string, since = 0): number {
  return sentRequests.slice(since).filter((r) => r.operationName === operationName).length;
}

/**
 * `fetch`, counting what it sends (by operation name) and bounded by REQUEST_TIMEOUT_MS.
 * Both clients and `bareRequest` use it, so the tests can count `refresh` mutations.
 */
export const countingFetch: typeof fetch = (input, init) => {
  let operationName = '?';
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (!init?.body) {
    // A GET (urql sends queries as GET when the URL stays short): ?operationName=…
    operationName = new URL(url).searchParams.get('operationName') ?? '?';
  } else if (typeof init.body === 'string') {
    try {
      const body = JSON.parse(init.body) as { operationName?: string } | { operationName?: string }[];
      operationName = (Array.isArray(body) ? body.map((b) => b.operationName).join(',') : body.operationName) ?? '?';
    } catch {
      // not JSON: leave '?'
    }
  }
  const authorization = new Headers(init?.headers).has('authorization');
  sentRequests.push({ operationName, authorization });
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  // AbortSignal.any is Node ≥ 20.3; before that the caller's own signal alone.
  const signal = !init?.signal ? timeout : typeof AbortSignal.any === 'function' ? AbortSignal.any([init.signal, timeout]) : init.signal;
  return fetch(input, { ...init, signal });
};

/** A GraphQL error as the server sends it. */
export interface WireError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

/** A GraphQL response that carried errors (and no usable data). */
export class GraphQLRequestError extends Error {
  constructor(
    readonly operationName: string,
    readonly errors: WireError[],
  ) {
    super(`${operationName}: ${errors.map((e) => `${e.message} (${e.extensions?.code ?? 'no code'})`).join('; ')}`);
  }
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }
}

/**
 * One operation over a plain `fetch`, outside Apollo's links and urql's exchanges. Used for
 * signup/login/refresh and the admin's setup, so that no token mutation can ever run into
 * the client's own refresh logic (a `refresh` answering TOKEN_EXPIRED must not wait for a
 * refresh). `token`, when given, is sent as `Authorization: Bearer …`.
 */
export async function bareRequest<TData, TVariables>(
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  token?: string,
): Promise<{ data: TData | null; errors: WireError[] }> {
  const operationName = getOperationAST(document)?.name?.value ?? '?';
  const source = document.loc?.source.body;
  if (!source) throw new Error(`${operationName}: the document has no source text`);
  const response = await countingFetch(GRAPHQL_HTTP_URL, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query: source, operationName, variables }),
  });
  const text = await response.text();
  let body: { data?: TData | null; errors?: WireError[] };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new Error(`${operationName}: HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`);
  }
  return { data: body.data ?? null, errors: body.errors ?? [] };
}

/** bareRequest that wants data: any error throws GraphQLRequestError. */
export async function bareData<TData, TVariables>(
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  token?: string,
): Promise<TData> {
  const { data, errors } = await bareRequest(document, variables, token);
  const operationName = getOperationAST(document)?.name?.value ?? '?';
  if (errors.length > 0) throw new GraphQLRequestError(operationName, errors);
  if (!data) throw new Error(`${operationName}: no data and no errors`);
  return data;
}

// ---- the token store and the single-flight refresh ----------------------------------------

/** Thrown to every waiter when the refresh token is refused: the user is signed out. */
export class SignedOutError extends Error {
  constructor(readonly reason: string) {
    super(`signed out: ${reason}`);
  }
}

/** Seconds-since-epoch `exp` of a JWT, read without verifying it (the server verifies). */
export function jwtExpiry(token: string): number {
  const payload = token.split('.')[1];
  if (!payload) throw new Error('not a JWT');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown };
  if (typeof claims.exp !== 'number') throw new Error('JWT without exp');
  return claims.exp;
}

/** Codes after which the credential is gone for good: sign out, never retry. */
export const FATAL_CODES = ['TOKEN_REVOKED', 'INVALID_TOKEN'];

/**
 * The signed-in user's tokens, in memory, and the one place that refreshes them.
 *
 * `generation` goes up whenever the credential changes (sign-in, refresh, sign-out). Each
 * request remembers the generation it was sent with; a TOKEN_EXPIRED answer to an older
 * generation means "someone already refreshed since": retry without refreshing again.
 */
export class AuthSession {
  private pair: TokenPair | null = null;
  private inflight: Promise<void> | null = null;
  generation = 0;
  user: AuthPayload['user'] | null = null;
  signedOutReason: string | null = null;
  refreshes = 0;

  constructor(readonly label: string) {}

  get accessToken(): string | null {
    return this.pair?.accessToken ?? null;
  }
  get refreshToken(): string | null {
    return this.pair?.refreshToken ?? null;
  }
  get signedIn(): boolean {
    return this.pair !== null;
  }

  /** Takes what signup/login/refresh answered. */
  accept(payload: AuthPayload): void {
    if (!payload.accessToken || !payload.refreshToken) {
      throw new Error('the server answered no tokens (cookie mode?): these examples use bearer tokens');
    }
    this.set({ accessToken: payload.accessToken, refreshToken: payload.refreshToken }, payload.user);
  }

  /** Puts a token pair in place directly (tests: a deliberately broken pair). */
  set(pair: TokenPair, user: AuthPayload['user'] | null = this.user): void {
    this.pair = pair;
    this.user = user;
    this.signedOutReason = null;
    this.generation += 1;
  }

  signOut(reason: string): void {
    if (!this.pair) return;
    this.pair = null;
    this.signedOutReason = reason;
    this.generation += 1;
  }

  /** Milliseconds until the access token expires (negative: expired); -Infinity signed out. */
  msUntilExpiry(): number {
    const token = this.accessToken;
    return token ? jwtExpiry(token) * 1000 - Date.now() : -Infinity;
  }

  /**
   * Single-flight refresh. `staleGeneration` is the generation the failed request was sent
   * with: when the credential has changed since, this resolves at once (retry with the new
   * one); while a refresh runs, every caller awaits that same one. So N requests failing
   * together with TOKEN_EXPIRED cause exactly one `refresh` — which matters, because the
   * server rotates refresh tokens and treats a rotated one presented again as reuse (it
   * ends the whole session).
   *
   * The `refresh` mutation goes over `bareRequest`, never through Apollo or urql: it cannot
   * meet the error handling that called it, so it cannot wait on itself. When the server
   * refuses it (any GraphQL error, TOKEN_EXPIRED included) the user is signed out and every
   * waiter gets a SignedOutError; a network failure rejects without signing out. Either
   * way the promise settles within REQUEST_TIMEOUT_MS.
   */
  refreshOnce(staleGeneration: number = this.generation): Promise<void> {
    if (!this.pair) return Promise.reject(new SignedOutError(this.signedOutReason ?? 'not signed in'));
    if (staleGeneration !== this.generation) return Promise.resolve();
    this.inflight ??= this.doRefresh().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async doRefresh(): Promise<void> {
    const refreshToken = this.refreshToken;
    this.refreshes += 1;
    debug(`${this.label}: refresh (access token expired ${-this.msUntilExpiry()} ms ago)`);
    // No Authorization header: the refresh token alone is the credential.
    const { data, errors } = await bareRequest(RefreshMutation, { refreshToken });
    if (errors.length > 0 || !data) {
      const code = errors[0]?.extensions?.code ?? 'no data';
      this.signOut(`refresh answered ${code}`);
      throw new SignedOutError(this.signedOutReason ?? code);
    }
    this.accept(data.refresh);
  }
}

// ---- graphql-ws: a socket that outlives its tokens ---------------------------------------

/** What a close event looks like on Node (`ws`) and in browsers alike. No `CloseEvent` global on Node 20. */
export function closeInfo(event: unknown): { code: number; reason: string } | null {
  if (typeof event === 'object' && event !== null && 'code' in event && typeof event.code === 'number') {
    const reason = 'reason' in event ? String(event.reason) : '';
    return { code: event.code, reason };
  }
  return null;
}

/** What the socket did, for the programs' assertions and messages. */
export interface SocketLog {
  connects: number;
  closes: { code: number; reason: string }[];
  refreshesBeforeConnect: number;
  /** Expiry (ms since epoch) of the token the current socket was opened with. */
  tokenExpiresAt: number;
  open: boolean;
}

export interface AuthWsClient {
  client: WsClient;
  log: SocketLog;
  /** Resolves once every subscription started on the current socket is live (ping → pong). */
  waitLive(timeoutMs: number): Promise<void>;
}

/**
 * A graphql-ws client for authql that keeps subscriptions alive across token expiry:
 * - `connectionParams` (run on every connect) refreshes first — single flight, shared with
 *   the HTTP side — when the access token has expired, is about to, or the server closed
 *   the last socket with 4403 TOKEN_EXPIRED; then sends the current token;
 * - `shouldRetry`: 4403 TOKEN_EXPIRED → retry (refreshing as above); 4403 TOKEN_REVOKED or
 *   INVALID_TOKEN → sign out and stop (graphql-ws retries 4403 by default, which would be a
 *   silent reconnect loop with a dead token); anything else → retry with a short backoff.
 */
export function createAuthWsClient(auth: AuthSession): AuthWsClient {
  const log: SocketLog = { connects: 0, closes: [], refreshesBeforeConnect: 0, tokenExpiresAt: 0, open: false };
  /** The generation the current (or last) socket was opened with. */
  let socketGeneration = -1;
  /** The generation whose token the server said had expired (4403 TOKEN_EXPIRED). */
  let expiredGeneration = -1;
  let lastClose: { code: number; reason: string } | null = null;
  let socket: WebSocket | null = null;
  const pongWaiters = new Set<() => void>();

  const client = createClient({
    url: GRAPHQL_WS_URL,
    webSocketImpl: WebSocket,
    connectionParams: async () => {
      if (!auth.signedIn) return {}; // anonymous socket: itemEvents will answer AUTHORIZATION_REQUIRED
      if (expiredGeneration === auth.generation || auth.msUntilExpiry() < REFRESH_MARGIN_MS) {
        log.refreshesBeforeConnect += 1;
        // Throws SignedOutError when the refresh token is refused: graphql-ws then closes
        // with 4500 (fatal) and the subscription errors instead of reconnecting for ever.
        await auth.refreshOnce(auth.generation);
      }
      socketGeneration = auth.generation;
      log.tokenExpiresAt = Date.now() + auth.msUntilExpiry();
      return { Authorization: `Bearer ${auth.accessToken}` };
    },
    retryAttempts: 5, // consecutive failed connects; a successful connect resets the count
    shouldRetry: (event) => {
      const close = closeInfo(event);
      if (!close || close.code !== 4403) return true; // network trouble: back off, retry
      if (close.reason === 'TOKEN_EXPIRED') {
        expiredGeneration = socketGeneration; // connectionParams refreshes before the next connect
        return true;
      }
      if (FATAL_CODES.includes(close.reason)) {
        // A credential changed since this socket opened (a re-login): reconnect with it.
        if (auth.signedIn && socketGeneration !== auth.generation) return true;
        auth.signOut(`the socket was closed with 4403 ${close.reason}`);
        return false;
      }
      return true;
    },
    retryWait: async (retries) => {
      // After TOKEN_EXPIRED the fix is a refresh, not time: reconnect at once (events are
      // not queued for a closed socket, so every millisecond closed is a chance to miss one).
      if (lastClose?.code === 4403 && lastClose.reason === 'TOKEN_EXPIRED') return;
      await sleep(Math.min(250 * 2 ** retries, 2_000));
    },
    on: {
      connected: (s) => {
        debug(`${auth.label}: socket connected; token exp in ${log.tokenExpiresAt - Date.now()} ms`);
        socket = s as WebSocket;
        log.connects += 1;
        log.open = true;
      },
      closed: (event) => {
        socket = null;
        log.open = false;
        lastClose = closeInfo(event);
        debug(`${auth.label}: socket closed ${lastClose?.code} ${lastClose?.reason}; token exp ${log.tokenExpiresAt - Date.now()} ms from now`);
        if (lastClose) log.closes.push(lastClose);
      },
      pong: (received) => {
        if (!received) return;
        for (const wake of pongWaiters) wake();
        pongWaiters.clear();
      },
    },
  });

  async function waitLive(timeoutMs: number): Promise<void> {
    // graphql-ws sends its `subscribe` messages right after `connected`: let them go first.
    await sleep(0);
    const current = socket;
    if (!current || current.readyState !== WebSocket.OPEN) throw new Error('the socket is not open');
    // authql answers a ping only once every operation started before it is live.
    const pong = new Promise<void>((resolve) => pongWaiters.add(resolve));
    current.send(JSON.stringify({ type: 'ping' }));
    await withTimeout(pong, timeoutMs, 'no pong from the server');
  }

  return { client, log, waitLive };
}

// ---- one socket for longer than a token lives -------------------------------------------

/**
 * authql re-binds a socket to the access token a `refresh` sent *over that socket* answers
 * (docs/api.md "Subscriptions"): so a client that refreshes over its socket keeps one
 * socket, and its subscription, for as long as it likes. Logs in a second session of the
 * user (its own refresh token, so nothing is rotated under the other program steps), opens
 * a plain graphql-ws socket with no retries, subscribes, refreshes over it every half token
 * lifetime for `spanMs`, then proves the subscription still delivers. Returns a summary;
 * throws when the socket closed or reconnected.
 */
export async function keepOneSocket(
  username: string,
  password: string,
  spanMs: number,
  createItem: (name: string) => Promise<string>,
): Promise<string> {
  const { login } = await bareData(LoginMutation, { input: { username, password } });
  let pair = { accessToken: login.accessToken ?? '', refreshToken: login.refreshToken ?? '' };
  const lifetimeMs = jwtExpiry(pair.accessToken) * 1000 - Date.now();
  let connects = 0;
  const closes: unknown[] = [];
  const socket = createClient({
    url: GRAPHQL_WS_URL,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: { Authorization: `Bearer ${pair.accessToken}` },
    on: {
      connected: () => (connects += 1),
      closed: (event) => closes.push(closeInfo(event)),
    },
  });
  const events: ItemEvent[] = [];
  const errors: unknown[] = [];
  const stop = socket.subscribe<{ itemEvents: ItemEvent }>(
    { query: 'subscription { itemEvents { kind itemId item { name } } }' },
    {
      next: ({ data }) => data && events.push(data.itemEvents),
      error: (error) => errors.push(error),
      complete: () => {},
    },
  );
  /** One operation over the socket, its data. */
  const over = <T>(query: string, variables: Record<string, unknown>) =>
    new Promise<T>((resolve, reject) => {
      socket.subscribe<T>({ query, variables }, {
        next: ({ data, errors: failed }) => (failed?.length ? reject(new Error(JSON.stringify(failed))) : resolve(data as T)),
        error: reject,
        complete: () => {},
      });
    });
  const started = Date.now();
  let refreshes = 0;
  try {
    while (Date.now() - started < spanMs) {
      await sleep(Math.max(lifetimeMs / 2, 500));
      const data = await withTimeout(
        over<{ refresh: AuthPayload }>(
          'mutation($t: String) { refresh(refreshToken: $t) { accessToken refreshToken } }',
          { t: pair.refreshToken },
        ),
        REQUEST_TIMEOUT_MS,
        'refresh over the socket',
      );
      pair = { accessToken: data.refresh.accessToken ?? '', refreshToken: data.refresh.refreshToken ?? '' };
      refreshes += 1;
    }
    const id = await createItem(`one socket ${username}`);
    await waitFor(() => events.some((e) => e.itemId === id), 5_000, `no event for item ${id} on the long-lived socket`);
    assert(errors.length === 0, `subscription errors: ${JSON.stringify(errors)}`);
    assert(connects === 1 && closes.length === 0, `${connects} connects, closes ${JSON.stringify(closes)}`);
  } finally {
    stop();
    await socket.dispose();
  }
  return `one socket for ${((Date.now() - started) / 1000).toFixed(1)} s (${(spanMs / lifetimeMs).toFixed(1)}× the ${(lifetimeMs / 1000).toFixed(1)} s token lifetime), ${refreshes} refreshes over it, no close, no reconnect; the subscription still delivered`;
}

// ---- a subscription over HTTP (no WebSocket) ----------------------------------------------

/** What a client's HTTP subscription reported, for {@link subscriptionOverHttp}. */
export interface HttpSubscriptionLog {
  events: ItemEvent[];
  /** The error codes of results that carried errors. */
  codes: string[];
  /** Transport errors (not results). */
  failures: unknown[];
  completed: boolean;
}

/**
 * authql streams a subscription sent as `POST /graphql` when the client asks for a stream
 * (docs/api.md "Subscriptions over HTTP"): Apollo Client's multipart protocol, or GraphQL
 * over SSE. Logs in a session of its own, lets `subscribe` start the client's HTTP
 * subscription with that token, creates items until one's event arrives (the stream may
 * take a moment to listen), then logs the session out: the stream must end within 2 s with
 * a last result carrying TOKEN_REVOKED. Returns a summary.
 */
export async function subscriptionOverHttp(
  username: string,
  password: string,
  subscribe: (token: string, log: HttpSubscriptionLog) => () => void,
  createItem: (name: string) => Promise<string>,
): Promise<string> {
  const { login } = await bareData(LoginMutation, { input: { username, password } });
  const token = login.accessToken ?? '';
  const log: HttpSubscriptionLog = { events: [], codes: [], failures: [], completed: false };
  const stop = subscribe(token, log);
  try {
    let delivered = '';
    for (let attempt = 1; !delivered && attempt <= 5; attempt += 1) {
      const id = await createItem(`over http ${username} ${attempt}`);
      try {
        await waitFor(() => log.events.some((e) => e.itemId === id), 1_000, 'no event');
        delivered = id;
      } catch {
        assert(log.failures.length === 0 && !log.completed, `the stream failed: ${JSON.stringify(log.failures)}`);
      }
    }
    assert(delivered, 'no event arrived over the HTTP subscription');
    await bareData(LogoutMutation, { t: null }, token);
    const loggedOut = Date.now();
    await waitFor(() => log.completed || log.failures.length > 0, 2_000, 'the stream did not end after logout');
    assert(log.codes.includes('TOKEN_REVOKED'), `expected a last result with TOKEN_REVOKED, got codes ${JSON.stringify(log.codes)}, failures ${JSON.stringify(log.failures)}`);
    return `event for item ${delivered} arrived; logout ended the stream ${Date.now() - loggedOut} ms later with TOKEN_REVOKED`;
  } finally {
    stop();
  }
}

// ---- small helpers ------------------------------------------------------------------------

/** CLIENTS_DEBUG=1: timestamped trace lines on stderr. */
export function debug(line: string): void {
  if (process.env.CLIENTS_DEBUG) console.error(`  [${new Date().toISOString().slice(11, 23)}] ${line}`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (after ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `predicate` every 20 ms until it holds; throws `what` after `ms`. */
export async function waitFor(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} (waited ${ms} ms)`);
    await sleep(20);
  }
}

/** Steps 4 and 5 watch tokens expire: they need a server with short-lived access tokens. */
export function requireShortTokens(auth: AuthSession): void {
  const left = auth.msUntilExpiry();
  if (left > 5_000) {
    throw new Error(`the access token lives ${Math.round(left / 1000)} s: start the server with JWT_ACCESS_TOKEN_EXPIRES=3s (run.sh does)`);
  }
}

/** Waits until the session's access token has expired. */
export async function waitUntilExpired(auth: AuthSession): Promise<void> {
  requireShortTokens(auth);
  await sleep(Math.max(0, auth.msUntilExpiry()) + 50);
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** A username no earlier run used: 3–32 characters of A–Z a–z 0–9 _ . - */
export function freshUsername(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** The admin that run.sh created with `authql create-user --admin`. */
export function adminCredentials(): { username: string; password: string } {
  const password = process.env.AUTHQL_ADMIN_PASSWORD;
  if (!password) throw new Error('AUTHQL_ADMIN_PASSWORD is not set (run.sh creates the admin and sets it)');
  return { username: process.env.AUTHQL_ADMIN_USERNAME ?? 'root', password };
}

/**
 * Items need a store and stores need an admin: logs in as the admin (bare requests, a
 * separate session) and creates a store for this run. Returns its id.
 */
export async function createStoreAsAdmin(name: string): Promise<string> {
  const admin = adminCredentials();
  const login = await bareData(LoginMutation, { input: admin });
  const token = login.login.accessToken;
  assert(token, 'the admin login answered no access token');
  const created = await bareData(CreateStoreMutation, { input: { name } }, token);
  // End the admin's session again: it was only needed for this.
  await bareData(LogoutMutation, { t: login.login.refreshToken }, token);
  return created.createStore.id;
}

// ---- the step runner ----------------------------------------------------------------------

let currentStep = 'start';

/**
 * Runs the program's steps; prints `ok <step> …` per step. Any failure — or the program
 * running past PROGRAM_TIMEOUT_MS — prints `FAIL …` and exits non-zero.
 */
export async function runProgram(
  program: string,
  steps: [name: string, run: () => Promise<string | void>][],
  cleanup: () => Promise<void> | void = () => undefined,
): Promise<void> {
  const started = Date.now();
  const watchdog = setTimeout(() => {
    console.error(`FAIL ${program}: did not finish within ${PROGRAM_TIMEOUT_MS / 1000} s (stuck in step ${currentStep})`);
    process.exit(1);
  }, PROGRAM_TIMEOUT_MS);
  watchdog.unref();
  console.log(`# ${program} against ${AUTHQL_URL}`);
  try {
    for (const [name, run] of steps) {
      currentStep = name;
      const detail = await run();
      console.log(`ok ${name}${detail ? ` — ${detail}` : ''}`);
    }
  } catch (error) {
    let message = error instanceof Error ? error.message : String(error);
    // fetch's own message is just "fetch failed": say why (ECONNREFUSED, timeout, …).
    const cause = error instanceof Error ? (error.cause as { message?: string; code?: string } | undefined) : undefined;
    if (cause) message += ` (${cause.code ?? cause.message ?? String(cause)})`;
    console.error(`FAIL ${program} ${currentStep}: ${message}`);
    if (process.env.CLIENTS_DEBUG && error instanceof Error) console.error(error.stack);
    process.exit(1);
  }
  await Promise.resolve(cleanup()).catch(() => undefined);
  console.log(`# ${program}: all steps passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // Apollo's and urql's clients hold no sockets now, but leave nothing to chance.
  process.exit(0);
}
