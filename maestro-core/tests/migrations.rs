//! Schema migrations: fresh databases, reopening, upgrades, newer databases and many
//! processes opening the same fresh file at once.

use maestro_core::sqlite::{LATEST_VERSION, MIGRATIONS};
use maestro_core::*;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Barrier};

const TABLES: &[&str] = &[
    "events",
    "merge_queues",
    "meta",
    "ops",
    "projects",
    "sessions",
    "subtasks",
    "task_claims",
    "task_counts",
    "task_deps",
    "tasks",
    "timeline",
];

fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// Every schema object as (type, name, sql), sorted.
fn schema(path: &Path) -> Vec<(String, String, Option<String>)> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn tables(path: &Path) -> Vec<String> {
    schema(path)
        .into_iter()
        .filter(|(ty, name, _)| ty == "table" && !name.starts_with("sqlite_"))
        .map(|(_, name, _)| name)
        .collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

#[test]
fn a_fresh_database_ends_at_the_latest_version() {
    assert_eq!(LATEST_VERSION, MIGRATIONS.len() as i64);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/maestro.db");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.path(), Some(path.as_path()));
    assert_eq!(user_version(&path), LATEST_VERSION);
    assert_eq!(tables(&path), TABLES);
    let conn = Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // The store works on the new schema.
    rt().block_on(async {
        let m = Maestro::new(Arc::new(store));
        m.create_project(&OpContext::default(), "p", true)
            .await
            .unwrap();
        assert_eq!(m.latest_seq().await.unwrap(), 1);
    });
}

#[test]
fn reopening_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("maestro.db");
    let op = OpContext::default();
    let task = rt().block_on(async {
        let m = Maestro::open(&path).unwrap();
        m.create_project(&op, "p", true).await.unwrap();
        m.create_task(
            &op,
            NewTask {
                title: "kept".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
    });
    let before = schema(&path);
    for _ in 0..3 {
        let m = Maestro::open(&path).unwrap();
        assert_eq!(user_version(&path), LATEST_VERSION);
        assert_eq!(schema(&path), before);
        rt().block_on(async {
            assert_eq!(m.get_task(&task.id).await.unwrap().task, task);
            assert_eq!(m.latest_seq().await.unwrap(), 3);
        });
    }
}

#[test]
fn a_database_newer_than_the_code_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("maestro.db");
    drop(SqliteStore::open(&path).unwrap());
    let newer = LATEST_VERSION + 1;
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();
    let before = schema(&path);

    let e = SqliteStore::open(&path).err().expect("refused");
    assert_eq!(e.code(), Code::StorageError);
    assert!(e.message().contains(&newer.to_string()), "{}", e.message());
    assert!(e.suggestion().unwrap().contains("Upgrade"));
    assert!(!e.retryable());
    assert_eq!(
        Maestro::open(&path).expect_err("refused").code(),
        Code::StorageError
    );
    // Left untouched.
    assert_eq!(user_version(&path), newer);
    assert_eq!(schema(&path), before);
}

#[test]
fn a_version_1_database_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("maestro.db");
    // A database written by the first release: tasks and sessions created within the
    // same millisecond, in a known order.
    let ids = ["t-zz000001", "t-aa000002", "t-mm000003", "t-cc000004"];
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO projects (id, name, created_at) VALUES ('p-00000001', 'old', 1000);
             INSERT INTO meta (key, value) VALUES ('default_project', 'p-00000001');",
        )
        .unwrap();
        for id in ids {
            conn.execute(
                "INSERT INTO tasks (id, project_id, title, status, priority, priority_rank,
                    created_at, updated_at)
                 VALUES (?1, 'p-00000001', ?1, 'pending', 'medium', 1, 2000, 2000)",
                [id],
            )
            .unwrap();
        }
        // mm waits on zz (pending); aa's only dependency, cc, is completed.
        conn.execute_batch(
            "UPDATE tasks SET status = 'completed', completed_at = 2000 WHERE id = 't-cc000004';
             INSERT INTO task_deps (task_id, depends_on, position) VALUES
                ('t-mm000003', 't-zz000001', 1), ('t-aa000002', 't-cc000004', 1);",
        )
        .unwrap();
        for id in ["s-zz000001", "s-aa000002"] {
            conn.execute(
                "INSERT INTO sessions (id, project_id, name, role, status, created_at, last_seen)
                 VALUES (?1, 'p-00000001', ?1, 'worker', 'active', 3000, 3000)",
                [id],
            )
            .unwrap();
        }
    }

    let m = Maestro::open(&path).unwrap();
    assert_eq!(user_version(&path), LATEST_VERSION);
    assert_eq!(tables(&path), TABLES);
    rt().block_on(async {
        let listed: Vec<String> = m
            .list_tasks(TaskFilter::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(listed, ids, "insertion order survives the upgrade");
        let ready: Vec<String> = m
            .ready_tasks(None, None)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ready, ids[..2], "open dependencies counted by the upgrade");
        let op = OpContext::default();
        m.complete_task(&op, ids[0], true).await.unwrap_err();
        m.start_task(&op, ids[0], false).await.unwrap();
        m.complete_task(&op, ids[0], false).await.unwrap();
        let ready: Vec<String> = m
            .ready_tasks(None, None)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ready, [ids[1], ids[2]]);
        let sessions: Vec<String> = m
            .list_sessions(SessionFilter::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(sessions, ["s-zz000001", "s-aa000002"]);
        // New rows go after the old ones.
        let new = m
            .create_task(
                &op,
                NewTask {
                    title: "new".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let page = m
            .list_tasks(TaskFilter {
                limit: Some(4),
                ..Default::default()
            })
            .await
            .unwrap();
        let rest = m
            .list_tasks(TaskFilter {
                cursor: page.next_cursor,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(rest.items.len(), 1);
        assert_eq!(rest.items[0].id, new.id);
        let s = m
            .register_session(&op, NewSession::default())
            .await
            .unwrap();
        let sessions = m
            .list_sessions(SessionFilter::default())
            .await
            .unwrap()
            .items;
        assert_eq!(sessions.last().unwrap().id, s.id);
    });
}

#[test]
fn a_version_2_database_gets_its_ready_queue_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("maestro.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "INSERT INTO projects (id, name, created_at) VALUES
                ('p-00000001', 'one', 1000), ('p-00000002', 'two', 1001);
             INSERT INTO meta (key, value) VALUES ('default_project', 'p-00000001');
             INSERT INTO tasks (id, project_id, title, status, priority, priority_rank,
                created_at, updated_at, seq) VALUES
                ('t-00000001', 'p-00000001', 'done', 'completed', 'medium', 1, 2000, 2000, 1),
                ('t-00000002', 'p-00000001', 'open', 'pending', 'medium', 1, 2000, 2000, 2),
                ('t-00000003', 'p-00000001', 'after done', 'pending', 'high', 0, 2000, 2000, 3),
                ('t-00000004', 'p-00000001', 'after open', 'pending', 'high', 0, 2000, 2000, 4);
             INSERT INTO task_deps (task_id, depends_on, position) VALUES
                ('t-00000003', 't-00000001', 1),
                ('t-00000004', 't-00000001', 1), ('t-00000004', 't-00000002', 2);",
        )
        .unwrap();
    }
    let m = Maestro::open(&path).unwrap();
    assert_eq!(user_version(&path), LATEST_VERSION);
    rt().block_on(async {
        let ready: Vec<String> = m
            .ready_tasks(None, None)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ready, ["t-00000003", "t-00000002"]);
        // Both projects number their tasks from their own seq.
        let op = OpContext::default();
        for project in ["p-00000001", "p-00000002", "p-00000002"] {
            m.create_task(
                &op,
                NewTask {
                    project_id: Some(project.into()),
                    title: "new".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        }
        let two = m
            .list_tasks(TaskFilter {
                project_id: Some("p-00000002".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(two.items.len(), 2);
        for project in ["p-00000001", "p-00000002"] {
            m.register_session(
                &op,
                NewSession {
                    project_id: Some(project.into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        }
    });
}

#[test]
fn eight_threads_opening_a_fresh_file_at_once_all_succeed() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = Arc::new(dir.path().join("maestro.db"));
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || -> Result<i64> {
                    barrier.wait();
                    let m = Maestro::open(path.as_path())?;
                    rt().block_on(async {
                        m.create_project(&OpContext::default(), &format!("p{i}"), false)
                            .await?;
                        m.latest_seq().await
                    })
                })
            })
            .collect();
        for h in handles {
            let seq = h
                .join()
                .expect("no panic")
                .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
            assert!((1..=8).contains(&seq));
        }
        assert_eq!(user_version(&path), LATEST_VERSION);
        assert_eq!(tables(&path), TABLES);
        let projects = rt().block_on(async {
            Maestro::open(path.as_path())
                .unwrap()
                .list_projects()
                .await
                .unwrap()
        });
        assert_eq!(projects.len(), 8);
    }
}

/// Version 4 moves the fence from the timeline to claims: owners keep their claims, a
/// session released before the upgrade stays fenced off, and a blocked task gets its reason.
#[test]
fn a_version_3_database_keeps_its_owners_fences_and_block_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("maestro.db");
    {
        let conn = Connection::open(&path).unwrap();
        for m in &MIGRATIONS[..3] {
            conn.execute_batch(m).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute_batch(
            r#"INSERT INTO projects (id, name, created_at) VALUES ('p-00000001', 'old', 1000);
             INSERT INTO meta (key, value) VALUES ('default_project', 'p-00000001');
             INSERT INTO sessions (id, project_id, name, role, status, created_at, last_seen, seq)
                VALUES ('s-owner001', 'p-00000001', 'o', 'worker', 'active', 1000, 9000000000000, 1),
                       ('s-gone0001', 'p-00000001', 'g', 'worker', 'active', 1000, 9000000000000, 2);
             INSERT INTO tasks (id, project_id, title, status, priority, priority_rank, session_ids,
                    claim_epoch, created_at, updated_at, seq)
                VALUES ('t-held0001', 'p-00000001', 'held', 'in_progress', 'medium', 1, '["s-owner001"]',
                        3, 2000, 2000, 1),
                       ('t-stop0001', 'p-00000001', 'stopped', 'blocked', 'medium', 1, '[]',
                        2, 2000, 2000, 2);
             INSERT INTO timeline (task_id, data, session_id, ts) VALUES
                ('t-held0001', '{"type":"released","sessionId":"s-gone0001","reason":"session lost"}', NULL, 2500),
                ('t-stop0001', '{"type":"blocked","reason":"first"}', NULL, 2600),
                ('t-stop0001', '{"type":"blocked","reason":"needs a key"}', NULL, 2700);"#,
        )
        .unwrap();
    }
    let m = Maestro::open(&path).unwrap();
    assert_eq!(user_version(&path), LATEST_VERSION);
    rt().block_on(async {
        let owner = OpContext::session(Some("s-owner001".into()));
        m.add_progress(&owner, "t-held0001", "still mine")
            .await
            .unwrap();
        let gone = OpContext::session(Some("s-gone0001".into()));
        let e = m
            .add_progress(&gone, "t-held0001", "late")
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::ClaimReleased);
        let t = m.get_task("t-stop0001").await.unwrap().task;
        assert_eq!(t.blocked_reason.as_deref(), Some("needs a key"));
    });
}

/// The task counts `status` reads are built from the tasks already there, and kept from
/// then on.
#[test]
fn a_version_5_database_gets_its_task_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("maestro.db");
    {
        let conn = Connection::open(&path).unwrap();
        for m in &MIGRATIONS[..5] {
            conn.execute_batch(m).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        conn.execute_batch(
            r#"INSERT INTO projects (id, name, created_at) VALUES ('p-00000001', 'old', 1000);
             INSERT INTO meta (key, value) VALUES ('default_project', 'p-00000001');
             INSERT INTO tasks (id, project_id, title, status, priority, priority_rank,
                    created_at, updated_at, seq, open_deps)
                VALUES ('t-done0001', 'p-00000001', 'a', 'completed', 'high', 0, 2000, 2000, 1, 0),
                       ('t-redy0001', 'p-00000001', 'b', 'pending', 'high', 0, 2000, 2000, 2, 0),
                       ('t-redy0002', 'p-00000001', 'c', 'pending', 'low', 2, 2000, 2000, 3, 0),
                       ('t-wait0001', 'p-00000001', 'd', 'pending', 'medium', 1, 2000, 2000, 4, 1);
             INSERT INTO task_deps (task_id, depends_on, position)
                VALUES ('t-wait0001', 't-redy0001', 1);"#,
        )
        .unwrap();
    }
    let m = Maestro::open(&path).unwrap();
    assert_eq!(user_version(&path), LATEST_VERSION);
    rt().block_on(async {
        let op = OpContext::default();
        let t = m.status(None).await.unwrap().tasks;
        assert_eq!((t.total, t.ready), (4, 2));
        assert_eq!(t.by_status["pending"], 3);
        assert_eq!(t.by_status["completed"], 1);
        assert_eq!(t.by_priority["high"], 2);
        m.start_task(&op, "t-redy0001", false).await.unwrap();
        m.complete_task(&op, "t-redy0001", false).await.unwrap();
        m.delete_task(&op, "t-done0001").await.unwrap();
        let t = m.status(None).await.unwrap().tasks;
        assert_eq!(
            (t.total, t.ready),
            (3, 2),
            "t-wait0001 is ready once its dependency is done"
        );
        assert_eq!(t.by_status["completed"], 1);
        assert_eq!(t.by_priority["high"], 1);
    });
}
