//! A TCP proxy that a test can cut and restore, to take a dependency (Redis, PostgreSQL) out of
//! reach mid-test without stopping the server every other test shares.
//!
//! Cut: every open connection through it is closed and new ones are closed as soon as they
//! are accepted (the client sees a reset, as when a server goes away). Restored: connections
//! pass again.

use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A proxy on `127.0.0.1:0` in front of one address.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (cut, watching) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(listener, target, watching));
        Ok(Self { addr, cut, accept })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        let _ = self.cut.send(true);
    }

    pub fn restore(&self) {
        let _ = self.cut.send(false);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        let _ = self.cut.send(true);
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, cut: watch::Receiver<bool>) {
    while let Ok((client, _)) = listener.accept().await {
        if *cut.borrow() {
            drop(client);
            continue;
        }
        tokio::spawn(pipe(client, target, cut.clone()));
    }
}

async fn pipe(mut client: TcpStream, target: SocketAddr, mut cut: watch::Receiver<bool>) {
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}
