// The second factor (docs/frontend.md "A second factor: enrolment and step-up"):
// - SecondStep: after a login that answered `mfaRequired: true`, the code prompt — the
//   user is not signed in until `verifyMfa` succeeds;
// - TwoFactorSettings (Account tab): set up an authenticator app (QR code and secret,
//   confirmed with a code; the recovery codes shown once), or turn it off.
import { useState } from 'react';
import { useApolloClient } from '@apollo/client/react';
import { acceptPayload, logout, verifyMfa } from '../auth';
import { explain } from '../errors';
import { Cancelled, useFreshAction } from '../FreshToken';
import { ConfirmTotpMutation, DisableTotpMutation, EnrollTotpMutation } from '../operations';

export function SecondStep() {
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await verifyMfa(code); // the level-2 pair replaces the partial one: the app opens
    } catch (e) {
      setError(explain(e));
      setBusy(false);
    }
  };

  return (
    <section className="card" data-testid="second-step">
      <h2>Two-factor authentication</h2>
      <p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
      <form onSubmit={submit}>
        <label>
          Code
          <input
            value={code}
            autoFocus
            inputMode="numeric"
            autoComplete="one-time-code"
            onChange={(e) => setCode(e.target.value)}
          />
        </label>
        <div className="row">
          <button type="submit" disabled={busy}>Verify</button>
          <button type="button" onClick={() => void logout()}>Cancel</button>
        </div>
        {error && <p role="alert" className="error">{error}</p>}
      </form>
    </section>
  );
}

interface Enrollment {
  secret: string;
  qrSvg: string;
}

/** `mfaEnabled` and `codesLeft` from `me`; `changed` refetches it. */
export function TwoFactorSettings({
  mfaEnabled,
  codesLeft,
  changed,
}: {
  mfaEnabled: boolean;
  codesLeft: number | null;
  changed: () => void;
}) {
  const client = useApolloClient();
  const fresh = useFreshAction();
  const [enrollment, setEnrollment] = useState<Enrollment | null>(null);
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null);
  const [code, setCode] = useState('');
  const [notice, setNotice] = useState<string | null>(null);

  const start = async () => {
    setNotice(null);
    try {
      const result = await fresh(() => client.mutate({ mutation: EnrollTotpMutation }));
      if (result.data) setEnrollment(result.data.enrollTotp);
    } catch (e) {
      setNotice(e instanceof Cancelled ? 'Not set up.' : `Not set up: ${explain(e)}`);
    }
  };

  const confirm = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      const result = await client.mutate({ mutation: ConfirmTotpMutation, variables: { code } });
      if (!result.data) return;
      // This session is at level 2 now: keep the pair it answered.
      acceptPayload(result.data.confirmTotp.tokens);
      setRecoveryCodes(result.data.confirmTotp.recoveryCodes);
      setEnrollment(null);
      setCode('');
      changed();
    } catch (e) {
      setNotice(`Not turned on: ${explain(e)}`);
    }
  };

  const turnOff = async (event: React.FormEvent) => {
    event.preventDefault();
    try {
      await fresh(() => client.mutate({ mutation: DisableTotpMutation, variables: { code } }));
      setCode('');
      setRecoveryCodes(null);
      setNotice('Two-factor authentication is off: your password alone signs you in.');
      changed();
    } catch (e) {
      setNotice(e instanceof Cancelled ? 'Still on.' : `Still on: ${explain(e)}`);
    }
  };

  return (
    <div data-testid="two-factor">
      <h3>Two-factor authentication</h3>
      <p data-testid="two-factor-status">
        {mfaEnabled ? `On — ${codesLeft ?? 0} recovery codes left.` : 'Off.'}
      </p>
      {notice && <p role="status" data-testid="two-factor-notice">{notice}</p>}
      {recoveryCodes && (
        <div className="notice">
          <p>
            Your recovery codes. Each signs you in once if you lose your phone. Save them now:
            they are not shown again.
          </p>
          <ol data-testid="recovery-codes">
            {recoveryCodes.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ol>
          <button type="button" onClick={() => setRecoveryCodes(null)}>I saved them</button>
        </div>
      )}
      {!mfaEnabled && !enrollment && (
        <button type="button" onClick={() => void start()}>
          Set up two-factor authentication
        </button>
      )}
      {!mfaEnabled && enrollment && (
        <form onSubmit={confirm}>
          <p>Scan this with your authenticator app, or type the key in:</p>
          {/* SVG made by the server: shown as an image, never inserted as HTML. */}
          <img
            data-testid="totp-qr"
            alt="QR code for your authenticator app"
            width={200}
            height={200}
            src={`data:image/svg+xml;utf8,${encodeURIComponent(enrollment.qrSvg)}`}
          />
          <p>
            Key: <code data-testid="totp-secret">{enrollment.secret}</code>
          </p>
          <label>
            Code from the app
            <input
              value={code}
              inputMode="numeric"
              autoComplete="one-time-code"
              onChange={(e) => setCode(e.target.value)}
            />
          </label>
          <button type="submit">Turn on</button>
        </form>
      )}
      {mfaEnabled && (
        <form onSubmit={turnOff}>
          <label>
            Code (or a recovery code) to turn it off
            <input value={code} autoComplete="one-time-code" onChange={(e) => setCode(e.target.value)} />
          </label>
          <button type="submit">Turn off</button>
        </form>
      )}
    </div>
  );
}
