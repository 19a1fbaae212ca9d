//! JWT issue and decode. The claim set is Flask-JWT-Extended's (`sub`, `type`, `fresh`,
//! `jti`, `iat`, `nbf`, `exp`, plus `role`, `sid`, `aal`/`amr`, `csrf` in cookie mode,
//! `iss`/`aud` when configured), so tokens interoperate with it given the same key. The algorithm comes from
//! the configuration only (RFC 8725 §3.1); the header's `alg` must equal it exactly, and
//! its `kid` may only choose among our own keys (`auth::keys`).

use std::collections::HashSet;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Header, Validation, errors::ErrorKind, jwk::JwkSet};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::error::{AuthError, messages};
use crate::auth::keys::SigningKeys;
use crate::config::{Config, ConfigError};

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

/// Verified claims of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub kind: TokenKind,
    pub fresh: bool,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// The session the token belongs to; none for a token minted elsewhere.
    pub sid: Option<String>,
    /// The assurance level at issue: 2 once a second factor was shown in the session; 1
    /// otherwise, and for a token without the claim (minted elsewhere).
    pub aal: u8,
    pub csrf: Option<String>,
    /// The outside identity provider that issued the token (then `sub` is the linked
    /// local user's id); none for authql's own tokens.
    pub issuer: Option<String>,
}

/// The assurance a token states (API.md Second factor): its `aal` and RFC 8176 `amr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assurance {
    /// A password: level 1, `["pwd"]`.
    Password,
    /// A password and a TOTP code: level 2, `["pwd","otp","mfa"]`.
    Totp,
    /// A password and a recovery code: level 2, `["pwd","mfa"]`.
    RecoveryCode,
}

impl Assurance {
    /// A session's level as tokens carry it after a refresh (which factor raised it is not
    /// kept: level 2 says "two factors", `["pwd","mfa"]`).
    pub fn of_level(aal: i32) -> Self {
        if aal >= 2 {
            Self::RecoveryCode
        } else {
            Self::Password
        }
    }

    pub fn aal(self) -> u8 {
        match self {
            Self::Password => 1,
            Self::Totp | Self::RecoveryCode => 2,
        }
    }

    fn amr(self) -> &'static [&'static str] {
        match self {
            Self::Password => &["pwd"],
            Self::Totp => &["pwd", "otp", "mfa"],
            Self::RecoveryCode => &["pwd", "mfa"],
        }
    }
}

impl Claims {
    /// The user the token names: `sub` exactly as the server writes ids (`"1"`; `"01"`,
    /// `"+1"` or `" 1"` name nobody, API.md Tokens).
    pub fn user_id(&self) -> Option<i32> {
        let canonical = !self.sub.is_empty()
            && self.sub.bytes().all(|b| b.is_ascii_digit())
            && !self.sub.starts_with('0');
        canonical.then(|| self.sub.parse().ok()).flatten()
    }

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
    sid: Option<&'a str>,
    aal: u8,
    amr: &'static [&'static str],
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
    sid: Option<Value>,
    aal: Option<Value>,
    csrf: Option<Value>,
    iss: Option<Value>,
}

/// Who a token is for: the user, the role it states, and its session.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub user_id: i32,
    pub role: &'a str,
    pub sid: Option<&'a str>,
    pub assurance: Assurance,
}

/// Keys and rules for one configured algorithm. Guards never see keys: they ask the auth
/// context, which calls [`JwtKeys::decode`]; a new algorithm only changes this file.
pub struct JwtKeys {
    keys: SigningKeys,
    algorithm_name: String,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<Value>,
    access_ttl: chrono::Duration,
    refresh_ttl: chrono::Duration,
    leeway: i64,
    cookie_csrf: bool,
}

impl JwtKeys {
    /// Reads key files once, at startup. Dev without `JWT_SECRET_KEY` gets a random secret.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let keys = SigningKeys::from_config(config)?;
        let mut validation = Validation::new(keys.algorithm());
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

