//! routewise-soak: a long run at a fixed rate against a running gateway, judging every request
//! from the client's side and watching what the server process holds.
//!
//! First a burst of slow connections (unfinished headers) that the server must cut off, with the
//! file descriptors it holds before, during and after. Then `--duration` at `--rate` requests a
//! second: chat completions (a share streamed) and a share of slow clients. Every request must end
//! answered or cleanly failed (an OpenAI-shaped error, a stream error event, a slow client cut
//! off); resident memory must stay within `--rss-band` of its level after `--warmup`; and once
//! the load stops, the file descriptors must come back to where they started. Prints a table a
//! row per `--sample`, then the verdict; exits 1 when any check fails. bench/soak.sh runs it
//! against the mock upstream with a fault mix.

mod outcome;
mod process;
mod slow;
mod tally;

use clap::Parser;
use outcome::{Outcome, judge};
use process::held;
use serde_json::json;
use slow::{Stall, slow_client};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally::{Report, Tally};
use tokio::sync::{Semaphore, mpsc};

#[derive(Debug, Parser)]
#[command(about = "Soak a running routewise gateway at a fixed rate and judge every request")]
struct Args {
    /// The gateway's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    target: SocketAddr,
    /// The gateway's process id, to read its memory and file descriptors.
    #[arg(long)]
    pid: u32,
    /// Requests a second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// How long the load lasts.
    #[arg(long, default_value = "20m", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Memory before this is warm-up; after it, it must stay flat.
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// A table row this often.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    sample: Duration,
    /// Share of chat requests that ask for a stream.
    #[arg(long, default_value_t = 0.5)]
    stream_share: f64,
    /// Share of requests that are slow clients.
    #[arg(long, default_value_t = 0.01)]
    slow_share: f64,
    /// Slow connections opened at once before the load (0 for none).
    #[arg(long, default_value_t = 2000)]
    slow_burst: usize,
    /// A slow client still open after this is a failure (above the server's read timeouts).
    #[arg(long, default_value = "45s", value_parser = humantime::parse_duration)]
    give_up: Duration,
    /// After the load, wait at most this long for the file descriptors to come back (above the
    /// upstream pool's idle timeout).
    #[arg(long, default_value = "150s", value_parser = humantime::parse_duration)]
    settle: Duration,
    /// How far (percent) resident memory may move after warm-up.
    #[arg(long, default_value_t = 10.0)]
    rss_band: f64,
    /// A client key to send as a bearer token.
    #[arg(long, env = "ROUTEWISE_SOAK_KEY")]
    key: Option<String>,
}

