import { errorCodes } from './auth';

/** What to tell the user for an `extensions.code` (src/graphql/errors.rs has them all). */
export function explain(error: unknown): string {
  const codes = errorCodes(error);
  const message = error instanceof Error ? error.message : String(error);
  switch (codes[0]) {
    case 'FORBIDDEN':
      return 'Not allowed (FORBIDDEN): you can only change or delete your own items; an admin can change any.';
    case 'FRESH_TOKEN_REQUIRED':
      return 'This needs a recent login (FRESH_TOKEN_REQUIRED).';
    case 'INVALID_CREDENTIALS':
      return 'Wrong username or password (INVALID_CREDENTIALS).';
    case 'USERNAME_TAKEN':
      return 'That username is taken (USERNAME_TAKEN).';
    case 'NOT_FOUND':
      return 'It no longer exists (NOT_FOUND): someone deleted it meanwhile.';
    case 'RATE_LIMITED':
      return `Too many attempts (RATE_LIMITED): ${message}`;
    case 'CSRF_FAILED':
      return 'The CSRF check failed (CSRF_FAILED): log in again.';
    case 'VERIFICATION_FAILED':
      return 'This link or code is wrong, used or expired (VERIFICATION_FAILED): ask for a new one.';
    case 'EMAIL_NOT_VERIFIED':
      return 'Confirm your email address first (EMAIL_NOT_VERIFIED): see the Account tab.';
    case 'MFA_REQUIRED':
      return 'This needs your second factor (MFA_REQUIRED): enter a code from your authenticator app.';
    case 'FEATURE_DISABLED':
      return `Not available on this server (FEATURE_DISABLED): ${message}`;
    case 'BAD_USER_INPUT':
      return `Please check the form (BAD_USER_INPUT): ${message}`;
    case undefined:
      return message;
    default:
      return `${message} (${codes[0]})`;
  }
}
