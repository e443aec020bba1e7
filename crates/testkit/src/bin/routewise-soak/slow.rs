//! Slow clients: a connection that sends half its headers and stalls, or all its headers and a
//! part of its body and stalls. The server must cut each off (close it, or answer 408) within its
//! read timeout; one it leaves open past `give_up` is a held file descriptor, an unclean outcome.

use crate::outcome::Outcome;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How a slow client stalls.
#[derive(Debug, Clone, Copy)]
pub enum Stall {
    /// Unfinished headers.
    Headers,
    /// Headers whole, the body a tenth sent.
    Body,
}

/// Opens one slow connection to `target` and waits (at most `give_up`) for the server to end it.
pub async fn slow_client(target: SocketAddr, stall: Stall, give_up: Duration) -> Outcome {
    let Ok(mut stream) = TcpStream::connect(target).await else {
        return Outcome::Unclean("slow client could not connect".to_owned());
    };
    let body =
        r#"{"model":"auto","messages":[{"role":"user","content":"a slow body that never ends"}]}"#;
    let opening = match stall {
        Stall::Headers => {
            "POST /v1/chat/completions HTTP/1.1\r\nhost: soak\r\ncontent-type: app".to_owned()
        }
        Stall::Body => format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: soak\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
            body.len() * 10,
            body
        ),
    };
    if stream.write_all(opening.as_bytes()).await.is_err() {
        return Outcome::Unclean("slow client could not write".to_owned());
    }
    let mut answer = Vec::new();
    match tokio::time::timeout(give_up, stream.read_to_end(&mut answer)).await {
        // Closed by the server, with or without a 408 first.
        Ok(Ok(_)) | Ok(Err(_)) => {
            let text = String::from_utf8_lossy(&answer);
            if text.is_empty() || text.starts_with("HTTP/1.1 408") {
                Outcome::SlowCutOff
            } else {
                let status = text.lines().next().unwrap_or_default().to_owned();
                Outcome::Unclean(format!("slow client got `{status}` instead of a cut-off"))
            }
        }
        Err(_) => Outcome::Unclean(format!(
            "a slow client was still open after {}s",
            give_up.as_secs()
        )),
    }
}
