// "Sign in with your provider": the OAuth 2.0 authorization code flow with PKCE (RFC 7636),
// in the browser, against an OpenID provider whose JWT access tokens authql accepts
// (EXTERNAL_ISSUERS_FILE, docs/operations.md "Outside identity providers").
//
// The provider is named at run time by /oidc.json ({ issuer, clientId, resource }), served
// beside the app; without it the button is not shown. The code verifier waits in
// sessionStorage for the one redirect (it is worthless without the code, and removed at
// once); the access token lives in memory only, like authql's own.
import { MeQuery } from './operations';
import { acceptOutsideToken, request } from './auth';

export interface ProviderConfig {
  issuer: string;
  clientId: string;
  /** RFC 8707 resource indicator: the provider issues a JWT access token for authql. */
  resource: string;
  /** The scopes to ask for (default `openid`). */
  scope?: string;
}

const PENDING = 'authql-oidc-pending';

export async function providerConfig(): Promise<ProviderConfig | null> {
  try {
    const response = await fetch('/oidc.json');
    if (!response.ok) return null;
    return (await response.json()) as ProviderConfig;
  } catch {
    return null;
  }
}

async function endpoints(issuer: string) {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`the provider's discovery answered ${response.status}`);
  return (await response.json()) as { authorization_endpoint: string; token_endpoint: string };
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** Leaves for the provider's sign-in page. */
export async function startSignIn(config: ProviderConfig): Promise<void> {
  const { authorization_endpoint, token_endpoint } = await endpoints(config.issuer);
  const verifier = randomString();
  const state = randomString();
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))),
  );
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, token_endpoint, ...config }));
  const url = new URL(authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: config.clientId,
    redirect_uri: `${window.location.origin}/callback`,
    scope: config.scope ?? 'openid',
    resource: config.resource,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  window.location.assign(url.toString());
}

/** On /callback: trades the code for the access token, then asks authql who that is. */
export async function finishSignIn(): Promise<void> {
  const pending = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  const params = new URLSearchParams(window.location.search);
  window.history.replaceState(null, '', '/callback');
  if (!pending) throw new Error('no sign-in was started from this tab');
  const { verifier, state, token_endpoint, clientId, resource } = JSON.parse(pending);
  if (params.get('error')) throw new Error(`the provider said: ${params.get('error')}`);
  if (!params.get('code') || params.get('state') !== state) throw new Error('the sign-in answer does not match');
  const response = await fetch(token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code') ?? '',
      redirect_uri: `${window.location.origin}/callback`,
      client_id: clientId,
      code_verifier: verifier,
      resource,
    }),
  });
  const tokens = (await response.json()) as { access_token?: string; error?: string };
  if (!tokens.access_token) throw new Error(`no access token: ${tokens.error ?? response.status}`);
  // authql links the provider's user to a local one on this first request.
  const data = await request(MeQuery, {}, { authorization: `Bearer ${tokens.access_token}` });
  const { id, username, role, mfaEnabled } = data.me;
  // Back to the shop first: the app renders the page of the address it is at.
  window.history.replaceState(null, '', '/');
  acceptOutsideToken(tokens.access_token, { __typename: 'User', id, username, role, mfaEnabled });
}
