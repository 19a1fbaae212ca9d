//! The typed configuration: parsed once at start from flags, environment and `.env`
//! (clap's `env` gives "flag beats environment"; `.env` is loaded without overriding real
//! variables, so it only fills gaps), then checked by [`Config::validate`].

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use clap::{ArgAction, Args, ValueEnum, builder::BoolishValueParser};

/// Server settings; every field is a `serve` flag and an environment variable (API.md).
#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Address to bind; port 0 picks a free port.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8000")]
    pub listen_addr: SocketAddr,

    /// SQLite or PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://authql.db?mode=rwc"
    )]
    pub database_url: String,

    /// HS256 secret (at least 32 bytes in production).
    #[arg(long, env = "JWT_SECRET_KEY", hide_env_values = true)]
    pub jwt_secret_key: Option<Secret>,

    /// Access token lifetime: `30s`, `15m`, `1h`, `7d`; a bare number means minutes.
    #[arg(long, env = "JWT_ACCESS_TOKEN_EXPIRES", default_value = "15m", value_parser = parse_duration)]
    pub jwt_access_token_expires: Duration,

    /// Refresh token lifetime, same syntax.
    #[arg(long, env = "JWT_REFRESH_TOKEN_EXPIRES", default_value = "30d", value_parser = parse_duration)]
    pub jwt_refresh_token_expires: Duration,

    /// Signing algorithm.
    #[arg(long, env = "JWT_ALGORITHM", default_value = "HS256", value_parser = parse_algorithm)]
    pub jwt_algorithm: JwtAlgorithm,

    /// PEM private key for RS256 / ES256 / EdDSA.
    #[arg(long, env = "JWT_PRIVATE_KEY_FILE")]
    pub jwt_private_key_file: Option<PathBuf>,

    /// PEM public key for RS256 / ES256 / EdDSA.
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// Comma-separated PEM public keys of earlier key pairs: still accepted and published.
    #[arg(long, env = "JWT_PREVIOUS_PUBLIC_KEY_FILES", value_delimiter = ',')]
    pub jwt_previous_public_key_files: Vec<PathBuf>,

    /// `iss` put in tokens and required on decode.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// `aud` (one value, or a comma-separated list) put in tokens and required on decode.
    #[arg(long, env = "JWT_AUDIENCE", value_delimiter = ',')]
    pub jwt_audience: Vec<String>,

    /// Clock leeway on `exp`, `nbf` and `iat` (jsonwebtoken's own 60 s default is not used).
    #[arg(long, env = "JWT_LEEWAY", default_value = "0s", value_parser = parse_duration)]
    pub jwt_leeway: Duration,

    /// Where tokens are read from: `headers`, `cookies`, or `headers,cookies`.
    #[arg(long, env = "JWT_TOKEN_LOCATION", default_value = "headers", value_parser = parse_token_location)]
    pub jwt_token_location: TokenLocation,

    /// A rotated refresh token presented again within this answers the same successor.
    #[arg(long, env = "JWT_REFRESH_REUSE_GRACE", default_value = "0s", value_parser = parse_duration)]
    pub jwt_refresh_reuse_grace: Duration,

    /// At most this many live sessions per user; a login beyond it ends the least recently used.
    #[arg(long, env = "MAX_SESSIONS_PER_USER", default_value_t = 100)]
    pub max_sessions_per_user: u64,

    /// The cookies' `Domain` (e.g. `example.com`); unset: host-only cookies.
    #[arg(long, env = "JWT_COOKIE_DOMAIN")]
    pub jwt_cookie_domain: Option<String>,

    /// The cookies' `SameSite`: `Lax`, `Strict` or `None` (`None` needs `JWT_COOKIE_SECURE`).
    #[arg(long, env = "JWT_COOKIE_SAMESITE", default_value = "Lax", value_parser = parse_same_site)]
    pub jwt_cookie_samesite: SameSite,

    /// `Secure` cookies (default: on in production, off in development).
    #[arg(long, env = "JWT_COOKIE_SECURE", value_parser = BoolishValueParser::new(), hide_possible_values = true, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub jwt_cookie_secure: Option<bool>,

    /// `development` or `production`.
    #[arg(long, env = "APP_ENV", default_value = "development", value_enum)]
    pub app_env: AppEnv,

    /// Serve GraphiQL (default: on in development, off in production).
    #[arg(long, env = "GRAPHIQL", value_parser = BoolishValueParser::new(), hide_possible_values = true, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub graphiql: Option<bool>,

    /// Allow introspection (default: on in development, off in production).
    #[arg(long, env = "GRAPHQL_INTROSPECTION", value_parser = BoolishValueParser::new(), hide_possible_values = true, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub graphql_introspection: Option<bool>,

    /// Failed logins allowed per username and client address within the window.
    #[arg(long, env = "LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,

    /// The failed-login window.
    #[arg(long, env = "LOGIN_FAILURE_WINDOW", default_value = "15m", value_parser = parse_duration)]
    pub login_failure_window: Duration,

    /// Maximum nesting depth of an operation.
    #[arg(long, env = "GRAPHQL_MAX_DEPTH", default_value_t = 15)]
    pub graphql_max_depth: usize,

    /// Maximum complexity of an operation (connections weigh by `first`).
    #[arg(long, env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = 10_000)]
    pub graphql_max_complexity: usize,

    /// Maximum operations in one batch.
    #[arg(long, env = "GRAPHQL_MAX_BATCH", default_value_t = 10)]
    pub graphql_max_batch: usize,

    /// Maximum request body in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,

    /// Take the client address from `X-Forwarded-For`, counting `TRUSTED_PROXY_HOPS`
    /// entries from the right (only behind proxies you control).
    #[arg(long, env = "TRUST_PROXY_HEADERS", default_value = "false", value_parser = BoolishValueParser::new(), hide_possible_values = true, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub trust_proxy_headers: bool,

    /// How many proxies you control sit in front of the server (with `TRUST_PROXY_HEADERS`).
    #[arg(long, env = "TRUSTED_PROXY_HOPS", default_value_t = 1)]
    pub trusted_proxy_hops: usize,

    /// Aliased fields allowed in one request (a batch counts as one request).
    #[arg(long, env = "GRAPHQL_MAX_ALIASES", default_value_t = 30)]
    pub graphql_max_aliases: usize,

    /// Directives allowed in one request (a batch counts as one request).
    #[arg(long, env = "GRAPHQL_MAX_DIRECTIVES", default_value_t = 50)]
    pub graphql_max_directives: usize,

    /// A request still running after this is answered 408 (`REQUEST_TIMEOUT`).
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// A connection that has not sent a whole request head within this is closed.
    #[arg(long, env = "REQUEST_HEAD_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub request_head_timeout: Duration,

    /// Password hashes allowed to wait for a CPU; beyond it `RATE_LIMITED` at once.
    #[arg(long, env = "PASSWORD_HASH_QUEUE", default_value_t = 64)]
    pub password_hash_queue: usize,

    /// A WebSocket that sends no `connection_init` within this is closed with 4408.
    #[arg(long, env = "WS_INIT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub ws_init_timeout: Duration,

    /// Operations running at once on one WebSocket; the extra one gets `RATE_LIMITED`.
    #[arg(long, env = "WS_MAX_OPERATIONS", default_value_t = 100)]
    pub ws_max_operations: usize,

    /// Answer repeated queries from memory while nothing they read has changed (`false`:
    /// every request executes).
    #[arg(long, env = "RESPONSE_CACHE", default_value = "true", value_parser = BoolishValueParser::new(), hide_possible_values = true, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub response_cache: bool,

    /// Comma-separated origins a browser app may call from.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// Tracing filter.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub rust_log: String,

    /// `text`, or `json`: one JSON object per log line.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Address of a second listener serving Prometheus metrics at `GET /metrics` (never the
    /// public one); unset: no metrics listener.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// How long auth events are kept; older ones are deleted (at start, then hourly).
    #[arg(long, env = "AUDIT_RETENTION", default_value = "90d", value_parser = parse_duration)]
    pub audit_retention: Duration,

    /// Failed logins allowed per username from all addresses together within the window.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_ACCOUNT", default_value_t = 100)]
    pub login_max_failures_per_account: u32,

    /// Open client connections (HTTP and WebSocket); beyond it new ones are closed at once.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// An idle keep-alive HTTP connection is closed after this.
    #[arg(long, env = "KEEP_ALIVE_TIMEOUT", default_value = "75s", value_parser = parse_duration)]
    pub keep_alive_timeout: Duration,

    /// How long a statement waits for another process's database lock (and a request for
    /// a free connection) before it is answered `SERVICE_UNAVAILABLE`.
    #[arg(long, env = "DB_BUSY_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub db_busy_timeout: Duration,

    /// Connections in the database pool. Unset: 8 for SQLite (one writer at a time; reads
    /// mostly run on their own connections), and for PostgreSQL twice the CPUs plus one,
    /// at least 4 (more connections than the CPUs can serve only queue inside the server).
    #[arg(long, env = "DATABASE_POOL_SIZE", value_name = "N")]
    pub database_pool_size: Option<u32>,

    /// SQLite durability: `normal` survives a process crash, `full` also a power loss.
    #[arg(
        long,
        env = "DATABASE_SYNCHRONOUS",
        value_enum,
        default_value = "normal"
    )]
    pub database_synchronous: Synchronous,

    /// Where mail goes: `smtp://[user:pass@]host[:port]`, `smtps://…` or
    /// `smtp://…?tls=required`. Unset: mail stays in the outbox (`authql mail-outbox`).
    #[arg(long, env = "MAIL_URL", hide_env_values = true)]
    pub mail_url: Option<Secret>,

    /// The From address of mails.
    #[arg(long, env = "MAIL_FROM", default_value = "authql <no-reply@localhost>")]
    pub mail_from: String,

    /// The frontend's base URL: links in mails point there, never to the request's Host.
    #[arg(long, env = "APP_URL", default_value = "http://localhost:5173")]
    pub app_url: String,

    /// Lifetime of a password reset token.
    #[arg(long, env = "PASSWORD_RESET_EXPIRES", default_value = "30m", value_parser = parse_duration)]
    pub password_reset_expires: Duration,

    /// Lifetime of an email verification token.
    #[arg(long, env = "EMAIL_VERIFICATION_EXPIRES", default_value = "24h", value_parser = parse_duration)]
    pub email_verification_expires: Duration,

    /// `true`: `createItem` and `updateItem` need a verified email.
    #[arg(long, env = "REQUIRE_VERIFIED_EMAIL", default_value = "false", value_parser = BoolishValueParser::new(), hide_possible_values = true, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub require_verified_email: bool,

    /// A TOML file of outside identity providers whose access tokens are accepted (API.md
    /// "External identity providers").
    #[arg(long, env = "EXTERNAL_ISSUERS_FILE")]
    pub external_issuers_file: Option<PathBuf>,

    /// Trusted documents: `off` (ids and any text), `audit` (any text, unknown ones
    /// counted and logged), `require` (only the manifests' documents run).
    #[arg(long, env = "PERSISTED_DOCUMENTS", default_value = "off", value_enum)]
    pub persisted_documents: PersistedDocuments,

    /// Comma-separated manifest files of trusted documents (Apollo's persisted query
    /// manifest, or a flat `{sha256: text}` map).
    #[arg(long, env = "PERSISTED_DOCUMENTS_FILES", value_delimiter = ',')]
    pub persisted_documents_files: Vec<PathBuf>,

    /// The issuer name authenticator apps show beside a TOTP factor.
    #[arg(long, env = "MFA_ISSUER", default_value = "authql")]
    pub mfa_issuer: String,

    /// 32 bytes, standard base64: TOTP secrets are sealed with it at rest (AES-256-GCM).
    /// Unset: development keeps them in clear (with a warning); production refuses
    /// `enrollTotp` (`FEATURE_DISABLED`).
    #[arg(long, env = "MFA_ENCRYPTION_KEY", hide_env_values = true)]
    pub mfa_encryption_key: Option<Secret>,

    /// Comma-separated earlier `MFA_ENCRYPTION_KEY`s, still able to open secrets sealed
    /// with them (rotation: they are sealed again with the current key at start).
    #[arg(long, env = "MFA_PREVIOUS_ENCRYPTION_KEYS", hide_env_values = true)]
    pub mfa_previous_encryption_keys: Option<Secret>,

    /// `true`: wherever the ADMIN branch of a rule grants access, level 2 is needed.
    #[arg(long, env = "MFA_REQUIRED_FOR_ADMINS", default_value = "false", value_parser = BoolishValueParser::new(), hide_possible_values = true, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub mfa_required_for_admins: bool,

    /// Consecutive wrong second-factor codes after which the factor locks until a reset.
    #[arg(long, env = "MFA_MAX_FAILURES", default_value_t = 10)]
    pub mfa_max_failures: u32,

    /// Lifetime of a partial login's refresh token (a user with a factor, before
    /// `verifyMfa`).
    #[arg(long, env = "MFA_CHALLENGE_EXPIRES", default_value = "5m", value_parser = parse_duration)]
    pub mfa_challenge_expires: Duration,
}

