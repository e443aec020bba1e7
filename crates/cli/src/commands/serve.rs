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
use tracing_subscriber::filter::{EnvFilter, filter_fn};
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
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
fn init_logging(
    telemetry: Option<&routewise_config::telemetry::TelemetryConfig>,
) -> anyhow::Result<Option<routewise_telemetry::Tracing>> {
    let (traces, tracing) = match telemetry {
        Some(config) => {
            let (layer, tracing) = routewise_telemetry::layer(config)?;
            (Some(layer), Some(tracing))
        }
        None => (None, None),
    };
    let records = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stdout)
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_filter(filter_fn(|meta| meta.target() == REQUEST_LOG_TARGET));
    // Colour codes only for a terminal: piped into a file or a log collector they are noise.
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter_fn(|meta| {
            meta.target() != REQUEST_LOG_TARGET && meta.target() != TRACE_TARGET
        }))
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")));
    // A second init (only possible in tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(records)
        .with(logs)
        .with(traces)
        .try_init();
    if let Some(config) = telemetry {
        tracing::info!(
            "traces go to {} as service `{}`",
            config.traces_url,
            config.service_name
        );
    }
    Ok(tracing)
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
