//! Outside identity providers (API.md "External identity providers"): the issuers file,
//! each issuer's key set — fetched in the background, kept on failure, refetched once on
//! an unknown `kid` (single flight, at most once per [`Timing::refetch_every`]) — and the
//! verification of their access tokens. Knows nothing of users: `service::outside` links a
//! verified token to a local user.
//!
//! A token is routed by its `iss` before any signature check: a configured issuer's token
//! is verified with that issuer's keys and algorithms only, never with authql's own key,
//! and authql's own tokens never with an issuer's keys.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::error::{AuthError, messages};
use crate::config::ConfigError;

const VARIABLE: &str = "EXTERNAL_ISSUERS_FILE";
/// How long a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Refresh period without a usable `Cache-Control: max-age`, and its bounds.
const REFRESH_DEFAULT: Duration = Duration::from_secs(300);
const REFRESH_MIN: Duration = Duration::from_secs(60);
const REFRESH_MAX: Duration = Duration::from_secs(86_400);
/// An outside token is fresh while its `auth_time` is at most this old.
const FRESH_FOR: i64 = 300;

/// How a role claim is found: a dotted path (`realm_access.roles`), or literal keys one
/// per level, for claim names that contain dots (`["https://example.com/roles"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ClaimPath {
    Dotted(String),
    Keys(Vec<String>),
}

impl ClaimPath {
    fn find<'a>(&self, claims: &'a Value) -> Option<&'a Value> {
        let keys: Vec<&str> = match self {
            Self::Dotted(path) => path.split('.').collect(),
            Self::Keys(keys) => keys.iter().map(String::as_str).collect(),
        };
        keys.iter().try_fold(claims, |value, key| value.get(*key))
    }
}

/// One `[[issuer]]` table of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// The `iss` its tokens carry, exactly.
    pub issuer: String,
    pub discovery: Option<bool>,
    pub jwks_uri: Option<String>,
    /// `aud` must hold one of these.
    pub audiences: Vec<String>,
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    pub role_claim: Option<ClaimPath>,
    #[serde(default = "default_admin_values")]
    pub admin_values: Vec<String>,
    pub email_claim: Option<String>,
    /// `acr` values that mean level 2.
    #[serde(default)]
    pub aal2_acr_values: Vec<String>,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into(), "EdDSA".into()]
}

fn default_username_claim() -> String {
    "preferred_username".into()
}

fn default_admin_values() -> Vec<String> {
    vec!["admin".into()]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuersFile {
    #[serde(default)]
    issuer: Vec<IssuerSettings>,
}

/// Reads and checks the issuers file; every problem is a [`ConfigError`] naming
/// `EXTERNAL_ISSUERS_FILE` (the start stops with exit 2).
pub fn load(path: &Path, jwt_issuer: Option<&str>) -> Result<Vec<IssuerSettings>, ConfigError> {
    let bad = |why: String| ConfigError::new(VARIABLE, format!("{}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let file: IssuersFile = toml::from_str(&text).map_err(|e| bad(format!("invalid: {e}")))?;
    let mut seen = HashSet::new();
    for settings in &file.issuer {
        let name = &settings.issuer;
        if !seen.insert(name.clone()) {
            return Err(bad(format!("issuer {name:?} is listed twice")));
        }
        check_url(name).map_err(|why| bad(format!("issuer {name:?}: {why}")))?;
        if let Some(uri) = &settings.jwks_uri {
            check_url(uri).map_err(|why| bad(format!("jwks_uri of {name:?}: {why}")))?;
        }
        if settings.jwks_uri.is_none() && settings.discovery == Some(false) {
            return Err(bad(format!(
                "issuer {name:?}: no jwks_uri and discovery = false"
            )));
        }
        if settings.audiences.iter().all(|a| a.trim().is_empty()) {
            return Err(bad(format!(
                "issuer {name:?}: audiences must name at least one"
            )));
        }
        if jwt_issuer.is_some_and(|own| own == name) {
            return Err(bad(format!("issuer {name:?} is JWT_ISSUER, authql's own")));
        }
        algorithms(&settings.algorithms).map_err(|why| bad(format!("issuer {name:?}: {why}")))?;
    }
    Ok(file.issuer)
}

/// `https://`, or `http://` to a loopback host only.
fn check_url(raw: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("must be https:// (http:// only for a loopback host)".to_owned()),
    }
}

fn algorithms(names: &[String]) -> Result<Vec<Algorithm>, String> {
    if names.is_empty() {
        return Err("algorithms is empty".to_owned());
    }
    names
        .iter()
        .map(|name| match name.parse::<Algorithm>() {
            Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => Err(format!(
                "{name} is not allowed: a shared secret cannot verify an outside issuer's tokens"
            )),
            Ok(algorithm) => Ok(algorithm),
            Err(_) => Err(format!("unknown algorithm {name:?}")),
        })
        .collect()
}

/// How often keys are retried after a failure, and how often an unknown `kid` may cause a
/// fetch (30 s each; tests shorten them).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub retry_every: Duration,
    pub refetch_every: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            retry_every: Duration::from_secs(30),
            refetch_every: Duration::from_secs(30),
        }
    }
}

