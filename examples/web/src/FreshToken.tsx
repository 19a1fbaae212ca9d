// FRESH_TOKEN_REQUIRED: changePassword, changeEmail, deleteUser and deleteItem accept only a token from a
// login ("Requires: a fresh token" in schema.graphql); a refreshed token is not fresh.
// `useFreshAction()(fn)` runs fn; on FRESH_TOKEN_REQUIRED it asks for the password again,
// logs in again (src/auth.ts reauthenticate) and retries fn once.
import { createContext, useCallback, useContext, useRef, useState, type ReactNode } from 'react';
import { errorCodes, reauthenticate } from './auth';
import { explain } from './errors';

type Ask = () => Promise<void>;
const FreshContext = createContext<Ask | null>(null);

export class Cancelled extends Error {
  constructor() {
    super('Cancelled');
  }
}

export function FreshTokenProvider({ children }: { children: ReactNode }) {
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const pending = useRef<{ resolve: () => void; reject: (e: Error) => void } | null>(null);

  const ask = useCallback<Ask>(
    () =>
      new Promise<void>((resolve, reject) => {
        pending.current = { resolve, reject };
        setPassword('');
        setError(null);
        setOpen(true);
      }),
    [],
  );

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      await reauthenticate(password);
      setOpen(false);
      pending.current?.resolve();
    } catch (e) {
      setError(explain(e)); // wrong password: ask again
    } finally {
      setBusy(false);
    }
  };
  const cancel = () => {
    setOpen(false);
    pending.current?.reject(new Cancelled());
  };

  return (
    <FreshContext.Provider value={ask}>
      {children}
      {open && (
        <div className="modal-backdrop">
          <form className="modal" role="dialog" aria-label="Re-enter your password" onSubmit={submit}>
            <h2>Re-enter your password</h2>
            <p>
              This action needs a recent login (<code>FRESH_TOKEN_REQUIRED</code>): your session was
              refreshed since you typed your password.
            </p>
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

export function useFreshAction() {
  const ask = useContext(FreshContext);
  if (!ask) throw new Error('useFreshAction outside FreshTokenProvider');
  return useCallback(
    async <T,>(action: () => Promise<T>): Promise<T> => {
      try {
        return await action();
      } catch (error) {
        if (!errorCodes(error).includes('FRESH_TOKEN_REQUIRED')) throw error;
        await ask(); // rejects with Cancelled
        return action();
      }
    },
    [ask],
  );
}