/// SQLite's `synchronous` in WAL mode (`DATABASE_SYNCHRONOUS`): `normal` keeps every
/// commit across a process crash but may lose the last ones on power loss; `full` waits
/// for the disk at each commit and loses nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Synchronous {
    #[default]
    Normal,
    Full,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colours on a terminal only).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// A configuration problem found before the server starts; `Display` is the one line
/// printed before exiting with status 2, and it names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self {
            variable,
            reason: reason.into(),
        }
    }
}

impl Config {
    /// Cross-field rules that clap cannot express; run once before anything starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.jwt_algorithm == JwtAlgorithm::HS256 {
            let secret_len = self.jwt_secret_key.as_ref().map_or(0, |s| s.0.len());
            if self.is_production() {
                let secret = self.jwt_secret_key.as_ref().map_or("", |s| s.0.as_str());
                if let Some(why) = weak_secret(secret) {
                    return Err(ConfigError::new(
                        "JWT_SECRET_KEY",
                        format!(
                            "APP_ENV=production needs a good secret: {why} \
                             (make one with `openssl rand -base64 48`)"
                        ),
                    ));
                }
            }
            if self.jwt_secret_key.is_some() && secret_len == 0 {
                return Err(ConfigError::new("JWT_SECRET_KEY", "must not be empty"));
            }
        } else {
            if self.jwt_private_key_file.is_none() {
                return Err(ConfigError::new(
                    "JWT_PRIVATE_KEY_FILE",
                    format!("{} needs a PEM private key file", self.jwt_algorithm),
                ));
            }
            if self.jwt_public_key_file.is_none() {
                return Err(ConfigError::new(
                    "JWT_PUBLIC_KEY_FILE",
                    format!("{} needs a PEM public key file", self.jwt_algorithm),
                ));
            }
        }
        if self.jwt_access_token_expires.is_zero() {
            return Err(ConfigError::new(
                "JWT_ACCESS_TOKEN_EXPIRES",
                "must be longer than zero",
            ));
        }
        if self.jwt_refresh_token_expires.is_zero() {
            return Err(ConfigError::new(
                "JWT_REFRESH_TOKEN_EXPIRES",
                "must be longer than zero",
            ));
        }
        if self.graphql_max_batch == 0 {
            return Err(ConfigError::new("GRAPHQL_MAX_BATCH", "must be at least 1"));
        }
        if self.max_body_bytes == 0 {
            return Err(ConfigError::new("MAX_BODY_BYTES", "must be at least 1"));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::new("MAX_CONNECTIONS", "must be at least 1"));
        }
        if self.database_pool_size == Some(0) {
            return Err(ConfigError::new("DATABASE_POOL_SIZE", "must be at least 1"));
        }
        if self.trusted_proxy_hops == 0 {
            return Err(ConfigError::new("TRUSTED_PROXY_HOPS", "must be at least 1"));
        }
        for (variable, duration) in [
            ("REQUEST_TIMEOUT", self.request_timeout),
            ("REQUEST_HEAD_TIMEOUT", self.request_head_timeout),
            ("WS_INIT_TIMEOUT", self.ws_init_timeout),
            ("KEEP_ALIVE_TIMEOUT", self.keep_alive_timeout),
            ("DB_BUSY_TIMEOUT", self.db_busy_timeout),
            ("PASSWORD_RESET_EXPIRES", self.password_reset_expires),
            (
                "EMAIL_VERIFICATION_EXPIRES",
                self.email_verification_expires,
            ),
            ("MFA_CHALLENGE_EXPIRES", self.mfa_challenge_expires),
        ] {
            if duration.is_zero() {
                return Err(ConfigError::new(variable, "must be longer than zero"));
            }
        }
        if self.jwt_cookie_samesite == SameSite::None && !self.secure_cookies() {
            return Err(ConfigError::new(
                "JWT_COOKIE_SAMESITE",
                "None needs JWT_COOKIE_SECURE=true (browsers refuse SameSite=None without Secure)",
            ));
        }
        if let Some(domain) = &self.jwt_cookie_domain
            && (domain.trim().is_empty()
                || !domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')))
        {
            return Err(ConfigError::new(
                "JWT_COOKIE_DOMAIN",
                format!("not a domain: {domain:?}"),
            ));
        }
        self.validate_mail()?;
        if self.mfa_max_failures == 0 {
            return Err(ConfigError::new("MFA_MAX_FAILURES", "must be at least 1"));
        }
        if self.mfa_issuer.trim().is_empty() || self.mfa_issuer.contains(':') {
            return Err(ConfigError::new(
                "MFA_ISSUER",
                "must be a non-empty name without ':' (authenticator apps split on it)",
            ));
        }
        self.mfa_keys()?;
        for origin in &self.cors_allowed_origins {
            if origin.trim().parse::<http::HeaderValue>().is_err() || origin.contains('*') {
                return Err(ConfigError::new(
                    "CORS_ALLOWED_ORIGINS",
                    format!("not an origin: {origin:?}"),
                ));
            }
        }
        Ok(())
    }

    /// `MAIL_URL` in one of lettre's forms, `MAIL_FROM` an address, `APP_URL` an http(s)
    /// URL — `https` in production when mail is sent (links carry one-time tokens).
    fn validate_mail(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.mail_url {
            let scheme = url.0.split("://").next().unwrap_or_default();
            if !matches!(scheme, "smtp" | "smtps") || !url.0.contains("://") {
                return Err(ConfigError::new(
                    "MAIL_URL",
                    "expected smtp://[user:pass@]host[:port], smtps://… or smtp://…?tls=required",
                ));
            }
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "MAIL_FROM",
                format!("not a mail address: {:?}", self.mail_from),
            ));
        }
        let app = self.app_url.trim_end_matches('/');
        let https = app.starts_with("https://");
        if !(https || app.starts_with("http://")) || app.contains(['#', '?', ' ']) {
            return Err(ConfigError::new(
                "APP_URL",
                format!("not an http(s) base URL: {:?}", self.app_url),
            ));
        }
        if self.is_production() && self.mail_url.is_some() && !https {
            return Err(ConfigError::new(
                "APP_URL",
                "APP_ENV=production with MAIL_URL needs an https APP_URL: mailed links carry one-time tokens",
            ));
        }
        Ok(())
    }

    /// `MAIL_URL` sends in clear to a host off this machine: plain `smtp://` without
    /// `tls=required`, to anything but loopback. Reset links and the SMTP password would
    /// cross the network readable.
    pub fn mail_in_clear(&self) -> bool {
        let Some(url) = &self.mail_url else {
            return false;
        };
        let Some(rest) = url.0.strip_prefix("smtp://") else {
            return false; // smtps://: TLS from the first byte
        };
        if rest.contains("tls=required") {
            return false;
        }
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host_port.split(':').next().unwrap_or_default(),
        };
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        !loopback
    }

    /// `MFA_ENCRYPTION_KEY` and `MFA_PREVIOUS_ENCRYPTION_KEYS`, decoded: the current key
    /// (if any) and the earlier ones, each 32 bytes.
    pub fn mfa_keys(&self) -> Result<MfaKeys, ConfigError> {
        fn key(variable: &'static str, raw: &str) -> Result<[u8; 32], ConfigError> {
            use base64::{Engine, engine::general_purpose::STANDARD};
            STANDARD
                .decode(raw.trim())
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| {
                    ConfigError::new(
                        variable,
                        "must be 32 bytes in standard base64 (e.g. `openssl rand -base64 32`)",
                    )
                })
        }
        let current = self
            .mfa_encryption_key
            .as_ref()
            .map(|raw| key("MFA_ENCRYPTION_KEY", &raw.0))
            .transpose()?;
        let previous = self
            .mfa_previous_encryption_keys
            .as_ref()
            .map(|raw| {
                raw.0
                    .split(',')
                    .filter(|part| !part.trim().is_empty())
                    .map(|part| key("MFA_PREVIOUS_ENCRYPTION_KEYS", part))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        if current.is_none() && !previous.is_empty() {
            return Err(ConfigError::new(
                "MFA_ENCRYPTION_KEY",
                "must be set when MFA_PREVIOUS_ENCRYPTION_KEYS is (the secrets are sealed again with it)",
            ));
        }
        Ok((current, previous))
    }

    /// `APP_URL` without a trailing `/`: mailed links append their path to it.
    pub fn app_base(&self) -> &str {
        self.app_url.trim_end_matches('/')
    }

    /// True when `APP_ENV=production`.
    pub fn is_production(&self) -> bool {
        self.app_env == AppEnv::Production
    }

    /// GraphiQL is served unless production turned it off (and `GRAPHIQL` did not turn it on).
    pub fn graphiql_enabled(&self) -> bool {
        self.graphiql.unwrap_or(!self.is_production())
    }

    /// Introspection is allowed unless production turned it off.
    pub fn introspection_enabled(&self) -> bool {
        self.graphql_introspection.unwrap_or(!self.is_production())
    }

    /// Field suggestions ("Did you mean …") leak the schema as much as introspection does,
    /// so they follow it: off in production unless introspection is turned back on.
    pub fn suggestions_enabled(&self) -> bool {
        self.introspection_enabled()
    }

    /// Cookies get `Secure` when `JWT_COOKIE_SECURE` says so, by default in production.
    pub fn secure_cookies(&self) -> bool {
        self.jwt_cookie_secure.unwrap_or(self.is_production())
    }
}