/// How a key fetch ended (`authql_jwks_fetches_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    Ok,
    Error,
    /// A fetch caused by an unknown `kid` that did not find it.
    UnknownKid,
}

impl FetchOutcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::UnknownKid => "unknown_kid",
        }
    }
}

/// Told of every fetch: the issuer and how it ended.
pub type FetchHook = Arc<dyn Fn(&str, FetchOutcome) + Send + Sync>;

/// A verified outside access token: only the claims the contract lists.
#[derive(Debug, Clone)]
pub struct OutsideToken {
    pub issuer: String,
    pub subject: String,
    pub exp: i64,
    pub iat: Option<i64>,
    /// 2 when `amr`/`acr` say a second factor was used.
    pub aal: u8,
    /// `auth_time` at most 5 minutes old.
    pub fresh: bool,
    /// Hex SHA-256 of the token text: what `logout` revokes (it may have no `jti`).
    pub digest: String,
    /// The role claim holds one of `admin_values`.
    pub admin: bool,
    /// From `username_claim`, else `sub`.
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
}

/// One key of a set.
struct Key {
    kid: Option<String>,
    key: DecodingKey,
    /// Which algorithms it can verify.
    fits: fn(Algorithm) -> bool,
}

/// A configured issuer with its keys.
pub struct Issuer {
    pub settings: IssuerSettings,
    algorithms: Vec<Algorithm>,
    client: reqwest::Client,
    keys: RwLock<Option<Arc<Vec<Key>>>>,
    /// When the last good set was fetched.
    fetched_at: RwLock<Option<std::time::Instant>>,
    /// The last fetch caused by a request (an unknown `kid`, or no keys yet); the lock
    /// makes such fetches single flight.
    refetched_at: tokio::sync::Mutex<Option<tokio::time::Instant>>,
    timing: Timing,
    leeway: u64,
    on_fetch: FetchHook,
}

/// Every configured issuer.
#[derive(Clone, Default)]
pub struct OutsideIssuers {
    issuers: Vec<Arc<Issuer>>,
}

impl OutsideIssuers {
    /// The issuers of `settings`, their keys not fetched yet ([`Self::start`]).
    pub fn new(
        settings: Vec<IssuerSettings>,
        leeway: u64,
        timing: Timing,
        on_fetch: FetchHook,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client builds");
        let issuers = settings
            .into_iter()
            .map(|settings| {
                Arc::new(Issuer {
                    algorithms: algorithms(&settings.algorithms).unwrap_or_default(),
                    settings,
                    client: client.clone(),
                    keys: RwLock::new(None),
                    fetched_at: RwLock::new(None),
                    refetched_at: tokio::sync::Mutex::new(None),
                    timing,
                    leeway,
                    on_fetch: on_fetch.clone(),
                })
            })
            .collect();
        Self { issuers }
    }

