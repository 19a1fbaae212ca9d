// The credential, in memory only (never localStorage/sessionStorage: a script injected into
// the page could read those long after the XSS is fixed), and the one place that refreshes it.
//
// Two modes, detected from what login/signup answer:
// - bearer: AuthPayload.accessToken / refreshToken are strings; they live in `session`
//   below and the access token is sent as `Authorization: Bearer …`. A page reload forgets
//   them (log in again) — the price of keeping them out of storage.
// - cookie (server started with JWT_TOKEN_LOCATION=cookies): accessToken / refreshToken are
//   null, the browser holds HttpOnly cookies, and the payload's csrfToken /
//   refreshCsrfToken are sent as X-CSRF-TOKEN on mutations / on `refresh`. Requests use
//   `credentials: 'include'`. After a reload the session is restored by one `refresh`
//   (the readable csrf_refresh_token cookie is the CSRF value it needs).
import { getOperationAST, print } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import {
  LoginMutation,
  LogoutMutation,
  MySessionsQuery,
  RefreshMutation,
  RevokeSessionMutation,
  SignupMutation,
  VerifyMfaMutation,
} from './operations';
import type { AuthFieldsFragment, LogoutScope } from './gql/graphql';
import { persistedHash, persistedQuery } from './persisted';

export const GRAPHQL_URL = '/graphql';

export type Mode = 'bearer' | 'cookie';

export interface Session {
  mode: Mode;
  user: AuthFieldsFragment['user'];
  accessToken: string | null;
  refreshToken: string | null;
  csrfToken: string | null;
  refreshCsrfToken: string | null;
  /**
   * A partial login: the password was right, the second factor is still to come. Only
   * `me`, `verifyMfa`, `refresh` and `logout` work until `verifyMfa` (src/App.tsx shows
   * the code prompt instead of the app).
   */
  mfaRequired: boolean;
  /** Signed in at an outside identity provider (src/oidc.ts): its access token, no refresh. */
  outside?: boolean;
}

export interface AuthState {
  session: Session | null;
  /** Why the user was signed out (shown on the signed-out screen), null after a plain logout. */
  signedOutReason: string | null;
  /** How many `refresh` mutations this page has sent (shown on the dashboard). */
  refreshes: number;
}

let state: AuthState = { session: null, signedOutReason: null, refreshes: 0 };
/**
 * Bumped whenever the credential changes (login, refresh, sign-out). Each request records
 * the generation it was sent with; a TOKEN_EXPIRED answer to an older generation means
 * "someone already refreshed since": retry without refreshing again.
 */
let generation = 0;
const listeners = new Set<() => void>();

export const getAuthState = (): AuthState => state;
export const getSession = (): Session | null => state.session;
export const currentGeneration = (): number => generation;

