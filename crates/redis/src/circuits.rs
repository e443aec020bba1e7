//! Circuit breakers that every replica shares: a model's failures through any replica count
//! towards opening its circuit, an open circuit is routed around by all, and when it has
//! cooled down exactly one replica's call probes it (a lease in Redis, so a probing replica
//! that dies does not hold the circuit half-open for ever). Two Lua scripts keep each step
//! atomic; they read Redis's clock.
//!
//! Every verdict is also recorded in this replica's own circuits, so that while Redis is out
//! of reach the replica routes by what it has seen itself.

use crate::client::Redis;
use futures::StreamExt;
use futures::future::BoxFuture;
use redis::AsyncCommands;
use routewise_gateway::shared::{
    Admission, CircuitBreaker, CircuitSettings, LocalCircuits, Verdict,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

/// How long a probe may take before another replica may probe instead.
const PROBE_LEASE: Duration = Duration::from_secs(30);

/// How soon a replica that meets a probe in flight looks again (as in process).
const PROBE_WAIT_MS: i64 = 1000;

/// A busy model's successes reset its shared failure count at most this often per replica.
const RESET_EVERY: Duration = Duration::from_millis(100);

/// How often an idle listener checks whether its circuits are still in use.
const LISTEN_CHECK: Duration = Duration::from_secs(1);

/// How long a broken subscription waits before it tries again.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);

/// How long failures that did not open a circuit are remembered.
const FAILURES_KEPT_MS: u64 = 600_000;

/// KEYS[1]: the circuit, KEYS[2]: the set of open circuits. ARGV: probe lease (ms), how soon
/// to look again while another replica probes (ms), the model. Returns {0, 0} allowed, {1, 0}
/// probe, {2, retry in ms} rejected. A circuit that expired while open leaves the set here.
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if open_until == 0 then
  redis.call('SREM', KEYS[2], ARGV[3])
  return {0, 0}
end
if now < open_until then return {2, open_until - now} end
local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
if now < probe_until then return {2, tonumber(ARGV[2])} end
redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) + 60000)
return {1, 0}
";

/// KEYS[1]: the circuit, KEYS[2]: the set of open circuits. ARGV: verdict (`success`, `reset`,
/// `failure`, `abandoned`), threshold, cooldown (ms), how long failures are kept (ms), the
/// channel, the model. Returns 1 when this opened the circuit, 2 when it is open (or probing)
/// already, else 0. `reset` is a success that cannot close an open circuit: sent late
/// (coalesced), it must not undo an opening that came after it. Opening and closing are
/// published on the channel and kept in the set, which a replica reads when it subscribes.
const RECORD: &str = r"
local verdict = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
if verdict == 'reset' then
  if open_until > 0 then return 2 end
  redis.call('DEL', KEYS[1])
  return 0
end
if verdict == 'success' then
  redis.call('DEL', KEYS[1])
  if open_until > 0 then
    redis.call('SREM', KEYS[2], ARGV[6])
    redis.call('PUBLISH', ARGV[5], 'closed ' .. ARGV[6])
  end
  return 0
end
if verdict == 'abandoned' then
  if probe_until > 0 then redis.call('HSET', KEYS[1], 'probe_until', 0) end
  return 0
end
local cooldown = tonumber(ARGV[3])
if open_until > 0 and now < open_until then return 2 end
if open_until > 0 or tonumber(redis.call('HINCRBY', KEYS[1], 'failures', 1)) >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'open_until', now + cooldown, 'probe_until', 0, 'failures', 0)
  redis.call('PEXPIRE', KEYS[1], cooldown + tonumber(ARGV[4]))
  redis.call('SADD', KEYS[2], ARGV[6])
  redis.call('PUBLISH', ARGV[5], 'open ' .. ARGV[6])
  return 1
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return 0
";

/// Circuits kept in Redis, mirrored in this replica.
#[derive(Debug, Clone)]
pub struct RedisCircuits(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    redis: Arc<Redis>,
    admit: redis::Script,
    record: redis::Script,
    local: LocalCircuits,
    /// Where openings and closings are announced.
    channel: String,
    /// The set of open circuits' models.
    open_set: String,
    view: SharedView,
    /// When each model's last coalesced `reset` went out.
    resets: Mutex<HashMap<String, Instant>>,
}

