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

/// A commit through one store (another replica's pool) wakes the commit watch of another at
/// once, through LISTEN/NOTIFY: nothing else moves that watch but this process's own writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_elsewhere_is_announced_to_every_store_on_the_database() {
    use maestro_core::postgres::PgStore;
    use maestro_core::{NewProject, OpContext, Store};
    let backing = Backing::new().await;
    let listener = PgStore::open(&backing.url).unwrap();
    let mut commits = listener.watch_commits();
    // The first commit may reach the watch through the LISTEN connection's first read of the
    // latest seq; the later ones only through notifications.
    let writer = PgStore::open(&backing.url).unwrap();
    let op = OpContext::default();
    let new = NewProject {
        name: "elsewhere".into(),
        ..Default::default()
    };
    writer.create_project(&op, new).await.unwrap();
    let latest = writer.latest_seq().await.unwrap();
    assert!(latest >= 1);
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        commits.wait_for(|seq| *seq >= latest),
    )
    .await
    .expect("the commit was announced")
    .unwrap();
    // Every later commit too.
    for i in 0..5 {
        let new = NewProject {
            name: format!("p{i}"),
            ..Default::default()
        };
        writer.create_project(&op, new).await.unwrap();
        let latest = writer.latest_seq().await.unwrap();
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            commits.wait_for(|seq| *seq >= latest),
        )
        .await
        .expect("the commit was announced")
        .unwrap();
    }
}