/** For React's useSyncExternalStore. */
export function subscribeAuth(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function update(next: Partial<AuthState>) {
  state = { ...state, ...next };
  listeners.forEach((listener) => listener());
}

/** Headers for a request: the bearer token, or in cookie mode the CSRF value for mutations. */
export function authHeaders(isMutation: boolean): Record<string, string> {
  const session = state.session;
  if (!session) return {};
  if (session.mode === 'bearer' && session.accessToken) {
    return { authorization: `Bearer ${session.accessToken}` };
  }
  if (session.mode === 'cookie' && isMutation && session.csrfToken) {
    return { 'x-csrf-token': session.csrfToken };
  }
  return {};
}

/** Takes a token pair (login, signup, refresh, changePassword) and detects the mode. */
export function acceptPayload(payload: AuthFieldsFragment): Session {
  const mode: Mode = payload.accessToken ? 'bearer' : 'cookie';
  if (mode === 'cookie' && !payload.csrfToken) {
    throw new Error('The server returned neither an access token nor a CSRF value');
  }
  const session: Session = {
    mode,
    user: payload.user,
    accessToken: payload.accessToken,
    refreshToken: payload.refreshToken,
    csrfToken: payload.csrfToken,
    refreshCsrfToken: payload.refreshCsrfToken,
    mfaRequired: payload.mfaRequired,
  };
  generation += 1;
  if (state.session?.user.id !== session.user.id) identityHooks.forEach((hook) => hook());
  update({ session, signedOutReason: null });
  return session;
}

const identityHooks = new Set<() => void>();
/**
 * Run when the user changes (a login, a sign-out), before the UI hears of it: src/apollo.ts
 * clears the cache, so nothing one user saw (or could not see, like anonymous `owner: null`)
 * is served to the next from cache.
 */
export function onIdentityChange(hook: () => void): () => void {
  identityHooks.add(hook);
  return () => identityHooks.delete(hook);
}

/**
 * Takes an outside identity provider's access token (src/oidc.ts) and the user authql
 * linked to it. It has no refresh token: when it expires, the user signs in again there.
 */
export function acceptOutsideToken(accessToken: string, user: Session['user']): Session {
  const session: Session = {
    mode: 'bearer',
    user,
    accessToken,
    refreshToken: null,
    csrfToken: null,
    refreshCsrfToken: null,
    mfaRequired: false,
    outside: true,
  };
  generation += 1;
  if (state.session?.user.id !== session.user.id) identityHooks.forEach((hook) => hook());
  update({ session, signedOutReason: null });
  return session;
}

/** Forgets the credential; `reason` is shown on the signed-out screen. */
export function signOut(reason: string | null) {
  if (!state.session && reason === null) return;
  const wasSignedIn = state.session !== null;
  generation += 1;
  if (wasSignedIn) identityHooks.forEach((hook) => hook());
  update({ session: null, signedOutReason: wasSignedIn ? reason : state.signedOutReason });
}

/** Cookie mode: the readable CSRF cookies have the lifetimes of their HttpOnly tokens. */
export function readCookie(name: string): string | null {
  const match = document.cookie.match(new RegExp(`(?:^|;\\s*)${name}=([^;]+)`));
  return match ? decodeURIComponent(match[1]) : null;
}

/** A GraphQL error as the server sends it. */
export interface WireError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

export class GraphQLRequestError extends Error {
  constructor(readonly errors: WireError[]) {
    super(errors.map((e) => e.message).join('; '));
  }
  get code(): string | undefined {
    return this.errors[0]?.extensions?.code;
  }
}

/**
 * A plain fetch of one operation, outside Apollo's links: used for login/signup/refresh/logout
 * so the refresh logic never calls itself.
 */
export async function request<TData, TVars>(
  document: TypedDocumentNode<TData, TVars>,
  variables: TVars,
  headers: Record<string, string> = {},
): Promise<TData> {
  const hash = persistedHash(document);
  const response = await fetch(GRAPHQL_URL, {
    method: 'POST',
    credentials: 'include',
    headers: { 'content-type': 'application/json', ...headers },
    // The production build names the document by its hash (src/persisted.ts).
    body: JSON.stringify({
      ...(hash ? { extensions: persistedQuery(hash) } : { query: print(document) }),
      operationName: getOperationAST(document)?.name?.value,
      variables,
    }),
  });
  const body = (await response.json()) as { data?: TData | null; errors?: WireError[] };
  if (body.errors?.length) throw new GraphQLRequestError(body.errors);
  if (!body.data) throw new Error(`HTTP ${response.status} without data`);
  return body.data;
}

export async function login(username: string, password: string): Promise<Session> {
  const data = await request(LoginMutation, { input: { username, password } });
  return acceptPayload(data.login);
}

/** `email` is optional: with one, authql mails a verification link to it. */
export async function signup(username: string, password: string, email?: string): Promise<Session> {
  const input = { username, password, email: email || null };
  const data = await request(SignupMutation, { input });
  return acceptPayload(data.signup);
}

/**
 * The second factor: a code from the authenticator app (or a recovery code) raises the
 * current session to level 2 — the second step of a login, or step-up on MFA_REQUIRED.
 */
export async function verifyMfa(code: string): Promise<Session> {
  const data = await request(VerifyMfaMutation, { code }, authHeaders(true));
  return acceptPayload(data.verifyMfa);
}

/** The headers a just-received payload's credential is sent with (before it is accepted). */
function headersOf(payload: AuthFieldsFragment): Record<string, string> {
  return payload.accessToken
    ? { authorization: `Bearer ${payload.accessToken}` }
    : { 'x-csrf-token': payload.csrfToken ?? '' };
}

/** Logs out on the server (scope CURRENT), then forgets the credential whatever happened. */
export async function logout(): Promise<void> {
  const session = state.session;
  try {
    if (session) {
      // Cookie mode: an expired access cookie is gone from the browser; refresh first, or
      // the refresh cookie would outlive this logout (and restore the session on reload).
      if (session.mode === 'cookie' && !readCookie('csrf_access_token')) {
        await refreshOnce().catch(() => undefined);
      }
      // Bearer mode: the refresh token lets logout work even when the access token expired.
      await request(
        LogoutMutation,
        { refreshToken: session.refreshToken, scope: 'CURRENT' as LogoutScope },
        authHeaders(true),
      );
    }
  } catch {
    // Already ended elsewhere: nothing left to end.
  } finally {
    signOut(null);
  }
}

let inflight: Promise<void> | null = null;

/**
 * Single-flight refresh. `staleGeneration` is the generation the failed request was sent
 * with: if the credential changed since, it resolves at once (retry with the new one);
 * if a refresh is running, every caller waits for that same one. So N requests failing
 * with TOKEN_EXPIRED together cause exactly one `refresh` mutation — which matters: the
 * server rotates refresh tokens, and presenting a rotated one again is reuse, which ends
 * the session (docs/api.md, "Tokens").
 *
 * Rejects (after signing out) when the refresh token itself is refused.
 */
export function refreshOnce(staleGeneration: number = generation): Promise<void> {
  if (staleGeneration !== generation || !state.session) return Promise.resolve();
  if (!inflight) {
    inflight = doRefresh().finally(() => {
      inflight = null;
    });
  }
  return inflight;
}

async function doRefresh(): Promise<void> {
  const session = state.session;
  if (!session) return;
  if (session.outside) {
    // An outside provider's token cannot be refreshed here: sign in there again.
    signOut('your sign-in at the identity provider expired; please sign in again');
    throw new Error('outside token expired');
  }
  update({ refreshes: state.refreshes + 1 });
  try {
    const data =
      session.mode === 'bearer'
        ? await request(RefreshMutation, { refreshToken: session.refreshToken })
        : // Cookie mode: no argument (the refresh cookie), its CSRF value as the header.
          await request(RefreshMutation, {}, { 'x-csrf-token': session.refreshCsrfToken ?? '' });
    acceptPayload(data.refresh);
  } catch (error) {
    if (error instanceof GraphQLRequestError) {
      signOut(`your session has ended (${error.code ?? error.message}); please log in again`);
    }
    throw error;
  }
}

/** Cookie mode after a page reload: the readable csrf_refresh_token cookie says a session may exist. */
export async function restoreCookieSession(): Promise<void> {
  const csrf = readCookie('csrf_refresh_token');
  if (!csrf || state.session) return;
  try {
    update({ refreshes: state.refreshes + 1 });
    const data = await request(RefreshMutation, {}, { 'x-csrf-token': csrf });
    acceptPayload(data.refresh);
  } catch {
    // Revoked or expired: stay signed out.
  }
}

/**
 * Step-up authentication for fresh-only fields (FRESH_TOKEN_REQUIRED): log in again as the
 * same user, which answers a fresh token in a new session, then end the session it
 * replaces so re-entering a password does not pile up sessions. (The open WebSocket still
 * holds the old credential: src/apollo.ts reconnects it instead of signing out, because
 * its credential is older than the current one.)
 */
export async function reauthenticate(password: string, code = ''): Promise<void> {
  const session = state.session;
  if (!session) throw new Error('not signed in');
  // With a second factor, a password alone is a partial login: ask for both up front.
  if (session.user.mfaEnabled && !code.trim()) {
    throw new Error('Enter a code from your authenticator app as well.');
  }
  const previous = await currentSessionId();
  const { login: payload } = await request(LoginMutation, {
    input: { username: session.user.username, password },
  });
  if (payload.mfaRequired) {
    try {
      const { verifyMfa: raised } = await request(VerifyMfaMutation, { code }, headersOf(payload));
      acceptPayload(raised);
    } catch (error) {
      // The new login stands (in cookie mode its cookies replaced the old ones): it waits
      // for a good code on the second-step screen.
      acceptPayload(payload);
      throw error;
    }
  } else {
    acceptPayload(payload);
  }
  if (previous) {
    await request(RevokeSessionMutation, { id: previous }, authHeaders(true)).catch(() => undefined);
  }
}

/**
 * The id of the session in use. The password dialog may stay open longer than an access
 * token lives: when the token has expired meanwhile (bearer: TOKEN_EXPIRED; cookie mode:
 * the access cookie is gone, AUTHORIZATION_REQUIRED), refresh first — a refresh keeps
 * the session — and ask again, so the session being replaced is still found and ended.
 */
async function currentSessionId(): Promise<string | undefined> {
  const ask = async () =>
    (await request(MySessionsQuery, {}, authHeaders(false))).mySessions.find((s) => s.current)?.id;
  try {
    return await ask();
  } catch (error) {
    const expired = errorCodes(error).some((code) =>
      ['TOKEN_EXPIRED', 'AUTHORIZATION_REQUIRED'].includes(code),
    );
    if (!expired) return undefined;
    try {
      await refreshOnce();
      return await ask();
    } catch {
      return undefined;
    }
  }
}

/** The `extensions.code`s of an error of any kind this app produces. */
export function errorCodes(error: unknown): string[] {
  if (!error || typeof error !== 'object') return [];
  if (error instanceof GraphQLRequestError) {
    return error.errors.map((e) => e.extensions?.code ?? '');
  }
  const errors = (error as { errors?: WireError[] }).errors;
  if (Array.isArray(errors)) return errors.map((e) => e.extensions?.code ?? '');
  return [];
}
