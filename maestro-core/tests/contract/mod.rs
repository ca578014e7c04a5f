//! The storage contract, exercised through the `Maestro` facade: what every front end (CLI,
//! server, bindings) relies on, whatever store is behind it.
//!
//! Written once; each test crate that includes it defines the store under test as
//! `crate::Backing` (`async fn new() -> Backing`, `fn client(&self) -> Maestro` for another
//! client of the same store, `fn count(&self, sql: &str, arg: Option<&str>) -> i64` for
//! counts below the facade, `sql` a `SELECT COUNT(*)` with `?1` standing for `arg`): the
//! embedded SQLite store in `maestro-core/tests/store_contract.rs`, the HTTP store through a
//! real `maestro serve` in `tests/tests/store_contract_http.rs`, the PostgreSQL store in
//! `tests/tests/store_contract_postgres.rs`.

#![allow(dead_code)]

use crate::Backing;
use maestro_core::*;
use serde_json::{Value, json};
use std::collections::HashSet;

// ---- helpers ---------------------------------------------------------------------------

struct Env {
    backing: Backing,
    m: Maestro,
    op: OpContext,
}

impl Env {
    /// A fresh store without any project.
    async fn empty() -> Env {
        let backing = Backing::new().await;
        let m = backing.client();
        Env {
            backing,
            m,
            op: OpContext::default().with_client_id("contract"),
        }
    }

    /// A fresh store with a default project.
    async fn new() -> Env {
        let env = Env::empty().await;
        env.m
            .create_project(&env.op, "demo", true)
            .await
            .expect("create project");
        env
    }

    /// A count read below the facade, on a connection of its own (see the module's doc).
    fn count(&self, sql: &str, arg: Option<&str>) -> i64 {
        self.backing.count(sql, arg)
    }

    async fn task(&self, title: &str) -> Task {
        self.m
            .create_task(
                &self.op,
                NewTask {
                    title: title.into(),
                    ..Default::default()
                },
            )
            .await
            .expect("create task")
    }

    async fn task_with(&self, new: NewTask) -> Task {
        self.m
            .create_task(&self.op, new)
            .await
            .expect("create task")
    }

    async fn get(&self, id: &str) -> Task {
        self.m.get_task(id).await.expect("get task").task
    }

    async fn session(&self, name: &str) -> Session {
        self.m
            .register_session(
                &self.op,
                NewSession {
                    name: Some(name.into()),
                    ..Default::default()
                },
            )
            .await
            .expect("register session")
    }

    /// A task's whole timeline, oldest first, read page by page.
    async fn history(&self, id: &str) -> Vec<TimelineEntry> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .m
                .timeline(
                    id,
                    TimelineQuery {
                        limit: Some(7),
                        cursor,
                    },
                )
                .await
                .expect("timeline");
            out.extend(page.items);
            cursor = page.next_cursor;
            if cursor.is_none() {
                return out;
            }
        }
    }

    /// The newest `n` entries of a task's timeline, oldest first.
    async fn newest(&self, id: &str, n: usize) -> Vec<TimelineEntry> {
        let mut all = self.history(id).await;
        all.split_off(all.len().saturating_sub(n))
    }

    async fn seq(&self) -> i64 {
        self.m.latest_seq().await.expect("latest seq")
    }

    async fn events(&self) -> Vec<Event> {
        self.m.events_since(0, 10_000, &[]).await.expect("events")
    }

    async fn events_after(&self, since: i64) -> Vec<Event> {
        self.m
            .events_since(since, 10_000, &[])
            .await
            .expect("events")
    }

    async fn list(&self, filter: TaskFilter) -> Vec<String> {
        let page = self.m.list_tasks(filter).await.expect("list tasks");
        assert!(page.next_cursor.is_none(), "the filter fits in one page");
        page.items.into_iter().map(|t| t.id).collect()
    }
}

fn err<T: std::fmt::Debug>(r: Result<T>) -> Error {
    r.expect_err("the call should fail")
}

fn ids(tasks: &[Task]) -> Vec<String> {
    tasks.iter().map(|t| t.id.clone()).collect()
}

fn types(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

fn timeline_types(entries: &[TimelineEntry]) -> Vec<&'static str> {
    entries.iter().map(|e| e.kind.type_name()).collect()
}

fn start(action: StatusAction) -> StatusChange {
    StatusChange::new(action)
}

/// The shortest prefix of `id` (after its kind prefix) that no other id shares.
fn unique_prefix(id: &str, others: &[String]) -> String {
    (3..id.len())
        .map(|n| id[..n].to_string())
        .find(|p| others.iter().filter(|o| o.starts_with(p.as_str())).count() == 1)
        .unwrap_or_else(|| id.to_string())
}

// ---- projects --------------------------------------------------------------------------

#[tokio::test]
async fn without_a_project_every_project_scoped_call_asks_for_one() {
    let env = Env::empty().await;
    let new = NewTask {
        title: "orphan".into(),
        ..Default::default()
    };
    for e in [
        err(env.m.create_task(&env.op, new).await),
        err(env.m.list_tasks(TaskFilter::default()).await),
        err(env.m.ready_tasks(None, None).await),
        err(env.m.project(None).await),
        err(env.m.status(None).await),
        err(env.m.register_session(&env.op, NewSession::default()).await),
    ] {
        assert_eq!(e.code(), Code::NoProjectContext, "{e:?}");
        assert!(e.suggestion().unwrap().contains("maestro init"));
    }
    assert!(env.m.list_projects().await.unwrap().is_empty());
    assert_eq!(env.seq().await, 0, "failed calls append no event");
}

#[tokio::test]
async fn projects_create_default_list_and_get_by_prefix() {
    let env = Env::empty().await;
    let alpha = env.m.create_project(&env.op, "alpha", false).await.unwrap();
    assert_eq!(alpha.name, "alpha");
    assert!(alpha.id.starts_with("p-"));
    // The first project becomes the default even without make_default.
    assert_eq!(env.m.project(None).await.unwrap(), alpha);
    let beta = env
        .m
        .create_project(&env.op, " beta ", false)
        .await
        .unwrap();
    assert_eq!(beta.name, "beta", "names are trimmed");
    assert_eq!(env.m.project(None).await.unwrap().id, alpha.id);
    let gamma = env.m.create_project(&env.op, "gamma", true).await.unwrap();
    assert_eq!(env.m.project(None).await.unwrap().id, gamma.id);

    let listed = env.m.list_projects().await.unwrap();
    let alpha = Project {
        default: false,
        ..alpha
    };
    assert_eq!(listed, vec![alpha.clone(), beta.clone(), gamma.clone()]);
    assert_eq!(
        listed.iter().filter(|p| p.default).count(),
        1,
        "exactly one default, marked"
    );
    // Making another project the default moves the mark.
    let used = env.m.use_project(&env.op, &beta.id).await.unwrap();
    assert!(used.default);
    assert_eq!(env.m.project(None).await.unwrap().id, beta.id);
    let beta = used;
    env.m.use_project(&env.op, &gamma.id).await.unwrap();
    let beta = Project {
        default: false,
        ..beta
    };

    let all: Vec<String> = listed.iter().map(|p| p.id.clone()).collect();
    let prefix = unique_prefix(&beta.id, &all);
    assert_eq!(env.m.get_project(&prefix).await.unwrap(), beta);
    assert_eq!(env.m.project(Some(&beta.id)).await.unwrap(), beta);
    assert_eq!(
        err(env.m.get_project("p-nothere").await).code(),
        Code::ProjectNotFound
    );
    assert_eq!(
        err(env.m.create_project(&env.op, "  ", false).await).code(),
        Code::MissingRequiredField
    );

    // A task without a project lands in the default project; an explicit one is honoured.
    let t = env.task("in gamma").await;
    assert_eq!(t.project_id, gamma.id);
    let t2 = env
        .task_with(NewTask {
            project_id: Some(prefix),
            title: "in beta".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(t2.project_id, beta.id);

    let created: Vec<_> = env
        .events()
        .await
        .into_iter()
        .filter(|e| e.event_type == EventType::ProjectCreated)
        .map(|e| e.project_id.unwrap())
        .collect();
    assert_eq!(created, all);
}

// ---- tasks -----------------------------------------------------------------------------

#[tokio::test]
async fn create_task_with_dependencies_labels_and_priority() {
    let env = Env::new().await;
    let a = env.task("A").await;
    assert_eq!(a.status, TaskStatus::Pending);
    assert_eq!(a.priority, Priority::Medium, "medium by default");
    assert_eq!((a.version, a.claim_epoch), (1, 0));
    assert!(a.dependencies.is_empty() && a.labels.is_empty() && a.session_ids.is_empty());
    assert!(a.started_at.is_none() && a.completed_at.is_none());

    let b = env.task("B").await;
    let mut meta = serde_json::Map::new();
    meta.insert("estimate".into(), json!(3));
    let c = env
        .task_with(NewTask {
            title: "  C  ".into(),
            description: Some("the third".into()),
            priority: Some(Priority::High),
            depends_on: vec![b.id.clone(), a.id[..5].to_string(), b.id.clone()],
            labels: vec!["backend".into(), "db".into()],
            metadata: Some(meta.clone()),
            ..Default::default()
        })
        .await;
    assert_eq!(c.title, "C");
    assert_eq!(c.description, "the third");
    assert_eq!(c.priority, Priority::High);
    assert_eq!(
        c.dependencies,
        vec![b.id.clone(), a.id.clone()],
        "in the given order, prefixes resolved, duplicates dropped"
    );
    assert_eq!(c.labels, vec!["backend", "db"]);
    assert_eq!(c.metadata, meta);
    assert_eq!(
        env.get(&c.id).await,
        c,
        "what was returned is what was stored"
    );

    // A missing dependency fails the whole creation.
    let before = env.seq().await;
    let e = err(env
        .m
        .create_task(
            &env.op,
            NewTask {
                title: "D".into(),
                depends_on: vec![a.id.clone(), "t-zzzzzzzz".into()],
                ..Default::default()
            },
        )
        .await);
    assert_eq!(e.code(), Code::TaskNotFound);
    assert_eq!(env.seq().await, before);
    assert_eq!(env.list(TaskFilter::default()).await.len(), 3);

    for bad in [
        NewTask::default(),
        NewTask {
            title: "x".repeat(501),
            ..Default::default()
        },
        NewTask {
            title: "ok".into(),
            labels: vec![" ".into()],
            ..Default::default()
        },
    ] {
        let e = err(env.m.create_task(&env.op, bad).await);
        assert!(
            matches!(e.code(), Code::MissingRequiredField | Code::InvalidArgument),
            "{e:?}"
        );
    }
    assert_eq!(env.seq().await, before);
}

#[tokio::test]
async fn create_tasks_creates_a_batch_in_order_all_or_nothing() {
    let env = Env::new().await;
    let base = env.task("base").await;
    let batch: Vec<NewTask> = (0..5)
        .map(|i| NewTask {
            title: format!("step {i}"),
            depends_on: vec![base.id.clone()],
            priority: Some(Priority::ALL[i % 3]),
            ..Default::default()
        })
        .collect();
    let before = env.seq().await;
    let created = env.m.create_tasks(&env.op, batch.clone()).await.unwrap();
    assert_eq!(
        created.iter().map(|t| t.title.clone()).collect::<Vec<_>>(),
        (0..5).map(|i| format!("step {i}")).collect::<Vec<_>>()
    );
    assert!(
        created
            .iter()
            .all(|t| t.dependencies == vec![base.id.clone()])
    );
    let mut expected = vec![base.id.clone()];
    expected.extend(ids(&created));
    assert_eq!(env.list(TaskFilter::default()).await, expected);
    // Each task gets its own creation events, as if created one by one.
    let events = env.events_after(before).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event_type == EventType::TaskCreated)
            .count(),
        5
    );
    assert_eq!(env.get(&base.id).await.version, base.version);
    assert_eq!(env.m.get_task(&base.id).await.unwrap().dependents.len(), 5);

    // One bad item: nothing is written.
    let seq = env.seq().await;
    let mut bad = batch.clone();
    bad[3].depends_on = vec!["t-zzzzzzzz".into()];
    assert_eq!(
        err(env.m.create_tasks(&env.op, bad).await).code(),
        Code::TaskNotFound
    );
    let mut invalid = batch.clone();
    invalid[4].title = " ".into();
    assert_eq!(
        err(env.m.create_tasks(&env.op, invalid).await).code(),
        Code::MissingRequiredField
    );
    assert_eq!(env.seq().await, seq);
    assert_eq!(env.list(TaskFilter::default()).await.len(), 6);

    // Idempotent as a whole.
    let op = OpContext::default().with_op_id("op-batch-1");
    let first = env.m.create_tasks(&op, batch.clone()).await.unwrap();
    let seq = env.seq().await;
    assert_eq!(env.m.create_tasks(&op, batch).await.unwrap(), first);
    assert_eq!(env.seq().await, seq);
    assert!(
        env.m
            .create_tasks(&env.op, vec![])
            .await
            .unwrap()
            .is_empty()
    );
}

