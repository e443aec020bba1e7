//! What can go wrong with a store, and what to do about it.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error(
        "`{url}` is not a store URL: use sqlite://PATH, sqlite::memory: or postgres://USER@HOST/DB"
    )]
    BadUrl { url: String },
    #[error("cannot open the store at {target}: {source}")]
    Open {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "the database at {target} was set up by a newer routewise (schema version {found}; this build knows up to {known}): upgrade routewise, or point [store] url at another database"
    )]
    NewerSchema {
        target: String,
        found: i64,
        known: i64,
    },
    #[error("cannot bring the database at {target} up to date: {detail}")]
    Migrate { target: String, detail: String },
    #[error("the store failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the store holds a record it cannot read: {0}")]
    Corrupt(String),
    #[error("the database failed its integrity check: {0}")]
    Integrity(String),
}

impl StoreError {
    /// Whether the store is out of reach (rather than the request being wrong): the caller may
    /// answer "try again later".
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Open { .. }
                | StoreError::Query(
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                        | sqlx::Error::Tls(_)
                )
        )
    }
}
