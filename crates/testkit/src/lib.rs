//! routewise-testkit: an in-process mock of the upstreams routewise calls.
//!
//! [`MockUpstream::start`] binds `127.0.0.1:0` and serves, on one port, the OpenAI chat
//! completions API (`POST /v1/chat/completions`) and Anthropic's Messages API
//! (`POST /v1/messages`). Each model answers from its own queue of scripted [`Reply`]s
//! (text, SSE with chunk delays, delays before headers, HTTP errors with `Retry-After`, garbage
//! bodies, dropped connections); an empty queue gives the default reply `"reply from MODEL"`.
//! Every call is recorded in a log that tests read with [`MockUpstream::calls`].
//! [`FaultMix`] makes a steady share of the unscripted calls fail (500s, cut answers) for soaks.
//! [`TcpProxy`] stands between a client and a server (Redis, PostgreSQL) so that a test can cut
//! the connection and restore it. Delays use `tokio::time`, so tests under paused time run instantly and deterministically.

mod faults;
mod proxy;
mod reply;
mod server;
mod wire;

pub use faults::{FaultMix, FaultMixError};
pub use proxy::TcpProxy;
pub use reply::{Reply, ReplyKind};
pub use server::{Call, MockUpstream};
