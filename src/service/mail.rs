//! Mail (API.md "Mail"): written to an outbox in the transaction of the change that causes
//! it ([`queue`]), delivered by a sender task ([`Sender`]) through a [`Mailer`] — lettre's
//! SMTP transport in the server, any other in a test.
//!
//! Delivery is at least once. A sender claims one due mail at a time with a lease
//! (`lease_until`), in one statement — with `FOR UPDATE SKIP LOCKED` on PostgreSQL, under
//! the write lock on SQLite — so two instances (or two processes on one SQLite file) never
//! send one mail concurrently: an attempt is cut off at [`SEND_DEADLINE`], well inside
//! the lease. A crash between sending and deleting can at worst send a mail twice, once
//! its lease has run out. A mail is deleted once delivered, once an SMTP server
//! refused it for good (5xx), after 24 h of failed attempts (backoff from 1 s, at most 30 s
//! apart), or once the token it carries has expired: a reset link is never delivered late,
//! and the outbox is the one place a one-time token is kept in clear. Nothing here logs a
//! mail's body.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::mail_outbox;
use lettre::message::{Mailbox, Message, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, Statement,
};
use tokio::sync::Notify;

use super::ServiceResult;
use crate::metrics::{MailOutcome, Metrics};

/// How long a sender holds a claimed mail before another may take it …
const LEASE: chrono::Duration = chrono::Duration::seconds(60);
/// … and how long one delivery attempt may take at most, end to end (lettre's own timeout
/// covers only the TCP connect: a server that accepts and then says nothing would hold the
/// sender forever). The rest of the lease is margin for recording the outcome.
const SEND_DEADLINE: Duration = Duration::from_secs(15);
/// How long a mail is retried before it is given up.
const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::hours(24);
/// Backoff: from this, doubling, …
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// … to at most this.
const MAX_RETRY: Duration = Duration::from_secs(30);
/// A sender with nothing due looks again after this at the latest (mail queued by other
/// instances or the CLI; this instance's own wakes it at once).
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Connecting to the SMTP server may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A mail to queue.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The expiry of the token it carries: never delivered after. `None` for a notice.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Writes `mail` to the outbox within `txn`, the transaction of the change that causes it:
/// it leaves with that change, or not at all.
pub(super) async fn queue(txn: &impl ConnectionTrait, mail: Mail) -> ServiceResult<()> {
    let now = Utc::now();
    mail_outbox::Entity::insert(mail_outbox::ActiveModel {
        to_address: Set(mail.to),
        subject: Set(mail.subject),
        body: Set(mail.body),
        queued_at: Set(now),
        expires_at: Set(mail.expires_at),
        next_attempt_at: Set(now),
        lease_until: Set(None),
        attempts: Set(0),
        ..Default::default()
    })
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

/// Mails waiting in the outbox (the `authql_mail_outbox` gauge).
pub async fn waiting(db: &impl ConnectionTrait) -> ServiceResult<u64> {
    Ok(mail_outbox::Entity::find().count(db).await?)
}

/// The unsent mails whose token has not expired, oldest first (`authql mail-outbox`).
pub async fn unsent(db: &impl ConnectionTrait) -> ServiceResult<Vec<mail_outbox::Model>> {
    Ok(mail_outbox::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(mail_outbox::Column::ExpiresAt.is_null())
                .add(mail_outbox::Column::ExpiresAt.gt(Utc::now())),
        )
        .order_by_asc(mail_outbox::Column::Id)
        .all(db)
        .await?)
}

/// Deletes mails whose token has expired, sent or not (the outbox holds tokens in clear);
/// returns how many.
pub async fn prune_expired(db: &impl ConnectionTrait) -> ServiceResult<u64> {
    Ok(mail_outbox::Entity::delete_many()
        .filter(mail_outbox::Column::ExpiresAt.lte(Utc::now()))
        .exec(db)
        .await?
        .rows_affected)
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Try again later (the server is down, busy, or answered 4xx).
    Retry(String),
    /// Refused for good (5xx): never again.
    Refused(String),
}

