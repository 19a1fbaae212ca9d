//! Tracing setup: one subscriber per process, filtered by `RUST_LOG`, writing to stdout
//! (colours only on a terminal, so log scrapers see plain `listening on http://ADDR`), as
//! text or, with `LOG_FORMAT=json`, one JSON object per line.
//!
//! Lines are written by a thread of their own (`tracing-appender`), in batches: a request
//! never waits for a `write` to stdout (one per line was a tenth of a loaded server's
//! time). Should stdout stall, up to [`BUFFERED_LINES`] lines wait and further ones are
//! dropped rather than stalling request handling; the guard flushes what waits at exit.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The request span's field for the GraphQL operation name(s) (declared empty by the
/// router's span, filled in once the document is parsed).
pub const OPERATION_FIELD: &str = "operation";

/// Longest operation name(s) put on a log line.
const MAX_OPERATION_LOG: usize = 256;

/// Puts the operation name(s) of the request on its span, so its one request line (and
/// every other line of the request) carries them. Names are GraphQL names; a batch's are
/// joined with `,`, an anonymous one written `-`.
pub fn record_operation(names: &str) {
    let mut end = names.len().min(MAX_OPERATION_LOG);
    while !names.is_char_boundary(end) {
        end -= 1;
    }
    tracing::Span::current().record(OPERATION_FIELD, &names[..end]);
}

/// Lines waiting for stdout at most (a few MiB).
const BUFFERED_LINES: usize = 16_384;

/// Installs the global subscriber; keep the guard until the process ends (dropping it
/// flushes). A second call (tests) installs nothing.
pub fn init(filter: &str, format: LogFormat) -> WorkerGuard {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("authql-log")
        .finish(BufWriter::with_capacity(64 << 10, std::io::stdout()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stdout().is_terminal())
            .try_init(),
        // The request span's fields (method, path, request id) ride along on every line.
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
    guard
}