impl RedisCircuits {
    /// Circuits over `redis`; starts listening for other replicas' openings. Call within a
    /// Tokio runtime.
    pub fn new(redis: Arc<Redis>) -> Self {
        let channel = redis.key("circuits");
        let open_set = redis.key("circuits:open");
        let circuits = Self(Arc::new(Inner {
            redis,
            admit: redis::Script::new(ADMIT),
            record: redis::Script::new(RECORD),
            local: LocalCircuits::default(),
            channel,
            open_set,
            view: SharedView::default(),
            resets: Mutex::default(),
        }));
        tokio::spawn(listen(Arc::downgrade(&circuits.0)));
        circuits
    }

    /// Whether this replica knows `model`'s shared circuit to be open (for tests).
    pub fn seen_open(&self, model: &str) -> bool {
        self.0.view.is_suspect(model)
    }
}

impl Inner {
    fn key(&self, model: &str) -> String {
        self.redis.key(&format!("circuit:{model}"))
    }

    async fn record_shared(&self, model: &str, verdict: &'static str, settings: CircuitSettings) {
        let key = self.key(model);
        let cooldown_ms = u64::try_from(settings.cooldown.as_millis()).unwrap_or(u64::MAX);
        let script = &self.record;
        let channel = self.channel.clone();
        let open_set = self.open_set.clone();
        let outcome = self
            .redis
            .call("circuit_record", |mut connection| async move {
                script
                    .key(key)
                    .key(open_set)
                    .arg(verdict)
                    .arg(settings.threshold)
                    .arg(cooldown_ms)
                    .arg(FAILURES_KEPT_MS)
                    .arg(channel)
                    .arg(model)
                    .invoke_async::<i64>(&mut connection)
                    .await
            })
            .await;
        match outcome {
            Some(1) => {
                self.view.suspect(model);
                tracing::warn!(
                    "circuit for `{model}` opened for every replica for {:?}",
                    settings.cooldown
                );
            }
            Some(2) => self.view.suspect(model),
            Some(_) if verdict == "success" => self.view.clear(model),
            _ => {}
        }
    }

    /// Whether a success on `model` is due to reset its shared failure count now: at most once
    /// per [`RESET_EVERY`] per model, so a busy model costs Redis a few calls a second.
    fn reset_due(&self, model: &str, now: Instant) -> bool {
        let mut resets = self.resets.lock().unwrap_or_else(PoisonError::into_inner);
        match resets.get_mut(model) {
            Some(last) if now.saturating_duration_since(*last) < RESET_EVERY => false,
            Some(last) => {
                *last = now;
                true
            }
            None => {
                resets.insert(model.to_owned(), now);
                true
            }
        }
    }

    /// Asks Redis whether `model` may be called (its circuit is or was open).
    async fn admit_shared(&self, model: &str) -> Option<Admission> {
        let key = self.key(model);
        let lease_ms = u64::try_from(PROBE_LEASE.as_millis()).unwrap_or(u64::MAX);
        let script = &self.admit;
        let open_set = self.open_set.clone();
        let shared = self
            .redis
            .call("circuit_admit", |mut connection| async move {
                script
                    .key(key)
                    .key(open_set)
                    .arg(lease_ms)
                    .arg(PROBE_WAIT_MS)
                    .arg(model)
                    .invoke_async::<(i64, i64)>(&mut connection)
                    .await
            })
            .await?;
        Some(match shared {
            (0, _) => {
                self.view.clear(model);
                Admission::Allowed
            }
            (1, _) => Admission::Probe,
            (_, retry_ms) => {
                let retry_in = Duration::from_millis(u64::try_from(retry_ms).unwrap_or(0));
                self.view.reject_until(model, Instant::now() + retry_in);
                Admission::Rejected { retry_in }
            }
        })
    }
}

impl CircuitBreaker for RedisCircuits {
    fn admit<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Admission> {
        Box::pin(async move {
            let inner = &self.0;
            if inner.redis.is_degraded() {
                return inner.local.admit(model).await;
            }
            // Local first: a circuit no replica has reported open is admitted without asking.
            match inner.view.seen(model, Instant::now()) {
                Seen::Closed => return Admission::Allowed,
                Seen::Refused(admission) => return admission,
                Seen::Open => {}
            }
            match inner.admit_shared(model).await {
                Some(admission) => admission,
                None => inner.local.admit(model).await,
            }
        })
    }

