//! A standalone mock upstream for load benchmarks, soaks and manual trials: serves the default
//! reply (`"reply from MODEL"`) for every model on the given address until Ctrl-C, failing a
//! steady share of calls when given a fault mix.
//!
//! Usage: `routewise-mock-upstream [ADDR] [--faults 5xx=5%,cut=1%]` (default `127.0.0.1:8000`,
//! no faults).

use routewise_testkit::{FaultMix, MockUpstream};
use std::net::SocketAddr;
use std::process::ExitCode;

struct Args {
    addr: SocketAddr,
    faults: FaultMix,
}

fn parse_args() -> Result<Args, String> {
    let mut addr = "127.0.0.1:8000".to_owned();
    let mut faults = FaultMix::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--faults" {
            let spec = args
                .next()
                .ok_or("--faults needs a mix, for example 5xx=5%,cut=1%")?;
            faults = FaultMix::parse(&spec).map_err(|err| format!("--faults {spec}: {err}"))?;
        } else if arg.starts_with('-') {
            return Err(format!(
                "unknown option `{arg}`; usage: [ADDR] [--faults MIX]"
            ));
        } else {
            addr = arg;
        }
    }
    let addr = addr
        .parse()
        .map_err(|err| format!("`{addr}` is not a socket address: {err}"))?;
    Ok(Args { addr, faults })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(err) => {
            eprintln!("routewise-mock-upstream: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mock = match MockUpstream::start_with(args.addr, false, args.faults).await {
        Ok(mock) => mock,
        Err(err) => {
            eprintln!(
                "routewise-mock-upstream: cannot listen on {}: {err}",
                args.addr
            );
            return ExitCode::FAILURE;
        }
    };
    println!("mock upstream listening on {}", mock.base_url());
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