        let jwt = Self {
            keys,
            algorithm_name: config.jwt_algorithm.to_string(),
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
        };
        // Fail at start, not on the first login, if the key pair cannot sign and verify.
        let probe = Subject {
            user_id: 0,
            role: "USER",
            sid: None,
            assurance: Assurance::Password,
        };
        let probe = jwt
            .issue(&probe, TokenKind::Access, false)
            .map_err(|e| ConfigError::new("JWT_PRIVATE_KEY_FILE", format!("cannot sign: {e}")))?;
        jwt.decode(&probe.token, TokenKind::Access).map_err(|e| {
            ConfigError::new(
                "JWT_PUBLIC_KEY_FILE",
                format!("does not verify tokens signed with the private key: {e}"),
            )
        })?;
        Ok(jwt)
    }

    /// Access token lifetime in seconds (`expiresIn`).
    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl.num_seconds()
    }

    /// Refresh token lifetime (a session lives as long as its newest refresh token).
    pub fn refresh_ttl(&self) -> chrono::Duration {
        self.refresh_ttl
    }

    /// Key material for MACs the server keeps to itself (never the public key).
    pub fn mac_key(&self) -> &[u8] {
        self.keys.mac_key()
    }

    /// The public keys, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> JwkSet {
        self.keys.jwks()
    }

    /// Signs a new token for `subject` with the configured algorithm and current key.
    pub fn issue(
        &self,
        subject: &Subject<'_>,
        kind: TokenKind,
        fresh: bool,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let ttl = match kind {
            TokenKind::Access => self.access_ttl,
            TokenKind::Refresh => self.refresh_ttl,
        };
        self.issue_until(subject, kind, fresh, Utc::now() + ttl)
    }

    /// [`Self::issue`], expiring at `expires_at` (a partial login's refresh token expires
    /// with its challenge).
    pub fn issue_until(
        &self,
        subject: &Subject<'_>,
        kind: TokenKind,
        fresh: bool,
        expires_at: DateTime<Utc>,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let jti = Uuid::new_v4().to_string();
        self.sign(subject, kind, fresh, jti, expires_at)
    }

    /// The refresh token `jti` again, expiring when it did: within
    /// `JWT_REFRESH_REUSE_GRACE` a just-rotated token presented again answers the same
    /// successor (API.md Tokens).
    pub fn reissue_refresh(
        &self,
        subject: &Subject<'_>,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        self.sign(
            subject,
            TokenKind::Refresh,
            false,
            jti.to_owned(),
            expires_at,
        )
    }

    fn sign(
        &self,
        subject: &Subject<'_>,
        kind: TokenKind,
        fresh: bool,
        jti: String,
        expires_at: DateTime<Utc>,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let now = Utc::now();
        let csrf = self.cookie_csrf.then(|| Uuid::new_v4().to_string());
        let claims = OutgoingClaims {
            sub: subject.user_id.to_string(),
            kind: kind.as_str(),
            fresh,
            jti: &jti,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            role: subject.role,
            sid: subject.sid,
            aal: subject.assurance.aal(),
            amr: subject.assurance.amr(),
            csrf: csrf.as_deref(),
            iss: self.issuer.as_deref(),
            aud: self.audience.clone(),
        };
        let header = Header {
            typ: Some("JWT".to_owned()),
            kid: self.keys.kid().map(str::to_owned),
            ..Header::new(self.keys.algorithm())
        };
        let token = jsonwebtoken::encode(&header, &claims, self.keys.encoding())?;
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
    pub fn decode(&self, token: &str, expected: TokenKind) -> Result<Claims, AuthError> {
        let kid = self.check_header(token)?;
        let key = self
            .keys
            .verifier(kid.as_deref())
            .ok_or_else(|| AuthError::invalid("Unknown key id (kid)"))?;
        let data = jsonwebtoken::decode::<IncomingClaims>(token, key, &self.validation).map_err(
            |error| match error.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::invalid(messages::BAD_SIGNATURE),
                ErrorKind::ImmatureSignature => {
                    AuthError::invalid("The token is not yet valid (nbf)")
                }
                ErrorKind::InvalidIssuer => AuthError::invalid("Invalid issuer"),
                ErrorKind::InvalidAudience => AuthError::invalid("Invalid audience"),
                ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                    AuthError::invalid("The specified alg value is not allowed")
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::invalid(format!("Token is missing the \"{claim}\" claim"))
                }
                ErrorKind::InvalidClaimFormat(claim) => {
                    AuthError::invalid(format!("Invalid claim format: {claim}"))
                }
                ErrorKind::InvalidToken => AuthError::invalid("Not enough segments"),
                ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                    AuthError::invalid("Invalid token encoding")
                }
                ErrorKind::Json(_) => AuthError::invalid("Invalid payload string"),
                _ => AuthError::invalid(messages::BAD_SIGNATURE),
            },
        )?;
        self.check_claims(data.claims, expected)
    }

    /// The header must be a JSON object whose `alg` is exactly the configured one. Checked
    /// before anything else so `none` (any casing) or an HS256-with-public-key token never
    /// reaches a verifier. Returns its `kid`; `jwk`, `jku` and `x5u` are never looked at.
    fn check_header(&self, token: &str) -> Result<Option<String>, AuthError> {
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::invalid("Not enough segments"));
        };
        let header: Value = URL_SAFE_NO_PAD
            .decode(header.trim_end_matches('='))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| AuthError::invalid("Invalid header string"))?;
        match header.get("alg").and_then(Value::as_str) {
            Some(alg) if alg == self.algorithm_name => {}
            _ => {
                return Err(AuthError::invalid("The specified alg value is not allowed"));
            }
        }
        // RFC 7515 §4.1.11: a token naming critical extensions must be refused by a
        // verifier that does not understand them, and we understand none.
        if header.get("crit").is_some() {
            return Err(AuthError::invalid("Unsupported critical header parameter"));
        }
        // A header jsonwebtoken cannot read (say a malformed `jwk`) would otherwise surface
        // from `decode` as a JSON error, reported as a bad payload.
        jsonwebtoken::decode_header(token)
            .map(|header| header.kid)
            .map_err(|_| AuthError::invalid("Invalid header string"))
    }

    fn check_claims(&self, raw: IncomingClaims, expected: TokenKind) -> Result<Claims, AuthError> {
        // jsonwebtoken also accepts an `iss` array that contains ours; RFC 7519 §4.1.1 makes
        // `iss` one string, and PyJWT refuses anything else.
        if self.issuer.is_some() && !matches!(raw.iss, Some(Value::String(_))) {
            return Err(AuthError::invalid("Invalid issuer"));
        }
        let sub = match raw.sub {
            Some(Value::String(sub)) if !sub.is_empty() => sub,
            Some(_) => return Err(AuthError::invalid("Subject must be a string")),
            None => return Err(AuthError::invalid("Missing claim: sub")),
        };
        let exp = raw
            .exp
            .as_ref()
            .and_then(Value::as_i64)
            .ok_or_else(|| AuthError::invalid("Token is missing the \"exp\" claim"))?;
        // jsonwebtoken refuses `exp < now - leeway`; RFC 7519 §4.1.4 makes the token
        // expired from the second `exp` names ("on or after"), so `exp == now` is expired.
        if exp <= Utc::now().timestamp() - self.leeway {
            return Err(AuthError::Expired);
        }
        let iat = match raw.iat {
            Some(value) => value
                .as_i64()
                .ok_or_else(|| AuthError::invalid("Issued At claim (iat) must be an integer."))?,
            None => return Err(AuthError::invalid("Token is missing the \"iat\" claim")),
        };
        if iat > Utc::now().timestamp() + self.leeway {
            return Err(AuthError::invalid("The token is not yet valid (iat)"));
        }
        let jti = match raw.jti {
            Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= 255 => jti,
            Some(_) => return Err(AuthError::invalid("Invalid claim format: jti")),
            None => return Err(AuthError::invalid("Missing claim: jti")),
        };
        // Flask-JWT-Extended treats a token without `type` as an access token and without
        // `fresh` as not fresh.
        let kind = match raw.kind.as_ref().map(|v| v.as_str()) {
            None => TokenKind::Access,
            Some(Some("access")) => TokenKind::Access,
            Some(Some("refresh")) => TokenKind::Refresh,
            Some(_) => return Err(AuthError::invalid("Invalid claim format: type")),
        };
        let fresh = match raw.fresh {
            None | Some(Value::Null) => false,
            Some(Value::Bool(fresh)) => fresh,
            // Flask-JWT-Extended may put a timestamp here: fresh until then.
            Some(Value::Number(until)) => {
                until.as_i64().is_some_and(|t| t > Utc::now().timestamp())
            }
            Some(_) => return Err(AuthError::invalid("Invalid claim format: fresh")),
        };
        if kind != expected {
            return Err(AuthError::invalid(match expected {
                TokenKind::Access => messages::ONLY_ACCESS,
                TokenKind::Refresh => messages::ONLY_REFRESH,
            }));
        }
        let sid = match raw.sid {
            None | Some(Value::Null) => None,
            Some(Value::String(sid)) if !sid.is_empty() && sid.len() <= 64 => Some(sid),
            Some(_) => return Err(AuthError::invalid("Invalid claim format: sid")),
        };
        // A token without `aal` (minted elsewhere) is level 1 (API.md Second factor).
        let aal = match raw.aal {
            None | Some(Value::Null) => 1,
            Some(Value::Number(n)) if n.as_u64() == Some(1) => 1,
            Some(Value::Number(n)) if n.as_u64() == Some(2) => 2,
            Some(_) => return Err(AuthError::invalid("Invalid claim format: aal")),
        };
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
            sid,
            aal,
            csrf,
            issuer: None,
        })
    }
}
