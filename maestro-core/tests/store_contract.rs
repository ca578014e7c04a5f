//! The store contract suite (`contract/`) against the embedded SQLite store on a file.

mod contract;

use maestro_core::Maestro;
use std::path::PathBuf;

/// A fresh SQLite store in a temporary directory.
struct Backing {
    dir: tempfile::TempDir,
}

impl Backing {
    async fn new() -> Backing {
        Backing {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A client of the store: each call opens the file anew, like another process would.
    fn client(&self) -> Maestro {
        Maestro::open(self.db_path()).expect("open store")
    }

    fn db_path(&self) -> PathBuf {
        self.dir.path().join("maestro.db")
    }

    /// A count on a connection of its own (see `contract/mod.rs`).
    fn count(&self, sql: &str, arg: Option<&str>) -> i64 {
        let raw = rusqlite::Connection::open(self.db_path()).expect("raw connection");
        let params: Vec<&str> = arg.into_iter().collect();
        raw.query_row(sql, rusqlite::params_from_iter(params), |r| r.get(0))
            .expect("count")
    }
}
