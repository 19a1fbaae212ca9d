//! JWT issue and decode. The claim set is Flask-JWT-Extended's (`sub`, `type`, `fresh`,
//! `jti`, `iat`, `nbf`, `exp`, plus `role`, `csrf` in cookie mode, `iss`/`aud` when
//! configured), so tokens interoperate with it given the same key. The algorithm comes from
//! the configuration only (RFC 8725 §3.1); the header's `alg` must equal it exactly.

use std::collections::HashSet;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::config::{Config, ConfigError, JwtAlgorithm};
use crate::graphql::errors::messages;

/// `type` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// Why a presented token was refused. `Invalid` carries the decoder's reason, worded as
/// PyJWT / Flask-JWT-Extended word it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("Token has expired")]
    Expired,
    #[error("{0}")]
    Invalid(String),
}

impl TokenError {
    fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

/// Verified claims of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub kind: TokenKind,
    pub fresh: bool,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub csrf: Option<String>,
}

impl Claims {
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// A freshly signed token and what the server records about it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub jti: String,
    pub kind: TokenKind,
    pub expires_at: DateTime<Utc>,
    pub csrf: Option<String>,
}

#[derive(Serialize)]
struct OutgoingClaims<'a> {
    sub: String,
    #[serde(rename = "type")]
    kind: &'static str,
    fresh: bool,
    jti: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<Value>,
}

/// Claims as they arrive: everything optional and loosely typed, so each problem gets its
/// own precise message instead of a generic deserialization error.
#[derive(Deserialize)]
struct IncomingClaims {
    sub: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Value>,
    fresh: Option<Value>,
    jti: Option<Value>,
    iat: Option<Value>,
    exp: Option<Value>,
    csrf: Option<Value>,
    iss: Option<Value>,
}

/// RFC 7518 §3.3: RS256 keys MUST have at least 2048 bits; jsonwebtoken signs with smaller
/// ones without complaint.
fn check_rsa_key_size(key: &EncodingKey) -> Result<(), ConfigError> {
    const MIN_BITS: usize = 2048;
    let bits = Jwk::from_encoding_key(key, Algorithm::RS256)
        .ok()
        .and_then(|jwk| match jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => URL_SAFE_NO_PAD.decode(rsa.n).ok(),
            _ => None,
        })
        .map(|modulus| {
            let significant: Vec<u8> = modulus.into_iter().skip_while(|b| *b == 0).collect();
            significant.first().map_or(0, |top| {
                significant.len() * 8 - top.leading_zeros() as usize
            })
        })
        .ok_or_else(|| ConfigError::new("JWT_PRIVATE_KEY_FILE", "not a usable RSA private key"))?;
    if bits < MIN_BITS {
        return Err(ConfigError::new(
            "JWT_PRIVATE_KEY_FILE",
            format!("RSA key has {bits} bits; RS256 needs at least {MIN_BITS}"),
        ));
    }
    Ok(())
}

/// A key for server-side MACs (pagination cursors), derived from the signing key material
/// under its own label, so a MAC computed with it can never double as a token signature.
fn derive_mac_key(signing_key: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(signing_key)
        .expect("BUG: HMAC accepts keys of any length");
    mac.update(b"authql cursor MAC key v1");
    mac.finalize().into_bytes().to_vec()
}

/// Keys and rules for one configured algorithm. Guards never see keys: they ask the auth
/// context, which calls [`JwtKeys::decode`]; a new algorithm only changes this file.
pub struct JwtKeys {
    algorithm: Algorithm,
    algorithm_name: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<Value>,
    access_ttl: chrono::Duration,
    refresh_ttl: chrono::Duration,
    leeway: i64,
    cookie_csrf: bool,
    /// Key material for server-side MACs (cursors), derived from the signing key.
    mac_key: Vec<u8>,
}

