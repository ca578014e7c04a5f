//! `maestro migrate`: a populated SQLite store moves to PostgreSQL whole — every row, the
//! whole event log with its seqs — and the target then goes on where the source stopped.

use maestro_core::{Maestro, SessionFilter, TaskFilter};
use maestro_tests::postgres::Postgres;
use maestro_tests::{id, sandbox};
use serde_json::{Value, json};

/// Everything a client can read of a store, as JSON.
async fn everything(m: &Maestro) -> Value {
    let projects = m.list_projects().await.unwrap();
    let mut tasks = Vec::new();
    let mut sessions = Vec::new();
    for p in &projects {
        let filter = TaskFilter {
            project_id: Some(p.id.clone()),
            limit: Some(1000),
            ..Default::default()
        };
        for t in m.list_tasks(filter).await.unwrap().items {
            tasks.push(serde_json::to_value(m.get_task(&t.id).await.unwrap()).unwrap());
        }
        let filter = SessionFilter {
            project_id: Some(p.id.clone()),
            limit: Some(1000),
            ..Default::default()
        };
        sessions.push(serde_json::to_value(m.list_sessions(filter).await.unwrap()).unwrap());
    }
    let events = m.events_since(0, 10_000, &[]).await.unwrap();
    json!({
        "projects": projects,
        "tasks": tasks,
        "sessions": sessions,
        "events": events,
        "status": m.status(None).await.unwrap(),
    })
}

#[test]
fn a_populated_sqlite_store_is_copied_whole_and_a_second_copy_is_refused() {
    let sb = sandbox!();
    let db = sb.path().join("team.db");
    let db_arg = db.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--db", db_arg];
        all.extend_from_slice(args);
        sb.ok(&all)
    };
    run(&["init", "--name", "team"]);
    run(&["project", "create", "second"]);
    let a = id(&run(&[
        "task",
        "create",
        "design",
        "--priority",
        "high",
        "--label",
        "ui",
    ]));
    let b = id(&run(&["task", "create", "build", "--depends-on", &a]));
    let c = id(&run(&["task", "create", "ship", "--depends-on", &b]));
    run(&["subtask", "create", &a, "sketch"]);
    run(&["subtask", "create", &a, "review"]);
    let s = id(&run(&["session", "register", "--name", "worker"]));
    let as_worker = |args: &[&str]| {
        let mut all = vec!["--db", db_arg];
        all.extend_from_slice(args);
        sb.ok_with(&[("MAESTRO_SESSION_ID", s.as_str())], &all)
    };
    as_worker(&["task", "claim", &a]);
    as_worker(&["update", "half way", "--task", &a]);
    as_worker(&["task", "complete", &a]);
    as_worker(&["task", "claim", "--next"]);
    run(&["task", "block", &c, "--reason", "waiting on legal"]);
    for i in 0..30 {
        run(&["task", "create", &format!("bulk {i}")]);
    }

    let pg = Postgres::start();
    let url = pg.create_database("team");
    let copied = sb.ok(&["migrate", "--from", db_arg, "--to", &url]);
    assert_eq!(copied["tables"]["tasks"], 33, "{copied}");
    assert_eq!(copied["tables"]["subtasks"], 2);
    // The target's task counts (kept by triggers, not copied) were filled as the tasks went in.
    assert_eq!(
        pg.count("team", "SELECT SUM(n) FROM task_counts"),
        33,
        "task_counts"
    );
    assert_eq!(
        pg.count(
            "team",
            "SELECT SUM(n) FROM task_counts WHERE ready AND status = 'pending'"
        ),
        pg.count(
            "team",
            "SELECT COUNT(*) FROM tasks WHERE status = 'pending' AND open_deps = 0"
        )
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let source = Maestro::open(&db).unwrap();
        let target = Maestro::open(&url).unwrap();
        let (before, after) = (everything(&source).await, everything(&target).await);
        assert!(before["events"].as_array().unwrap().len() > 40);
        assert_eq!(before, after, "the copy reads exactly as its source");
        let latest = source.latest_seq().await.unwrap();
        assert_eq!(copied["latestSeq"], latest);
        // The log goes on from the source's last seq.
        target
            .create_task(
                &Default::default(),
                maestro_core::NewTask {
                    title: "after the move".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let next = target.events_since(latest, 10, &[]).await.unwrap();
        assert_eq!(next[0].seq, latest + 1);
    });

    // The target now holds data: a second copy is refused, and nothing changes.
    let e = sb.fails(
        &["migrate", "--from", db_arg, "--to", &url],
        "invalid_argument",
        2,
    );
    assert!(e["message"].as_str().unwrap().contains("not empty"), "{e}");
    assert_eq!(pg.count("team", "SELECT COUNT(*) FROM tasks"), 34);
    assert_eq!(pg.count("team", "SELECT SUM(n) FROM task_counts"), 34);
    // --to must be a PostgreSQL URL.
    sb.fails(
        &["migrate", "--from", db_arg, "--to", "/tmp/x.db"],
        "invalid_argument",
        2,
    );
}