    /// One background task per issuer keeps its keys current; the start never waits for a
    /// provider.
    pub fn start(&self) {
        for issuer in &self.issuers {
            tokio::spawn(keep_fresh(Arc::downgrade(issuer)));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// The configured issuer a token names in its (unverified) `iss`, if any.
    pub fn issuer_of(&self, token: &str) -> Option<&Arc<Issuer>> {
        if self.issuers.is_empty() {
            return None;
        }
        let payload = token.split('.').nth(1)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        let claims: Value = serde_json::from_slice(&bytes).ok()?;
        let iss = claims.get("iss")?.as_str()?;
        self.issuers.iter().find(|i| i.settings.issuer == iss)
    }

    /// Seconds since each issuer's last good fetch (−1 before the first).
    pub fn ages(&self) -> Vec<(String, f64)> {
        self.issuers
            .iter()
            .map(|issuer| {
                let at = *issuer.fetched_at.read().unwrap_or_else(|e| e.into_inner());
                let age = at.map_or(-1.0, |at| at.elapsed().as_secs_f64());
                (issuer.settings.issuer.clone(), age)
            })
            .collect()
    }

    /// The configured issuer names.
    pub fn names(&self) -> Vec<String> {
        self.issuers
            .iter()
            .map(|i| i.settings.issuer.clone())
            .collect()
    }
}

async fn keep_fresh(issuer: std::sync::Weak<Issuer>) {
    loop {
        let Some(current) = issuer.upgrade() else {
            return;
        };
        let wait = match current.fetch().await {
            Ok(max_age) => max_age
                .unwrap_or(REFRESH_DEFAULT)
                .clamp(REFRESH_MIN, REFRESH_MAX),
            Err(error) => {
                tracing::warn!(issuer = %current.settings.issuer, %error, "cannot fetch the issuer's keys: keeping the last good set");
                current.timing.retry_every
            }
        };
        drop(current);
        tokio::time::sleep(wait).await;
    }
}

impl Issuer {
    /// Verifies an access token of this issuer.
    pub async fn verify(&self, token: &str) -> Result<OutsideToken, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::invalid("Invalid header string"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(AuthError::invalid("The specified alg value is not allowed"));
        }
        let key = self.key_for(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.required_spec_claims = HashSet::from(["exp".to_owned(), "sub".to_owned()]);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&self.settings.audiences);
        let data =
            jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|error| match error
                .kind()
            {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::invalid(messages::BAD_SIGNATURE),
                ErrorKind::ImmatureSignature => {
                    AuthError::invalid("The token is not yet valid (nbf)")
                }
                ErrorKind::InvalidIssuer => AuthError::invalid("Invalid issuer"),
                ErrorKind::InvalidAudience => AuthError::invalid("Invalid audience"),
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::invalid(format!("Token is missing the \"{claim}\" claim"))
                }
                _ => AuthError::invalid(messages::BAD_SIGNATURE),
            })?;
        self.read(token, &data.claims)
    }

    /// The key for `kid`: from the current set, else after one refetch (single flight, at
    /// most once per `refetch_every`).
    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, AuthError> {
        if let Some(key) = self.lookup(kid, alg)? {
            return Ok(key);
        }
        // Never had keys: the background task is fetching them (and retries within
        // `retry_every`); a request does not spend the unknown-`kid` budget on that.
        if self.current().is_none() {
            return Err(AuthError::Unavailable(
                self.timing.retry_every.as_secs().max(1),
            ));
        }
        let fetched = self.refetch().await;
        match self.lookup(kid, alg)? {
            Some(key) => Ok(key),
            None => {
                if fetched {
                    (self.on_fetch)(&self.settings.issuer, FetchOutcome::UnknownKid);
                }
                Err(AuthError::invalid("Unknown key id (kid)"))
            }
        }
    }

    fn current(&self) -> Option<Arc<Vec<Key>>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `Ok(None)`: no key yet for it. A token without `kid` is verified with the one key
    /// that fits its algorithm, if there is exactly one.
    fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Result<Option<DecodingKey>, AuthError> {
        let Some(keys) = self.current() else {
            return Ok(None);
        };
        let fitting: Vec<&Key> = keys.iter().filter(|k| (k.fits)(alg)).collect();
        Ok(match kid {
            Some(kid) => fitting
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .map(|k| k.key.clone()),
            None if fitting.len() == 1 => Some(fitting[0].key.clone()),
            None => return Err(AuthError::invalid("The token names no key id (kid)")),
        })
    }

    /// A fetch a request asked for; false when one ran less than `refetch_every` ago (the
    /// caller looks again: it may have brought the key).
    async fn refetch(&self) -> bool {
        let mut last = self.refetched_at.lock().await;
        let now = tokio::time::Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < self.timing.refetch_every) {
            return false;
        }
        *last = Some(now);
        if let Err(error) = self.fetch().await {
            tracing::warn!(issuer = %self.settings.issuer, %error, "cannot fetch the issuer's keys");
        }
        true
    }

    /// Fetches the key set (through discovery when configured); on success it replaces
    /// the current one and answers the response's `max-age`. A failure keeps the last
    /// good set.
    async fn fetch(&self) -> Result<Option<Duration>, String> {
        let fetched = self.fetch_keys().await;
        let outcome = if fetched.is_ok() {
            FetchOutcome::Ok
        } else {
            FetchOutcome::Error
        };
        (self.on_fetch)(&self.settings.issuer, outcome);
        let (keys, max_age) = fetched?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(keys));
        *self.fetched_at.write().unwrap_or_else(|e| e.into_inner()) =
            Some(std::time::Instant::now());
        Ok(max_age)
    }

    async fn fetch_keys(&self) -> Result<(Vec<Key>, Option<Duration>), String> {
        let jwks_uri = match &self.settings.jwks_uri {
            Some(uri) => uri.clone(),
            None => self.discover().await?,
        };
        let response = self
            .client
            .get(&jwks_uri)
            .send()
            .await
            .map_err(|e| format!("GET {jwks_uri}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {jwks_uri}: HTTP {}", response.status()));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| format!("{jwks_uri}: not a JWK set: {e}"))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone();
            if jwk
                .common
                .public_key_use
                .as_ref()
                .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
            {
                continue;
            }
            let fits: fn(Algorithm) -> bool = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => |a| {
                    matches!(
                        a,
                        Algorithm::RS256
                            | Algorithm::RS384
                            | Algorithm::RS512
                            | Algorithm::PS256
                            | Algorithm::PS384
                            | Algorithm::PS512
                    )
                },
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                    |a| a == Algorithm::ES256
                }
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P384 => {
                    |a| a == Algorithm::ES384
                }
                AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                    |a| a == Algorithm::EdDSA
                }
                _ => {
                    tracing::warn!(issuer = %self.settings.issuer, kid = ?kid, "skipping a key of an unsupported type");
                    continue;
                }
            };
            // A key that names its algorithm serves only that one.
            if let Some(named) = jwk.common.key_algorithm
                && !key_algorithm_fits(named, fits)
            {
                continue;
            }
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => keys.push(Key { kid, key, fits }),
                Err(error) => {
                    tracing::warn!(issuer = %self.settings.issuer, kid = ?kid, %error, "skipping an unreadable key")
                }
            }
        }
        if keys.is_empty() {
            return Err(format!("{jwks_uri}: no usable signing key"));
        }
        Ok((keys, max_age))
    }

    /// `{issuer}/.well-known/openid-configuration` → `jwks_uri`, if the document is for
    /// this very issuer.
    async fn discover(&self) -> Result<String, String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.settings.issuer.trim_end_matches('/')
        );
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", response.status()));
        }
        let document: Value = response
            .json()
            .await
            .map_err(|e| format!("{url}: not JSON: {e}"))?;
        if document.get("issuer").and_then(Value::as_str) != Some(self.settings.issuer.as_str()) {
            return Err(format!("{url}: the document is for another issuer"));
        }
        let uri = document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{url}: no jwks_uri"))?;
        check_url(uri).map_err(|why| format!("{url}: jwks_uri {why}"))?;
        Ok(uri.to_owned())
    }

    /// The claims the contract lists, read from a verified token.
    fn read(&self, token: &str, claims: &Value) -> Result<OutsideToken, AuthError> {
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() && sub.len() <= 255 => sub.clone(),
            _ => return Err(AuthError::invalid("Subject must be a non-empty string")),
        };
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| AuthError::invalid("Token is missing the \"exp\" claim"))?;
        let now = chrono::Utc::now().timestamp();
        if exp <= now - self.leeway as i64 {
            return Err(AuthError::Expired);
        }
        let iat = claims.get("iat").and_then(Value::as_i64);
        if iat.is_some_and(|iat| iat > now + self.leeway as i64) {
            return Err(AuthError::invalid("The token is not yet valid (iat)"));
        }
        let amr: Vec<&str> = claims
            .get("amr")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let acr = claims.get("acr").and_then(Value::as_str);
        let aal = if second_factor_shown(&amr)
            || acr.is_some_and(|acr| self.settings.aal2_acr_values.iter().any(|v| v == acr))
        {
            2
        } else {
            1
        };
        let fresh = claims
            .get("auth_time")
            .and_then(Value::as_i64)
            .is_some_and(|at| at <= now + self.leeway as i64 && now - at <= FRESH_FOR);
        let admin = self.settings.role_claim.as_ref().is_some_and(|path| {
            let values: Vec<&str> = match path.find(claims) {
                Some(Value::String(role)) => vec![role.as_str()],
                Some(Value::Array(roles)) => roles.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            values
                .iter()
                .any(|v| self.settings.admin_values.iter().any(|admin| admin == v))
        });
        let username = ClaimPath::Dotted(self.settings.username_claim.clone())
            .find(claims)
            .and_then(Value::as_str)
            .filter(|name| !name.trim().is_empty())
            .unwrap_or(&subject)
            .to_owned();
        let email = self
            .settings
            .email_claim
            .as_ref()
            .and_then(|claim| claims.get(claim))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let email_verified =
            email.is_some() && claims.get("email_verified").and_then(Value::as_bool) == Some(true);
        Ok(OutsideToken {
            issuer: self.settings.issuer.clone(),
            subject,
            exp,
            iat,
            aal,
            fresh,
            digest: hex(&Sha256::digest(token.as_bytes())),
            admin,
            username,
            email,
            email_verified,
        })
    }
}