impl JwtKeys {
    /// Reads key files once, at startup. Dev without `JWT_SECRET_KEY` gets a random secret.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let (algorithm, encoding, decoding, mac_key) = match config.jwt_algorithm {
            JwtAlgorithm::HS256 => {
                let secret = match &config.jwt_secret_key {
                    Some(secret) => secret.0.as_bytes().to_vec(),
                    None => {
                        tracing::warn!(
                            "JWT_SECRET_KEY is not set: using a random secret; tokens will not survive a restart"
                        );
                        let mut secret = vec![0u8; 32];
                        rand::fill(&mut secret[..]);
                        secret
                    }
                };
                (
                    Algorithm::HS256,
                    EncodingKey::from_secret(&secret),
                    DecodingKey::from_secret(&secret),
                    derive_mac_key(&secret),
                )
            }
            other => {
                let read = |path: &Option<std::path::PathBuf>, variable: &'static str| {
                    let path = path
                        .as_ref()
                        .ok_or_else(|| ConfigError::new(variable, "is required"))?;
                    std::fs::read(path).map_err(|error| {
                        ConfigError::new(
                            variable,
                            format!("cannot read {}: {error}", path.display()),
                        )
                    })
                };
                let private = read(&config.jwt_private_key_file, "JWT_PRIVATE_KEY_FILE")?;
                let public = read(&config.jwt_public_key_file, "JWT_PUBLIC_KEY_FILE")?;
                // Name the accepted encodings: `openssl ecparam -genkey` writes SEC1
                // (`BEGIN EC PRIVATE KEY`), which jsonwebtoken refuses.
                let (private_forms, public_forms) = match other {
                    JwtAlgorithm::RS256 => (
                        "PKCS#8 (BEGIN PRIVATE KEY) or PKCS#1 (BEGIN RSA PRIVATE KEY)",
                        "SPKI (BEGIN PUBLIC KEY) or PKCS#1 (BEGIN RSA PUBLIC KEY)",
                    ),
                    _ => ("PKCS#8 (BEGIN PRIVATE KEY)", "SPKI (BEGIN PUBLIC KEY)"),
                };
                let bad_private = |e: jsonwebtoken::errors::Error| {
                    ConfigError::new(
                        "JWT_PRIVATE_KEY_FILE",
                        format!("not an {other} PEM private key ({e}); expected {private_forms}"),
                    )
                };
                let bad_public = |e: jsonwebtoken::errors::Error| {
                    ConfigError::new(
                        "JWT_PUBLIC_KEY_FILE",
                        format!("not an {other} PEM public key ({e}); expected {public_forms}"),
                    )
                };
                let (algorithm, encoding, decoding) = match other {
                    JwtAlgorithm::RS256 => {
                        let encoding = EncodingKey::from_rsa_pem(&private).map_err(bad_private)?;
                        check_rsa_key_size(&encoding)?;
                        (
                            Algorithm::RS256,
                            encoding,
                            DecodingKey::from_rsa_pem(&public).map_err(bad_public)?,
                        )
                    }
                    JwtAlgorithm::ES256 => (
                        Algorithm::ES256,
                        EncodingKey::from_ec_pem(&private).map_err(bad_private)?,
                        DecodingKey::from_ec_pem(&public).map_err(bad_public)?,
                    ),
                    JwtAlgorithm::EdDSA => (
                        Algorithm::EdDSA,
                        EncodingKey::from_ed_pem(&private).map_err(bad_private)?,
                        DecodingKey::from_ed_pem(&public).map_err(bad_public)?,
                    ),
                    JwtAlgorithm::HS256 => unreachable!("handled above"),
                };
                (algorithm, encoding, decoding, derive_mac_key(&private))
            }
        };

        let mut validation = Validation::new(algorithm);
        validation.leeway = config.jwt_leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.required_spec_claims = HashSet::from(["exp".to_owned(), "sub".to_owned()]);
        let audience: Vec<String> = config
            .jwt_audience
            .iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        // Without a configured audience `validate_aud` stays on with no expected value, so a
        // token that names any audience is refused (RFC 7519 §4.1.3; PyJWT does the same):
        // a token meant for another service must not be accepted here.
        validation.validate_aud = true;
        if !audience.is_empty() {
            validation.set_audience(&audience);
            validation.required_spec_claims.insert("aud".to_owned());
        }
        let issuer = config
            .jwt_issuer
            .as_ref()
            .map(|i| i.trim().to_owned())
            .filter(|i| !i.is_empty());
        if let Some(issuer) = &issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".to_owned());
        }

        let keys = Self {
            algorithm,
            algorithm_name: config.jwt_algorithm.to_string(),
            encoding,
            decoding,
            validation,
            issuer,
            audience: match audience.len() {
                0 => None,
                1 => Some(Value::String(audience[0].clone())),
                _ => Some(Value::from(audience)),
            },
            access_ttl: chrono::Duration::from_std(config.jwt_access_token_expires)
                .map_err(|_| ConfigError::new("JWT_ACCESS_TOKEN_EXPIRES", "too long"))?,
            refresh_ttl: chrono::Duration::from_std(config.jwt_refresh_token_expires)
                .map_err(|_| ConfigError::new("JWT_REFRESH_TOKEN_EXPIRES", "too long"))?,
            leeway: config.jwt_leeway.as_secs() as i64,
            cookie_csrf: config.jwt_token_location.cookies,
            mac_key,
        };
        // Fail at start, not on the first login, if the key pair cannot sign and verify.
        let probe = keys
            .issue(0, "USER", TokenKind::Access, false)
            .map_err(|e| ConfigError::new("JWT_PRIVATE_KEY_FILE", format!("cannot sign: {e}")))?;
        keys.decode(&probe.token, TokenKind::Access).map_err(|e| {
            ConfigError::new(
                "JWT_PUBLIC_KEY_FILE",
                format!("does not verify tokens signed with the private key: {e}"),
            )
        })?;
        Ok(keys)
    }

    /// Access token lifetime in seconds (`expiresIn`).
    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl.num_seconds()
    }

    /// Key material for MACs the server keeps to itself (never the public key).
    pub fn mac_key(&self) -> &[u8] {
        &self.mac_key
    }

    /// Signs a new token for `user_id` with the configured algorithm.
    pub fn issue(
        &self,
        user_id: i32,
        role: &str,
        kind: TokenKind,
        fresh: bool,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let now = Utc::now();
        let expires_at = now
            + match kind {
                TokenKind::Access => self.access_ttl,
                TokenKind::Refresh => self.refresh_ttl,
            };
        let jti = Uuid::new_v4().to_string();
        let csrf = self.cookie_csrf.then(|| Uuid::new_v4().to_string());
        let claims = OutgoingClaims {
            sub: user_id.to_string(),
            kind: kind.as_str(),
            fresh,
            jti: &jti,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            role,
            csrf: csrf.as_deref(),
            iss: self.issuer.as_deref(),
            aud: self.audience.clone(),
        };
        let header = Header {
            typ: Some("JWT".to_owned()),
            ..Header::new(self.algorithm)
        };
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)?;
        Ok(IssuedToken {
            token,
            jti,
            kind,
            expires_at: DateTime::from_timestamp(expires_at.timestamp(), 0).unwrap_or(expires_at),
            csrf,
        })
    }

    /// Verifies signature, algorithm, `exp`/`nbf`/`iat` (with the configured leeway),
    /// `iss`/`aud`, the claim types and the token `type`. Revocation is the caller's job.
    pub fn decode(&self, token: &str, expected: TokenKind) -> Result<Claims, TokenError> {
        self.check_header(token)?;
        let data = jsonwebtoken::decode::<IncomingClaims>(token, &self.decoding, &self.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::invalid(messages::BAD_SIGNATURE),
                ErrorKind::ImmatureSignature => {
                    TokenError::invalid("The token is not yet valid (nbf)")
                }
                ErrorKind::InvalidIssuer => TokenError::invalid("Invalid issuer"),
                ErrorKind::InvalidAudience => TokenError::invalid("Invalid audience"),
                ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                    TokenError::invalid("The specified alg value is not allowed")
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    TokenError::invalid(format!("Token is missing the \"{claim}\" claim"))
                }
                ErrorKind::InvalidClaimFormat(claim) => {
                    TokenError::invalid(format!("Invalid claim format: {claim}"))
                }
                ErrorKind::InvalidToken => TokenError::invalid("Not enough segments"),
                ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                    TokenError::invalid("Invalid token encoding")
                }
                ErrorKind::Json(_) => TokenError::invalid("Invalid payload string"),
                _ => TokenError::invalid(messages::BAD_SIGNATURE),
            })?;
        self.check_claims(data.claims, expected)
    }

    /// The header must be a JSON object whose `alg` is exactly the configured one. Checked
    /// before anything else so `none` (any casing) or an HS256-with-public-key token never
    /// reaches a verifier.
    fn check_header(&self, token: &str) -> Result<(), TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::invalid("Not enough segments"));
        };
        let header: Value = URL_SAFE_NO_PAD
            .decode(header.trim_end_matches('='))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| TokenError::invalid("Invalid header string"))?;
        match header.get("alg").and_then(Value::as_str) {
            Some(alg) if alg == self.algorithm_name => {}
            _ => {
                return Err(TokenError::invalid(
                    "The specified alg value is not allowed",
                ));
            }
        }
        // RFC 7515 §4.1.11: a token naming critical extensions must be refused by a
        // verifier that does not understand them, and we understand none.
        if header.get("crit").is_some() {
            return Err(TokenError::invalid("Unsupported critical header parameter"));
        }
        // A header jsonwebtoken cannot read (say a malformed `jwk`) would otherwise surface
        // from `decode` as a JSON error, reported as a bad payload.
        jsonwebtoken::decode_header(token)
            .map(|_| ())
            .map_err(|_| TokenError::invalid("Invalid header string"))
    }

    fn check_claims(&self, raw: IncomingClaims, expected: TokenKind) -> Result<Claims, TokenError> {
        // jsonwebtoken also accepts an `iss` array that contains ours; RFC 7519 §4.1.1 makes
        // `iss` one string, and PyJWT refuses anything else.
        if self.issuer.is_some() && !matches!(raw.iss, Some(Value::String(_))) {
            return Err(TokenError::invalid("Invalid issuer"));
        }
        let sub = match raw.sub {
            Some(Value::String(sub)) if !sub.is_empty() => sub,
            Some(_) => return Err(TokenError::invalid("Subject must be a string")),
            None => return Err(TokenError::invalid("Missing claim: sub")),
        };
        let exp = raw
            .exp
            .as_ref()
            .and_then(Value::as_i64)
            .ok_or_else(|| TokenError::invalid("Token is missing the \"exp\" claim"))?;
        let iat = match raw.iat {
            Some(value) => value
                .as_i64()
                .ok_or_else(|| TokenError::invalid("Issued At claim (iat) must be an integer."))?,
            None => return Err(TokenError::invalid("Token is missing the \"iat\" claim")),
        };
        if iat > Utc::now().timestamp() + self.leeway {
            return Err(TokenError::invalid("The token is not yet valid (iat)"));
        }
        let jti = match raw.jti {
            Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= 255 => jti,
            Some(_) => return Err(TokenError::invalid("Invalid claim format: jti")),
            None => return Err(TokenError::invalid("Missing claim: jti")),
        };
        // Flask-JWT-Extended treats a token without `type` as an access token and without
        // `fresh` as not fresh.
        let kind = match raw.kind.as_ref().map(|v| v.as_str()) {
            None => TokenKind::Access,
            Some(Some("access")) => TokenKind::Access,
            Some(Some("refresh")) => TokenKind::Refresh,
            Some(_) => return Err(TokenError::invalid("Invalid claim format: type")),
        };
        let fresh = match raw.fresh {
            None | Some(Value::Null) => false,
            Some(Value::Bool(fresh)) => fresh,
            // Flask-JWT-Extended may put a timestamp here: fresh until then.
            Some(Value::Number(until)) => {
                until.as_i64().is_some_and(|t| t > Utc::now().timestamp())
            }
            Some(_) => return Err(TokenError::invalid("Invalid claim format: fresh")),
        };
        if kind != expected {
            return Err(TokenError::invalid(match expected {
                TokenKind::Access => messages::ONLY_ACCESS,
                TokenKind::Refresh => messages::ONLY_REFRESH,
            }));
        }
        let csrf = match raw.csrf {
            Some(Value::String(csrf)) => Some(csrf),
            _ => None,
        };
        Ok(Claims {
            sub,
            kind,
            fresh,
            jti,
            iat,
            exp,
            csrf,
        })
    }
}
