// Step-up. FRESH_TOKEN_REQUIRED: changePassword, changeEmail, deleteUser, deleteItem,
// enrollTotp and disableTotp accept only a token from a login ("Requires: a fresh token" in
// schema.graphql); a refreshed token is not fresh. MFA_REQUIRED: the field needs the second
// factor in this session (an admin under MFA_REQUIRED_FOR_ADMINS, disableTotp at level 1).
// `useFreshAction()(fn)` runs fn; on either code it asks for what is missing — the password
// (and, for a user with a factor, a code: src/auth.ts reauthenticate), or a code alone
// (verifyMfa) — and retries fn once.
import { createContext, useCallback, useContext, useRef, useState, type ReactNode } from 'react';
import { errorCodes, getSession, reauthenticate, verifyMfa, type WireError } from './auth';
import { explain } from './errors';

type Need = 'password' | 'code';
type Ask = (need: Need) => Promise<void>;
const FreshContext = createContext<Ask | null>(null);

export class Cancelled extends Error {
  constructor() {
    super('Cancelled');
  }
}

export function FreshTokenProvider({ children }: { children: ReactNode }) {
  const [need, setNeed] = useState<Need | null>(null);
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const pending = useRef<{ resolve: () => void; reject: (e: Error) => void } | null>(null);

  const ask = useCallback<Ask>(
    (what) =>
      new Promise<void>((resolve, reject) => {
        pending.current = { resolve, reject };
        setPassword('');
        setCode('');
        setError(null);
        setNeed(what);
      }),
    [],
  );

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      if (need === 'code') await verifyMfa(code);
      else await reauthenticate(password, code);
      setNeed(null);
      pending.current?.resolve();
    } catch (e) {
      setError(explain(e)); // wrong password or code: ask again
    } finally {
      setBusy(false);
    }
  };
  const cancel = () => {
    setNeed(null);
    pending.current?.reject(new Cancelled());
  };
  const withFactor = need === 'code' || getSession()?.user.mfaEnabled === true;

  return (
    <FreshContext.Provider value={ask}>
      {children}
      {need && (
        <div className="modal-backdrop">
          <form
            className="modal"
            role="dialog"
            aria-label={need === 'code' ? 'Confirm with your second factor' : 'Re-enter your password'}
            onSubmit={submit}
          >
            <h2>{need === 'code' ? 'Confirm with your second factor' : 'Re-enter your password'}</h2>
            {need === 'code' ? (
              <p>
                This action needs your second factor in this session (<code>MFA_REQUIRED</code>).
              </p>
            ) : (
              <p>
                This action needs a recent login (<code>FRESH_TOKEN_REQUIRED</code>): your session was
                refreshed since you typed your password.
              </p>
            )}
            {need === 'password' && (
              <label>
                Password
                <input
                  type="password"
                  autoFocus
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                  autoComplete="current-password"
                />
              </label>
            )}
            {withFactor && (
              <label>
                Authenticator code
                <input
                  value={code}
                  autoFocus={need === 'code'}
                  inputMode="numeric"
                  autoComplete="one-time-code"
                  onChange={(e) => setCode(e.target.value)}
                />
              </label>
            )}
            {error && <p role="alert" className="error">{error}</p>}
            <div className="row">
              <button type="submit" disabled={busy}>Confirm</button>
              <button type="button" onClick={cancel}>Cancel</button>
            </div>
          </form>
        </div>
      )}
    </FreshContext.Provider>
  );
}

/** Whether an MFA_REQUIRED says "set up a factor first" (`extensions.enroll`). */
function needsEnrolment(error: unknown): boolean {
  const errors = (error as { errors?: WireError[] } | null)?.errors ?? [];
  return errors.some((e) => e.extensions?.enroll === true);
}

export function useFreshAction() {
  const ask = useContext(FreshContext);
  if (!ask) throw new Error('useFreshAction outside FreshTokenProvider');
  return useCallback(
    async <T,>(action: () => Promise<T>): Promise<T> => {
      try {
        return await action();
      } catch (error) {
        const codes = errorCodes(error);
        if (codes.includes('FRESH_TOKEN_REQUIRED')) {
          await ask('password'); // rejects with Cancelled
          return action();
        }
        if (codes.includes('MFA_REQUIRED') && !needsEnrolment(error)) {
          await ask('code');
          return action();
        }
        throw error;
      }
    },
    [ask],
  );
}
