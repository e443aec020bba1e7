//! The schema's versions, embedded in the binary: applied in order when a store opens, under
//! the database's lock on PostgreSQL (so two replicas starting at once do not race).

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;

/// Every migration, oldest first. Never edit a released one: add the next.
const MIGRATIONS: [(i64, &str, &str); 1] =
    [(1, "initial", include_str!("../migrations/0001_initial.sql"))];

/// The newest schema version this build knows.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

pub(crate) fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}
