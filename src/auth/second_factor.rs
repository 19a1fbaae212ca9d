//! The cryptography of the second factor (API.md "Second factor (TOTP) and assurance
//! levels"), free of storage: TOTP secrets and codes (RFC 6238 through `totp-rs`), their
//! sealing at rest (AES-256-GCM through `aes-gcm`), and recovery codes with their keyed
//! hashes. `service::mfa` stores and counts; nothing here logs a secret or a code.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::{Engine, engine::general_purpose::STANDARD};
use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use qrcode::{QrCode, render::svg};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Totp};

/// RFC 6238 §5.2: one step back or ahead is accepted, for clock drift and typing time.
const SKEW: u64 = 1;
/// Seconds per step.
pub const STEP: u64 = 30;
/// Digits of a code.
const DIGITS: u8 = 6;
/// Bytes of a secret: 160 bits (RFC 4226 §4 recommends it).
const SECRET_BYTES: usize = 20;
/// Recovery codes per set, and random bits per code (10 base32 characters).
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_CODE_CHARS: usize = 10;
/// Prefixes of a stored secret.
const SEALED: &str = "v1:";
const CLEAR: &str = "plain:";
const NONCE_BYTES: usize = 12;

/// A TOTP secret in memory. Its `Debug` shows nothing.
#[derive(Clone)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

impl TotpSecret {
    /// A new random 160-bit secret.
    pub fn generate() -> Self {
        Self(rand::random::<[u8; SECRET_BYTES]>().to_vec())
    }

    /// Base32 without padding, as authenticator apps take it typed in.
    pub fn base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    fn totp(&self, account: &str, issuer: &str) -> Totp {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(SKEW as u16)
            .with_step_duration(STEP)
            .with_secret(self.0.clone())
            .with_account_name(account)
            .with_issuer(Some(issuer))
            .build_noncompliant()
    }

    /// The `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…` URI, naming SHA1, 6 digits
    /// and 30 s explicitly (they are the defaults, but some apps read them only when given).
    /// `None` when the account or issuer cannot be written into one (they contain `:`).
    pub fn uri(&self, account: &str, issuer: &str) -> Option<String> {
        let mut uri = self.totp(account, issuer).to_url().ok()?;
        for (name, value) in [("algorithm", "SHA1"), ("digits", "6"), ("period", "30")] {
            if !uri.contains(&format!("{name}=")) {
                uri.push_str(&format!("&{name}={value}"));
            }
        }
        Some(uri)
    }

    /// The step of `code` within ±1 step of `now` (Unix seconds) that is later than
    /// `last_step` — the latest accepted one: a code is good once (RFC 6238 §5.2). Each
    /// candidate is compared in constant time.
    pub fn accept(&self, code: &TotpCode, now: u64, last_step: Option<i64>) -> Option<i64> {
        let totp = self.totp("-", "-");
        let current = now / STEP;
        let mut accepted = None;
        for step in current.saturating_sub(SKEW)..=current + SKEW {
            let expected = totp.generate(step * STEP).to_string();
            let matches: bool = expected.as_bytes().ct_eq(code.0.as_bytes()).into();
            let step = i64::try_from(step).ok()?;
            if matches && last_step.is_none_or(|last| step > last) && accepted.is_none() {
                accepted = Some(step);
            }
        }
        accepted
    }

    /// The key recovery codes are hashed with: HMAC-SHA-256 keyed with the secret, so
    /// the stored hashes alone (without `MFA_ENCRYPTION_KEY`) cannot be searched.
    pub fn recovery_hash(&self, code: &RecoveryCode) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(b"authql recovery code\0");
        mac.update(code.0.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

/// The SVG QR code of `text` (the `otpauth://` URI).
pub fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

/// A TOTP code as typed: 6 digits, inner spaces ignored.
pub struct TotpCode(String);

/// A recovery code as typed, normalized: 10 base32 characters, case, spaces and hyphens
/// ignored.
pub struct RecoveryCode(String);

/// What a code argument is.
pub enum Code {
    Totp(TotpCode),
    Recovery(RecoveryCode),
}

impl Code {
    /// `None`: neither shape (refused like a wrong code).
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() > 64 {
            return None;
        }
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if compact.len() == usize::from(DIGITS) && compact.bytes().all(|b| b.is_ascii_digit()) {
            // Hyphens are no part of a TOTP code: only spaces are ignored there.
            if raw.contains('-') {
                return None;
            }
            return Some(Self::Totp(TotpCode(compact)));
        }
        let upper = compact.to_ascii_uppercase();
        let base32 = upper.len() == RECOVERY_CODE_CHARS
            && upper
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
        base32.then_some(Self::Recovery(RecoveryCode(upper)))
    }
}

/// A new set of recovery codes, as shown to the user once (`xxxxx-xxxxx`, lowercase).
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            // 50 random bits: the first 50 of 8 random bytes, as 10 base32 characters.
            let bytes = rand::random::<[u8; 8]>();
            let text = BASE32_NOPAD.encode(&bytes)[..RECOVERY_CODE_CHARS].to_ascii_lowercase();
            format!("{}-{}", &text[..5], &text[5..])
        })
        .collect()
}