/// Dependencies come in declaration order, dependents in creation order, subtasks in their
/// order, whatever order the rows were stored in.
#[tokio::test]
async fn task_detail_lists_come_in_their_documented_order() {
    let env = Env::new().await;
    let mut made = Vec::new();
    for title in ["P", "Q", "R"] {
        made.push(env.task(title).await);
    }
    let ids: Vec<String> = made.iter().map(|t| t.id.clone()).collect();
    // Declared newest first: the detail keeps that order, not creation or id order.
    let declared: Vec<String> = ids.iter().rev().cloned().collect();
    let t = env
        .task_with(NewTask {
            title: "T".into(),
            depends_on: declared.clone(),
            ..Default::default()
        })
        .await;
    let mut dependents = Vec::new();
    for i in 0..4 {
        let d = env
            .task_with(NewTask {
                title: format!("D{i}"),
                depends_on: vec![t.id.clone()],
                ..Default::default()
            })
            .await;
        dependents.push(d.id);
    }
    let mut subtasks = Vec::new();
    for title in ["one", "two", "three"] {
        let s = env
            .m
            .create_subtask(&env.op, &t.id, title, None)
            .await
            .unwrap();
        subtasks.push(s.id);
    }
    let detail = env.m.get_task(&t.id).await.unwrap();
    let got = |refs: &[DependencyRef]| refs.iter().map(|d| d.id.clone()).collect::<Vec<_>>();
    assert_eq!(got(&detail.dependency_details), declared);
    assert_eq!(detail.task.dependencies, declared);
    assert_eq!(got(&detail.dependents), dependents);
    let sub_ids: Vec<String> = detail.subtasks.iter().map(|s| s.id.clone()).collect();
    assert_eq!(sub_ids, subtasks);
    assert!(detail.subtasks.windows(2).all(|w| w[0].order < w[1].order));
}

#[tokio::test]
async fn get_task_shows_subtasks_dependencies_dependents_and_timeline() {
    let env = Env::new().await;
    let a = env.task("A").await;
    let b = env.task("B").await;
    let c = env
        .task_with(NewTask {
            title: "C".into(),
            depends_on: vec![a.id.clone(), b.id.clone()],
            ..Default::default()
        })
        .await;
    let d = env
        .task_with(NewTask {
            title: "D".into(),
            depends_on: vec![c.id.clone()],
            ..Default::default()
        })
        .await;
    env.m.start_task(&env.op, &a.id, false).await.unwrap();
    env.m.complete_task(&env.op, &a.id, false).await.unwrap();
    let s1 = env
        .m
        .create_subtask(&env.op, &c.id, "first", Some("desc"))
        .await
        .unwrap();
    let s2 = env
        .m
        .create_subtask(&env.op, &c.id, "second", None)
        .await
        .unwrap();
    env.m
        .add_progress(&env.op, &c.id, "looked at it")
        .await
        .unwrap();

    let detail = env.m.get_task(&c.id[..6]).await.unwrap();
    assert_eq!(detail.task.id, c.id);
    assert_eq!(
        detail
            .subtasks
            .iter()
            .map(|s| s.id.clone())
            .collect::<Vec<_>>(),
        vec![s1.id.clone(), s2.id.clone()]
    );
    assert_eq!(detail.subtasks[0].description, "desc");
    assert_eq!(
        detail.dependency_details,
        vec![
            DependencyRef {
                id: a.id.clone(),
                title: "A".into(),
                status: TaskStatus::Completed
            },
            DependencyRef {
                id: b.id.clone(),
                title: "B".into(),
                status: TaskStatus::Pending
            },
        ]
    );
    assert_eq!(
        detail.dependents,
        vec![DependencyRef {
            id: d.id.clone(),
            title: "D".into(),
            status: TaskStatus::Pending
        }]
    );
    assert_eq!(
        timeline_types(&detail.timeline),
        vec!["created", "subtask_created", "subtask_created", "progress"]
    );
    assert!(detail.timeline.windows(2).all(|w| w[0].id < w[1].id));
    assert!(detail.timeline.iter().all(|e| e.task_id == c.id));

    let a_detail = env.m.get_task(&a.id).await.unwrap();
    assert_eq!(
        timeline_types(&a_detail.timeline),
        vec!["created", "status_changed", "status_changed"]
    );
    assert_eq!(a_detail.dependents.len(), 1);
    assert!(a_detail.task.started_at.is_some() && a_detail.task.completed_at.is_some());

    // The JSON shape front ends print.
    let v = serde_json::to_value(&detail).unwrap();
    assert_eq!(v["id"], json!(c.id));
    assert_eq!(v["dependencies"], json!([a.id, b.id]));
    assert_eq!(v["dependencyDetails"][0]["status"], "completed");
    assert_eq!(v["dependents"][0]["id"], json!(d.id));
    assert_eq!(v["subtasks"][1]["order"], 2);
    assert_eq!(v["timeline"][3]["message"], "looked at it");

    assert_eq!(
        err(env.m.get_task("t-zzzzzzzz").await).code(),
        Code::TaskNotFound
    );
    assert_eq!(err(env.m.get_task("").await).code(), Code::InvalidArgument);
}