/// Whether a key that names its algorithm (`alg` in the JWK) is one we would use it for.
fn key_algorithm_fits(named: KeyAlgorithm, fits: fn(Algorithm) -> bool) -> bool {
    let algorithm = match named {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return false,
    };
    fits(algorithm)
}

/// RFC 8176: `mfa`, or methods of two distinct kinds (something known, had, or are).
fn second_factor_shown(amr: &[&str]) -> bool {
    if amr.contains(&"mfa") {
        return true;
    }
    let kind = |method: &str| match method {
        "pwd" | "pin" | "kba" => Some(0),
        "otp" | "hwk" | "swk" | "sms" | "tel" | "sc" | "pop" => Some(1),
        "fpt" | "face" | "iris" | "retina" | "vbm" | "user" => Some(2),
        _ => None,
    };
    amr.iter()
        .filter_map(|m| kind(m))
        .collect::<HashSet<_>>()
        .len()
        >= 2
}

/// `max-age` of a `Cache-Control` header.
fn max_age(header: &str) -> Option<Duration> {
    header.split(',').find_map(|part| {
        let (name, value) = part.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| {
                value
                    .trim()
                    .trim_matches('"')
                    .parse()
                    .ok()
                    .map(Duration::from_secs)
            })
            .flatten()
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_rfc_8176() {
        assert!(second_factor_shown(&["mfa"]));
        assert!(second_factor_shown(&["pwd", "otp"]));
        assert!(second_factor_shown(&["hwk", "fpt"]));
        assert!(!second_factor_shown(&["pwd"]));
        assert!(!second_factor_shown(&["pwd", "pin"]));
        assert!(!second_factor_shown(&[]));
    }

    #[test]
    fn cache_control_max_age_is_read() {
        assert_eq!(
            max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(max_age("no-store"), None);
        assert_eq!(max_age("max-age=\"60\""), Some(Duration::from_secs(60)));
    }

    #[test]
    fn role_claims_are_found_by_path_or_literal_keys() {
        let claims = serde_json::json!({
            "realm_access": { "roles": ["admin"] },
            "https://example.com/roles": ["editor"],
        });
        assert!(
            ClaimPath::Dotted("realm_access.roles".into())
                .find(&claims)
                .is_some()
        );
        assert!(
            ClaimPath::Keys(vec!["https://example.com/roles".into()])
                .find(&claims)
                .is_some()
        );
        assert!(
            ClaimPath::Dotted("https://example.com/roles".into())
                .find(&claims)
                .is_none()
        );
    }

    #[test]
    fn the_file_is_checked_before_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| {
            let path = dir.path().join("issuers.toml");
            std::fs::write(&path, text).unwrap();
            path
        };
        let ok = write(
            "[[issuer]]\nissuer = \"https://idp.example.com/realms/main\"\naudiences = [\"authql\"]\nrole_claim = \"realm_access.roles\"\n",
        );
        let loaded = load(&ok, None).unwrap();
        assert_eq!(loaded[0].algorithms, ["RS256", "ES256", "EdDSA"]);
        let keys = write(
            "[[issuer]]\nissuer = \"https://a.example\"\naudiences = [\"x\"]\nrole_claim = [\"https://example.com/roles\"]\nadmin_values = [\"shop-admin\"]\n",
        );
        let loaded = load(&keys, None).unwrap();
        assert!(
            matches!(&loaded[0].role_claim, Some(ClaimPath::Keys(keys)) if keys == &["https://example.com/roles"]),
            "{:?}",
            loaded[0].role_claim
        );
        assert_eq!(loaded[0].admin_values, ["shop-admin"]);
        for (text, needle) in [
            ("[[issuer]]\nissuer = \"https://a.example\"\n", "audiences"),
            (
                "[[issuer]]\nissuer = \"https://a.example\"\naudiences = [\"x\"]\nalgorithms = [\"HS256\"]\n",
                "HS256",
            ),
            (
                "[[issuer]]\nissuer = \"http://a.example\"\naudiences = [\"x\"]\n",
                "https",
            ),
            (
                "[[issuer]]\nissuer = \"https://own.example\"\naudiences = [\"x\"]\n",
                "JWT_ISSUER",
            ),
            ("not toml [", "invalid"),
        ] {
            let error = load(&write(text), Some("https://own.example")).unwrap_err();
            assert_eq!(error.variable, VARIABLE);
            assert!(error.reason.contains(needle), "{text}: {}", error.reason);
        }
        let loopback = write("[[issuer]]\nissuer = \"http://127.0.0.1:9/\"\naudiences = [\"x\"]\n");
        assert!(load(&loopback, None).is_ok());
        assert!(load(&dir.path().join("missing.toml"), None).is_err());
    }
}
