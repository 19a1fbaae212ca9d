//! Prometheus metrics (API.md Operations), served on their own listener at `METRICS_ADDR`.
//!
//! One registry per server, not a process-wide recorder: tests run many servers in one
//! process and each must count only its own work. Every counter and every label value the
//! contract lists exists at 0 from the start, so a dashboard or an alert's ratio never
//! meets a missing series. No label carries a user name, token or address: label values
//! are fixed words, error codes and numeric statuses only.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge};
use prometheus_client::registry::Registry;

use crate::error_code::ErrorCode;

/// The close codes a WebSocket can end with (graphql-transport-ws and RFC 6455).
pub const WS_CLOSE_CODES: &[u16] = &[
    1000, 1001, 1005, 1006, 1009, 4400, 4401, 4403, 4408, 4409, 4429,
];

/// Request latency buckets, in seconds: fine below a millisecond, where reads answered
/// from the cache fall, up to the request timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    r#type: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// An outside issuer (the configured string: bounded by the issuers file).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuerLabel {
    issuer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuerOutcomeLabels {
    issuer: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabel {
    code: CloseCode,
}

/// A close code as the `code` label has it: the number when the protocol defines it
/// (1000–1015) or this contract does (`WS_CLOSE_CODES`), else `other` — a client chooses
/// the code of its own close frame, and must not grow the label set without bound.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum CloseCode {
    Known(u16),
    Other,
}

impl CloseCode {
    fn of(code: u16) -> Self {
        if (1000..=1015).contains(&code) || WS_CLOSE_CODES.contains(&code) {
            Self::Known(code)
        } else {
            Self::Other
        }
    }
}

impl prometheus_client::encoding::EncodeLabelValue for CloseCode {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        match self {
            Self::Known(code) => write!(encoder, "{code}"),
            Self::Other => encoder.write_str("other"),
        }
    }
}

/// A GraphQL operation's type, as the `type` label has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationType {
    Query,
    Mutation,
    Subscription,
}

impl OperationType {
    fn label(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Mutation => "mutation",
            Self::Subscription => "subscription",
        }
    }
}

/// How a login ended, as the `outcome` label of `authql_logins_total` has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    Success,
    InvalidCredentials,
    RateLimited,
}

impl LoginOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::InvalidCredentials => "invalid_credentials",
            Self::RateLimited => "rate_limited",
        }
    }
}

/// How a mail delivery attempt ended (`authql_mail_sent_total{outcome}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailOutcome {
    Sent,
    Failed,
}

impl MailOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

/// How a second-factor code check ended (`authql_mfa_verifications_total{outcome}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MfaOutcome {
    Success,
    Failure,
    RateLimited,
}

impl MfaOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::RateLimited => "rate_limited",
        }
    }
}

/// What became of a request's document (`authql_persisted_documents_total{outcome}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentOutcome {
    /// Found by id, or a text that is a trusted document.
    Hit,
    /// An id nobody knows.
    Miss,
    /// `audit`: a text in no manifest.
    UnknownText,
    /// An APQ registration (a text sent with its hash).
    Registered,
}

impl DocumentOutcome {
    const ALL: [Self; 4] = [Self::Hit, Self::Miss, Self::UnknownText, Self::Registered];

    fn label(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::UnknownText => "unknown_text",
            Self::Registered => "registered",
        }
    }
}

/// Gauges read at scrape time.
#[derive(Clone, Debug, Default)]
pub struct Gauges {
    /// Seconds since each outside issuer's last good key fetch (−1 before the first).
    pub jwks_ages: Vec<(String, f64)>,
    /// Password hashes waiting for a CPU.
    pub hash_queue: usize,
    /// Mails waiting in the outbox.
    pub mail_outbox: u64,
    /// Connections the database pool holds now, and the most it may open
    /// (`DATABASE_POOL_SIZE`).
    pub db_pool: (u32, u32),
}