/// Hands a mail to an SMTP server.
pub trait Mailer: Send + Sync + 'static {
    fn send<'a>(
        &'a self,
        mail: &'a mail_outbox::Model,
    ) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>>;
}

/// lettre's async SMTP transport, from `MAIL_URL`.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// `url` in lettre's forms: `smtp://[user:pass@]host[:port]` (plain), `smtps://…`
    /// (implicit TLS) or `smtp://…?tls=required` (STARTTLS).
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| e.to_string())?
            .timeout(Some(CONNECT_TIMEOUT))
            .build();
        let from = from
            .parse()
            .map_err(|e: lettre::address::AddressError| e.to_string())?;
        Ok(Self { transport, from })
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(
        &'a self,
        mail: &'a mail_outbox::Model,
    ) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>> {
        Box::pin(async move {
            let to: Mailbox = match mail.to_address.parse() {
                Ok(to) => to,
                Err(error) => return Delivery::Refused(format!("bad recipient: {error}")),
            };
            let message = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject.clone())
                .header(ContentType::TEXT_PLAIN)
                .body(mail.body.clone());
            let message = match message {
                Ok(message) => message,
                Err(error) => return Delivery::Refused(error.to_string()),
            };
            match self.transport.send(message).await {
                Ok(_) => Delivery::Sent,
                // 5xx, and what lettre itself refuses to send (a recipient the server
                // cannot take): trying again would only fail again.
                Err(error) if error.is_permanent() || error.is_client() => {
                    Delivery::Refused(error.to_string())
                }
                Err(error) => Delivery::Retry(error.to_string()),
            }
        })
    }
}

/// The sender task: claims due mail, delivers it, deletes or reschedules it.
pub struct Sender {
    db: DatabaseConnection,
    mailer: Arc<dyn Mailer>,
    metrics: Metrics,
    wake: Arc<Notify>,
}

impl Sender {
    pub fn new(
        db: DatabaseConnection,
        mailer: Arc<dyn Mailer>,
        metrics: Metrics,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            db,
            mailer,
            metrics,
            wake,
        }
    }

    /// Runs until the process ends; a database failure is logged and retried.
    pub async fn run(self) {
        loop {
            let claimed = match claim(&self.db, Utc::now()).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the mail outbox");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            let Some(mail) = claimed else {
                let wait = match next_due(&self.db).await {
                    Ok(Some(due)) => (due - Utc::now())
                        .to_std()
                        .unwrap_or_default()
                        .min(IDLE_POLL),
                    _ => IDLE_POLL,
                };
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(wait) => {}
                }
                continue;
            };
            if let Err(error) = self.deliver(mail).await {
                tracing::warn!(%error, "cannot record a mail delivery");
            }
        }
    }

    async fn deliver(&self, mail: mail_outbox::Model) -> ServiceResult<()> {
        let now = Utc::now();
        if mail.expires_at.is_some_and(|at| at <= now) {
            // Its token expired: a late link is worse than none.
            return delete(&self.db, &mail).await;
        }
        let attempt = tokio::time::timeout(SEND_DEADLINE, self.mailer.send(&mail));
        let outcome = attempt
            .await
            .unwrap_or_else(|_| Delivery::Retry("no answer in time".to_owned()));
        match outcome {
            Delivery::Sent => {
                self.metrics.mail(MailOutcome::Sent);
                tracing::info!(mail = mail.id, "mail sent");
                delete(&self.db, &mail).await
            }
            Delivery::Refused(reason) => {
                self.metrics.mail(MailOutcome::Failed);
                tracing::warn!(mail = mail.id, %reason, "mail refused for good: dropped");
                delete(&self.db, &mail).await
            }
            Delivery::Retry(reason) => {
                self.metrics.mail(MailOutcome::Failed);
                if now - mail.queued_at >= GIVE_UP_AFTER {
                    tracing::warn!(mail = mail.id, %reason, "mail undelivered for 24 h: dropped");
                    return delete(&self.db, &mail).await;
                }
                let wait = backoff(mail.attempts);
                tracing::warn!(mail = mail.id, %reason, retry_in = ?wait, "mail not delivered");
                reschedule(&self.db, &mail, now + wait).await
            }
        }
    }
}

