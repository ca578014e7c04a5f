//! The store contract suite (`maestro-core/tests/contract/`) against the HTTP store: every
//! call goes through a real `maestro serve` process on a loopback port, so the server's
//! REST layer and the client's `HttpStore` must keep every promise of the embedded store.

#[path = "../../maestro-core/tests/contract/mod.rs"]
mod contract;

use maestro_core::Maestro;
use maestro_tests::{Sandbox, Server, sandbox};
use std::path::PathBuf;

/// A fresh `maestro serve` on its own SQLite file, stopped when dropped.
struct Backing {
    sb: Sandbox,
    server: Server,
}

impl Backing {
    async fn new() -> Backing {
        let sb = sandbox!();
        let db = sb.path().join("maestro.db");
        let server = Server::start(&sb, &db, "127.0.0.1:0", &[]);
        Backing { sb, server }
    }

    /// Another client of the server (another process would do the same).
    fn client(&self) -> Maestro {
        Maestro::connect(&self.server.url, None).expect("connect")
    }

    /// The server's database, for checks below the facade.
    fn db_path(&self) -> PathBuf {
        self.sb.path().join("maestro.db")
    }

    /// A count on a connection of its own (see `contract/mod.rs`).
    fn count(&self, sql: &str, arg: Option<&str>) -> i64 {
        let raw = rusqlite::Connection::open(self.db_path()).expect("raw connection");
        let params: Vec<&str> = arg.into_iter().collect();
        raw.query_row(sql, rusqlite::params_from_iter(params), |r| r.get(0))
            .expect("count")
    }
}
