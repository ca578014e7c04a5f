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

/// `status` reads the counts that migration 0003's triggers keep. Four writers on two stores
/// (two replicas' pools) create tasks with dependencies, move them through every status,
/// change priorities and dependencies, claim and delete, all at once: afterwards, and after
/// a second round, `status` reports what a count over the tasks gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_stay_exact_under_concurrent_writers_on_two_replicas() {
    use maestro_core::{
        NewSession, NewTask, OpContext, Priority, StatusAction, StatusChange, TaskPatch, TaskStatus,
    };
    let backing = Backing::new().await;
    let (a, b) = (backing.client(), backing.client());
    let op = OpContext::default();
    let project = a.create_project(&op, "counts", true).await.unwrap().id;
    let expected = |backing: &Backing| {
        let group = |col: &str| {
            backing.pg.psql(
                "maestro",
                &format!(
                    "SELECT string_agg({col} || '=' || n, ',' ORDER BY {col}) FROM
                     (SELECT {col}, COUNT(*) AS n FROM tasks WHERE project_id = '{project}' GROUP BY 1) g"
                ),
            )
        };
        let ready = backing.count(
            "SELECT COUNT(*) FROM tasks WHERE project_id = ?1 AND status = 'pending' AND open_deps = 0",
            Some(&project),
        );
        (group("status"), group("priority"), ready)
    };
    let reported = |m: Maestro| {
        let project = project.clone();
        async move {
            let t = m.status(Some(&project)).await.unwrap().tasks;
            let text = |m: &serde_json::Map<String, serde_json::Value>| {
                let mut v: Vec<String> = m
                    .iter()
                    .filter(|(_, n)| n.as_i64() != Some(0))
                    .map(|(k, n)| format!("{k}={n}"))
                    .collect();
                v.sort();
                v.join(",")
            };
            (text(&t.by_status), text(&t.by_priority), t.ready)
        }
    };
    for round in 0..2 {
        let writers: Vec<_> = [&a, &b, &a, &b]
            .into_iter()
            .enumerate()
            .map(|(w, m)| {
                let (m, project) = (m.clone(), project.clone());
                tokio::spawn(async move {
                    let op = OpContext::default();
                    let session = m
                        .register_session(
                            &op,
                            NewSession {
                                project_id: Some(project.clone()),
                                ..Default::default()
                            },
                        )
                        .await
                        .unwrap()
                        .id;
                    let mut seed = 0x2545_f491_4f6c_dd1d_u64 ^ ((w as u64 + 1) << (8 * round));
                    let mut next = |n: usize| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        (seed % n as u64) as usize
                    };
                    let mut mine: Vec<String> = Vec::new();
                    for step in 0..60 {
                        let kind = if mine.len() < 4 { 0 } else { next(9) };
                        let pick = |r: usize| mine[r % mine.len()].clone();
                        match kind {
                            0..=2 => {
                                let deps = mine
                                    .iter()
                                    .filter(|_| next(4) == 0)
                                    .take(2)
                                    .cloned()
                                    .collect();
                                let new = NewTask {
                                    project_id: Some(project.clone()),
                                    title: format!("w{w} t{step}"),
                                    priority: Some(Priority::ALL[next(3)]),
                                    depends_on: deps,
                                    ..Default::default()
                                };
                                mine.push(m.create_task(&op, new).await.unwrap().id);
                            }
                            3 | 4 => {
                                let action = match next(5) {
                                    0 => StatusAction::Start,
                                    1 => StatusAction::Complete,
                                    2 => StatusAction::Block { reason: "r".into() },
                                    3 => StatusAction::Reopen,
                                    _ => StatusAction::Cancel,
                                };
                                let change = StatusChange {
                                    force: next(2) == 0,
                                    ..StatusChange::new(action)
                                };
                                let _ = m.change_status(&op, &pick(next(1000)), change).await;
                            }
                            5 => {
                                let patch = TaskPatch {
                                    priority: Some(Priority::ALL[next(3)]),
                                    status: Some(TaskStatus::ALL[next(TaskStatus::ALL.len())]),
                                    force: true,
                                    ..Default::default()
                                };
                                let _ = m.update_task(&op, &pick(next(1000)), patch).await;
                            }
                            6 => {
                                let (id, dep) = (pick(next(1000)), pick(next(1000)));
                                let patch = if next(2) == 0 {
                                    TaskPatch {
                                        add_dependencies: vec![dep],
                                        ..Default::default()
                                    }
                                } else {
                                    TaskPatch {
                                        remove_dependencies: vec![dep],
                                        ..Default::default()
                                    }
                                };
                                let _ = m.update_task(&op, &id, patch).await;
                            }
                            7 => {
                                let _ = m.claim_next(&op, Some(&project), &session).await;
                            }
                            _ => {
                                let i = next(mine.len());
                                if m.delete_task(&op, &mine[i]).await.is_ok() {
                                    mine.remove(i);
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.expect("a writer");
        }
        let want = expected(&backing);
        assert_eq!(reported(a.clone()).await, want, "replica a, round {round}");
        assert_eq!(reported(b.clone()).await, want, "replica b, round {round}");
        assert!(
            want.0.contains(','),
            "several statuses were reached: {want:?}"
        );
    }
    // The counts are rows of their own, none negative, none left over.
    assert_eq!(
        backing.count("SELECT COUNT(*) FROM task_counts WHERE n < 0", None),
        0
    );
}

/// A database of schema version 2 (before `task_counts`), holding tasks, is brought to
/// version 3 by the next store to open it: the counts start from its tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counts_migration_counts_the_tasks_already_there() {
    use maestro_core::{NewTask, OpContext, StatusAction, StatusChange};
    let backing = Backing::new().await;
    let m = backing.client();
    let op = OpContext::default();
    m.create_project(&op, "old", true).await.unwrap();
    let titled = |title: &str| NewTask {
        title: title.into(),
        ..Default::default()
    };
    let first = m.create_task(&op, titled("first")).await.unwrap();
    let mut second = titled("second");
    second.depends_on = vec![first.id.clone()];
    m.create_task(&op, second).await.unwrap();
    m.create_task(&op, titled("third")).await.unwrap();
    m.change_status(&op, &first.id, StatusChange::new(StatusAction::Start))
        .await
        .unwrap();
    let before = m.status(None).await.unwrap();
    drop(m);
    // Back to version 2, as a database written by the release before this one.
    backing.pg.psql(
        "maestro",
        "DROP FUNCTION task_counts_follow CASCADE; DROP TABLE task_counts;
         UPDATE maestro_schema SET version = 2",
    );
    let m = backing.client();
    let after = m.status(None).await.unwrap();
    assert_eq!(after.tasks.total, 3);
    assert_eq!(
        serde_json::to_value(&after.tasks).unwrap(),
        serde_json::to_value(&before.tasks).unwrap()
    );
    assert_eq!(
        after.tasks.ready, 1,
        "third is ready; second waits on first"
    );
    assert_eq!(backing.count("SELECT version FROM maestro_schema", None), 3);
}
