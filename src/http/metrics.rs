//! The metrics listener (`METRICS_ADDR`): `GET /metrics` in the Prometheus text format, on
//! an address of its own so it is never reachable where the public API is.

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::metrics::Gauges;
use crate::service::mail;
use crate::state::AppState;

/// Serves `/metrics` on `listener` until the returned task is aborted; logs the bound
/// address as `metrics on http://ADDR`.
pub fn serve(listener: TcpListener, state: AppState) -> std::io::Result<JoinHandle<()>> {
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(state);
    tracing::info!("metrics on http://{addr}");
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "metrics listener failed");
        }
    }))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Counted whether or not this instance sends mail; a database that cannot answer
    // leaves the gauge at its last value.
    let mail_outbox = match mail::waiting(&state.db).await {
        Ok(waiting) => waiting,
        Err(error) => {
            tracing::warn!(%error, "cannot count the mail outbox");
            state.metrics.last_mail_outbox()
        }
    };
    let gauges = Gauges {
        hash_queue: state.passwords.waiting(),
        mail_outbox,
        jwks_ages: state.outside.ages(),
        db_pool: crate::db::pool_connections(&state.db),
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(gauges),
    )
}
