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

  // Cookie mode (JWT_TOKEN_LOCATION=cookies): after a `login` here the browser holds the
  // session cookies, and the server wants each cookie-authenticated mutation to repeat
  // the readable CSRF cookie in X-CSRF-TOKEN (double submit). GraphiQL sends it itself, so
  // a mutation typed here just works: `csrf_refresh_token` for a `refresh` without an
  // argument, `csrf_access_token` for anything else. A header typed in the Headers tab
  // wins; without these cookies (bearer tokens) nothing is added.
  function cookie(name) {
    var found = document.cookie.split('; ').find(function (pair) {
      return pair.indexOf(name + '=') === 0;
    });
    return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
  }
  function withCsrf(url, options) {
    options = options || {};
    var headers = new Headers(options.headers || {});
    if (!headers.has('X-CSRF-TOKEN') && typeof options.body === 'string') {
      // `refresh {` or `refresh()`: no refreshToken argument, so the refresh cookie.
      var refreshing = /\brefresh\s*(\{|\(\s*\))/.test(options.body);
      var csrf = cookie(refreshing ? 'csrf_refresh_token' : 'csrf_access_token');
      if (csrf) headers.set('X-CSRF-TOKEN', csrf);
    }
    return window.fetch(url, Object.assign({}, options, { headers: headers }));
  }

  var fetcher = GraphiQL.createFetcher({
    url: endpoint,
    subscriptionUrl: socketUrl.href,
    fetch: withCsrf,
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