/// What a request was, for its result.
type Finished = (Outcome, Option<Duration>);

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let Some(baseline) = held(args.pid) else {
        eprintln!("routewise-soak: no process {} to watch", args.pid);
        return ExitCode::FAILURE;
    };
    println!(
        "baseline: RSS {:.1} MB, {} fds",
        mib(baseline.rss_kib),
        baseline.fds
    );
    let mut report = Report::new(baseline, args.rss_band);
    if args.slow_burst > 0 {
        burst(&args, &mut report).await;
    }
    load(&args, &mut report).await;
    settle(&args, &mut report).await;
    report.print();
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Opens `--slow-burst` stalled connections at once and waits until the server has cut them all.
async fn burst(args: &Args, report: &mut Report) {
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.slow_burst);
    for _ in 0..args.slow_burst {
        let target = args.target;
        let give_up = args.give_up;
        tasks.push(tokio::spawn(async move {
            slow_client(target, Stall::Headers, give_up).await
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open = held(args.pid);
    let mut tally = Tally::default();
    for task in tasks {
        let outcome = task
            .await
            .unwrap_or_else(|err| Outcome::Unclean(format!("slow client task: {err}")));
        tally.add(outcome, None);
    }
    let after = held(args.pid);
    println!(
        "burst of {} slow connections: {} fds while open, {} after {:.0}s; {}",
        args.slow_burst,
        open.map_or(0, |h| h.fds),
        after.map_or(0, |h| h.fds),
        started.elapsed().as_secs_f64(),
        tally.summary()
    );
    report.burst(tally, open, after);
}

/// The load itself: a tick per request, a row per sample.
async fn load(args: &Args, report: &mut Report) {
    let client = match client(args) {
        Ok(client) => client,
        Err(err) => {
            report.fail(format!("cannot build the HTTP client: {err}"));
            return;
        }
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
    let in_flight = Arc::new(Semaphore::new(20_000));
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / args.rate.max(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut samples = tokio::time::interval(args.sample);
    samples.tick().await;
    let started = Instant::now();
    let mut window = Tally::default();
    let mut n: u64 = 0;
    Report::print_header();
    while started.elapsed() < args.duration {
        tokio::select! {
            _ = ticks.tick() => {
                let Ok(permit) = Arc::clone(&in_flight).try_acquire_owned() else {
                    window.add(Outcome::Unclean("20,000 requests in flight".to_owned()), None);
                    continue;
                };
                let done = done_tx.clone();
                let request = Request::nth(n, args);
                let (client, target, give_up) = (client.clone(), args.target, args.give_up);
                n += 1;
                tokio::spawn(async move {
                    let finished = request.send(&client, target, give_up).await;
                    let _ = done.send(finished);
                    drop(permit);
                });
            }
            Some((outcome, latency)) = done_rx.recv() => window.add(outcome, latency),
            _ = samples.tick() => {
                report.row(started.elapsed(), std::mem::take(&mut window), held(args.pid), started.elapsed() >= args.warmup);
            }
        }
    }
    drop(done_tx);
    // The requests still in flight end within their timeouts.
    while let Some((outcome, latency)) = done_rx.recv().await {
        window.add(outcome, latency);
    }
    report.row(started.elapsed(), window, held(args.pid), true);
}

/// After the load: waits for the file descriptors to come back to the baseline.
async fn settle(args: &Args, report: &mut Report) {
    let started = Instant::now();
    let mut last = held(args.pid);
    while started.elapsed() < args.settle {
        if last.is_some_and(|h| h.fds <= report.baseline().fds) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        last = held(args.pid);
    }
    report.settled(last, started.elapsed());
}

fn client(args: &Args) -> Result<reqwest::Client, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = &args.key {
        let value = format!("Bearer {key}")
            .parse()
            .map_err(|_| "the client key has characters a header cannot carry".to_owned())?;
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|err| err.to_string())
}

/// One request of the mix.
#[derive(Debug)]
enum Request {
    Chat { prompt: String, streamed: bool },
    Slow(Stall),
}

/// Prompts of both kinds the default rules tell apart (short and plain, long and reasoning).
const PROMPTS: [&str; 4] = [
    "What is the capital of Portugal?",
    "Translate 'good morning' into French.",
    "Prove step by step that the square root of two is irrational, then explain why the proof works.",
    "Analyse the trade-offs between optimistic and pessimistic locking for a write-heavy database.",
];

impl Request {
    /// The `n`th request: slow clients and streams spread evenly at their shares.
    fn nth(n: u64, args: &Args) -> Self {
        if steps_up(n, args.slow_share) {
            let stall = if n.is_multiple_of(2) {
                Stall::Headers
            } else {
                Stall::Body
            };
            return Self::Slow(stall);
        }
        let prompt = format!(
            "{} (request {n})",
            PROMPTS[(n % PROMPTS.len() as u64) as usize]
        );
        Self::Chat {
            prompt,
            streamed: steps_up(n, args.stream_share),
        }
    }

    async fn send(
        self,
        client: &reqwest::Client,
        target: SocketAddr,
        give_up: Duration,
    ) -> Finished {
        match self {
            Self::Slow(stall) => (slow_client(target, stall, give_up).await, None),
            Self::Chat { prompt, streamed } => {
                let started = Instant::now();
                let body = json!({"model": "auto", "stream": streamed,
                    "messages": [{"role": "user", "content": prompt}]});
                let outcome = match client
                    .post(format!("http://{target}/v1/chat/completions"))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(response) => judge(response, streamed).await,
                    Err(err) => Outcome::Unclean(format!("no response: {}", error_kind(&err))),
                };
                let latency = (outcome == Outcome::Answered).then(|| started.elapsed());
                (outcome, latency)
            }
        }
    }
}

fn error_kind(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timed out after 60s"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    }
}

/// Whether the running count `floor(n * share)` steps up at `n`: spreads a share evenly.
fn steps_up(n: u64, share: f64) -> bool {
    ((n + 1) as f64 * share).floor() > (n as f64 * share).floor()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