/// Secrets that look like one but are not: what documentation and examples suggest
/// (compared ignoring case, as prefixes).
const PLACEHOLDER_SECRETS: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "change-this",
    "changethis",
    "secret",
    "mysecret",
    "my-secret",
    "supersecret",
    "super-secret",
    "your-secret",
    "your_secret",
    "yoursecret",
    "replace-me",
    "replaceme",
    "placeholder",
    "example",
    "jwt-secret",
    "jwt_secret",
];

/// Why `secret` is not good enough for production, if it is not: shorter than 32 bytes,
/// fewer than 8 distinct byte values (40 spaces, `aaaa…`; a hex secret has 16 symbols and
/// passes), or a known placeholder.
pub fn weak_secret(secret: &str) -> Option<&'static str> {
    if secret.len() < 32 {
        return Some("JWT_SECRET_KEY must be at least 32 bytes");
    }
    let distinct = secret
        .bytes()
        .collect::<std::collections::HashSet<u8>>()
        .len();
    if distinct < 8 {
        return Some("JWT_SECRET_KEY must use at least 8 different characters");
    }
    let lower = secret.to_ascii_lowercase();
    if PLACEHOLDER_SECRETS.iter().any(|p| lower.starts_with(p)) {
        return Some("JWT_SECRET_KEY is a placeholder, not a secret");
    }
    None
}