    fn record(&self, model: &str, verdict: Verdict, settings: CircuitSettings) {
        // The mirror learns every verdict except a probe's own (the probe was Redis's).
        self.0.local.record(model, verdict, settings);
        if self.0.redis.is_degraded() {
            return;
        }
        let suspect = self.0.view.is_suspect(model);
        let verdict = match verdict {
            Verdict::Failure => {
                // The next success resets the count at once: failures stay consecutive.
                self.0
                    .resets
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(model);
                "failure"
            }
            // A call on a circuit seen open (a probe, or one admitted before it opened) closes it.
            Verdict::Success if suspect => "success",
            Verdict::Success if self.0.reset_due(model, Instant::now()) => "reset",
            Verdict::Abandoned if suspect => "abandoned",
            Verdict::Success | Verdict::Abandoned => return,
        };
        let inner = Arc::clone(&self.0);
        let model = model.to_owned();
        tokio::spawn(async move { inner.record_shared(&model, verdict, settings).await });
    }

    fn is_open(&self, model: &str) -> bool {
        self.0.local.is_open(model)
    }
}

/// Models whose shared circuit this replica has seen open, from the channel, from its own
/// calls and from Redis's answers; with, while Redis last said so, until when they are refused.
#[derive(Debug, Default)]
struct SharedView(RwLock<HashMap<String, Option<Instant>>>);

impl SharedView {
    fn suspect(&self, model: &str) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(model.to_owned())
            .or_insert(None);
    }

    fn reject_until(&self, model: &str, until: Instant) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(model.to_owned(), Some(until));
    }

    fn clear(&self, model: &str) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(model);
    }

    fn replace(&self, open: impl IntoIterator<Item = String>) {
        let mut view = self.0.write().unwrap_or_else(PoisonError::into_inner);
        view.clear();
        view.extend(open.into_iter().map(|model| (model, None)));
    }

    fn is_suspect(&self, model: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(model)
    }

    /// What this replica knows of `model`'s circuit at `now`, in one look.
    fn seen(&self, model: &str, now: Instant) -> Seen {
        let view = self.0.read().unwrap_or_else(PoisonError::into_inner);
        match view.get(model) {
            None => Seen::Closed,
            Some(Some(until)) if now < *until => Seen::Refused(Admission::Rejected {
                retry_in: *until - now,
            }),
            Some(_) => Seen::Open,
        }
    }
}

/// A circuit as one replica knows it.
enum Seen {
    /// No replica has reported it open: admit without asking Redis.
    Closed,
    /// Redis refused it, and the time it gave has not passed: refuse without asking.
    Refused(Admission),
    /// Open (or was): ask Redis.
    Open,
}

/// The models whose circuit Redis holds open or probing now (a circuit that expired while
/// open may still be listed: the first call asks Redis, which then drops it).
async fn open_circuits(inner: &Inner) -> Option<Vec<String>> {
    let open_set = inner.open_set.clone();
    inner
        .redis
        .call("circuit_open_set", |mut connection| async move {
            connection.smembers::<_, Vec<String>>(open_set).await
        })
        .await
}

/// Follows the other replicas' openings and closings. Each time it (re)subscribes it reads
/// which circuits are open, so an announcement missed while the subscription was down is not
/// missed for long; a replica that still missed one learns it from its first call (Redis
/// answers "open already"). Ends when the circuits are dropped.
async fn listen(circuits: Weak<Inner>) {
    loop {
        let Some(inner) = circuits.upgrade() else {
            return;
        };
        let Some(pubsub) = inner.redis.subscribe(&inner.channel).await else {
            drop(inner);
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
            continue;
        };
        if let Some(open) = open_circuits(&inner).await {
            inner.view.replace(open);
        }
        drop(inner);
        let mut messages = pubsub.into_on_message();
        loop {
            // Wakes up now and then to end once the circuits are dropped, message or not.
            let message = match tokio::time::timeout(LISTEN_CHECK, messages.next()).await {
                Err(_) if circuits.strong_count() == 0 => return,
                Err(_) => continue,
                Ok(None) => break,
                Ok(Some(message)) => message,
            };
            let Some(inner) = circuits.upgrade() else {
                return;
            };
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            match payload.split_once(' ') {
                Some(("open", model)) => inner.view.suspect(model),
                Some(("closed", model)) => inner.view.clear(model),
                _ => tracing::debug!("ignoring a circuit message that does not decode"),
            }
        }
        tokio::time::sleep(RESUBSCRIBE_AFTER).await;
    }
}
