// Starts GraphiQL. A served file rather than an inline <script>, so the page's
// Content-Security-Policy allows scripts from 'self' only.
(function () {
  'use strict';

  var container = document.getElementById('graphiql');
  var endpoint = container.getAttribute('data-endpoint') || '/graphql';

  var defaultQuery = [
    '# Welcome to authql.',
    '#',
    '# 1. Run `signup` (or `login`) and copy the accessToken from the result.',
    '# 2. Open the "Headers" tab below and enter:',
    '#      {"Authorization": "Bearer <accessToken>"}',
    '# 3. Run queries that need a signed-in user, such as `{ me { username } }`,',
    '#    or subscriptions, such as `subscription { itemEvents { kind item { name } } }`',
    '#    (they run over the WebSocket at /graphql/ws with the same headers).',
    '',
    'mutation {',
    '  signup(input: { username: "alice", password: "correct horse battery" }) {',
    '    accessToken',
    '    refreshToken',
    '    expiresIn',
    '  }',
    '}',
    '',
  ].join('\n');

  // Subscriptions go over graphql-ws at <endpoint>/ws on this host; GraphiQL puts the
  // Headers tab's entries (the bearer token) into `connection_init`'s payload.
  var socketUrl = new URL(endpoint.replace(/\/$/, '') + '/ws', window.location.href);
  socketUrl.protocol = socketUrl.protocol === 'https:' ? 'wss:' : 'ws:';

  var fetcher = GraphiQL.createFetcher({
    url: endpoint,
    subscriptionUrl: socketUrl.href,
    // The server answers plain JSON (no @defer/@stream), so no multipart Accept header.
    enableIncrementalDelivery: false,
  });

  ReactDOM.createRoot(container).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      isHeadersEditorEnabled: true,
      // Headers (with the bearer token) are kept in this browser's localStorage.
      shouldPersistHeaders: true,
      defaultEditorToolsVisibility: true,
    }),
  );
})();
