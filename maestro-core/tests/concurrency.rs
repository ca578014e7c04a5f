//! Many writers on one database file: several `SqliteStore` instances (as separate
//! processes would have) each used from several threads.

use maestro_core::*;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

const INSTANCES: usize = 4;
const THREADS_PER_INSTANCE: usize = 2;
const THREADS: usize = INSTANCES * THREADS_PER_INSTANCE;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// `INSTANCES` independent stores on `path`, each shared by `THREADS_PER_INSTANCE` threads.
fn instances(path: &Path) -> Vec<Maestro> {
    (0..INSTANCES)
        .map(|_| Maestro::new(Arc::new(SqliteStore::open(path).unwrap())))
        .collect()
}

fn setup() -> (tempfile::TempDir, PathBuf, Maestro) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("maestro.db");
    let m = Maestro::open(&path).unwrap();
    rt().block_on(m.create_project(&OpContext::default(), "busy", true))
        .unwrap();
    (dir, path, m)
}

fn assert_gap_free(m: &Maestro) -> Vec<Event> {
    let events = rt().block_on(m.events_since(0, 10_000, &[])).unwrap();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1, "the event log has a gap or a repeat");
    }
    events
}

#[test]
fn concurrent_claimers_get_every_task_exactly_once() {
    let (_dir, path, m) = setup();
    let op = OpContext::default();
    let mut all = HashSet::new();
    rt().block_on(async {
        for i in 0..40 {
            let t = m
                .create_task(
                    &op,
                    NewTask {
                        title: format!("task {i}"),
                        priority: Some(Priority::ALL[i % 3]),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            all.insert(t.id);
        }
    });

    let stores = instances(&path);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let m = stores[i % INSTANCES].clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                rt().block_on(async move {
                    let op = OpContext::default();
                    let s = m
                        .register_session(
                            &op,
                            NewSession {
                                name: Some(format!("claimer {i}")),
                                ..Default::default()
                            },
                        )
                        .await
                        .expect("register");
                    let sop = OpContext::session(Some(s.id.clone()));
                    barrier.wait();
                    let mut claimed = Vec::new();
                    // Bounded: there are only 40 tasks.
                    for _ in 0..=40 {
                        match m.claim_next(&sop, None, &s.id).await {
                            Ok(t) => {
                                assert_eq!(t.session_ids, vec![s.id.clone()]);
                                assert_eq!(t.status, TaskStatus::InProgress);
                                claimed.push(t.id);
                            }
                            Err(e) if e.code() == Code::NothingReady => break,
                            Err(e) => panic!("claimer {i}: {e:?}"),
                        }
                    }
                    (s.id, claimed)
                })
            })
        })
        .collect();

    let mut owner: HashMap<String, String> = HashMap::new();
    let mut total = 0;
    for h in handles {
        let (session, claimed) = h.join().expect("claimer panicked");
        total += claimed.len();
        for id in claimed {
            if let Some(prev) = owner.insert(id.clone(), session.clone()) {
                panic!("{id} claimed by both {prev} and {session}");
            }
        }
    }
    assert_eq!(total, 40, "every task claimed exactly once");
    assert_eq!(owner.keys().cloned().collect::<HashSet<_>>(), all);

    rt().block_on(async {
        for (task, session) in &owner {
            let t = m.get_task(task).await.unwrap().task;
            assert_eq!(t.session_ids, vec![session.clone()]);
            assert_eq!(t.claim_epoch, 1);
            assert_eq!(t.version, 2);
        }
        let sessions = m.list_sessions(SessionFilter::default()).await.unwrap();
        let assigned: usize = sessions.items.iter().map(|s| s.task_ids.len()).sum();
        assert_eq!(assigned, 40);
        assert!(m.ready_tasks(None, None).await.unwrap().is_empty());
    });
    assert_gap_free(&m);
}