/// 1 s after the first attempt, doubling, at most 30 s.
fn backoff(attempts: i32) -> chrono::Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 16) as u32;
    let wait = FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(doublings))
        .min(MAX_RETRY);
    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
}

/// Claims the oldest due mail nobody holds, for [`LEASE`] from `now`, in one statement.
async fn claim(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> ServiceResult<Option<mail_outbox::Model>> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "UPDATE mail_outbox SET lease_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM mail_outbox \
                          WHERE next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2) \
                          ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING *"
        }
        _ => {
            "UPDATE mail_outbox SET lease_until = ?1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM mail_outbox \
                          WHERE next_attempt_at <= ?2 AND (lease_until IS NULL OR lease_until < ?2) \
                          ORDER BY id LIMIT 1) \
             RETURNING *"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [(now + LEASE).into(), now.into()],
        ))
        .await?;
    Ok(row
        .map(|row| mail_outbox::Model::from_query_result(&row, ""))
        .transpose()?)
}

/// When the next mail falls due, if any waits.
async fn next_due(db: &DatabaseConnection) -> ServiceResult<Option<DateTime<Utc>>> {
    Ok(mail_outbox::Entity::find()
        .order_by_asc(mail_outbox::Column::NextAttemptAt)
        .one(db)
        .await?
        .map(|mail| {
            mail.next_attempt_at
                .max(mail.lease_until.unwrap_or(mail.next_attempt_at))
        }))
}

/// The row of a mail this sender claimed, as long as its claim still holds: a sender
/// whose lease ran out (a stalled database write) must not touch another's claim.
fn claimed(mail: &mail_outbox::Model) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(mail_outbox::Column::Id.eq(mail.id))
        .add(mail_outbox::Column::Attempts.eq(mail.attempts))
}

async fn delete(db: &DatabaseConnection, mail: &mail_outbox::Model) -> ServiceResult<()> {
    mail_outbox::Entity::delete_many()
        .filter(claimed(mail))
        .exec(db)
        .await?;
    Ok(())
}

async fn reschedule(
    db: &DatabaseConnection,
    mail: &mail_outbox::Model,
    at: DateTime<Utc>,
) -> ServiceResult<()> {
    mail_outbox::Entity::update_many()
        .col_expr(
            mail_outbox::Column::NextAttemptAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .col_expr(
            mail_outbox::Column::LeaseUntil,
            sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(claimed(mail))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sender that dies holding a mail (kill -9 mid-delivery) delays it by at most the
    /// lease; until then nobody else sends it.
    #[tokio::test]
    async fn a_claimed_mail_is_nobody_elses_until_its_lease_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("mail.db").display());
        let db = crate::db::connect(&url, &Default::default()).await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let mail = Mail {
            to: "ann@example.com".into(),
            subject: "s".into(),
            body: "b".into(),
            expires_at: None,
        };
        queue(&db, mail).await.unwrap();
        let now = Utc::now();
        let first = claim(&db, now).await.unwrap().expect("a due mail");
        assert_eq!(first.attempts, 1);
        assert!(claim(&db, now).await.unwrap().is_none());
        assert!(
            claim(&db, now + LEASE - chrono::Duration::seconds(1))
                .await
                .unwrap()
                .is_none()
        );
        let later = now + LEASE + chrono::Duration::seconds(1);
        let again = claim(&db, later).await.unwrap().expect("claimable again");
        assert_eq!((again.id, again.attempts), (first.id, 2));
        // The first sender, back from a stall past its lease, cannot touch the new claim.
        delete(&db, &first).await.unwrap();
        reschedule(&db, &first, now).await.unwrap();
        assert!(
            claim(&db, later).await.unwrap().is_none(),
            "still held by the second"
        );
        delete(&db, &again).await.unwrap();
        assert_eq!(waiting(&db).await.unwrap(), 0);
        assert!(LEASE.to_std().unwrap() > SEND_DEADLINE);
    }

    #[test]
    fn backoff_doubles_from_one_second_to_thirty() {
        let seconds: Vec<i64> = (1..=8).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(seconds, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
