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
    '# 3. Run queries that need a signed-in user, such as `{ me { username } }`.',
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

  var fetcher = GraphiQL.createFetcher({
    url: endpoint,
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