#[tokio::test]
async fn list_tasks_honours_every_filter() {
    let env = Env::new().await;
    let other = env.m.create_project(&env.op, "other", false).await.unwrap();
    let new = |title: &str, priority: Priority, labels: &[&str], deps: Vec<String>| NewTask {
        title: title.into(),
        priority: Some(priority),
        labels: labels.iter().map(|l| l.to_string()).collect(),
        depends_on: deps,
        ..Default::default()
    };
    let a = env
        .task_with(new("A", Priority::High, &["api"], vec![]))
        .await;
    let b = env
        .task_with(new("B", Priority::Low, &["api", "db"], vec![]))
        .await;
    let c = env
        .task_with(new("C", Priority::Medium, &["db"], vec![a.id.clone()]))
        .await;
    let d = env
        .task_with(new("D", Priority::High, &[], vec![b.id.clone()]))
        .await;
    let e = env.task_with(new("E", Priority::Low, &[], vec![])).await;
    env.task_with(NewTask {
        project_id: Some(other.id.clone()),
        ..new("elsewhere", Priority::High, &["api"], vec![])
    })
    .await;

    let s = env.session("worker").await;
    env.m.claim_task(&env.op, &a.id, &s.id).await.unwrap();
    env.m.block_task(&env.op, &e.id, "waiting").await.unwrap();

    let all = env.list(TaskFilter::default()).await;
    assert_eq!(
        all,
        ids(&[a.clone(), b.clone(), c.clone(), d.clone(), e.clone()])
    );
    let f = |filter: TaskFilter| filter;
    assert_eq!(
        env.list(f(TaskFilter {
            status: Some(TaskStatus::Pending),
            ..Default::default()
        }))
        .await,
        vec![b.id.clone(), c.id.clone(), d.id.clone()]
    );
    assert_eq!(
        env.list(TaskFilter {
            status: Some(TaskStatus::Blocked),
            ..Default::default()
        })
        .await,
        vec![e.id.clone()]
    );
    assert_eq!(
        env.list(TaskFilter {
            priority: Some(Priority::High),
            ..Default::default()
        })
        .await,
        vec![a.id.clone(), d.id.clone()]
    );
    assert_eq!(
        env.list(TaskFilter {
            label: Some("db".into()),
            ..Default::default()
        })
        .await,
        vec![b.id.clone(), c.id.clone()]
    );
    assert_eq!(
        env.list(TaskFilter {
            label: Some("api".into()),
            priority: Some(Priority::Low),
            ..Default::default()
        })
        .await,
        vec![b.id.clone()]
    );
    // Ready: pending with every dependency completed. C waits on A (in progress), D on B.
    assert_eq!(
        env.list(TaskFilter {
            ready: true,
            ..Default::default()
        })
        .await,
        vec![b.id.clone()]
    );
    assert_eq!(
        env.list(TaskFilter {
            session_id: Some(s.id.clone()),
            ..Default::default()
        })
        .await,
        vec![a.id.clone()]
    );
    assert_eq!(
        err(env
            .m
            .list_tasks(TaskFilter {
                session_id: Some("s-nobody00".into()),
                ..Default::default()
            })
            .await)
        .code(),
        Code::SessionNotFound,
        "an unknown session is not an empty list"
    );
    assert_eq!(
        env.list(TaskFilter {
            session_id: Some(s.id[..6].to_string()),
            ..Default::default()
        })
        .await,
        vec![a.id.clone()],
        "a session prefix is resolved"
    );
    assert_eq!(
        env.list(TaskFilter {
            project_id: Some(other.id.clone()),
            ..Default::default()
        })
        .await
        .len(),
        1
    );

    env.m.complete_task(&env.op, &a.id, false).await.unwrap();
    assert_eq!(
        env.list(TaskFilter {
            ready: true,
            ..Default::default()
        })
        .await,
        vec![b.id.clone(), c.id.clone()]
    );
    // The ready queue orders by priority, then age.
    assert_eq!(
        ids(&env.m.ready_tasks(None, None).await.unwrap()),
        vec![c.id.clone(), b.id.clone()]
    );
    assert_eq!(
        ids(&env.m.ready_tasks(None, Some(1)).await.unwrap()),
        vec![c.id.clone()]
    );
    let status = env.m.status(None).await.unwrap();
    assert_eq!(status.tasks.total, 5);
    assert_eq!(status.tasks.ready, 2);
    assert_eq!(status.tasks.by_status["completed"], 1);
    assert_eq!(status.tasks.by_status["cancelled"], 0);
    assert_eq!(status.tasks.by_priority["high"], 2);
    assert_eq!((status.sessions.active, status.sessions.total), (1, 1));
}

