//! `HttpStore` against the real server on 127.0.0.1: lifecycle, errors, retries and
//! idempotency.

#![cfg(all(feature = "remote", feature = "server"))]

use maestro_core::remote::{HttpStore, UNREACHABLE_SUGGESTION};
use maestro_core::retry::RetryPolicy;
use maestro_core::server::{ServerOptions, launch_with_listener};
use maestro_core::*;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server; stopping it shuts it down gracefully.
struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<()>>,
}

impl Server {
    async fn start(db: &Path, listener: TcpListener, token: Option<&str>) -> Server {
        let addr = listener.local_addr().unwrap();
        let mut opts = ServerOptions::new(Maestro::open(db).unwrap());
        opts.token = token.map(str::to_string);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(launch_with_listener(opts, listener, async {
            let _ = rx.await;
        }));
        Server {
            addr,
            stop: Some(tx),
            task,
        }
    }

    async fn on_free_port(db: &Path) -> Server {
        Self::start(db, TcpListener::bind("127.0.0.1:0").await.unwrap(), None).await
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(15), &mut self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

fn fast_policy(retries: u32) -> RetryPolicy {
    RetryPolicy {
        retries,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        jitter: 0.5,
    }
}

fn remote(url: &str, policy: RetryPolicy) -> Maestro {
    Maestro::new(Arc::new(
        HttpStore::new(url, None, policy).unwrap().with_debug(false),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_lifecycle_runs_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::on_free_port(&dir.path().join("m.db")).await;
    let m = remote(&server.url(), fast_policy(2));
    assert_eq!(m.location(), server.url());

    let op = OpContext::default();
    let project = m.create_project(&op, "demo", true).await.unwrap();
    assert_eq!(m.project(None).await.unwrap().id, project.id);
    assert_eq!(m.list_projects().await.unwrap().len(), 1);
    assert_eq!(m.get_project(&project.id).await.unwrap().name, "demo");

    let worker = m
        .register_session(
            &op,
            NewSession {
                name: Some("worker-1".into()),
                role: Some(Role::Worker),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let me = OpContext::session(Some(worker.id.clone()));

    let a = m
        .create_task(
            &op,
            NewTask {
                title: "Write the parser".into(),
                priority: Some(Priority::High),
                labels: vec!["core".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let b = m
        .create_task(
            &op,
            NewTask {
                title: "Document the parser".into(),
                depends_on: vec![a.id.clone()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(b.dependencies, vec![a.id.clone()]);
    let ready = m.ready_tasks(None, None).await.unwrap();
    assert_eq!(
        ready.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        [a.id.as_str()]
    );

    let claimed = m.claim_next(&me, None, &worker.id).await.unwrap();
    assert_eq!(claimed.id, a.id);
    assert_eq!(claimed.status, TaskStatus::InProgress);
    assert!(claimed.session_ids.contains(&worker.id));

    let entry = m.add_progress(&me, &a.id, "lexer done").await.unwrap();
    assert_eq!(entry.session_id.as_deref(), Some(worker.id.as_str()));
    let s1 = m
        .create_subtask(&me, &a.id, "tokens", Some("all of them"))
        .await
        .unwrap();
    let s2 = m.create_subtask(&me, &a.id, "errors", None).await.unwrap();
    let done = m.complete_subtask(&me, Some(&a.id), &s1.id).await.unwrap();
    assert!(done.completed);
    let subtasks = m.list_subtasks(&a.id).await.unwrap();
    assert_eq!(
        subtasks.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [s1.id.as_str(), s2.id.as_str()]
    );
    m.delete_subtask(&me, Some(&a.id), &s2.id).await.unwrap();

    // Optimistic concurrency travels as If-Match.
    let stale = m
        .update_task(
            &me,
            &a.id,
            TaskPatch {
                title: Some("Renamed".into()),
                expected_version: Some(claimed.version - 1),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::VersionConflict);

    let completed = m.complete_task(&me, &a.id, false).await.unwrap();
    assert_eq!(completed.status, TaskStatus::Completed);
    // Repeating a change that already holds is a no-op success.
    m.complete_task(&me, &a.id, false).await.unwrap();

    let detail = m.get_task(&a.id).await.unwrap();
    assert_eq!(detail.subtasks.len(), 1);
    let kinds: Vec<&str> = detail.timeline.iter().map(|e| e.kind.type_name()).collect();
    assert!(kinds.contains(&"progress"), "{kinds:?}");
    assert!(kinds.contains(&"subtask_completed"), "{kinds:?}");
    let first = m
        .timeline(
            &a.id,
            TimelineQuery {
                limit: Some(2),
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2, "the limit is passed");
    let rest = m
        .timeline(
            &a.id,
            TimelineQuery {
                limit: Some(1000),
                cursor: first.next_cursor.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        rest.items.first().map(|e| e.id),
        Some(first.items[1].id + 1),
        "the cursor continues after the last entry"
    );

    let status = m.status(None).await.unwrap();
    assert_eq!(status.project_id, project.id);
    assert_eq!(status.tasks.total, 2);
    assert_eq!(status.tasks.by_status["completed"], 1);
    assert_eq!(status.tasks.ready, 1);

    let page = m
        .list_tasks(TaskFilter {
            status: Some(TaskStatus::Pending),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, b.id);
    let first = m
        .list_tasks(TaskFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first.items.len(), 1);
    let rest = m
        .list_tasks(TaskFilter {
            limit: Some(1),
            cursor: first.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_ne!(rest.items[0].id, first.items[0].id);

    let sessions = m
        .list_sessions(SessionFilter {
            active: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(sessions.items.len(), 1);
    m.heartbeat(&OpContext::default(), &worker.id)
        .await
        .unwrap();
    let ended = m
        .end_session(&me, &worker.id, Some(SessionStatus::Completed))
        .await
        .unwrap();
    assert_eq!(ended.status, SessionStatus::Completed);

    let deleted = m.delete_task(&op, &b.id).await.unwrap();
    assert_eq!(deleted.id, b.id);

    let latest = m.latest_seq().await.unwrap();
    let events = m.events_since(0, 1000, &[]).await.unwrap();
    assert_eq!(events.len() as i64, latest);
    assert!(events.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert_eq!(
        m.events_since(latest - 1, 10, std::slice::from_ref(&project.id))
            .await
            .unwrap()
            .len(),
        1
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_round_trip_with_code_and_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::on_free_port(&dir.path().join("m.db")).await;
    let store = HttpStore::new(&server.url(), None, fast_policy(3)).unwrap();
    let m = Maestro::new(Arc::new(store.clone()));
    let op = OpContext::default();

    // No project yet.
    let e = m.project(None).await.unwrap_err();
    assert_eq!(e.code(), Code::NoProjectContext);
    m.create_project(&op, "demo", true).await.unwrap();

    let e = m.get_task("t-zzzzzzzz").await.unwrap_err();
    assert_eq!(e.code(), Code::TaskNotFound);
    assert_eq!(e.details()["taskId"], "t-zzzzzzzz");
    assert!(e.suggestion().unwrap().contains("maestro task list"));
    assert!(!e.retryable());
    assert_eq!(e.exit_code(), 3);

    let t = m
        .create_task(
            &op,
            NewTask {
                title: "x".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // pending -> completed is not a transition: a conflict, exit code 4.
    let e = m.complete_task(&op, &t.id, false).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidTransition);
    assert_eq!(e.exit_code(), 4);
    assert!(e.suggestion().is_some() || !e.details().is_null());

    // Validation done by the server (the store, bypassing the facade) comes back as such.
    let e = store
        .create_task(&op, NewTask::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Kind::InvalidInput);
    assert_eq!(e.exit_code(), 2);

    // A subtask can be addressed by its own id, as on the embedded store.
    let e = m
        .complete_subtask(&op, None, "st-nothere")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::SubtaskNotFound);

    let health = store.health().await.unwrap();
    assert_eq!(health["status"], "ok");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_required_when_the_server_has_one() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::start(&dir.path().join("m.db"), listener, Some("s3cret")).await;
    let anonymous = remote(&server.url(), fast_policy(3));
    let e = anonymous.list_projects().await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthorized);
    assert!(e.suggestion().is_some());

    let wrong = HttpStore::new(&server.url(), Some("nope".into()), fast_policy(3)).unwrap();
    assert_eq!(
        wrong.list_projects().await.unwrap_err().code(),
        Code::Unauthorized
    );
    let right = HttpStore::new(&server.url(), Some("s3cret".into()), fast_policy(3)).unwrap();
    assert!(right.list_projects().await.unwrap().is_empty());
    server.stop().await;
}

/// A loopback port that nothing listens on (bound, then released).
async fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_connection_refused_after_the_retries() {
    let addr = free_port().await;
    let store = HttpStore::new(&format!("http://{addr}"), None, fast_policy(2))
        .unwrap()
        .with_debug(false);
    let e = store.list_projects().await.unwrap_err();
    assert_eq!(e.code(), Code::ConnectionRefused);
    assert!(e.retryable());
    assert_eq!(e.suggestion(), Some(UNREACHABLE_SUGGESTION));
    assert_eq!(e.details()["attempts"], 3);
    assert_eq!(e.exit_code(), 5);
    assert!(e.message().contains(&addr.to_string()), "{}", e.message());

    // Mutations fail the same way.
    let e = store
        .create_task(
            &OpContext::default(),
            NewTask {
                title: "x".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ConnectionRefused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_made_before_the_server_starts_succeeds_through_retries() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    Maestro::open(&db)
        .unwrap()
        .create_project(&OpContext::default(), "early", true)
        .await
        .unwrap();
    let addr = free_port().await;
    // Delays 100, 200, 400, 800, 1000, 1000 ms: about 3.5 s of patience in total.
    let policy = RetryPolicy {
        retries: 6,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
        jitter: 0.0,
    };
    let m = remote(&format!("http://{addr}"), policy);
    let call = tokio::spawn(async move {
        m.create_task(
            &OpContext::default(),
            NewTask {
                title: "made while the server was down".into(),
                ..Default::default()
            },
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!call.is_finished(), "the call is still retrying");
    let listener = bind_again(addr).await;
    let server = Server::start(&db, listener, None).await;
    let task = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("the call finishes")
        .unwrap()
        .unwrap();
    let local = Maestro::open(&db).unwrap();
    let all = local.list_tasks(TaskFilter::default()).await.unwrap();
    assert_eq!(all.items.len(), 1);
    assert_eq!(all.items[0].id, task.id);
    server.stop().await;
}

/// Binds `addr` again (a few attempts, in case the port is still being released).
async fn bind_again(addr: SocketAddr) -> TcpListener {
    for _ in 0..50 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot bind {addr} again");
}

/// A loopback TCP proxy to `upstream` that, on its first connection, forwards the request
/// but swallows the server's response and then drops the connection: the server applied
/// the request, the client never learns its result. Later connections are forwarded.
async fn lossy_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let count = dropped.clone();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(upstream).await.unwrap();
            if std::mem::take(&mut first) {
                let count = count.clone();
                tokio::spawn(async move {
                    let (mut cr, _cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let forward = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    });
                    // Wait for the server's answer, discard it, hang up on both sides.
                    let mut buf = [0u8; 4096];
                    let n = tokio::time::timeout(Duration::from_secs(10), sr.read(&mut buf))
                        .await
                        .unwrap()
                        .unwrap();
                    assert!(n > 0, "the server answered");
                    count.fetch_add(1, Ordering::SeqCst);
                    forward.abort();
                });
            } else {
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                        let _ = sw.shutdown().await;
                    };
                    let down = async {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        }
    });
    (addr, dropped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_lost_response_is_not_applied_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let server = Server::on_free_port(&db).await;
    let direct = remote(&server.url(), fast_policy(0));
    direct
        .create_project(&OpContext::default(), "demo", true)
        .await
        .unwrap();
    let (proxy, dropped) = lossy_proxy(server.addr).await;
    let m = remote(&format!("http://{proxy}"), fast_policy(3));

    let task = m
        .create_task(
            &OpContext::default(),
            NewTask {
                title: "exactly once".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the first answer was lost"
    );
    let all = direct.list_tasks(TaskFilter::default()).await.unwrap();
    assert_eq!(all.items.len(), 1, "only one task exists");
    assert_eq!(all.items[0].id, task.id, "the retry returned the same task");
    let created = direct
        .events_since(0, 100, &[])
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == EventType::TaskCreated)
        .count();
    assert_eq!(created, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_op_id_is_the_idempotency_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::on_free_port(&dir.path().join("m.db")).await;
    let m = remote(&server.url(), fast_policy(0));
    let op = OpContext::default().with_op_id("op-client-1");
    m.create_project(&OpContext::default(), "demo", true)
        .await
        .unwrap();
    let new = NewTask {
        title: "once".into(),
        ..Default::default()
    };
    let a = m.create_task(&op, new.clone()).await.unwrap();
    let b = m.create_task(&op, new.clone()).await.unwrap();
    assert_eq!(a.id, b.id);
    // Without an op id, each call is its own operation.
    let c = m.create_task(&OpContext::default(), new).await.unwrap();
    assert_ne!(c.id, a.id);
    assert_eq!(
        m.list_tasks(TaskFilter::default())
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maestro_connect_builds_a_remote_facade() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::on_free_port(&dir.path().join("m.db")).await;
    let m = Maestro::connect(&server.url(), None).unwrap();
    assert_eq!(m.location(), server.url());
    let p = m
        .create_project(&OpContext::default(), "via connect", true)
        .await
        .unwrap();
    assert_eq!(m.project(None).await.unwrap().id, p.id);
    assert_eq!(
        Maestro::connect("ftp://nope", None).unwrap_err().code(),
        Code::InvalidArgument
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_out() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let store = HttpStore::new(&format!("http://{addr}"), None, fast_policy(1))
        .unwrap()
        .with_timeout(Duration::from_millis(300))
        .unwrap()
        .with_debug(false);
    let e = store.get_task("t-1").await.unwrap_err();
    assert_eq!(e.code(), Code::Timeout);
    assert!(e.retryable());
    assert_eq!(e.details()["attempts"], 2);
    assert!(e.suggestion().is_some());
    assert_eq!(e.exit_code(), 5);
    holder.abort();
}
