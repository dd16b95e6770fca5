//! The SQLite store: opening it, migrating it, and the typed access the
//! rest of the tool uses. Schema lives in `migrations/NNNN_name.sql`,
//! applied in order on open and recorded in `PRAGMA user_version`.

pub mod arms;
pub mod baselines;
pub mod derive;
pub mod identity;
pub mod query;
pub mod runs;
pub mod writer;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

/// Errors from the store, with what the user can do about them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the database file {path}: {source}")]
    CreateFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source} (is it a cc-fingerprint database? pass another --db to start fresh)")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the database {path} was written by a newer cc-fingerprint (schema {found}, this build knows {known}); upgrade cc-fingerprint")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("migration {name} failed: {source}")]
    Migration {
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error("database error: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// `(name, sql)` of `migrations/<name>.sql`, embedded at build time.
macro_rules! migration {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../migrations/", $name, ".sql")),
        )
    };
}

/// Embedded migrations, in order. Append only.
const MIGRATIONS: &[(&str, &str)] = &[
    migration!("0001_init"),
    migration!("0002_features"),
    migration!("0003_baselines"),
    migration!("0004_arms"),
    migration!("0005_sources"),
    migration!("0007_feature_vectors"),
    migration!("0008_runs"),
];

/// An open database.
pub struct Store {
    pub conn: Connection,
}

impl Store {
    /// Open (creating with mode 0600 if needed) and migrate the database.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        crate::util::create_private(path, false)
            .map(drop)
            .map_err(|source| StoreError::CreateFile {
                path: path.to_path_buf(),
                source,
            })?;
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::setup(conn, path)
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory()?;
        Self::setup(conn, Path::new(":memory:"))
    }

    fn setup(conn: Connection, path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        // WAL lets readers (arms, audit, report) run while ingest writes;
        // the busy timeout makes a second writer wait instead of failing.
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        // Transactions here all write: take the write lock when they begin,
        // where the busy timeout applies. A deferred one that reads first and
        // then writes while another process writes fails at once (SQLITE_BUSY,
        // or BUSY_SNAPSHOT after the other commits) instead of waiting.
        let mut conn = conn;
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        // The writer cycles through about 35 statements per chunk (one per
        // table, plus deletes on a re-read); with rusqlite's default cache of
        // 16 each was re-prepared every chunk, 9% of a cold ingest's CPU.
        conn.set_prepared_statement_cache_capacity(64);
        let mut store = Store { conn };
        store.migrate(path)?;
        Ok(store)
    }

    fn migrate(&mut self, path: &Path) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        let current: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if current > known {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: current,
                known,
            });
        }
        for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            // IMMEDIATE: two processes opening a fresh DB at once migrate in turn.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if now > index as i64 {
                continue; // another process migrated while we waited
            }
            tx.execute_batch(sql)
                .map_err(|source| StoreError::Migration { name, source })?;
            tx.pragma_update(None, "user_version", index as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Schema version in force.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_fresh_db_to_latest() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    }

    #[test]
    fn creates_db_file_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.db");
        let store = Store::open(&path).unwrap();
        drop(store);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Reopening is a no-op migration.
        assert_eq!(
            Store::open(&path).unwrap().schema_version().unwrap(),
            MIGRATIONS.len() as i64
        );
    }
}
