//! The store contract suite (`maestro-core/tests/contract/`) against the PostgreSQL store:
//! every test gets a real PostgreSQL cluster of its own (see `maestro_tests::postgres`),
//! and the same operations, with the same rules, must keep every promise of the embedded
//! store.

#[path = "../../maestro-core/tests/contract/mod.rs"]
mod contract;

use maestro_core::Maestro;
use maestro_tests::postgres::Postgres;

/// A fresh database on a cluster of its own, stopped when dropped.
struct Backing {
    pg: Postgres,
    url: String,
}

impl Backing {
    async fn new() -> Backing {
        let pg = tokio::task::spawn_blocking(Postgres::start)
            .await
            .expect("start PostgreSQL");
        let url = pg.create_database("maestro");
        Backing { pg, url }
    }

    /// Another client of the database (another process would do the same).
    fn client(&self) -> Maestro {
        Maestro::open(&self.url).expect("open the PostgreSQL store")
    }

    /// A count with `psql` (ids are quoted as SQL literals).
    fn count(&self, sql: &str, arg: Option<&str>) -> i64 {
        let sql = match arg {
            Some(a) => sql.replace("?1", &format!("'{}'", a.replace('\'', "''"))),
            None => sql.to_string(),
        };
        self.pg.count("maestro", &sql)
    }
}