/// An open HTTP subscription stream in `authql_http_streams`, until dropped.
pub struct StreamGuard(Gauge);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The server's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    http_requests: Family<StatusLabel, Counter>,
    http_duration: Histogram,
    operations: Family<OperationLabels, Counter>,
    auth_failures: Family<CodeLabel, Counter>,
    logins: Family<OutcomeLabel, Counter>,
    reuse_detected: Counter,
    hash_queue: Gauge,
    ws_connections: Gauge,
    ws_closed: Family<CloseLabel, Counter>,
    http_streams: Gauge,
    mail_sent: Family<OutcomeLabel, Counter>,
    mail_outbox: Gauge,
    db_pool_connections: Gauge,
    db_pool_max_connections: Gauge,
    mfa_verifications: Family<OutcomeLabel, Counter>,
    persisted_documents: Family<OutcomeLabel, Counter>,
    jwks_fetches: Family<IssuerOutcomeLabels, Counter>,
    jwks_age: Family<IssuerLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("authql");
        let http_requests = Family::<StatusLabel, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by status",
            http_requests.clone(),
        );
        let http_duration = Histogram::new(LATENCY_BUCKETS.iter().copied());
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's head to its response's head",
            http_duration.clone(),
        );
        let operations = Family::<OperationLabels, Counter>::default();
        registry.register(
            "graphql_operations",
            "GraphQL operations, by type and whether their answer had errors",
            operations.clone(),
        );
        let auth_failures = Family::<CodeLabel, Counter>::default();
        registry.register(
            "auth_failures",
            "Requests refused by a token error, FORBIDDEN or CSRF_FAILED, once per request per code",
            auth_failures.clone(),
        );
        let logins = Family::<OutcomeLabel, Counter>::default();
        registry.register("logins", "Logins, by outcome", logins.clone());
        let reuse_detected = Counter::default();
        registry.register(
            "refresh_reuse_detected",
            "Rotated refresh tokens presented again (each ended its session)",
            reuse_detected.clone(),
        );
        let hash_queue = Gauge::default();
        registry.register(
            "password_hash_queue",
            "Password hashes waiting for a CPU",
            hash_queue.clone(),
        );
        let ws_connections = Gauge::default();
        registry.register(
            "ws_connections",
            "Open GraphQL WebSockets",
            ws_connections.clone(),
        );
        let ws_closed = Family::<CloseLabel, Counter>::default();
        registry.register(
            "ws_closed",
            "GraphQL WebSockets closed, by close code",
            ws_closed.clone(),
        );

        let http_streams = Gauge::default();
        registry.register(
            "http_streams",
            "Open subscriptions over HTTP (SSE and multipart streams)",
            http_streams.clone(),
        );

        let mail_sent = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "mail_sent",
            "Mail delivery attempts, by outcome",
            mail_sent.clone(),
        );
        let mail_outbox = Gauge::default();
        registry.register(
            "mail_outbox",
            "Mails waiting in the outbox",
            mail_outbox.clone(),
        );

        let db_pool_connections = Gauge::default();
        registry.register(
            "db_pool_connections",
            "Connections the database pool holds open",
            db_pool_connections.clone(),
        );
        let db_pool_max_connections = Gauge::default();
        registry.register(
            "db_pool_max_connections",
            "The most connections the database pool opens (DATABASE_POOL_SIZE)",
            db_pool_max_connections.clone(),
        );

        let persisted_documents = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "persisted_documents",
            "Requests naming or sending a document, by what became of it (trusted documents)",
            persisted_documents.clone(),
        );
        for outcome in DocumentOutcome::ALL {
            let _ = persisted_documents.get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            });
        }
        let mfa_verifications = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "mfa_verifications",
            "Second-factor code checks (confirmTotp, verifyMfa, disableTotp), by outcome",
            mfa_verifications.clone(),
        );

        let jwks_fetches = Family::<IssuerOutcomeLabels, Counter>::default();
        registry.register(
            "jwks_fetches",
            "Key set fetches of outside identity providers, by issuer and outcome",
            jwks_fetches.clone(),
        );
        let jwks_age = Family::<IssuerLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "jwks_age_seconds",
            "Seconds since an outside issuer's last good key fetch (-1 before the first)",
            jwks_age.clone(),
        );

        // Every listed series at 0 from the start.
        for r#type in [
            OperationType::Query,
            OperationType::Mutation,
            OperationType::Subscription,
        ] {
            for outcome in ["ok", "error"] {
                let _ = operations.get_or_create(&OperationLabels {
                    r#type: r#type.label(),
                    outcome,
                });
            }
        }
        for code in ErrorCode::AUTH_FAILURES {
            let _ = auth_failures.get_or_create(&CodeLabel {
                code: code.as_str(),
            });
        }
        for outcome in [
            LoginOutcome::Success,
            LoginOutcome::InvalidCredentials,
            LoginOutcome::RateLimited,
        ] {
            let _ = logins.get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            });
        }
        for outcome in [MailOutcome::Sent, MailOutcome::Failed] {
            let _ = mail_sent.get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            });
        }
        for outcome in [
            MfaOutcome::Success,
            MfaOutcome::Failure,
            MfaOutcome::RateLimited,
        ] {
            let _ = mfa_verifications.get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            });
        }
        for &code in WS_CLOSE_CODES {
            let _ = ws_closed.get_or_create(&CloseLabel {
                code: CloseCode::Known(code),
            });
        }
        let _ = ws_closed.get_or_create(&CloseLabel {
            code: CloseCode::Other,
        });
        for status in [200, 400, 401, 403, 404, 405, 408, 413, 415, 500, 503] {
            let _ = http_requests.get_or_create(&StatusLabel { status });
        }

        Self(Arc::new(Inner {
            registry,
            http_requests,
            http_duration,
            operations,
            auth_failures,
            logins,
            reuse_detected,
            hash_queue,
            ws_connections,
            ws_closed,
            http_streams,
            mail_sent,
            mail_outbox,
            db_pool_connections,
            db_pool_max_connections,
            mfa_verifications,
            persisted_documents,
            jwks_fetches,
            jwks_age,
        }))
    }

    pub fn http_request(&self, status: u16, seconds: f64) {
        self.0
            .http_requests
            .get_or_create(&StatusLabel { status })
            .inc();
        self.0.http_duration.observe(seconds);
    }

    pub fn operation(&self, r#type: OperationType, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.0
            .operations
            .get_or_create(&OperationLabels {
                r#type: r#type.label(),
                outcome,
            })
            .inc();
    }

    /// Counts each auth failure code among `codes` once (a request's errors may repeat a
    /// code, one per refused field).
    pub fn auth_failures(&self, codes: impl IntoIterator<Item = ErrorCode>) {
        let mut seen: Vec<ErrorCode> = Vec::new();
        for code in codes {
            if code.is_auth_failure() && !seen.contains(&code) {
                seen.push(code);
                self.0
                    .auth_failures
                    .get_or_create(&CodeLabel {
                        code: code.as_str(),
                    })
                    .inc();
            }
        }
    }

    pub fn login(&self, outcome: LoginOutcome) {
        self.0
            .logins
            .get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            })
            .inc();
    }

    pub fn mail(&self, outcome: MailOutcome) {
        self.0
            .mail_sent
            .get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            })
            .inc();
    }

    pub fn persisted_document(&self, outcome: DocumentOutcome) {
        self.0
            .persisted_documents
            .get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            })
            .inc();
    }

    pub fn mfa_verification(&self, outcome: MfaOutcome) {
        self.0
            .mfa_verifications
            .get_or_create(&OutcomeLabel {
                outcome: outcome.label(),
            })
            .inc();
    }

    /// An outside issuer's key fetch ended with `outcome` (`ok`, `error`, `unknown_kid`).
    pub fn jwks_fetch(&self, issuer: &str, outcome: &'static str) {
        self.0
            .jwks_fetches
            .get_or_create(&IssuerOutcomeLabels {
                issuer: issuer.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Every series of the configured outside issuers at 0 from the start.
    pub fn jwks_issuers(&self, issuers: &[String]) {
        for issuer in issuers {
            for outcome in ["ok", "error", "unknown_kid"] {
                let _ = self.0.jwks_fetches.get_or_create(&IssuerOutcomeLabels {
                    issuer: issuer.clone(),
                    outcome,
                });
            }
            self.0
                .jwks_age
                .get_or_create(&IssuerLabel {
                    issuer: issuer.clone(),
                })
                .set(-1.0);
        }
    }

    pub fn refresh_reuse_detected(&self) {
        self.0.reuse_detected.inc();
    }

    /// A subscription over HTTP began streaming; it counts until the guard drops.
    pub fn http_stream_opened(&self) -> StreamGuard {
        self.0.http_streams.inc();
        StreamGuard(self.0.http_streams.clone())
    }

    pub fn ws_opened(&self) {
        self.0.ws_connections.inc();
    }

    /// A WebSocket closed with `code` (the server's, or the client's close frame's).
    pub fn ws_closed(&self, code: u16) {
        self.0.ws_connections.dec();
        self.0
            .ws_closed
            .get_or_create(&CloseLabel {
                code: CloseCode::of(code),
            })
            .inc();
    }

    /// The outbox gauge as last rendered.
    pub fn last_mail_outbox(&self) -> u64 {
        u64::try_from(self.0.mail_outbox.get()).unwrap_or(0)
    }

    /// The exposition, with the gauges read at this moment.
    pub fn render(&self, gauges: Gauges) -> String {
        self.0
            .hash_queue
            .set(i64::try_from(gauges.hash_queue).unwrap_or(i64::MAX));
        self.0
            .mail_outbox
            .set(i64::try_from(gauges.mail_outbox).unwrap_or(i64::MAX));
        let (connections, max_connections) = gauges.db_pool;
        self.0.db_pool_connections.set(i64::from(connections));
        self.0
            .db_pool_max_connections
            .set(i64::from(max_connections));
        for (issuer, age) in gauges.jwks_ages {
            self.0
                .jwks_age
                .get_or_create(&IssuerLabel { issuer })
                .set(age);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.0.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of one series in the exposition.
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn every_listed_series_is_there_at_zero_from_the_start() {
        let text = Metrics::new().render(Gauges::default());
        for series in [
            r#"authql_graphql_operations_total{type="subscription",outcome="error"}"#,
            r#"authql_auth_failures_total{code="AUTHORIZATION_REQUIRED"}"#,
            r#"authql_auth_failures_total{code="CSRF_FAILED"}"#,
            r#"authql_logins_total{outcome="rate_limited"}"#,
            "authql_refresh_reuse_detected_total",
            "authql_password_hash_queue",
            "authql_ws_connections",
            "authql_http_streams",
            r#"authql_persisted_documents_total{outcome="unknown_text"}"#,
            r#"authql_ws_closed_total{code="4403"}"#,
            r#"authql_http_requests_total{status="200"}"#,
        ] {
            assert_eq!(value(&text, series), Some(0.0), "{series} in\n{text}");
        }
        assert!(text.contains("authql_http_request_duration_seconds_bucket{le=\"0.0001\"}"));
    }

    #[test]
    fn a_code_repeated_in_one_request_counts_once_and_unknown_codes_not_at_all() {
        let metrics = Metrics::new();
        metrics.auth_failures([
            ErrorCode::Forbidden,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::TokenExpired,
        ]);
        let text = metrics.render(Gauges {
            hash_queue: 3,
            mail_outbox: 0,
            jwks_ages: Vec::new(),
            db_pool: (2, 5),
        });
        assert_eq!(
            value(&text, r#"authql_auth_failures_total{code="FORBIDDEN"}"#),
            Some(1.0)
        );
        assert_eq!(
            value(&text, r#"authql_auth_failures_total{code="TOKEN_EXPIRED"}"#),
            Some(1.0)
        );
        assert!(!text.contains("NOT_FOUND"));
        assert_eq!(value(&text, "authql_password_hash_queue"), Some(3.0));
        assert_eq!(value(&text, "authql_db_pool_connections"), Some(2.0));
        assert_eq!(value(&text, "authql_db_pool_max_connections"), Some(5.0));
    }
}