/// `PERSISTED_DOCUMENTS` (API.md "Trusted documents").
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PersistedDocuments {
    Off,
    Audit,
    Require,
}

/// `APP_ENV`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AppEnv {
    Development,
    Production,
}

/// The one algorithm tokens are signed and verified with; never taken from a token header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms)]
pub enum JwtAlgorithm {
    HS256,
    RS256,
    ES256,
    EdDSA,
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HS256 => "HS256",
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        })
    }
}

fn parse_algorithm(raw: &str) -> Result<JwtAlgorithm, String> {
    match raw.trim() {
        "HS256" => Ok(JwtAlgorithm::HS256),
        "RS256" => Ok(JwtAlgorithm::RS256),
        "ES256" => Ok(JwtAlgorithm::ES256),
        "EdDSA" => Ok(JwtAlgorithm::EdDSA),
        other => Err(format!(
            "unknown algorithm {other:?} (expected HS256, RS256, ES256 or EdDSA)"
        )),
    }
}

/// `JWT_TOKEN_LOCATION`: which transports may carry a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenLocation {
    pub headers: bool,
    pub cookies: bool,
}

fn parse_token_location(raw: &str) -> Result<TokenLocation, String> {
    let mut location = TokenLocation {
        headers: false,
        cookies: false,
    };
    for part in raw.split(',').map(str::trim) {
        match part {
            "headers" => location.headers = true,
            "cookies" => location.cookies = true,
            other => {
                return Err(format!(
                    "unknown token location {other:?} (expected headers, cookies or headers,cookies)"
                ));
            }
        }
    }
    Ok(location)
}

