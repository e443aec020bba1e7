//! A standalone mock upstream for load benchmarks and manual trials: serves the default reply
//! (`"reply from MODEL"`) for every model on the given address until Ctrl-C.
//!
//! Usage: `routewise-mock-upstream [ADDR]` (default `127.0.0.1:8000`).

use routewise_testkit::MockUpstream;
use std::net::SocketAddr;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8000".to_owned());
    let addr: SocketAddr = match addr.parse() {
        Ok(addr) => addr,
        Err(err) => {
            eprintln!("routewise-mock-upstream: `{addr}` is not a socket address: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mock = match MockUpstream::start_on(addr, false).await {
        Ok(mock) => mock,
        Err(err) => {
            eprintln!("routewise-mock-upstream: cannot listen on {addr}: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("mock upstream listening on {}", mock.base_url());
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
