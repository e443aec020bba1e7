//! `routewise serve`: run the OpenAI-compatible gateway until Ctrl-C or SIGTERM.
//!
//! Logs: one JSON line per request on stdout, everything else as text on stderr, filtered by
//! `RUST_LOG` (default `info`).

use anyhow::Context;
use clap::Args;
use routewise_gateway::account::{REQUEST_LOG_TARGET, RequestLog};
use routewise_gateway::trace::TARGET as TRACE_TARGET;
use routewise_gateway::{Gateway, SharedState, reload};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, filter_fn};
use tracing_subscriber::prelude::*;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The config file; it is reloaded when it changes and on SIGHUP.
    #[arg(long, short = 'c', env = "ROUTEWISE_CONFIG")]
    config: PathBuf,
    /// Listen here instead of `[server] listen`.
    #[arg(long)]
    listen: Option<SocketAddr>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = routewise_config::load_file(&args.config)?;
    let listen = args.listen.unwrap_or(config.server.listen);
    let watch = config.server.watch_config;
    let files = routewise_config::source_files(&args.config, &config);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = config.server.worker_threads {
        builder.worker_threads(threads);
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Traces are exported from the SDK's own thread; this handle flushes them at the end.
        let _tracing = init_logging(config.telemetry.as_ref())?;
        let request_log = RequestLog::stdout().context("cannot start the request log writer")?;
        let store_url = config.store.url.clone();
        let state = match &config.shared {
            Some(shared) => {
                tracing::info!(
                    "rate limits, circuits, the cache and memory are shared through {} (keys `{}:...`)",
                    shared.redis,
                    shared.prefix
                );
                routewise_redis::connect(shared)?
            }
            None => SharedState::local(),
        };
        let gateway = Gateway::from_config_with(config, request_log.clone(), state)?;
        if let Some(url) = &store_url {
            let store = routewise_store::SqlStore::open(url)
                .await
                .with_context(|| {
                    "cannot open the [store]: fix its url, or set url = \"none\" to run without one"
                        .to_owned()
                })?;
            tracing::info!("decision records and feedback go to {}", store.target());
            gateway
                .attach_store(std::sync::Arc::new(store), url)
                .await?;
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        reload::spawn(gateway.clone(), files, watch)
            .context("cannot watch the config file for reloads")?;
        tracing::info!(
            "routewise listening on http://{address} (config {})",
            args.config.display()
        );
        let served = routewise_gateway::run(listener, gateway.clone(), shutdown_signal()).await;
        // The writers flush on a timer; the last lines and records must not die with the process.
        gateway.flush_records().await;
        request_log.flush();
        served?;
        tracing::info!("routewise stopped");
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Request records go to stdout bare (they are JSON already); the rest to stderr; with
/// `[telemetry]`, trace spans to the collector. The trace spans' target is left out of the log
/// layers, so without telemetry no layer wants those spans and they are never built.
///
/// Without telemetry the trace layer is left out of the stack, not added as `None`: an absent
/// (`None`) layer answers every callsite "always", which turned every `trace!` and `debug!` of
/// hyper and reqwest into a filter evaluated per call. The log layer's two filters are one
/// combined filter, not one layer filtered twice: an outer `EnvFilter` over an inner target
/// filter let the registry build every trace span (nine a request, with their enters, records
/// and closes, about 8% of a request's instructions) only for the inner filter to drop them.
/// Each layer's filter carries its level, so `trace!` and `debug!` callsites stop at one compare.
fn init_logging(
    telemetry: Option<&routewise_config::telemetry::TelemetryConfig>,
) -> anyhow::Result<Option<routewise_telemetry::Tracing>> {
    let records = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stdout)
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_filter(
            filter_fn(|meta| meta.target() == REQUEST_LOG_TARGET)
                .with_max_level_hint(LevelFilter::INFO),
        );
    // Colour codes only for a terminal: piped into a file or a log collector they are noise.
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info"))
                .and(filter_fn(|meta| {
                    meta.target() != REQUEST_LOG_TARGET && meta.target() != TRACE_TARGET
                })),
        );
    let logging = tracing_subscriber::registry().with(records).with(logs);
    // A second init (only possible in tests) keeps the first subscriber.
    let Some(config) = telemetry else {
        let _ = logging.try_init();
        return Ok(None);
    };
    let (traces, tracing) = routewise_telemetry::layer(config)?;
    let _ = logging.with(traces).try_init();
    tracing::info!(
        "traces go to {} as service `{}`",
        config.traces_url,
        config.service_name
    );
    Ok(Some(tracing))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without `[telemetry]` no trace span is built: no layer wants one. It failed while the
    /// log layer was filtered twice and an absent trace layer sat in the stack, which built
    /// nine spans a request for nothing. The only test in this binary that installs a
    /// subscriber, so the global one is this one.
    #[test]
    fn without_telemetry_trace_spans_and_debug_events_are_never_built() {
        assert!(matches!(init_logging(None), Ok(None)));
        let span = tracing::info_span!(target: TRACE_TARGET, "chat");
        assert!(
            span.is_disabled(),
            "a trace span was built without telemetry"
        );
        assert!(!tracing::enabled!(target: "hyper::proto", tracing::Level::DEBUG));
        if std::env::var_os("RUST_LOG").is_none() {
            assert!(tracing::enabled!(target: "routewise::commands::serve", tracing::Level::INFO));
        }
    }
}
