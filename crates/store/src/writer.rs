//! Decision records written off the request path: a bounded queue that requests drop records
//! into without waiting, and one task that writes them in batched transactions.
//!
//! If the writer falls behind (a slow disk, a database out of reach), requests are not slowed:
//! a record that does not fit in the queue is dropped and counted. A batch that fails is
//! retried with a growing pause, a few times, and then dropped and counted too, so a store
//! that stays down cannot hold memory without bound.

use crate::records::DecisionRecord;
use crate::{Store, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How the writer batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterSettings {
    /// Records waiting at most; more are dropped.
    pub queue: usize,
    /// Records per transaction at most.
    pub batch: usize,
    /// Longest a record waits for a batch to fill.
    pub linger: Duration,
    /// Attempts at a failing batch before it is dropped.
    pub attempts: u32,
}

impl Default for WriterSettings {
    fn default() -> Self {
        Self {
            queue: 20_000,
            batch: 1_000,
            linger: Duration::from_millis(50),
            attempts: 5,
        }
    }
}

/// What the writer has done, for metrics and `/readyz`.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub written: AtomicU64,
    /// Dropped because the queue was full.
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

enum Message {
    Record(Box<DecisionRecord>),
    /// Write everything queued before this, then answer.
    Flush(oneshot::Sender<()>),
}

/// The request path's handle on the writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RecordWriter {
    sender: mpsc::Sender<Message>,
    stats: Arc<WriterStats>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Record(r) => write!(f, "Record({})", r.request_id),
            Message::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl RecordWriter {
    /// Starts the writer task on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>, settings: WriterSettings) -> Self {
        let (sender, receiver) = mpsc::channel(settings.queue.max(1));
        let stats = Arc::new(WriterStats::default());
        let task = tokio::spawn(run(store, settings, receiver, Arc::clone(&stats)));
        Self {
            sender,
            stats,
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Queues a record; never waits. False when the queue was full and the record dropped.
    pub fn push(&self, record: DecisionRecord) -> bool {
        match self.sender.try_send(Message::Record(Box::new(record))) {
            Ok(()) => true,
            Err(_) => {
                self.stats.dropped_full.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Records waiting to be written.
    pub fn queued(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Writes everything queued so far; returns when it is committed (or dropped).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.sender.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Flushes, then stops the task (at shutdown).
    pub async fn close(&self) {
        self.flush().await;
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    settings: WriterSettings,
    mut receiver: mpsc::Receiver<Message>,
    stats: Arc<WriterStats>,
) {
    let mut batch: Vec<DecisionRecord> = Vec::with_capacity(settings.batch);
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = receiver.recv().await {
        take(first, &mut batch, &mut waiting);
        // Fill the batch with what is already queued, lingering briefly for more.
        let deadline = tokio::time::Instant::now() + settings.linger;
        while batch.len() < settings.batch && waiting.is_empty() {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(message)) => take(message, &mut batch, &mut waiting),
                Ok(None) | Err(_) => break,
            }
        }
        while batch.len() < settings.batch {
            match receiver.try_recv() {
                Ok(message) => take(message, &mut batch, &mut waiting),
                Err(_) => break,
            }
        }
        write(
            store.as_ref(),
            std::mem::take(&mut batch),
            &settings,
            &stats,
        )
        .await;
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

fn take(message: Message, batch: &mut Vec<DecisionRecord>, waiting: &mut Vec<oneshot::Sender<()>>) {
    match message {
        Message::Record(record) => batch.push(*record),
        Message::Flush(done) => waiting.push(done),
    }
}

async fn write(
    store: &dyn Store,
    batch: Vec<DecisionRecord>,
    settings: &WriterSettings,
    stats: &WriterStats,
) {
    if batch.is_empty() {
        return;
    }
    let count = batch.len() as u64;
    let mut pause = Duration::from_millis(100);
    for attempt in 1..=settings.attempts.max(1) {
        match store.write_records(&batch).await {
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
