// Apollo Client 4 wired to authql: HTTP for queries and mutations, graphql-ws for
// subscriptions, and the token handling in between.
//
//   errorLink ─► authLink ─► persistedLink ─► split ─┬─► HttpLink (/graphql, credentials: 'include')
//                                                    └─► GraphQLWsLink (/graphql/ws, graphql-transport-ws)
//
// persistedLink: the production build sends each operation's id, not its text
// (src/persisted.ts; the server may run at PERSISTED_DOCUMENTS=require).
//
// errorLink sits before authLink, so `forward(operation)` after a refresh passes through
// authLink again and picks up the new token.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { ErrorLink } from '@apollo/client/link/error';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { createClient, type Client } from 'graphql-ws';
import { OperationTypeNode } from 'graphql';
import { from, switchMap } from 'rxjs';
import {
  GRAPHQL_URL,
  authHeaders,
  currentGeneration,
  getSession,
  onIdentityChange,
  readCookie,
  refreshOnce,
  signOut,
} from './auth';
import { persistedHash, persistedQuery } from './persisted';

/** Codes after which the credential is gone for good: sign out, do not retry. */
const FATAL = ['TOKEN_REVOKED', 'INVALID_TOKEN'];

const authLink = new ApolloLink((operation, forward) => {
  const isMutation = operation.operationType === OperationTypeNode.MUTATION;
  operation.setContext(({ headers = {} }: { headers?: Record<string, string> }) => ({
    headers: { ...headers, ...authHeaders(isMutation) },
    // Which credential this attempt carries (see refreshOnce in src/auth.ts).
    authGeneration: currentGeneration(),
  }));
  return forward(operation);
});

const errorLink = new ErrorLink(({ error, operation, forward }) => {
  if (!CombinedGraphQLErrors.is(error) || !getSession()) return;
  const codes = error.errors.map((e) => e.extensions?.code);
  const { authGeneration, retriedAfterRefresh } = operation.getContext();
  const stale = authGeneration !== currentGeneration();
  if (codes.some((code) => FATAL.includes(code as string))) {
    // The credential changed while this request was in flight (a re-login ended the old
    // session): retry with the current one. Otherwise the session is over.
    if (stale && !retriedAfterRefresh) {
      operation.setContext({ retriedAfterRefresh: true });
      return forward(operation);
    }
    signOut(`your session was ended (${codes.find((c) => FATAL.includes(c as string))})`);
    return;
  }
  // Cookie mode: the server gives the access cookie the token's lifetime (Max-Age), so once
  // it expires the browser stops sending it and the answer is AUTHORIZATION_REQUIRED
  // ("Missing cookie") rather than TOKEN_EXPIRED. While signed in, both mean "refresh".
  const expired =
    codes.includes('TOKEN_EXPIRED') ||
    (getSession()?.mode === 'cookie' && codes.includes('AUTHORIZATION_REQUIRED'));
  if (expired && !retriedAfterRefresh) {
    // Single flight: every request failing together awaits the same refresh, then retries.
    return from(refreshOnce(authGeneration)).pipe(
      switchMap(() => {
        operation.setContext({ retriedAfterRefresh: true });
        return forward(operation);
      }),
    );
  }
});

const httpLink = new HttpLink({ uri: GRAPHQL_URL, credentials: 'include' });

// ---- graphql-ws -------------------------------------------------------------------------

/** The credential generation the current socket was opened with. */
let socketGeneration = -1;
/** Set when the server closed the socket because its token expired: refresh before reconnecting. */
let refreshBeforeReconnect = false;
/** The socket's state, for the UI (and the e2e, as window.__authqlSocket). */
export const socket = {
  state: 'idle' as 'idle' | 'connecting' | 'connected' | 'closed',
  connects: 0,
  closes: [] as { code: number; reason: string }[],
};
const socketListeners = new Set<() => void>();
let socketSnapshot = { ...socket };
function socketChanged() {
  socketSnapshot = { ...socket };
  socketListeners.forEach((listener) => listener());
}
export function subscribeSocket(listener: () => void): () => void {
  socketListeners.add(listener);
  return () => socketListeners.delete(listener);
}
export const getSocket = () => socketSnapshot;