/// Recovery codes as the server hashes them.
pub fn normalized(shown: &str) -> Option<RecoveryCode> {
    match Code::parse(shown)? {
        Code::Recovery(code) => Some(code),
        Code::Totp(_) => None,
    }
}

/// Why a stored secret cannot be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Sealed, and no key is configured.
    #[error("sealed, and MFA_ENCRYPTION_KEY is not set")]
    NoKey,
    /// Sealed with a key that is neither the current one nor a previous one (or damaged).
    #[error("sealed with a key neither MFA_ENCRYPTION_KEY nor MFA_PREVIOUS_ENCRYPTION_KEYS holds")]
    UnknownKey,
    /// Not a stored secret at all.
    #[error("not a stored secret")]
    Malformed,
}

/// Seals and opens TOTP secrets with `MFA_ENCRYPTION_KEY` (and earlier keys during a
/// rotation). The ciphertext is bound to its user (the user id is the associated data): a
/// sealed secret copied onto another user's row does not open.
#[derive(Clone)]
pub struct SecretBox {
    current: Option<Aes256Gcm>,
    previous: Vec<Aes256Gcm>,
}

/// What opening a stored secret found.
pub struct Opened {
    pub secret: TotpSecret,
    /// Stored in clear or under a previous key while a current key exists: seal it again.
    pub stale: bool,
}

impl SecretBox {
    pub fn new(current: Option<[u8; 32]>, previous: &[[u8; 32]]) -> Self {
        let cipher = |key: &[u8; 32]| Aes256Gcm::new(key.into());
        Self {
            current: current.as_ref().map(cipher),
            previous: previous.iter().map(cipher).collect(),
        }
    }

    /// Whether secrets are sealed (a key is configured).
    pub fn seals(&self) -> bool {
        self.current.is_some()
    }

    /// The secret as stored: sealed with the current key, or in clear without one.
    pub fn seal(&self, user_id: i32, secret: &TotpSecret) -> String {
        match &self.current {
            Some(cipher) => {
                let nonce: [u8; NONCE_BYTES] = rand::random();
                let sealed = cipher
                    .encrypt(
                        &Nonce::from(nonce),
                        Payload {
                            msg: &secret.0,
                            aad: &aad(user_id),
                        },
                    )
                    .expect("AES-GCM encrypts any short message");
                let mut bytes = nonce.to_vec();
                bytes.extend_from_slice(&sealed);
                format!("{SEALED}{}", STANDARD.encode(bytes))
            }
            None => format!("{CLEAR}{}", secret.base32()),
        }
    }