#[tokio::test]
async fn pagination_walks_every_task_once() {
    let env = Env::new().await;
    for i in 0..23 {
        env.task_with(NewTask {
            title: format!("task {i}"),
            labels: if i % 3 == 0 {
                vec!["third".into()]
            } else {
                vec![]
            },
            ..Default::default()
        })
        .await;
    }
    let everything = env.list(TaskFilter::default()).await;
    assert_eq!(everything.len(), 23);

    for (limit, label, expected_len) in [(5, None, 23), (1, None, 23), (3, Some("third"), 8)] {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = env
                .m
                .list_tasks(TaskFilter {
                    limit: Some(limit),
                    cursor: cursor.clone(),
                    label: label.map(str::to_string),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert!(page.items.len() <= limit);
            pages += 1;
            seen.extend(page.items.into_iter().map(|t| t.id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
            assert!(pages <= 30, "pagination does not end");
        }
        assert_eq!(seen.len(), expected_len, "limit {limit}");
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no duplicates");
        let expected: Vec<String> = if label.is_some() {
            env.list(TaskFilter {
                label: label.map(str::to_string),
                ..Default::default()
            })
            .await
        } else {
            everything.clone()
        };
        assert_eq!(seen, expected, "no gaps, same order as one big page");
        assert_eq!(pages, expected_len.div_ceil(limit));
    }

    for bad in ["garbage", "12.", ".t-1", "x.t-1"] {
        let e = err(env
            .m
            .list_tasks(TaskFilter {
                cursor: Some(bad.into()),
                ..Default::default()
            })
            .await);
        assert_eq!(e.code(), Code::InvalidArgument, "cursor {bad:?}");
        assert!(e.suggestion().is_some());
    }
    assert_eq!(
        err(env
            .m
            .list_tasks(TaskFilter {
                limit: Some(0),
                ..Default::default()
            })
            .await)
        .code(),
        Code::InvalidArgument
    );
}

#[tokio::test]
async fn ids_resolve_by_unique_prefix_and_ambiguity_is_reported() {
    let env = Env::new().await;
    let mut all = Vec::new();
    // 40 ids over a 32-letter alphabet: two of them share their first letter.
    for i in 0..40 {
        all.push(env.task(&format!("task {i}")).await.id);
    }
    let first = all[0].clone();
    let prefix = unique_prefix(&first, &all);
    assert!(prefix.len() < first.len());
    assert_eq!(env.m.get_task(&prefix).await.unwrap().task.id, first);
    // Without the kind prefix, upper case, surrounded by spaces.
    let bare = format!(" {} ", prefix[2..].to_ascii_uppercase());
    assert_eq!(env.m.get_task(&bare).await.unwrap().task.id, first);

    let shared = all
        .iter()
        .map(|id| &id[..3])
        .find(|p| all.iter().filter(|id| id.starts_with(*p)).count() > 1)
        .expect("two ids share a letter")
        .to_string();
    let e = err(env.m.get_task(&shared).await);
    assert_eq!(e.code(), Code::AmbiguousId);
    let matches = e.details()["matches"].as_array().unwrap();
    assert!(matches.len() >= 2);
    for m in matches {
        assert!(m.as_str().unwrap().starts_with(&shared));
    }
    assert!(e.suggestion().is_some());
    // Mutations resolve the same way and change nothing when ambiguous.
    let before = env.seq().await;
    let e = err(env.m.start_task(&env.op, &shared, false).await);
    assert_eq!(e.code(), Code::AmbiguousId);
    assert_eq!(env.seq().await, before);
    assert_eq!(
        err(env.m.get_task("t-zzzzzzzzz").await).code(),
        Code::TaskNotFound
    );
}

// ---- status machine --------------------------------------------------------------------

/// A fresh task brought to `status` through the facade.
async fn task_in(env: &Env, status: TaskStatus) -> Task {
    let t = env.task(&format!("in {status}")).await;
    let op = &env.op;
    match status {
        TaskStatus::Pending => {}
        TaskStatus::InProgress => {
            env.m.start_task(op, &t.id, false).await.unwrap();
        }
        TaskStatus::Blocked => {
            env.m.block_task(op, &t.id, "stuck").await.unwrap();
        }
        TaskStatus::Completed => {
            env.m.start_task(op, &t.id, false).await.unwrap();
            env.m.complete_task(op, &t.id, false).await.unwrap();
        }
        TaskStatus::Cancelled => {
            env.m.cancel_task(op, &t.id).await.unwrap();
        }
    }
    let t = env.get(&t.id).await;
    assert_eq!(t.status, status);
    t
}

#[tokio::test]
async fn every_status_transition_follows_the_machine() {
    use TaskStatus::*;
    let env = Env::new().await;
    let allowed = |from: TaskStatus| -> Vec<TaskStatus> {
        match from {
            Pending => vec![InProgress, Blocked, Cancelled],
            InProgress => vec![Blocked, Completed, Pending, Cancelled],
            Blocked => vec![InProgress, Pending, Cancelled],
            Completed => vec![InProgress],
            Cancelled => vec![Pending],
        }
    };
    for &from in TaskStatus::ALL {
        for &to in TaskStatus::ALL {
            let t = task_in(&env, from).await;
            let before = env.seq().await;
            let patch = TaskPatch {
                status: Some(to),
                ..Default::default()
            };
            let result = env.m.update_task(&env.op, &t.id, patch).await;
            if from == to {
                let same = result.expect("a repeated status is a no-op");
                assert_eq!(same.version, t.version, "{from} -> {to}");
                assert_eq!(env.seq().await, before, "a no-op appends no event");
            } else if allowed(from).contains(&to) {
                let moved = result.unwrap_or_else(|e| panic!("{from} -> {to}: {e:?}"));
                assert_eq!(moved.status, to);
                assert_eq!(moved.version, t.version + 1);
                let timeline = env.history(&t.id).await;
                let changed = timeline
                    .iter()
                    .rev()
                    .find_map(|e| match e.kind {
                        TimelineKind::StatusChanged { from, to } => Some((from, to)),
                        _ => None,
                    })
                    .unwrap();
                assert_eq!(changed, (from, to));
                let events = env.events_after(before).await;
                assert!(types(&events).contains(&"task:updated"));
            } else {
                let e = result.expect_err("a disallowed transition fails");
                assert_eq!(e.code(), Code::InvalidTransition, "{from} -> {to}");
                let names: Vec<&str> = allowed(from).iter().map(|s| s.as_str()).collect();
                assert_eq!(e.details()["allowed"], json!(names), "{from} -> {to}");
                for n in &names {
                    assert!(e.suggestion().unwrap().contains(n), "{e:?}");
                }
                assert_eq!(env.get(&t.id).await, t, "nothing changed");
                assert_eq!(env.seq().await, before, "a failed change appends no event");
            }
        }
    }
}

#[tokio::test]
async fn status_actions_through_the_facade() {
    let env = Env::new().await;
    let op = &env.op;
    let t = env.task("work").await;

    let started = env.m.start_task(op, &t.id, false).await.unwrap();
    assert_eq!(started.status, TaskStatus::InProgress);
    assert!(started.started_at.is_some());
    // Repeats are successful no-ops.
    let again = env.m.start_task(op, &t.id, false).await.unwrap();
    assert_eq!(again.version, started.version);
    let done = env.m.complete_task(op, &t.id, false).await.unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    assert!(done.completed_at.is_some());
    let seq = env.seq().await;
    let again = env.m.complete_task(op, &t.id, false).await.unwrap();
    assert_eq!(again, done);
    assert_eq!(env.seq().await, seq);

    // Completed cannot be cancelled; the error names the one way out.
    let e = err(env.m.cancel_task(op, &t.id).await);
    assert_eq!(e.code(), Code::InvalidTransition);
    assert_eq!(e.details()["allowed"], json!(["in_progress"]));
    assert_eq!(e.details()["from"], "completed");
    // Reopen: completed -> in_progress, and completed_at is cleared.
    let reopened = env.m.reopen_task(op, &t.id).await.unwrap();
    assert_eq!(reopened.status, TaskStatus::InProgress);
    assert!(reopened.completed_at.is_none());
    // Reopen of an open task is a no-op.
    let same = env.m.reopen_task(op, &t.id).await.unwrap();
    assert_eq!(same.version, reopened.version);

    // Blocked -> completed only with force.
    let blocked = env.m.block_task(op, &t.id, "needs review").await.unwrap();
    assert_eq!(blocked.status, TaskStatus::Blocked);
    let timeline = env.newest(&t.id, 1).await;
    assert_eq!(
        timeline[0].kind,
        TimelineKind::Blocked {
            reason: "needs review".into(),
            details: None,
        }
    );
    let e = err(env.m.complete_task(op, &t.id, false).await);
    assert_eq!(e.code(), Code::InvalidTransition);
    assert!(e.suggestion().unwrap().contains("--force"));
    assert_eq!(
        err(env.m.block_task(op, &t.id, "  ").await).code(),
        Code::MissingRequiredField
    );
    let forced = env.m.complete_task(op, &t.id, true).await.unwrap();
    assert_eq!(forced.status, TaskStatus::Completed);

    // Cancelled -> reopen -> pending.
    let c = env.task("dropped").await;
    env.m.cancel_task(op, &c.id).await.unwrap();
    let e = err(env.m.start_task(op, &c.id, false).await);
    assert_eq!(e.code(), Code::InvalidTransition);
    assert_eq!(e.details()["allowed"], json!(["pending"]));
    let back = env.m.reopen_task(op, &c.id).await.unwrap();
    assert_eq!(back.status, TaskStatus::Pending);

    // Blocked -> reopen -> pending.
    let b = env.task("stuck").await;
    env.m.block_task(op, &b.id, "why").await.unwrap();
    assert_eq!(
        env.m.reopen_task(op, &b.id).await.unwrap().status,
        TaskStatus::Pending
    );
}

#[tokio::test]
async fn starting_a_task_with_unfinished_dependencies_lists_them() {
    let env = Env::new().await;
    let op = &env.op;
    let a = env.task("A").await;
    let b = env.task("B").await;
    let done = env.task("done").await;
    env.m.start_task(op, &a.id, false).await.unwrap();
    env.m.start_task(op, &done.id, false).await.unwrap();
    env.m.complete_task(op, &done.id, false).await.unwrap();
    let c = env
        .task_with(NewTask {
            title: "C".into(),
            depends_on: vec![a.id.clone(), done.id.clone(), b.id.clone()],
            ..Default::default()
        })
        .await;
    let before = env.seq().await;
    let e = err(env.m.start_task(op, &c.id, false).await);
    assert_eq!(e.code(), Code::DependenciesIncomplete);
    assert_eq!(
        e.details()["incomplete"],
        json!([
            { "id": a.id, "title": "A", "status": "in_progress" },
            { "id": b.id, "title": "B", "status": "pending" },
        ])
    );
    assert!(e.suggestion().unwrap().contains("--force"));
    assert!(e.message().contains(&a.id) && e.message().contains(&b.id));
    assert!(!e.message().contains(&done.id));
    assert_eq!(env.seq().await, before);

    let s = env.session("w").await;
    assert_eq!(
        err(env.m.claim_task(op, &c.id, &s.id).await).code(),
        Code::DependenciesIncomplete
    );
    assert_eq!(
        ids(&env.m.ready_tasks(None, None).await.unwrap()),
        vec![b.id.clone()]
    );

    let forced = env.m.start_task(op, &c.id, true).await.unwrap();
    assert_eq!(forced.status, TaskStatus::InProgress);
}

#[tokio::test]
async fn adding_a_dependency_that_closes_a_cycle_fails_with_the_path() {
    let env = Env::new().await;
    let op = &env.op;
    let a = env.task("A").await;
    let b = env
        .task_with(NewTask {
            title: "B".into(),
            depends_on: vec![a.id.clone()],
            ..Default::default()
        })
        .await;
    let c = env
        .task_with(NewTask {
            title: "C".into(),
            depends_on: vec![b.id.clone()],
            ..Default::default()
        })
        .await;
    let before = env.seq().await;
    let add = |deps: Vec<String>| TaskPatch {
        add_dependencies: deps,
        title: Some("renamed".into()),
        ..Default::default()
    };
    let e = err(env.m.update_task(op, &a.id, add(vec![c.id.clone()])).await);
    assert_eq!(e.code(), Code::DependencyCycle);
    assert_eq!(e.details()["cycle"], json!([a.id, c.id, b.id, a.id]));
    assert!(e.message().contains(&c.id));
    let e = err(env.m.update_task(op, &a.id, add(vec![a.id.clone()])).await);
    assert_eq!(e.code(), Code::DependencyCycle);
    assert_eq!(e.details()["cycle"], json!([a.id, a.id]));
    // Nothing of the failed updates was applied.
    assert_eq!(env.get(&a.id).await, a);
    assert_eq!(env.seq().await, before);

    // Diamond shapes are fine; existing edges are not duplicated.
    let d = env.task("D").await;
    let updated = env
        .m
        .update_task(
            op,
            &c.id,
            TaskPatch {
                add_dependencies: vec![d.id.clone(), b.id.clone(), a.id.clone()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        updated.dependencies,
        vec![b.id.clone(), d.id.clone(), a.id.clone()]
    );
    assert_eq!(updated.version, c.version + 1);
    let removed = env
        .m
        .update_task(
            op,
            &c.id,
            TaskPatch {
                remove_dependencies: vec![b.id.clone()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(removed.dependencies, vec![d.id.clone(), a.id.clone()]);
    // With B no longer between them, A may now depend on B.
    let ok = env
        .m
        .update_task(
            op,
            &a.id,
            TaskPatch {
                add_dependencies: vec![b.id.clone()],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(
        err(ok).code(),
        Code::DependencyCycle,
        "B still depends on A"
    );
}

#[tokio::test]
async fn deleting_a_task_removes_it_everywhere() {
    let env = Env::new().await;
    let op = &env.op;
    let a = env.task("A").await;
    let other = env.task("other").await;
    let b = env
        .task_with(NewTask {
            title: "B".into(),
            depends_on: vec![other.id.clone(), a.id.clone()],
            ..Default::default()
        })
        .await;
    let c = env
        .task_with(NewTask {
            title: "C".into(),
            depends_on: vec![a.id.clone()],
            ..Default::default()
        })
        .await;
    let sub = env.m.create_subtask(op, &a.id, "part", None).await.unwrap();
    env.m.add_progress(op, &a.id, "note").await.unwrap();
    let before = env.seq().await;

    let deleted = env.m.delete_task(op, &a.id[..6]).await.unwrap();
    assert_eq!(deleted.id, a.id);
    assert_eq!(err(env.m.get_task(&a.id).await).code(), Code::TaskNotFound);
    let b2 = env.get(&b.id).await;
    assert_eq!(b2.dependencies, vec![other.id.clone()]);
    assert_eq!(b2.version, b.version + 1);
    let c2 = env.get(&c.id).await;
    assert!(c2.dependencies.is_empty());
    assert_eq!(c2.version, c.version + 1);
    // C is ready now that its only dependency is gone.
    assert!(ids(&env.m.ready_tasks(None, None).await.unwrap()).contains(&c.id));

    let events = env.events_after(before).await;
    let updated: HashSet<String> = events
        .iter()
        .filter(|e| e.event_type == EventType::TaskUpdated)
        .map(|e| e.data["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(updated, HashSet::from([b.id.clone(), c.id.clone()]));
    let gone = events
        .iter()
        .find(|e| e.event_type == EventType::TaskDeleted)
        .unwrap();
    assert_eq!(gone.data["id"], json!(a.id));

    // Subtasks, timeline and edges went with it.
    assert_eq!(
        err(env
            .m
            .update_subtask(
                op,
                None,
                &sub.id,
                SubtaskPatch {
                    completed: Some(true),
                    ..Default::default()
                }
            )
            .await)
        .code(),
        Code::SubtaskNotFound
    );
    for (table, col) in [
        ("subtasks", "task_id"),
        ("timeline", "task_id"),
        ("task_deps", "task_id"),
        ("task_deps", "depends_on"),
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE {col} = ?1");
        let n = env.count(&sql, Some(&a.id));
        assert_eq!(n, 0, "{table}.{col}");
    }
    assert_eq!(
        err(env.m.delete_task(op, &a.id).await).code(),
        Code::TaskNotFound
    );
}

// ---- subtasks --------------------------------------------------------------------------

#[tokio::test]
async fn subtasks_are_ordered_reordered_completed_and_renumbered() {
    let env = Env::new().await;
    let op = &env.op;
    let t = env.task("parent").await;
    let other = env.task("other parent").await;
    let mut subs = Vec::new();
    for name in ["one", "two", "three", "four"] {
        subs.push(env.m.create_subtask(op, &t.id, name, None).await.unwrap());
    }
    assert_eq!(
        subs.iter().map(|s| s.order).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(subs.iter().all(|s| s.task_id == t.id && !s.completed));
    let order = |list: &[Subtask]| -> Vec<(String, i64)> {
        list.iter().map(|s| (s.title.clone(), s.order)).collect()
    };
    let names = |pairs: &[(&str, i64)]| -> Vec<(String, i64)> {
        pairs.iter().map(|(n, o)| (n.to_string(), *o)).collect()
    };
    let version = env.get(&t.id).await.version;
    assert_eq!(
        version, 1,
        "subtasks leave the task's version (what --if-version guards) alone"
    );

    // Move "four" to the front.
    let moved = env
        .m
        .update_subtask(
            op,
            Some(&t.id),
            &subs[3].id,
            SubtaskPatch {
                order: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.order, 1);
    assert_eq!(
        order(&env.m.list_subtasks(&t.id).await.unwrap()),
        names(&[("four", 1), ("one", 2), ("two", 3), ("three", 4)])
    );
    // An order past the end moves it last.
    env.m
        .update_subtask(
            op,
            None,
            &subs[0].id,
            SubtaskPatch {
                order: Some(99),
                title: Some("uno".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        order(&env.m.list_subtasks(&t.id).await.unwrap()),
        names(&[("four", 1), ("two", 2), ("three", 3), ("uno", 4)])
    );
    assert_eq!(
        err(env
            .m
            .update_subtask(
                op,
                None,
                &subs[0].id,
                SubtaskPatch {
                    order: Some(0),
                    ..Default::default()
                },
            )
            .await)
        .code(),
        Code::InvalidArgument
    );

    // Complete (and completing again is a no-op).
    let done = env
        .m
        .complete_subtask(op, Some(&t.id), &subs[1].id)
        .await
        .unwrap();
    assert!(done.completed && done.completed_at.is_some());
    let v = env.get(&t.id).await.version;
    let again = env
        .m
        .complete_subtask(op, Some(&t.id), &subs[1].id)
        .await
        .unwrap();
    assert_eq!(again, done);
    assert_eq!(env.get(&t.id).await.version, v);
    let timeline = env.history(&t.id).await;
    assert!(timeline.iter().any(|e| e.kind
        == TimelineKind::SubtaskCompleted {
            subtask_id: subs[1].id.clone()
        }));

    // The wrong owner task is refused, and nothing changes.
    let before = env.seq().await;
    let e = err(env
        .m
        .complete_subtask(op, Some(&other.id), &subs[2].id)
        .await);
    assert_eq!(e.code(), Code::SubtaskNotFound);
    assert_eq!(e.details()["ownerTaskId"], json!(t.id));
    assert_eq!(
        err(env.m.delete_subtask(op, Some(&other.id), &subs[2].id).await).code(),
        Code::SubtaskNotFound
    );
    assert_eq!(env.seq().await, before);

    // Delete renumbers what remains.
    let v = env.get(&t.id).await.version;
    let deleted = env
        .m
        .delete_subtask(op, Some(&t.id), &subs[1].id)
        .await
        .unwrap();
    assert_eq!(deleted.id, subs[1].id);
    assert_eq!(
        order(&env.m.list_subtasks(&t.id).await.unwrap()),
        names(&[("four", 1), ("three", 2), ("uno", 3)])
    );
    assert_eq!(env.get(&t.id).await.version, v);
    assert_eq!(
        err(env.m.delete_subtask(op, None, &subs[1].id).await).code(),
        Code::SubtaskNotFound
    );
    let events = env.events_after(before).await;
    assert!(types(&events).contains(&"subtask:deleted"));

    // The task's deletion takes its subtasks along.
    env.m.delete_task(op, &t.id).await.unwrap();
    assert_eq!(
        err(env.m.list_subtasks(&t.id).await).code(),
        Code::TaskNotFound
    );
    let n = env.count("SELECT COUNT(*) FROM subtasks", None);
    assert_eq!(n, 0);
}

// ---- timeline --------------------------------------------------------------------------

#[tokio::test]
async fn progress_and_comments_append_entries_and_bump_the_version() {
    let env = Env::new().await;
    let t = env.task("notes").await;
    let s = env.session("w").await;
    let sop = OpContext::session(Some(s.id.clone()));
    let p = env
        .m
        .add_progress(&sop, &t.id, "  half way ")
        .await
        .unwrap();
    assert_eq!(
        p.kind,
        TimelineKind::Progress {
            message: "half way".into()
        }
    );
    assert_eq!(p.session_id.as_deref(), Some(s.id.as_str()));
    // Reports below the task leave its version (what --if-version guards) alone.
    let version = env.get(&t.id).await.version;
    let c = env
        .m
        .add_comment(&env.op, &t.id, "reviewer", "looks good")
        .await
        .unwrap();
    assert_eq!(c.session_id, None);
    assert_eq!(env.get(&t.id).await.version, version);
    assert!(c.id > p.id);

    for i in 0..5 {
        env.m
            .add_progress(&env.op, &t.id, &format!("step {i}"))
            .await
            .unwrap();
    }
    let last = env.newest(&t.id, 2).await;
    assert_eq!(
        last.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
        vec![
            TimelineKind::Progress {
                message: "step 3".into()
            },
            TimelineKind::Progress {
                message: "step 4".into()
            },
        ],
        "the newest entries, oldest first"
    );
    assert_eq!(env.get(&t.id).await.version, version);

    let before = env.seq().await;
    assert_eq!(
        err(env.m.add_progress(&env.op, &t.id, " ").await).code(),
        Code::MissingRequiredField
    );
    assert_eq!(
        err(env
            .m
            .add_progress(&env.op, &t.id, &"x".repeat(64 * 1024 + 1))
            .await)
        .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        err(env.m.add_progress(&env.op, "t-zzzzzzzz", "x").await).code(),
        Code::TaskNotFound
    );
    let e = err(env
        .m
        .store()
        .add_timeline(&env.op, &t.id, TimelineKind::Created)
        .await);
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(env.seq().await, before);
    assert_eq!(env.get(&t.id).await.version, version);
}

#[tokio::test]
async fn expected_version_guards_against_lost_updates() {
    let env = Env::new().await;
    let op = &env.op;
    let t = env.task("contended").await;
    let ok = env
        .m
        .update_task(
            op,
            &t.id,
            TaskPatch {
                title: Some("first writer".into()),
                expected_version: Some(t.version),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ok.version, t.version + 1);
    let before = env.seq().await;
    let e = err(env
        .m
        .update_task(
            op,
            &t.id,
            TaskPatch {
                title: Some("second writer".into()),
                expected_version: Some(t.version),
                ..Default::default()
            },
        )
        .await);
    assert_eq!(e.code(), Code::VersionConflict);
    assert_eq!(e.details()["expectedVersion"], t.version);
    assert_eq!(e.details()["actualVersion"], ok.version);
    assert!(e.suggestion().unwrap().contains("task get"));
    let e = err(env
        .m
        .change_status(
            op,
            &t.id,
            StatusChange {
                expected_version: Some(t.version),
                ..start(StatusAction::Start)
            },
        )
        .await);
    assert_eq!(e.code(), Code::VersionConflict);
    assert_eq!(env.get(&t.id).await.title, "first writer");
    assert_eq!(env.seq().await, before);
    let started = env
        .m
        .change_status(
            op,
            &t.id,
            StatusChange {
                expected_version: Some(ok.version),
                ..start(StatusAction::Start)
            },
        )
        .await
        .unwrap();
    assert_eq!(started.status, TaskStatus::InProgress);

    // Metadata merges; a null removes the key.
    let mut m1 = serde_json::Map::new();
    m1.insert("a".into(), json!(1));
    m1.insert("b".into(), json!("x"));
    env.m
        .update_task(
            op,
            &t.id,
            TaskPatch {
                metadata: Some(m1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut m2 = serde_json::Map::new();
    m2.insert("a".into(), Value::Null);
    m2.insert("c".into(), json!(true));
    let merged = env
        .m
        .update_task(
            op,
            &t.id,
            TaskPatch {
                metadata: Some(m2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        Value::Object(merged.metadata),
        json!({ "b": "x", "c": true })
    );
    assert_eq!(
        err(env.m.update_task(op, &t.id, TaskPatch::default()).await).code(),
        Code::InvalidArgument
    );
}

// ---- claims ----------------------------------------------------------------------------

#[tokio::test]
async fn claims_are_exclusive_and_repeatable_by_their_owner() {
    let env = Env::new().await;
    let op = &env.op;
    let s1 = env.session("one").await;
    let s2 = env.session("two").await;
    let e = err(env.m.claim_next(op, None, &s1.id).await);
    assert_eq!(e.code(), Code::NothingReady);
    assert!(e.suggestion().is_some());

    let low = env
        .task_with(NewTask {
            title: "low".into(),
            priority: Some(Priority::Low),
            ..Default::default()
        })
        .await;
    let high = env
        .task_with(NewTask {
            title: "high".into(),
            priority: Some(Priority::High),
            ..Default::default()
        })
        .await;
    let waiting = env
        .task_with(NewTask {
            title: "waiting".into(),
            priority: Some(Priority::High),
            depends_on: vec![low.id.clone()],
            ..Default::default()
        })
        .await;

    let before = env.seq().await;
    let claimed = env.m.claim_next(op, None, &s1.id[..5]).await.unwrap();
    assert_eq!(claimed.id, high.id, "highest priority first");
    assert_eq!(claimed.status, TaskStatus::InProgress);
    assert_eq!(claimed.session_ids, vec![s1.id.clone()]);
    assert_eq!(claimed.claim_epoch, 1);
    assert_eq!(claimed.version, high.version + 1);
    assert!(claimed.started_at.is_some());
    let timeline = env.history(&high.id).await;
    let assigned = timeline
        .iter()
        .find(|e| e.kind.type_name() == "assigned")
        .unwrap();
    assert_eq!(assigned.session_id.as_deref(), Some(s1.id.as_str()));
    assert_eq!(
        env.m.get_session(&s1.id).await.unwrap().task_ids,
        vec![high.id.clone()]
    );
    let new_types = types(&env.events_after(before).await);
    assert!(new_types.contains(&"task:updated") && new_types.contains(&"session:updated"));

    // The owner re-claiming is a no-op; anyone else is refused.
    let seq = env.seq().await;
    let again = env.m.claim_task(op, &high.id, &s1.id).await.unwrap();
    assert_eq!(again, claimed);
    assert_eq!(env.seq().await, seq);
    let e = err(env.m.claim_task(op, &high.id, &s2.id).await);
    assert_eq!(e.kind(), Kind::Conflict);
    assert!(e.message().contains(&s1.id));
    assert_eq!(env.seq().await, seq);

    // A session that has ended claims nothing.
    let s3 = env.session("three").await;
    env.m.end_session(op, &s3.id, None).await.unwrap();
    let seq = env.seq().await;
    assert_eq!(
        err(env.m.claim_next(op, None, &s3.id).await).kind(),
        Kind::Conflict
    );
    assert_eq!(
        err(env.m.claim_task(op, &low.id, &s3.id).await).kind(),
        Kind::Conflict
    );
    assert_eq!(
        err(env.m.claim_next(op, None, "s-nobody00").await).code(),
        Code::SessionNotFound
    );
    assert_eq!(env.seq().await, seq);

    // Only pending tasks can be claimed.
    let done = env.task("done").await;
    env.m.cancel_task(op, &done.id).await.unwrap();
    assert_eq!(
        err(env.m.claim_task(op, &done.id, &s2.id).await).code(),
        Code::InvalidTransition
    );

    let second = env.m.claim_next(op, None, &s2.id).await.unwrap();
    assert_eq!(second.id, low.id, "`waiting` waits for `low`");
    assert_eq!(
        err(env.m.claim_next(op, None, &s2.id).await).code(),
        Code::NothingReady
    );
    env.m.complete_task(op, &low.id, false).await.unwrap();
    let third = env.m.claim_task(op, &waiting.id, &s2.id).await.unwrap();
    assert_eq!(third.session_ids, vec![s2.id.clone()]);
    assert_eq!(
        env.m.get_session(&s2.id).await.unwrap().task_ids,
        vec![low.id.clone(), waiting.id.clone()]
    );
}

#[tokio::test]
async fn release_returns_a_task_to_pending_with_a_new_epoch() {
    let env = Env::new().await;
    let op = &env.op;
    let s1 = env.session("one").await;
    let s2 = env.session("two").await;
    let t = env.task("to release").await;
    let claimed = env.m.claim_task(op, &t.id, &s1.id).await.unwrap();

    let release = |reason: &str| {
        StatusChange::new(StatusAction::Release {
            reason: reason.into(),
        })
    };
    let released = env
        .m
        .change_status(op, &t.id, release("lease expired"))
        .await
        .unwrap();
    assert_eq!(released.status, TaskStatus::Pending);
    assert!(released.session_ids.is_empty());
    assert!(released.claim_epoch > claimed.claim_epoch);
    assert_eq!(released.version, claimed.version + 1);
    let timeline = env.history(&t.id).await;
    assert!(timeline.iter().any(|e| e.kind
        == TimelineKind::Released {
            session_id: s1.id.clone(),
            reason: "lease expired".into()
        }));
    assert!(timeline.iter().any(|e| e.kind
        == TimelineKind::StatusChanged {
            from: TaskStatus::InProgress,
            to: TaskStatus::Pending
        }));
    // Releasing a pending task again is a no-op.
    let again = env
        .m
        .change_status(op, &t.id, release("again"))
        .await
        .unwrap();
    assert_eq!(again, released);

    // Someone else can claim it now, under a higher epoch.
    let reclaimed = env.m.claim_next(op, None, &s2.id).await.unwrap();
    assert_eq!(reclaimed.id, t.id);
    assert_eq!(reclaimed.session_ids, vec![s2.id.clone()]);
    assert!(reclaimed.claim_epoch > released.claim_epoch);

    // A blocked task can be released too: its sessions go with it.
    env.m.block_task(op, &t.id, "stuck").await.unwrap();
    let unblocked = env
        .m
        .change_status(op, &t.id, release("giving up"))
        .await
        .unwrap();
    assert_eq!(unblocked.status, TaskStatus::Pending);
    assert!(unblocked.session_ids.is_empty());
    assert!(unblocked.claim_epoch > reclaimed.claim_epoch);
    let s3 = env.session("three").await;
    let third = env.m.claim_task(op, &t.id, &s3.id).await.unwrap();
    assert_eq!(third.session_ids, vec![s3.id.clone()]);

    // Finished work cannot be released.
    env.m.complete_task(op, &t.id, false).await.unwrap();
    let seq = env.seq().await;
    let e = err(env.m.change_status(op, &t.id, release("no")).await);
    assert_eq!(e.code(), Code::InvalidTransition);
    assert!(e.suggestion().is_some());
    let c = env.task("cancelled").await;
    env.m.cancel_task(op, &c.id).await.unwrap();
    let seq2 = env.seq().await;
    let e = err(env.m.change_status(op, &c.id, release("no")).await);
    assert_eq!(e.code(), Code::InvalidTransition);
    assert_eq!(env.seq().await, seq2);
    assert!(seq2 > seq);
}

// ---- sessions --------------------------------------------------------------------------

#[tokio::test]
async fn sessions_register_spawn_list_get_update_heartbeat_and_end() {
    let env = Env::new().await;
    let op = &env.op;
    let t = env.task("work").await;
    let orch = env
        .m
        .register_session(
            op,
            NewSession {
                role: Some(Role::Orchestrator),
                name: Some("boss".into()),
                cwd: Some("/tmp/work".into()),
                pid: Some(42),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(orch.id.starts_with("s-"));
    assert_eq!(orch.status, SessionStatus::Active);
    assert_eq!(orch.role, Role::Orchestrator);
    assert_eq!(
        (orch.pid, orch.cwd.as_deref()),
        (Some(42), Some("/tmp/work"))
    );
    assert!(orch.started_at.is_some() && orch.ended_at.is_none());
    assert_eq!(orch.spawned_by, None);

    let before = env.seq().await;
    let oop = OpContext::session(Some(orch.id.clone()));
    let worker = env
        .m
        .spawn_session(
            &oop,
            NewSession {
                task_ids: vec![t.id[..5].to_string()],
                skill: Some("maestro-worker".into()),
                agent: Some("claude".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(worker.status, SessionStatus::Spawning);
    assert_eq!(worker.spawned_by.as_deref(), Some(orch.id.as_str()));
    assert_eq!(worker.task_ids, vec![t.id.clone()]);
    assert_eq!(worker.role, Role::Worker);
    assert!(worker.started_at.is_none());
    let events = env.events_after(before).await;
    assert_eq!(
        types(&events),
        vec!["session:created", "session:spawn_request"]
    );
    assert_eq!(events[1].data["id"], json!(worker.id));
    assert_eq!(events[1].data["spawnedBy"], json!(orch.id));
    assert_eq!(
        err(env.m.spawn_session(&oop, NewSession::default()).await).code(),
        Code::MissingRequiredField
    );
    assert_eq!(
        err(env
            .m
            .spawn_session(
                &oop,
                NewSession {
                    task_ids: vec!["t-zzzzzzzz".into()],
                    ..Default::default()
                }
            )
            .await)
        .code(),
        Code::TaskNotFound
    );

    // A host takes the request, and the spawned agent comes up.
    let started = env
        .m
        .claim_spawn(op, &worker.id, "box")
        .await
        .unwrap()
        .expect("the request is waiting");
    assert_eq!(started.status, SessionStatus::Starting);
    let up = env
        .m
        .update_session(
            op,
            &worker.id,
            SessionPatch {
                status: Some(SessionStatus::Active),
                pid: Some(777),
                host: Some("box".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(up.status, SessionStatus::Active);
    assert!(up.started_at.is_some());
    assert_eq!((up.pid, up.host.as_deref()), (Some(777), Some("box")));
    assert_eq!(env.m.get_session(&worker.id[..6]).await.unwrap(), up);

    let beat = env.m.heartbeat(&env.op, &worker.id).await.unwrap();
    assert!(beat.last_seen >= up.last_seen);
    assert_eq!(
        err(env.m.heartbeat(&env.op, "s-nobody00").await).code(),
        Code::SessionNotFound
    );

    let mut all = vec![orch.id.clone(), worker.id.clone()];
    for i in 0..3 {
        all.push(env.session(&format!("extra {i}")).await.id);
    }
    let e = err(env
        .m
        .end_session(op, &worker.id, Some(SessionStatus::Active))
        .await);
    assert_eq!(e.code(), Code::InvalidStatus);
    let ended = env
        .m
        .end_session(op, &all[3], Some(SessionStatus::Failed))
        .await
        .unwrap();
    assert_eq!(ended.status, SessionStatus::Failed);
    assert!(ended.ended_at.is_some());
    let ended2 = env.m.end_session(op, &all[4], None).await.unwrap();
    assert_eq!(ended2.status, SessionStatus::Completed);

    // Pagination over every session, and the active filter.
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = env
            .m
            .list_sessions(SessionFilter {
                limit: Some(2),
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|s| s.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, all);
    let active: Vec<String> = env
        .m
        .list_sessions(SessionFilter {
            active: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(active, all[..3].to_vec());
    let failed = env
        .m
        .list_sessions(SessionFilter {
            status: Some(SessionStatus::Failed),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids_of_sessions(&failed.items), vec![all[3].clone()]);
    assert_eq!(
        err(env
            .m
            .list_sessions(SessionFilter {
                cursor: Some("nope".into()),
                ..Default::default()
            })
            .await)
        .code(),
        Code::InvalidArgument
    );
    let status = env.m.status(None).await.unwrap();
    assert_eq!((status.sessions.active, status.sessions.total), (3, 5));

    // Acting as a session refreshes its lease.
    let before = env.m.get_session(&orch.id).await.unwrap().last_seen;
    std::thread::sleep(std::time::Duration::from_millis(5));
    env.m.add_progress(&oop, &t.id, "still here").await.unwrap();
    assert!(env.m.get_session(&orch.id).await.unwrap().last_seen > before);
}

fn ids_of_sessions(s: &[Session]) -> Vec<String> {
    s.iter().map(|s| s.id.clone()).collect()
}

// ---- event log -------------------------------------------------------------------------

#[tokio::test]
async fn every_mutation_appends_gap_free_events_and_failures_append_none() {
    let env = Env::new().await;
    let op = &env.op;
    let other = env.m.create_project(op, "other", false).await.unwrap();
    let mut last = env.seq().await;
    assert_eq!(last, 2);

    macro_rules! grows {
        ($what:literal, $call:expr) => {{
            let out = $call.await.expect($what);
            let now = env.seq().await;
            assert!(now > last, "{} appended no event", $what);
            last = now;
            out
        }};
    }
    macro_rules! fails {
        ($what:literal, $call:expr) => {{
            let e = $call.await.expect_err($what);
            assert_eq!(
                env.seq().await,
                last,
                "{} failed but appended events",
                $what
            );
            e
        }};
    }

    let a = grows!(
        "create",
        env.m.create_task(
            op,
            NewTask {
                title: "A".into(),
                ..Default::default()
            }
        )
    );
    let b = grows!(
        "create other",
        env.m.create_task(
            op,
            NewTask {
                title: "B".into(),
                project_id: Some(other.id.clone()),
                ..Default::default()
            }
        )
    );
    grows!(
        "update",
        env.m.update_task(
            op,
            &a.id,
            TaskPatch {
                title: Some("A2".into()),
                ..Default::default()
            }
        )
    );
    let s = grows!(
        "register",
        env.m.register_session(op, NewSession::default())
    );
    grows!("claim", env.m.claim_task(op, &a.id, &s.id));
    grows!("progress", env.m.add_progress(op, &a.id, "p"));
    grows!("comment", env.m.add_comment(op, &a.id, "me", "c"));
    let sub = grows!("subtask", env.m.create_subtask(op, &a.id, "s", None));
    grows!("subtask update", env.m.complete_subtask(op, None, &sub.id));
    grows!("subtask delete", env.m.delete_subtask(op, None, &sub.id));
    grows!("block", env.m.block_task(op, &a.id, "r"));
    grows!("complete", env.m.complete_task(op, &a.id, true));
    grows!(
        "session update",
        env.m.update_session(
            op,
            &s.id,
            SessionPatch {
                name: Some("n".into()),
                ..Default::default()
            }
        )
    );
    grows!(
        "spawn",
        env.m.spawn_session(
            op,
            NewSession {
                task_ids: vec![b.id.clone()],
                ..Default::default()
            }
        )
    );
    grows!("end", env.m.end_session(op, &s.id, None));
    grows!("delete", env.m.delete_task(op, &b.id));

    let idle = grows!(
        "register idle",
        env.m.register_session(op, NewSession::default())
    );

    fails!("bad transition", env.m.cancel_task(op, &a.id));
    fails!("missing task", env.m.start_task(op, "t-zzzzzzzz", false));
    fails!(
        "cycle",
        env.m.update_task(
            op,
            &a.id,
            TaskPatch {
                add_dependencies: vec![a.id.clone()],
                ..Default::default()
            }
        )
    );
    fails!(
        "stale version",
        env.m.update_task(
            op,
            &a.id,
            TaskPatch {
                title: Some("x".into()),
                expected_version: Some(1),
                ..Default::default()
            }
        )
    );
    fails!("ended claimer", env.m.claim_next(op, None, &s.id));
    fails!("nothing ready", env.m.claim_next(op, None, &idle.id));
    fails!("bad subtask", env.m.delete_subtask(op, None, "st-zzzzzzzz"));
    fails!(
        "bad session",
        env.m
            .update_session(op, "s-zzzzzzzz", SessionPatch::default())
    );

    let events = env.events().await;
    assert_eq!(events.len() as i64, last);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1, "gap-free and increasing");
    }
    assert!(events.windows(2).all(|w| w[0].ts <= w[1].ts));
    // Paging through the log.
    let page = env.m.events_since(3, 4, &[]).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![4, 5, 6, 7]
    );
    assert!(env.m.events_since(last, 10, &[]).await.unwrap().is_empty());

    // The project filter.
    let theirs = env
        .m
        .events_since(0, 10_000, std::slice::from_ref(&other.id))
        .await
        .unwrap();
    assert!(!theirs.is_empty());
    assert!(
        theirs
            .iter()
            .all(|e| e.project_id.as_deref() == Some(other.id.as_str()))
    );
    assert_eq!(
        theirs.len(),
        events
            .iter()
            .filter(|e| e.project_id.as_deref() == Some(other.id.as_str()))
            .count()
    );
    assert!(types(&theirs).contains(&"task:deleted"));
    let both = env
        .m
        .events_since(0, 10_000, &[other.id.clone(), a.project_id.clone()])
        .await
        .unwrap();
    assert_eq!(both.len(), events.len());

    // Payloads are the entities after the change.
    let created = events
        .iter()
        .find(|e| e.event_type == EventType::TaskCreated)
        .unwrap();
    assert_eq!(created.data["id"], json!(a.id));
    assert_eq!(created.data["status"], "pending");
    let last_update = events
        .iter()
        .rev()
        .find(|e| e.event_type == EventType::TaskUpdated && e.data["id"] == json!(a.id))
        .unwrap();
    assert_eq!(last_update.data["status"], "completed");
}

// ---- idempotency -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_op_id_returns_the_first_result_and_applies_once() {
    let env = Env::new().await;
    let op = env.op.clone().with_op_id("op-create-1");
    let new = NewTask {
        title: "once".into(),
        labels: vec!["x".into()],
        ..Default::default()
    };
    let first = env.m.create_task(&op, new.clone()).await.unwrap();
    let seq = env.seq().await;
    let second = env.m.create_task(&op, new.clone()).await.unwrap();
    assert_eq!(second, first, "the identical first result");
    assert_eq!(env.seq().await, seq, "not applied twice");
    assert_eq!(
        env.list(TaskFilter::default()).await,
        vec![first.id.clone()]
    );

    // The op id is remembered across processes (here: a second client of the same store,
    // for the same caller).
    let other = env.backing.client();
    assert_eq!(other.create_task(&op, new.clone()).await.unwrap(), first);

    let s = env.session("w").await;
    let sop = OpContext::session(Some(s.id.clone()));
    // A key belongs to its caller: another caller's identical key is its own request, and
    // the caller's key reused for a different request is refused.
    let someone = OpContext::default()
        .with_client_id("someone-else")
        .with_op_id("op-create-1");
    let theirs = env.m.create_task(&someone, new.clone()).await.unwrap();
    assert_ne!(theirs.id, first.id);
    let other_body = NewTask {
        title: "not the same".into(),
        ..new.clone()
    };
    assert_eq!(
        err(env.m.create_task(&op, other_body).await).code(),
        Code::IdempotencyKeyReused
    );
    assert_eq!(
        err(env.m.cancel_task(&op, &theirs.id).await).code(),
        Code::IdempotencyKeyReused,
        "another operation under the same key"
    );
    assert_eq!(env.get(&theirs.id).await.status, TaskStatus::Pending);
    let p_op = sop.clone().with_op_id("op-progress-1");
    let p1 = env.m.add_progress(&p_op, &first.id, "once").await.unwrap();
    let p2 = env.m.add_progress(&p_op, &first.id, "once").await.unwrap();
    assert_eq!(p1, p2);
    let progress = env
        .history(&first.id)
        .await
        .into_iter()
        .filter(|e| e.kind.type_name() == "progress")
        .count();
    assert_eq!(progress, 1);
    assert_eq!(
        env.get(&first.id).await.version,
        1,
        "progress leaves the version"
    );

    let c_op = sop.clone().with_op_id("op-claim-1");
    let claimed = env.m.claim_next(&c_op, None, &s.id).await.unwrap();
    let seq = env.seq().await;
    assert_eq!(env.m.claim_next(&c_op, None, &s.id).await.unwrap(), claimed);
    assert_eq!(env.seq().await, seq);

    // A failed call is not recorded: the same op id may be retried after fixing the cause.
    let d_op = env.op.clone().with_op_id("op-dep-1");
    let bad = NewTask {
        title: "dependent".into(),
        depends_on: vec!["t-zzzzzzzz".into()],
        ..Default::default()
    };
    assert_eq!(
        err(env.m.create_task(&d_op, bad.clone()).await).code(),
        Code::TaskNotFound
    );
    let fixed = env
        .m
        .create_task(
            &d_op,
            NewTask {
                depends_on: vec![first.id.clone()],
                ..bad
            },
        )
        .await
        .unwrap();
    assert_eq!(fixed.dependencies, vec![first.id.clone()]);

    // A different op id applies again.
    let third = env
        .m
        .create_task(&env.op.clone().with_op_id("op-create-2"), new)
        .await
        .unwrap();
    assert_ne!(third.id, first.id);
}

// ---- the ready queue against the pure model --------------------------------------------

/// A deterministic pseudo-random sequence (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// After every operation of a long pseudo-random mix (edges added and removed, statuses
/// changed to and from completed, deletions), the store's ready queue, its ready count
/// and the `ready` filter agree with `dag::ready_queue` computed from the listed tasks.
#[tokio::test]
async fn the_ready_queue_matches_the_pure_dag_model_after_random_operations() {
    let env = Env::new().await;
    let op = &env.op;
    let mut rng = Lcg(42);
    let mut live: Vec<String> = Vec::new();
    for step in 0..300 {
        let pick = |rng: &mut Lcg, live: &[String]| live[rng.below(live.len())].clone();
        let choice = if live.len() < 5 { 0 } else { rng.below(10) };
        let _ = match choice {
            0 | 1 => {
                let mut deps = Vec::new();
                for _ in 0..rng.below(3) {
                    if !live.is_empty() {
                        deps.push(pick(&mut rng, &live));
                    }
                }
                let t = env
                    .task_with(NewTask {
                        title: format!("step {step}"),
                        priority: Some(Priority::ALL[rng.below(3)]),
                        depends_on: deps,
                        ..Default::default()
                    })
                    .await;
                live.push(t.id);
                Ok(())
            }
            2 => env
                .m
                .start_task(op, &pick(&mut rng, &live), rng.below(2) == 0)
                .await
                .map(drop),
            3 | 4 => env
                .m
                .complete_task(op, &pick(&mut rng, &live), true)
                .await
                .map(drop),
            5 => env
                .m
                .reopen_task(op, &pick(&mut rng, &live))
                .await
                .map(drop),
            6 => env
                .m
                .change_status(
                    op,
                    &pick(&mut rng, &live),
                    StatusChange::new(match rng.below(3) {
                        0 => StatusAction::Cancel,
                        1 => StatusAction::Block { reason: "r".into() },
                        _ => StatusAction::Release { reason: "r".into() },
                    }),
                )
                .await
                .map(drop),
            7 => {
                let (a, b) = (pick(&mut rng, &live), pick(&mut rng, &live));
                let patch = if rng.below(2) == 0 {
                    TaskPatch {
                        add_dependencies: vec![b],
                        ..Default::default()
                    }
                } else {
                    TaskPatch {
                        remove_dependencies: vec![b],
                        ..Default::default()
                    }
                };
                env.m.update_task(op, &a, patch).await.map(drop)
            }
            8 => {
                let id = live.remove(rng.below(live.len()));
                env.m.delete_task(op, &id).await.map(drop)
            }
            _ => {
                let id = pick(&mut rng, &live);
                let s = env.session(&format!("s{step}")).await;
                env.m.claim_task(op, &id, &s.id).await.map(drop)
            }
        };

        let tasks = env
            .m
            .list_tasks(TaskFilter {
                limit: Some(MAX_LIMIT),
                ..Default::default()
            })
            .await
            .unwrap()
            .items;
        let nodes: Vec<maestro_core::dag::Node<'_>> = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| maestro_core::dag::Node {
                id: &t.id,
                status: t.status,
                priority: t.priority,
                created_ms: i as i64,
                deps: &t.dependencies,
            })
            .collect();
        let expected: Vec<String> = maestro_core::dag::ready_queue(&nodes)
            .into_iter()
            .map(str::to_string)
            .collect();
        let ready = ids(&env.m.ready_tasks(None, Some(MAX_LIMIT)).await.unwrap());
        assert_eq!(ready, expected, "ready queue after step {step}");
        let filtered: HashSet<String> = env
            .list(TaskFilter {
                ready: true,
                limit: Some(MAX_LIMIT),
                ..Default::default()
            })
            .await
            .into_iter()
            .collect();
        assert_eq!(filtered, expected.iter().cloned().collect(), "step {step}");
        let status = env.m.status(None).await.unwrap();
        assert_eq!(status.tasks.ready, expected.len() as i64, "step {step}");
    }
}

// ---- worktrees and the merge queue -----------------------------------------------------

fn worktree_of(task: &Task) -> TaskWorktree {
    TaskWorktree {
        path: format!("/home/u/.maestro/worktrees/app-1/{}", task.id),
        branch: format!("maestro/{}-x", task.id),
        base: "main".into(),
        base_commit: Some("b".repeat(40)),
        repo: "/src/app".into(),
        merged_head: None,
    }
}

async fn completed_in_worktree(env: &Env, title: &str) -> Task {
    let t = env.task(title).await;
    env.m
        .set_task_worktree(&env.op, &t.id, Some(worktree_of(&t)))
        .await
        .unwrap();
    env.m.start_task(&env.op, &t.id, false).await.unwrap();
    env.m.complete_task(&env.op, &t.id, false).await.unwrap()
}

#[tokio::test]
async fn tasks_record_their_worktree_and_merge_one_at_a_time() {
    let env = Env::new().await;
    let a = completed_in_worktree(&env, "Add login").await;
    let b = completed_in_worktree(&env, "Add logout").await;
    assert_eq!(env.get(&a.id).await.worktree, Some(worktree_of(&a)));
    let project = env.m.project(None).await.unwrap().id;

    let plain = env.task("no branch").await;
    let e = err(env
        .m
        .enqueue_merge(
            &env.op,
            MergeEnqueue {
                task_id: plain.id.clone(),
                ..Default::default()
            },
        )
        .await);
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.details()["reason"], "no_worktree");

    for t in [&a, &b] {
        let q = env
            .m
            .enqueue_merge(
                &env.op,
                MergeEnqueue {
                    task_id: t.id.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(q.queue.target, "main", "the base is the default target");
    }
    let since = env.seq().await;
    let first = env.m.start_merge(&env.op, &project, "main").await.unwrap();
    assert_eq!(first.map(|e| e.task_id), Some(a.id.clone()));
    assert!(
        env.m
            .start_merge(&env.op, &project, "main")
            .await
            .unwrap()
            .is_none(),
        "one merge at a time: a second runner gets nothing"
    );
    env.m
        .merge_step(
            &env.op,
            &a.id,
            "main",
            worktree::Progress::Built {
                commit: "c".repeat(40),
            },
        )
        .await
        .unwrap();
    let merged = worktree::MergeOutcome::Merged {
        commit: "c".repeat(40),
        previous: "b".repeat(40),
        task_head: "h".repeat(40),
        up_to_date: false,
        attempts: 1,
        synced: vec![],
        stale: vec![],
    };
    env.m
        .finish_merge(
            &env.op,
            &a.id,
            "main",
            MergeResult::Outcome { outcome: merged },
        )
        .await
        .unwrap();
    let after = env.get(&a.id).await;
    assert_eq!(after.status, TaskStatus::Completed);
    assert_eq!(
        after.worktree.unwrap().merged_head.as_deref(),
        Some("h".repeat(40).as_str())
    );
    let last = env.newest(&a.id, 1).await;
    assert_eq!(
        last[0].kind,
        TimelineKind::Merged {
            target: "main".into(),
            branch: format!("maestro/{}-x", a.id),
            commit: "c".repeat(40)
        }
    );

    let second = env.m.start_merge(&env.op, &project, "main").await.unwrap();
    assert_eq!(second.map(|e| e.task_id), Some(b.id.clone()));
    let conflict = worktree::MergeOutcome::Conflict {
        paths: vec!["src/app.rs".into()],
        target_commit: "c".repeat(40),
        task_head: "d".repeat(40),
        message: "CONFLICT (content)".into(),
    };
    let q = env
        .m
        .finish_merge(
            &env.op,
            &b.id,
            "main",
            MergeResult::Outcome { outcome: conflict },
        )
        .await
        .unwrap();
    let states: Vec<(String, worktree::QueueState)> = q
        .queue
        .entries
        .iter()
        .map(|e| (e.task_id.clone(), e.state.clone()))
        .collect();
    assert_eq!(
        states,
        vec![
            (
                a.id.clone(),
                worktree::QueueState::Merged {
                    commit: "c".repeat(40)
                }
            ),
            (
                b.id.clone(),
                worktree::QueueState::Conflict {
                    paths: vec!["src/app.rs".into()]
                }
            ),
        ]
    );
    let detail = env.m.get_task(&b.id).await.unwrap();
    assert_eq!(detail.task.status, TaskStatus::Blocked);
    assert_eq!(
        detail.task.blocked_reason.as_deref(),
        Some("merge_conflict")
    );
    assert_eq!(detail.subtasks.len(), 1);
    assert!(detail.subtasks[0].title.contains("src/app.rs"));
    let TimelineKind::Blocked { reason, details } = &env.newest(&b.id, 1).await[0].kind else {
        panic!("the last entry is the block");
    };
    assert_eq!(reason, "merge_conflict");
    let details = details.as_ref().unwrap();
    assert_eq!(details["paths"], json!(["src/app.rs"]));
    assert_eq!(details["subtaskId"], json!(detail.subtasks[0].id));

    let kinds = types(&env.events_after(since).await);
    assert!(kinds.contains(&"merge:step"), "{kinds:?}");
    assert!(kinds.contains(&"merge:updated"), "{kinds:?}");
    let queues = env.m.merge_queues(Some(&project)).await.unwrap();
    assert_eq!(queues.len(), 1);
    assert_eq!(queues[0].queue.entries.len(), 2);

    // A deleted task leaves its queue.
    env.m.delete_task(&env.op, &b.id).await.unwrap();
    let queues = env.m.merge_queues(Some(&project)).await.unwrap();
    let left: Vec<&str> = queues[0]
        .queue
        .entries
        .iter()
        .map(|e| e.task_id.as_str())
        .collect();
    assert_eq!(left, vec![a.id.as_str()]);
}
