//! Decision records written off the request path: a bounded buffer that requests drop records
//! into without waiting, and one task that writes them in batched transactions.
//!
//! A request only appends to the buffer under a short lock; the writer task wakes every
//! `linger`, or as soon as a batch is full, rather than once per record (waking a task per
//! request cost more CPU under load than writing the record). If the writer falls behind (a
//! slow disk, a database out of reach), requests are not slowed: a record that does not fit in
//! the buffer is dropped and counted. A batch that fails is retried with a growing pause, a few
//! times, and then dropped and counted too, so a store that stays down cannot hold memory
//! without bound.

use crate::records::DecisionRecord;
use crate::{Store, StoreError};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How the writer batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterSettings {
    /// Records waiting at most; more are dropped.
    pub queue: usize,
    /// Records per transaction at most.
    pub batch: usize,
    /// Longest a record waits for the writer.
    pub linger: Duration,
    /// Attempts at a failing batch before it is dropped.
    pub attempts: u32,
}

impl Default for WriterSettings {
    fn default() -> Self {
        Self {
            queue: 20_000,
            batch: 100,
            linger: Duration::from_millis(50),
            attempts: 5,
        }
    }
}

/// What the writer has done, for metrics and `/readyz`.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub written: AtomicU64,
    /// Dropped because the buffer was full.
    pub dropped_full: AtomicU64,
    /// Dropped after the store refused them `attempts` times.
    pub dropped_failed: AtomicU64,
    pub failed_batches: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl WriterStats {
    /// The last error the store gave, if the last batch failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_last_error(&self, error: Option<String>) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error;
    }

    pub fn dropped(&self) -> u64 {
        self.dropped_full.load(Ordering::Relaxed) + self.dropped_failed.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct Shared {
    store: Arc<dyn Store>,
    settings: WriterSettings,
    pending: Mutex<Vec<DecisionRecord>>,
    /// Records pending, readable without the lock.
    queued: AtomicUsize,
    /// Rung when a batch is full.
    full: Notify,
    /// Held while a batch is written, so that a flush waits for the one in progress.
    writing: tokio::sync::Mutex<()>,
    stats: WriterStats,
}

/// The request path's handle on the writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RecordWriter {
    shared: Arc<Shared>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl RecordWriter {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>, settings: WriterSettings) -> Self {
        let shared = Arc::new(Shared {
            store,
            settings,
            pending: Mutex::new(Vec::new()),
            queued: AtomicUsize::new(0),
            full: Notify::new(),
            writing: tokio::sync::Mutex::new(()),
            stats: WriterStats::default(),
        });
        let task = tokio::spawn(run(Arc::clone(&shared)));
        Self {
            shared,
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Queues a record; never waits. False when the buffer was full and the record dropped.
    pub fn push(&self, record: DecisionRecord) -> bool {
        let shared = &self.shared;
        let queued = {
            let mut pending = shared
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if pending.len() >= shared.settings.queue.max(1) {
                drop(pending);
                shared.stats.dropped_full.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            pending.push(record);
            pending.len()
        };
        shared.queued.store(queued, Ordering::Relaxed);
        if queued == shared.settings.batch.max(1) {
            shared.full.notify_one();
        }
        true
    }

    /// Records waiting to be written.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> &WriterStats {
        &self.shared.stats
    }

    /// Writes everything queued so far; returns when it is committed (or dropped).
    pub async fn flush(&self) {
        write_pending(&self.shared).await;
    }

    /// Flushes, then stops the task (at shutdown).
    pub async fn close(&self) {
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        self.flush().await;
    }
}

async fn run(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            () = shared.full.notified() => {}
            () = tokio::time::sleep(shared.settings.linger) => {}
        }
        write_pending(&shared).await;
    }
}

/// Takes what is pending and writes it, a batch per transaction.
async fn write_pending(shared: &Shared) {
    let _writing = shared.writing.lock().await;
    let records = std::mem::take(
        &mut *shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    shared.queued.store(0, Ordering::Relaxed);
    for batch in records.chunks(shared.settings.batch.max(1)) {
        write(shared, batch).await;
    }
}

async fn write(shared: &Shared, batch: &[DecisionRecord]) {
    let (settings, stats) = (&shared.settings, &shared.stats);
    let count = batch.len() as u64;
    let mut pause = Duration::from_millis(100);
    for attempt in 1..=settings.attempts.max(1) {
        match shared.store.write_records(batch).await {
            Ok(()) => {
                stats.written.fetch_add(count, Ordering::Relaxed);
                stats.set_last_error(None);
                return;
            }
            Err(err) => {
                stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                stats.set_last_error(Some(err.to_string()));
                log_failure(&err, attempt, settings.attempts);
                if attempt < settings.attempts {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
    stats.dropped_failed.fetch_add(count, Ordering::Relaxed);
}

fn log_failure(err: &StoreError, attempt: u32, attempts: u32) {
    if attempt < attempts {
        tracing::warn!("writing decision records failed (attempt {attempt} of {attempts}): {err}");
    } else {
        tracing::error!("dropping decision records after {attempts} failed attempts: {err}");
    }
}
