import type { IncomingMessage, ServerResponse } from 'node:http';
import { defineConfig, type PluginOption } from 'vite';
import react from '@vitejs/plugin-react';

// The app calls `/graphql` and `/graphql/ws` on its own origin; Vite forwards both to
// authql (AUTHQL_URL, default http://127.0.0.1:8000), in `vite` (dev) and `vite preview`.
//
// changeOrigin stays false on purpose: the upgrade request then reaches authql with the
// browser's Host (the app's origin), which equals its Origin header, so authql's
// `origin_allowed` (src/http/ws.rs) reads the access cookie at the WebSocket upgrade in
// cookie mode. With changeOrigin: true, add the app's origin to CORS_ALLOWED_ORIGINS.
const target = process.env.AUTHQL_URL ?? 'http://127.0.0.1:8000';
const proxy = { '/graphql': { target, ws: true, changeOrigin: false } };

// `/oidc.json` names the outside identity provider of "Sign in with your provider"
// (src/oidc.ts): OIDC_CONFIG, e.g. {"issuer":"https://…","clientId":"…","resource":"…"}.
// Unset: 404, and the button is not shown.
const oidcConfig: PluginOption = {
  name: 'oidc-config',
  configureServer: (server) => void server.middlewares.use('/oidc.json', serveOidcConfig),
  configurePreviewServer: (server) => void server.middlewares.use('/oidc.json', serveOidcConfig),
};

function serveOidcConfig(_req: IncomingMessage, res: ServerResponse) {
  const config = process.env.OIDC_CONFIG;
  res.statusCode = config ? 200 : 404;
  res.setHeader('content-type', 'application/json');
  res.end(config ?? '{}');
}

export default defineConfig({
  plugins: [react(), oidcConfig],
  server: { proxy },
  preview: { proxy },
  build: { sourcemap: true },
});