/// `JWT_COOKIE_SAMESITE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

impl fmt::Display for SameSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Lax => "Lax",
            Self::Strict => "Strict",
            Self::None => "None",
        })
    }
}

fn parse_same_site(raw: &str) -> Result<SameSite, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "lax" => Ok(SameSite::Lax),
        "strict" => Ok(SameSite::Strict),
        "none" => Ok(SameSite::None),
        other => Err(format!(
            "unknown SameSite {other:?} (expected Lax, Strict or None)"
        )),
    }
}

/// A secret string whose `Debug` never shows the value.
#[derive(Clone)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// `MFA_ENCRYPTION_KEY` (if set) and `MFA_PREVIOUS_ENCRYPTION_KEYS`, decoded.
pub type MfaKeys = (Option<[u8; 32]>, Vec<[u8; 32]>);

/// Parses `30s`, `15m`, `1h`, `7d`; a bare number means minutes (API.md Configuration).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let invalid = || format!("invalid duration {raw:?} (expected e.g. 30s, 15m, 1h, 7d)");
    let amount: u64 = digits.parse().map_err(|_| invalid())?;
    let seconds_per_unit = match unit {
        "" | "m" => 60,
        "s" => 1,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid()),
    };
    amount
        .checked_mul(seconds_per_unit)
        .filter(|secs| *secs <= 100 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_bare_minutes() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn durations_reject_garbage() {
        for bad in ["", "m", "5x", "-5m", "1.5h", "5 m", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn token_location_accepts_the_three_forms_only() {
        assert_eq!(
            parse_token_location("headers,cookies"),
            Ok(TokenLocation {
                headers: true,
                cookies: true
            })
        );
        assert!(parse_token_location("query").is_err());
    }

    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        config: Config,
    }

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        use clap::Parser;
        let mut argv = vec!["authql"];
        argv.extend_from_slice(args);
        Wrapper::try_parse_from(argv).map(|w| w.config)
    }

    #[test]
    fn the_pool_size_is_the_operators_or_sized_to_the_cpus() {
        assert_eq!(parse(&[]).unwrap().database_pool_size, None);
        let sized = parse(&["--database-pool-size", "12"]).unwrap();
        assert_eq!(sized.database_pool_size, Some(12));
        let none = parse(&["--database-pool-size", "0"]).unwrap().validate();
        assert!(none.is_err_and(|e| e.to_string().contains("DATABASE_POOL_SIZE")));
        assert_eq!(crate::db::default_pool_size(false), 8);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        assert_eq!(crate::db::default_pool_size(true), (2 * cpus + 1).max(4));
    }

    #[test]
    fn mail_in_clear_means_plain_smtp_to_another_machine() {
        let in_clear = |url: &str| parse(&["--mail-url", url]).unwrap().mail_in_clear();
        assert!(in_clear("smtp://mail.example.com"));
        assert!(in_clear("smtp://user:p%40ss@relay.internal:25"));
        assert!(!in_clear("smtp://127.0.0.1:1025"));
        assert!(!in_clear("smtp://user:pw@localhost:25"));
        assert!(!in_clear("smtp://[::1]:25"));
        assert!(!in_clear("smtps://user:pw@smtp.example.com"));
        assert!(!in_clear(
            "smtp://user:pw@smtp.example.com:587?tls=required"
        ));
        assert!(!parse(&[]).unwrap().mail_in_clear());
    }

    #[test]
    fn boolean_flags_take_an_optional_value() {
        assert!(
            parse(&["--trust-proxy-headers"])
                .unwrap()
                .trust_proxy_headers
        );
        assert!(
            parse(&["--trust-proxy-headers", "true"])
                .unwrap()
                .trust_proxy_headers
        );
        assert!(
            !parse(&["--trust-proxy-headers=false"])
                .unwrap()
                .trust_proxy_headers
        );
        assert_eq!(
            parse(&["--graphiql", "false"]).unwrap().graphiql,
            Some(false)
        );
        assert!(parse(&["--graphiql", "maybe"]).is_err());
    }

    #[test]
    fn weak_production_secrets_are_named_and_random_ones_pass() {
        for weak in [
            "short",
            &" ".repeat(40),
            &"ab".repeat(20),
            "changeme-changeme-changeme-changeme",
            "SECRET-0123456789-abcdefghijklmnop",
            "your-secret-key-goes-here-0123456789",
        ] {
            assert!(weak_secret(weak).is_some(), "{weak:?} passed");
        }
        // `openssl rand -hex 32` (16 symbols) and `-base64 48`.
        for good in [
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "q3Zr8m0vYw1T9bHkPj2xL4cN7eD5fA6gS0uV1iR3oW8yX2zB4nM6kJ8hG0tF9dE7",
        ] {
            assert_eq!(weak_secret(good), None, "{good}");
        }
    }

    #[test]
    fn algorithm_is_exact() {
        assert_eq!(parse_algorithm("EdDSA"), Ok(JwtAlgorithm::EdDSA));
        assert!(parse_algorithm("none").is_err());
        assert!(parse_algorithm("HS512").is_err());
    }
}
