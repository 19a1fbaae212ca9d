use async_graphql::SimpleObject;

use super::AuthPayload;

/// What `enrollTotp` answers, once: the new secret (pending until `confirmTotp`).
#[derive(SimpleObject)]
pub struct TotpEnrollment {
    /// The secret in base32, for typing into an authenticator app.
    pub secret: String,
    /// The `otpauth://totp/…` URI (SHA1, 6 digits, 30 s).
    pub uri: String,
    /// The URI as an SVG QR code, for scanning.
    pub qr_svg: String,
}

/// What `confirmTotp` answers: the recovery codes, shown this once, and a level-2 pair.
#[derive(SimpleObject)]
pub struct MfaActivation {
    /// Ten single-use codes (`xxxxx-xxxxx`) for when the authenticator is lost.
    pub recovery_codes: Vec<String>,
    pub tokens: AuthPayload,
}