function isCloseEvent(value: unknown): value is CloseEvent {
  return typeof value === 'object' && value !== null && 'code' in value && 'reason' in value;
}

export const wsClient: Client = createClient({
  // Called before each connect. Cookie mode: the access cookie goes with the upgrade
  // request, so if it has expired (its readable twin csrf_access_token is gone), refresh
  // first — otherwise the socket would connect anonymously.
  url: async () => {
    if (getSession()?.mode === 'cookie' && !readCookie('csrf_access_token')) {
      await refreshOnce().catch(() => undefined);
    }
    return `${location.origin.replace(/^http/, 'ws')}${GRAPHQL_URL}/ws`;
  },
  // Called on every (re)connect, so a reconnect after a refresh sends the new token.
  // Cookie mode: nothing to send, the browser adds the access cookie to the upgrade.
  connectionParams: async () => {
    socketGeneration = currentGeneration();
    const token = getSession()?.accessToken;
    return token ? { Authorization: `Bearer ${token}` } : {};
  },
  retryAttempts: 5,
  // 4403 is retried by graphql-ws by default ("might grant access after retry"): with a
  // revoked token that is a silent reconnect loop. Decide per reason instead.
  shouldRetry: (event) => {
    if (!isCloseEvent(event) || event.code !== 4403) return true; // network trouble: back off, retry
    if (socketGeneration !== currentGeneration()) return true; // old credential: reconnect with the new one
    if (event.reason === 'TOKEN_EXPIRED') {
      refreshBeforeReconnect = true;
      return true;
    }
    // TOKEN_REVOKED (logout elsewhere, session revoked, password changed) or INVALID_TOKEN.
    signOut(`your session was ended (${event.reason || 'socket closed 4403'})`);
    return false;
  },
  retryWait: async (retries) => {
    if (refreshBeforeReconnect) {
      refreshBeforeReconnect = false;
      await refreshOnce(socketGeneration).catch(() => undefined);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** retries, 8000)));
  },
  on: {
    connecting: () => {
      socket.state = 'connecting';
      socketChanged();
    },
    connected: () => {
      socket.state = 'connected';
      socket.connects += 1;
      socketChanged();
    },
    closed: (event) => {
      socket.state = 'closed';
      if (isCloseEvent(event)) socket.closes.push({ code: event.code, reason: event.reason });
      socketChanged();
    },
  },
});

// graphql-ws sends the printed text; with an id in `extensions` (the production build,
// see persistedLink) the text is left out, so the server runs its trusted copy.
const wsLink = new GraphQLWsLink({
  ...wsClient,
  subscribe: (payload, sink) =>
    wsClient.subscribe(payload.extensions?.persistedQuery ? { ...payload, query: '' } : payload, sink),
});

/** The production build names each operation by its hash, never its text (src/persisted.ts). */
const persistedLink = new ApolloLink((operation, forward) => {
  const hash = persistedHash(operation.query);
  if (hash) {
    Object.assign(operation.extensions, persistedQuery(hash));
    operation.setContext({ http: { includeQuery: false, includeExtensions: true } });
  }
  return forward(operation);
});

const transport = ApolloLink.split(
  (operation) => operation.operationType === OperationTypeNode.SUBSCRIPTION,
  wsLink,
  httpLink,
);

export const client = new ApolloClient({
  link: ApolloLink.from([errorLink, authLink, persistedLink, transport]),
  cache: new InMemoryCache(),
});

// A new user (or none) starts from an empty cache. (The socket closes by itself: the
// screens with a subscription unmount, and graphql-ws is lazy.)
onIdentityChange(() => {
  void client.clearStore();
});

declare global {
  interface Window {
    __authqlSocket: typeof socket;
  }
}
window.__authqlSocket = socket;
