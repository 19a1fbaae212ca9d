import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { ApolloProvider } from '@apollo/client/react';
import { client } from './apollo';
import { restoreCookieSession } from './auth';
import { App } from './App';
import './styles.css';

// Cookie mode survives a reload (the cookies do); bearer tokens live in memory only.
void restoreCookieSession().finally(() => {
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <ApolloProvider client={client}>
        <App />
      </ApolloProvider>
    </StrictMode>,
  );
});
