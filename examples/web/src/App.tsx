import { useState } from 'react';
import { logout } from './auth';
import { FreshTokenProvider } from './FreshToken';
import { useAuth } from './useAuth';
import { AuthForms } from './screens/AuthForms';
import { Catalogue } from './screens/Catalogue';
import { Dashboard } from './screens/Dashboard';
import { Sessions } from './screens/Sessions';
import { Account } from './screens/Account';
import { ResetPassword, VerifyEmail } from './screens/Recovery';
import { SecondStep } from './screens/SecondFactor';
import { ProviderCallback } from './screens/ProviderSignIn';

/** The pages mailed links open ({APP_URL}/reset-password#token=…); any other path is the shop. */
const LINKED_PAGES: Record<string, () => React.JSX.Element> = {
  '/reset-password': ResetPassword,
  '/verify-email': VerifyEmail,
  // Where an outside identity provider sends the browser back (src/oidc.ts).
  '/callback': ProviderCallback,
};

const TABS = ['Catalogue', 'Dashboard', 'Sessions', 'Account'] as const;
type Tab = (typeof TABS)[number];

export function App() {
  const { session, signedOutReason } = useAuth();
  const [tab, setTab] = useState<Tab>('Catalogue');
  const Linked = LINKED_PAGES[window.location.pathname];
  if (Linked) {
    return (
      <>
        <header>
          <h1>authql shop</h1>
        </header>
        <main>
          <Linked />
        </main>
      </>
    );
  }

  return (
    <FreshTokenProvider>
      <header>
        <h1>authql shop</h1>
        {session ? (
          <div className="who">
            <span className="badge" data-testid="mode">
              {session.mode === 'bearer' ? 'bearer tokens in memory' : 'cookie mode'}
            </span>
            <span data-testid="signed-in-as">Signed in as {session.user.username}</span>
            <button onClick={() => void logout()}>Log out</button>
          </div>
        ) : (
          <span className="who">Not signed in</span>
        )}
      </header>
      {/* A new user (or none) gets fresh components: nothing of the last user's state stays. */}
      <main key={session?.user.id ?? 'anonymous'}>
        {session?.mfaRequired ? (
          // A partial login: the password was right, the second factor is still to come.
          <SecondStep />
        ) : session ? (
          <>
            <nav>
              {TABS.map((name) => (
                <button key={name} aria-pressed={tab === name} onClick={() => setTab(name)}>
                  {name}
                </button>
              ))}
            </nav>
            {tab === 'Catalogue' && <Catalogue />}
            {tab === 'Dashboard' && <Dashboard />}
            {tab === 'Sessions' && <Sessions />}
            {tab === 'Account' && <Account />}
          </>
        ) : (
          <>
            {signedOutReason && (
              <p role="alert" className="error" data-testid="signed-out">
                Signed out: {signedOutReason}.
              </p>
            )}
            <AuthForms />
            <Catalogue />
          </>
        )}
      </main>
    </FreshTokenProvider>
  );
}
