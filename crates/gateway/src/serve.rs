//! Serving and graceful shutdown: stop accepting, let in-flight requests and streams finish
//! within the configured grace period, then return.

use crate::Gateway;
use axum::serve::ListenerExt;
use std::future::Future;
use std::io;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `gateway` on `listener` until `shutdown` resolves, then drains for at most
/// `[server] shutdown_grace_secs`. Returns `Ok` whether the drain finished or timed out.
pub async fn run(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        // Without TCP_NODELAY small responses wait for delayed ACKs (~40 ms each).
        let _ = tcp.set_nodelay(true);
    });
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let app = gateway.app();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    });
    let mut server = tokio::spawn(async move { server.await });
    // Histogram samples accumulate until folded in; without upkeep between scrapes, memory
    // grows with traffic.
    let upkeep = tokio::spawn(async {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            if let Some(handle) = crate::metrics::handle() {
                handle.run_upkeep();
            }
        }
    });
    let result = serve_until(&gateway, &mut server, stop_tx, shutdown).await;
    upkeep.abort();
    result
}

async fn serve_until(
    gateway: &Gateway,
    server: &mut tokio::task::JoinHandle<io::Result<()>>,
    stop_tx: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    tokio::select! {
        result = &mut *server => return flatten(result),
        () = shutdown => {}
    }
    gateway.start_draining();
    let grace = gateway.runtime().config.server.shutdown_grace;
    tracing::info!("shutting down: draining in-flight requests for up to {grace:?}");
    let _ = stop_tx.send(true);
    match tokio::time::timeout(grace, &mut *server).await {
        Ok(result) => flatten(result),
        Err(_) => {
            tracing::warn!("drain deadline of {grace:?} passed; closing remaining connections");
            server.abort();
            Ok(())
        }
    }
}

fn flatten(result: Result<io::Result<()>, tokio::task::JoinError>) -> io::Result<()> {
    result.map_err(io::Error::other)?
}
