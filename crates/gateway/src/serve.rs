//! Serving connections and graceful shutdown.
//!
//! The accept loop is routewise's own (over hyper's HTTP/1 connection type) rather than
//! `axum::serve`, because a gateway facing the internet needs limits that it does not offer:
//!
//! - at most `[server] max_connections` connections at once: past that, new connections wait
//!   in the listen backlog until one closes;
//! - a connection must send a request's headers within `header_read_timeout_secs`, counted from
//!   when it opens or its previous response ends, so a client that trickles headers, or holds
//!   an idle keep-alive connection, is cut off (the body has its own limit, in the pipeline);
//! - on shutdown, in-flight requests and streams may finish for `shutdown_grace_secs`; then the
//!   remaining connections are dropped and awaited, so that every request they carried is
//!   accounted before `run` returns (a stream cut at the deadline is logged as
//!   `client_disconnected` with what it delivered).

use crate::{Gateway, metrics};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use routewise_config::server::ServerConfig;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// Serves `gateway` on `listener` until `shutdown` resolves, then drains for at most
/// `[server] shutdown_grace_secs`. Connection limits are read from the config in force at
/// start: changing them takes a restart.
pub async fn run(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let server = gateway.runtime().config.server.clone();
    let app = TowerToHyperService::new(gateway.app());
    let slots = Arc::new(Semaphore::new(server.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    // Histogram samples accumulate until folded in; without upkeep between scrapes, memory
    // grows with traffic.
    let upkeep = tokio::spawn(async {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            if let Some(handle) = metrics::handle() {
                handle.run_upkeep();
            }
        }
    });
    let alerts = tokio::spawn(crate::alerts::tick(gateway.clone()));
    let budgets = tokio::spawn(crate::budget_sync::tick(gateway.downgrade()));
    let mut shutdown = pin!(shutdown);
    loop {
        // Reap finished connections as we go, so the set stays the size of what is open.
        while connections.try_join_next().is_some() {}
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                metrics::connections_at_limit();
                tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => slot.map_err(io::Error::other)?,
                    () = &mut shutdown => break,
                }
            }
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A connection that failed before it was accepted (reset, fd limit): keep going,
                // after a breath so that an exhausted fd table does not spin the loop.
                Err(err) => {
                    tracing::warn!("accepting a connection failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = serve_connection(stream, app.clone(), &server, stop_rx.clone());
        connections.spawn(async move {
            connection.await;
            drop(slot);
        });
    }
    drain(&gateway, &mut connections, stop_tx).await;
    upkeep.abort();
    alerts.abort();
    budgets.abort();
    Ok(())
}

/// One connection: HTTP/1 with keep-alive, TCP_NODELAY and the header deadline; it closes
/// gracefully (after its in-flight request) once `stop` is set.
fn serve_connection(
    stream: TcpStream,
    app: TowerToHyperService<axum::Router>,
    server: &ServerConfig,
    mut stop: watch::Receiver<bool>,
) -> impl Future<Output = ()> + Send + 'static {
    // Without TCP_NODELAY small responses wait for delayed ACKs (~40 ms each).
    let _ = stream.set_nodelay(true);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(server.header_read_timeout)
        .keep_alive(server.keep_alive)
        // Above routewise's own header limit, so that the OpenAI-shaped 431 is what clients
        // meet, not hyper's empty one.
        .max_buf_size(server.max_header_bytes.saturating_mul(2).max(64 * 1024))
        .max_headers(server.max_headers.saturating_mul(2));
    let connection = builder.serve_connection(TokioIo::new(stream), app);
    async move {
        metrics::connection_opened();
        let mut connection = pin!(connection);
        let stopped = async move {
            // The guard `wait_for` returns must not live across an await.
            let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
        };
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = stopped => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        let reason = match &result {
            Ok(()) => "closed",
            Err(err) if err.is_timeout() => "header_timeout",
            Err(_) => "error",
        };
        metrics::connection_closed(reason);
    }
}

/// Lets in-flight requests finish within the grace period, then drops what is left and waits
/// until it is gone (its requests accounted).
async fn drain(gateway: &Gateway, connections: &mut JoinSet<()>, stop: watch::Sender<bool>) {
    gateway.start_draining();
    let grace = gateway.runtime().config.server.shutdown_grace;
    tracing::info!(
        "shutting down: draining {} connection(s) for up to {grace:?}",
        connections.len()
    );
    let _ = stop.send(true);
    let finished = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            "drain deadline of {grace:?} passed; closing {} remaining connection(s)",
            connections.len()
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}
