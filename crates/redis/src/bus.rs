//! Memory changes carried between replicas over Redis pub/sub (channel `PREFIX:memory`): a
//! rating or an upgrade made on one replica is applied on every other within milliseconds.
//!
//! Pub/sub delivers only to replicas listening at the time. A replica whose subscription
//! broke, or that could not publish for a while, may have missed changes (or kept its own from
//! the others), so: a replica that subscribes again rebuilds memory from the store, and a
//! replica whose Redis recovers asks every replica to do so (a `resync` message). The store
//! holds every upgrade and rating, so nothing is lost for longer than the outage.

use crate::client::Redis;
use futures::StreamExt;
use redis::AsyncCommands;
use routewise_core::memory::{Fingerprint, Rating, Upgrade};
use routewise_gateway::shared::{MemoryBus, MemoryChange, MemorySink};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How long a broken subscription waits before it tries again.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);

/// A message on the channel.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Message {
    /// The replica that sent it (it ignores its own).
    from: String,
    #[serde(flatten)]
    body: Body,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Body {
    Rated {
        fingerprint: String,
        request: String,
        model: String,
        score: f64,
    },
    Upgraded {
        fingerprint: String,
        rated_request: String,
        rated_model: String,
        min_tier: usize,
        created_unix_ms: u64,
        expires_unix_ms: u64,
    },
    Released {
        rated_request: String,
    },
    /// Everyone rebuilds memory from the store.
    Resync,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Body {
    fn of(change: MemoryChange) -> Self {
        match change {
            MemoryChange::Rated {
                fingerprint,
                rating,
            } => Body::Rated {
                fingerprint: hex(&fingerprint.to_bytes()),
                request: rating.request,
                model: rating.model,
                score: rating.score,
            },
            MemoryChange::Upgraded {
                fingerprint,
                upgrade,
            } => Body::Upgraded {
                fingerprint: hex(&fingerprint.to_bytes()),
                rated_request: upgrade.rated_request,
                rated_model: upgrade.rated_model,
                min_tier: upgrade.min_tier,
                created_unix_ms: upgrade.created_unix_ms,
                expires_unix_ms: upgrade.expires_unix_ms,
            },
            MemoryChange::Released { rated_request } => Body::Released { rated_request },
        }
    }

    /// The change, or `None` for a resync or a message that does not decode.
    fn change(self) -> Option<MemoryChange> {
        let fingerprint = |text: &str| unhex(text).and_then(|b| Fingerprint::from_bytes(&b));
        Some(match self {
            Body::Rated {
                fingerprint: f,
                request,
                model,
                score,
            } => MemoryChange::Rated {
                fingerprint: fingerprint(&f)?,
                rating: Rating {
                    request,
                    model,
                    score,
                },
            },
            Body::Upgraded {
                fingerprint: f,
                rated_request,
                rated_model,
                min_tier,
                created_unix_ms,
                expires_unix_ms,
            } => MemoryChange::Upgraded {
                fingerprint: fingerprint(&f)?,
                upgrade: Upgrade {
                    rated_request,
                    rated_model,
                    min_tier,
                    created_unix_ms,
                    expires_unix_ms,
                },
            },
            Body::Released { rated_request } => MemoryChange::Released { rated_request },
            Body::Resync => return None,
        })
    }
}

/// The memory bus over Redis.
#[derive(Debug, Clone)]
pub struct RedisBus(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    redis: Arc<Redis>,
    channel: String,
    replica: String,
}

impl RedisBus {
    pub fn new(redis: Arc<Redis>) -> Self {
        let channel = redis.key("memory");
        Self(Arc::new(Inner {
            redis,
            channel,
            replica: uuid::Uuid::now_v7().to_string(),
        }))
    }
}

impl Inner {
    async fn send(&self, body: Body) {
        let message = Message {
            from: self.replica.clone(),
            body,
        };
        let Ok(text) = serde_json::to_string(&message) else {
            return;
        };
        let channel = self.channel.clone();
        let _ = self
            .redis
            .call("publish", |mut connection| async move {
                connection.publish::<_, _, i64>(channel, text).await
            })
            .await;
    }
}

impl MemoryBus for RedisBus {
    fn publish(&self, change: MemoryChange) {
        let inner = Arc::clone(&self.0);
        tokio::spawn(async move { inner.send(Body::of(change)).await });
    }

    fn subscribe(&self, sink: Arc<dyn MemorySink>) {
        tokio::spawn(listen(Arc::downgrade(&self.0), Arc::clone(&sink)));
        tokio::spawn(ask_for_resync(Arc::downgrade(&self.0)));
    }
}

/// Applies the other replicas' messages, subscribing again whenever the subscription breaks
/// (and then resynchronising). Ends when the bus is dropped.
async fn listen(bus: Weak<Inner>, sink: Arc<dyn MemorySink>) {
    let mut first = true;
    loop {
        let Some(inner) = bus.upgrade() else {
            return;
        };
        let Some(pubsub) = inner.redis.subscribe(&inner.channel).await else {
            drop(inner);
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
            first = false;
            continue;
        };
        if !first {
            sink.resync().await;
        }
        first = false;
        let replica = inner.replica.clone();
        drop(inner);
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            if bus.strong_count() == 0 {
                return;
            }
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            let Ok(message) = serde_json::from_str::<Message>(&payload) else {
                tracing::debug!("ignoring a memory message that does not decode");
                continue;
            };
            if message.from == replica {
                continue;
            }
            match message.body {
                Body::Resync => sink.resync().await,
                body => {
                    if let Some(change) = body.change() {
                        sink.apply(change);
                    }
                }
            }
        }
        // The connection closed: Redis restarted or the network broke.
        if let Some(inner) = bus.upgrade() {
            inner
                .redis
                .failed("subscribe", "the subscription connection closed");
        }
        tokio::time::sleep(RESUBSCRIBE_AFTER).await;
    }
}

/// Whenever this replica's Redis recovers, asks every replica to resynchronise: what this one
/// could not publish meanwhile is in the store.
async fn ask_for_resync(bus: Weak<Inner>) {
    loop {
        let Some(inner) = bus.upgrade() else {
            return;
        };
        let redis = Arc::clone(&inner.redis);
        drop(inner);
        redis.recovered().await;
        if let Some(inner) = bus.upgrade() {
            inner.send(Body::Resync).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_through_messages() {
        let fingerprint = Fingerprint::of("what is the capital of france");
        let changes = [
            MemoryChange::Rated {
                fingerprint,
                rating: Rating {
                    request: "r1".into(),
                    model: "small".into(),
                    score: 0.25,
                },
            },
            MemoryChange::Upgraded {
                fingerprint,
                upgrade: Upgrade {
                    rated_request: "r1".into(),
                    rated_model: "small".into(),
                    min_tier: 1,
                    created_unix_ms: 5,
                    expires_unix_ms: 10,
                },
            },
            MemoryChange::Released {
                rated_request: "r1".into(),
            },
        ];
        for change in changes {
            let message = Message {
                from: "a".into(),
                body: Body::of(change.clone()),
            };
            let text = serde_json::to_string(&message).unwrap();
            let back: Message = serde_json::from_str(&text).unwrap();
            assert_eq!(back.body.change(), Some(change));
        }
    }

    #[test]
    fn a_bad_fingerprint_is_dropped_not_applied() {
        for bad in ["zz", "abc", ""] {
            let body = Body::Rated {
                fingerprint: bad.into(),
                request: "r".into(),
                model: "m".into(),
                score: 1.0,
            };
            assert_eq!(body.change(), None);
        }
    }
}