#[test]
fn concurrent_writers_on_one_task_lose_no_update() {
    let (_dir, path, m) = setup();
    let task = rt()
        .block_on(m.create_task(
            &OpContext::default(),
            NewTask {
                title: "hot".into(),
                ..Default::default()
            },
        ))
        .unwrap();
    let stores = instances(&path);
    let barrier = Arc::new(Barrier::new(THREADS + 2));
    let writing = Arc::new(AtomicBool::new(true));

    let writers: Vec<_> = (0..THREADS)
        .map(|i| {
            let (m, barrier, id) = (
                stores[i % INSTANCES].clone(),
                barrier.clone(),
                task.id.clone(),
            );
            std::thread::spawn(move || {
                rt().block_on(async move {
                    barrier.wait();
                    for j in 0..100 {
                        let op = OpContext::default();
                        m.add_progress(&op, &id, &format!("w{i}-{j}"))
                            .await
                            .unwrap_or_else(|e| panic!("writer {i}, write {j}: {e:?}"));
                    }
                })
            })
        })
        .collect();
    // Readers on their own stores, while the writers run.
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let m = Maestro::new(Arc::new(SqliteStore::open(&path).unwrap()));
            let (barrier, writing, id) = (barrier.clone(), writing.clone(), task.id.clone());
            std::thread::spawn(move || {
                rt().block_on(async move {
                    barrier.wait();
                    let mut last = 0;
                    let mut reads = 0;
                    while writing.load(Ordering::Acquire) && reads < 100_000 {
                        let t = m.get_task(&id).await.expect("read while writing").task;
                        assert!(t.version >= last, "versions never go back");
                        last = t.version;
                        m.list_tasks(TaskFilter::default())
                            .await
                            .expect("list while writing");
                        m.events_since(0, 50, &[])
                            .await
                            .expect("events while writing");
                        reads += 1;
                    }
                    reads
                })
            })
        })
        .collect();

    for h in writers {
        h.join().expect("writer panicked");
    }
    writing.store(false, Ordering::Release);
    for h in readers {
        assert!(h.join().expect("reader panicked") > 0);
    }

    rt().block_on(async {
        let t = m.get_task(&task.id).await.unwrap().task;
        assert_eq!(
            t.version, task.version,
            "progress reports leave the version --if-version guards alone"
        );
        let timeline = m
            .timeline(
                &task.id,
                TimelineQuery {
                    limit: Some(1000),
                    cursor: None,
                },
            )
            .await
            .unwrap();
        let messages: HashSet<String> = timeline
            .items
            .iter()
            .filter_map(|e| match &e.kind {
                TimelineKind::Progress { message } => Some(message.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(messages.len(), 800);
        for i in 0..THREADS {
            for j in 0..100 {
                assert!(messages.contains(&format!("w{i}-{j}")));
            }
        }
    });
    let events = assert_gap_free(&m);
    let added = events
        .iter()
        .filter(|e| e.event_type == EventType::TimelineAdded)
        .count();
    assert_eq!(
        added,
        1 + 800,
        "the creation entry and every progress entry"
    );
}

#[test]
fn concurrent_creators_keep_insertion_order_and_a_consistent_graph() {
    let (_dir, path, m) = setup();
    let root = rt()
        .block_on(m.create_task(
            &OpContext::default(),
            NewTask {
                title: "root".into(),
                ..Default::default()
            },
        ))
        .unwrap();
    let stores = instances(&path);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (m, barrier, root) = (
                stores[i % INSTANCES].clone(),
                barrier.clone(),
                root.id.clone(),
            );
            std::thread::spawn(move || {
                rt().block_on(async move {
                    barrier.wait();
                    let mut mine = Vec::new();
                    let mut prev = root;
                    for j in 0..25 {
                        let t = m
                            .create_task(
                                &OpContext::default(),
                                NewTask {
                                    title: format!("c{i}-{j}"),
                                    depends_on: vec![prev.clone()],
                                    ..Default::default()
                                },
                            )
                            .await
                            .unwrap_or_else(|e| panic!("creator {i}: {e:?}"));
                        prev = t.id.clone();
                        mine.push(t.id);
                    }
                    mine
                })
            })
        })
        .collect();
    let chains: Vec<Vec<String>> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    rt().block_on(async {
        let listed: Vec<String> = m
            .list_tasks(TaskFilter {
                limit: Some(MAX_LIMIT),
                ..Default::default()
            })
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(listed.len(), 1 + THREADS * 25);
        // Each creator's tasks appear in the order it created them.
        for chain in &chains {
            let positions: Vec<usize> = chain
                .iter()
                .map(|id| listed.iter().position(|l| l == id).unwrap())
                .collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]));
        }
        // Only the root is ready; each chain's first task depends on it.
        let ready = m.ready_tasks(None, None).await.unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].id, root.id);
        assert_eq!(
            m.get_task(&root.id).await.unwrap().dependents.len(),
            THREADS
        );
    });
    assert_gap_free(&m);
}