    /// The secret a stored value holds.
    pub fn open(&self, user_id: i32, stored: &str) -> Result<Opened, OpenError> {
        if let Some(clear) = stored.strip_prefix(CLEAR) {
            let secret = BASE32_NOPAD
                .decode(clear.as_bytes())
                .map_err(|_| OpenError::Malformed)?;
            return Ok(Opened {
                secret: TotpSecret(secret),
                stale: self.seals(),
            });
        }
        let sealed = stored.strip_prefix(SEALED).ok_or(OpenError::Malformed)?;
        let bytes = STANDARD.decode(sealed).map_err(|_| OpenError::Malformed)?;
        if bytes.len() <= NONCE_BYTES {
            return Err(OpenError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce =
            Nonce::from(<[u8; NONCE_BYTES]>::try_from(nonce).map_err(|_| OpenError::Malformed)?);
        let Some(current) = &self.current else {
            return Err(OpenError::NoKey);
        };
        let aad = aad(user_id);
        let payload = || Payload {
            msg: ciphertext,
            aad: &aad,
        };
        let nonce = &nonce;
        if let Ok(secret) = current.decrypt(nonce, payload()) {
            return Ok(Opened {
                secret: TotpSecret(secret),
                stale: false,
            });
        }
        self.previous
            .iter()
            .find_map(|cipher| cipher.decrypt(nonce, payload()).ok())
            .map(|secret| Opened {
                secret: TotpSecret(secret),
                stale: true,
            })
            .ok_or(OpenError::UnknownKey)
    }

    /// Whether a stored value is sealed (not in clear).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(SEALED)
    }
}

fn aad(user_id: i32) -> Vec<u8> {
    format!("authql totp secret of user {user_id}").into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 vectors (8 digits there; the last 6 here).
    #[test]
    fn codes_follow_rfc_6238() {
        let secret = TotpSecret(b"12345678901234567890".to_vec());
        for (time, code) in [
            (59u64, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            let step = (time / STEP) as i64;
            let parsed = match Code::parse(code) {
                Some(Code::Totp(code)) => code,
                _ => panic!("{code} is a TOTP code"),
            };
            assert_eq!(secret.accept(&parsed, time, None), Some(step), "{time}");
            // Once accepted, that step and the ones before it are refused.
            assert_eq!(secret.accept(&parsed, time, Some(step)), None);
            // ±1 step is accepted, ±2 is not.
            assert!(secret.accept(&parsed, time + STEP, None).is_some());
            assert!(secret.accept(&parsed, time - STEP, None).is_some());
            assert!(secret.accept(&parsed, time + 2 * STEP, None).is_none());
        }
    }

    #[test]
    fn codes_parse_as_typed() {
        assert!(matches!(Code::parse("287 082"), Some(Code::Totp(_))));
        assert!(Code::parse("287-082").is_none());
        assert!(Code::parse("28708").is_none());
        assert!(matches!(
            Code::parse("ABCDE-fghij"),
            Some(Code::Recovery(_))
        ));
        assert!(matches!(
            Code::parse(" abcde fghij "),
            Some(Code::Recovery(_))
        ));
        assert!(Code::parse("abcde-fghi1").is_none());
        for shown in new_recovery_codes() {
            assert_eq!(shown.len(), 11);
            assert!(normalized(&shown).is_some(), "{shown}");
        }
        let codes = new_recovery_codes();
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
    }

    #[test]
    fn sealed_secrets_open_with_their_key_and_user_only() {
        let secret = TotpSecret::generate();
        let old = SecretBox::new(Some([1; 32]), &[]);
        let sealed = old.seal(7, &secret);
        assert!(!sealed.contains(&secret.base32()));
        assert_eq!(old.open(7, &sealed).unwrap().secret.0, secret.0);
        assert!(!old.open(7, &sealed).unwrap().stale);
        assert_eq!(old.open(8, &sealed).err(), Some(OpenError::UnknownKey));
        let rotated = SecretBox::new(Some([2; 32]), &[[1; 32]]);
        let opened = rotated.open(7, &sealed).unwrap();
        assert!(opened.stale);
        assert_eq!(opened.secret.0, secret.0);
        assert_eq!(
            SecretBox::new(Some([3; 32]), &[]).open(7, &sealed).err(),
            Some(OpenError::UnknownKey)
        );
        assert_eq!(
            SecretBox::new(None, &[]).open(7, &sealed).err(),
            Some(OpenError::NoKey)
        );
        let clear = SecretBox::new(None, &[]).seal(7, &secret);
        assert!(rotated.open(7, &clear).unwrap().stale);
    }

    #[test]
    fn the_uri_names_everything_an_app_needs() {
        let secret = TotpSecret::generate();
        let uri = secret.uri("alice", "authql").unwrap();
        assert!(uri.starts_with("otpauth://totp/authql:alice?"), "{uri}");
        for part in [
            &format!("secret={}", secret.base32()),
            "issuer=authql",
            "algorithm=SHA1",
            "digits=6",
            "period=30",
        ] {
            assert!(uri.contains(part), "{uri} lacks {part}");
        }
        assert!(qr_svg(&uri).unwrap().starts_with("<?xml"));
    }
}
