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
    '#    (over the WebSocket at /graphql/ws when it can connect, else as a stream over',
    '#    HTTP — Server-Sent Events — with the same headers).',
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

  // Subscriptions run over the WebSocket when it works here, else over HTTP as GraphQL
  // over SSE (the server streams a subscription POSTed with `Accept: text/event-stream`).
  // Some networks block WebSockets: a probe at load tells, and until it has, and for a
  // subscription GraphiQL has not parsed yet (run right after typing), SSE is used.
  var socketFetcher = GraphiQL.createFetcher({
    url: endpoint,
    subscriptionUrl: socketUrl.href,
    fetch: withCsrf,
    // The server answers plain JSON (no @defer/@stream), so no multipart Accept header.
    enableIncrementalDelivery: false,
  });
  var socketWorks = false;
  (function probeSocket() {
    try {
      var probe = new WebSocket(socketUrl.href, 'graphql-transport-ws');
      probe.onopen = function () {
        socketWorks = true;
        probe.close(1000);
      };
    } catch (e) {
      // No socket here: SSE it is.
    }
  })();

  function isSubscription(params, options) {
    var document = options && options.documentAST;
    if (!document) return false;
    var name = params.operationName || undefined;
    return document.definitions.some(function (definition) {
      return (
        definition.kind === 'OperationDefinition' &&
        definition.operation === 'subscription' &&
        (definition.name ? definition.name.value : undefined) === name
      );
    });
  }

  // The results of an SSE response, as GraphiQL takes a stream: an async iterator. Leaving
  // it (GraphiQL's stop button) aborts the request, which ends the stream on the server.
  async function* sseResults(response, controller) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = '';
    try {
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        var end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          var message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          var event = null;
          var data = '';
          message.split('\n').forEach(function (line) {
            if (line.indexOf('event:') === 0) event = line.slice(6).trim();
            else if (line.indexOf('data:') === 0) data += line.slice(5).trim();
          });
          if (event === 'next') yield JSON.parse(data);
          else if (event === 'complete') return;
        }
      }
    } finally {
      controller.abort();
    }
  }

  // Any operation over HTTP; a subscription comes back as an SSE stream.
  async function httpFetcher(params, options) {
    var headers = Object.assign(
      {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json, text/event-stream',
      },
      (options && options.headers) || {},
    );
    var controller = new AbortController();
    var response = await withCsrf(endpoint, {
      method: 'POST',
      headers: headers,
      body: JSON.stringify(params),
      signal: controller.signal,
    });
    if ((response.headers.get('content-type') || '').indexOf('text/event-stream') === 0) {
      return sseResults(response, controller);
    }
    return response.json();
  }

  function fetcher(params, options) {
    if (socketWorks && isSubscription(params, options)) return socketFetcher(params, options);
    return httpFetcher(params, options);
  }

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
