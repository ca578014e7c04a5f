//! `SyncClient` against the real server on 127.0.0.1: ordered exactly-once delivery across
//! server restarts, queued ops, heartbeats and connection states.

#![cfg(all(feature = "remote", feature = "server"))]

use maestro_core::protocol::Op;
use maestro_core::remote::{
    ConnectionState, HttpStore, Recv, SyncClient, SyncEvent, SyncOptions, UNREACHABLE_SUGGESTION,
};
use maestro_core::retry::RetryPolicy;
use maestro_core::server::{ServerOptions, launch_with_listener};
use maestro_core::*;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(20);

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
        opts.poll_interval = Duration::from_millis(20);
        opts.shutdown_timeout = Duration::from_secs(2);
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

    async fn restart(db: &Path, addr: SocketAddr) -> Server {
        for _ in 0..50 {
            if let Ok(l) = TcpListener::bind(addr).await {
                return Self::start(db, l, None).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cannot bind {addr} again");
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

fn http(url: &str) -> Maestro {
    let policy = RetryPolicy {
        retries: 0,
        ..RetryPolicy::default()
    };
    Maestro::new(Arc::new(
        HttpStore::new(url, None, policy).unwrap().with_debug(false),
    ))
}

fn options(url: &str) -> SyncOptions {
    let mut o = SyncOptions::new(url)
        .backoff(RetryPolicy {
            retries: 0,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(400),
            jitter: 0.5,
        })
        .heartbeat(Duration::from_millis(500))
        .connect_timeout(Duration::from_secs(5));
    o.debug = false;
    o
}

fn new_task(title: &str) -> NewTask {
    NewTask {
        title: title.into(),
        ..Default::default()
    }
}

/// Receives events until one with `seq >= upto` arrives; panics after `WAIT`.
async fn collect_until(client: &mut SyncClient, upto: i64) -> Vec<Event> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut out: Vec<Event> = Vec::new();
    while out.last().is_none_or(|e| e.seq < upto) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(
            !left.is_zero(),
            "timed out at {:?} waiting for seq {upto}",
            out.last().map(|e| e.seq)
        );
        match client.recv_timeout(left).await {
            Recv::Event(SyncEvent::Event(e)) => out.push(e),
            Recv::Event(other) => panic!("unexpected {other:?}"),
            Recv::Timeout => {}
            Recv::Closed => panic!("the client closed"),
        }
    }
    out
}

fn assert_gap_free(events: &[Event], from: i64, to: i64) {
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (from..=to).collect::<Vec<_>>());
}

/// Records every state the client goes through until it is dropped.
fn record_states(client: &SyncClient) -> JoinHandle<Vec<ConnectionState>> {
    let mut rx = client.watch_state();
    tokio::spawn(async move {
        let mut seen = vec![*rx.borrow_and_update()];
        while rx.changed().await.is_ok() {
            seen.push(*rx.borrow_and_update());
        }
        seen
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_once_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::on_free_port(&dir.path().join("m.db")).await;
    let m = http(&server.url());
    let op = OpContext::default();
    let p1 = m.create_project(&op, "one", true).await.unwrap();

    let mut all = SyncClient::connect(options(&server.url()).since(Some(0)))
        .await
        .unwrap();
    assert_eq!(all.state(), ConnectionState::Connected);
    for i in 0..20 {
        m.create_task(&op, new_task(&format!("task {i}")))
            .await
            .unwrap();
    }
    let latest = m.latest_seq().await.unwrap();
    let events = collect_until(&mut all, latest).await;
    assert_gap_free(&events, 1, latest);
    assert_eq!(events[0].event_type, EventType::ProjectCreated);
    let created = events
        .iter()
        .filter(|e| e.event_type == EventType::TaskCreated)
        .count();
    assert_eq!(created, 20);
    assert_eq!(all.last_seq(), Some(latest));

    // Live only (no `since`), and only one project.
    let p2 = m.create_project(&op, "two", false).await.unwrap();
    let mut live = SyncClient::connect(options(&server.url())).await.unwrap();
    let mut only_p2 = SyncClient::connect(
        options(&server.url())
            .since(Some(0))
            .projects(vec![p2.id.clone()]),
    )
    .await
    .unwrap();
    let t1 = m
        .create_task(
            &op,
            NewTask {
                project_id: Some(p1.id.clone()),
                ..new_task("in one")
            },
        )
        .await
        .unwrap();
    let t2 = m
        .create_task(
            &op,
            NewTask {
                project_id: Some(p2.id.clone()),
                ..new_task("in two")
            },
        )
        .await
        .unwrap();
    let latest = m.latest_seq().await.unwrap();
    let got = collect_until(&mut live, latest).await;
    let created: Vec<&Event> = got
        .iter()
        .filter(|e| e.event_type == EventType::TaskCreated)
        .collect();
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].data["id"], t1.id.as_str());
    assert_eq!(created[1].data["id"], t2.id.as_str());
    assert!(got.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    let got = collect_until(&mut only_p2, latest).await;
    assert!(
        got.iter()
            .all(|e| e.project_id.as_deref() == Some(p2.id.as_str()))
    );
    assert!(
        got.iter()
            .any(|e| e.event_type == EventType::TaskCreated && e.data["id"] == t2.id.as_str())
    );
    assert!(!got.iter().any(|e| e.data["id"] == t1.id.as_str()));

    // A synchronous caller can iterate from a plain thread.
    m.create_task(&op, new_task("for the blocking reader"))
        .await
        .unwrap();
    let latest = m.latest_seq().await.unwrap();
    let (all, got) = tokio::task::spawn_blocking(move || {
        let mut got = None;
        for _ in 0..100 {
            match all.blocking_recv_timeout(Duration::from_millis(200)) {
                Recv::Event(SyncEvent::Event(e)) => {
                    got = Some(e);
                    break;
                }
                Recv::Timeout => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
        (all, got)
    })
    .await
    .unwrap();
    // `all` had already seen everything up to the previous batch.
    let mut all = all;
    let got = got.expect("an event");
    let mut seqs = vec![got.seq];
    if got.seq < latest {
        seqs.extend(collect_until(&mut all, latest).await.iter().map(|e| e.seq));
    }
    assert_eq!(*seqs.last().unwrap(), latest);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));

    for c in [all, live, only_p2] {
        c.close().await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let local = Maestro::open(&db).unwrap();
    local
        .create_project(&OpContext::default(), "demo", true)
        .await
        .unwrap();
    let server = Server::on_free_port(&db).await;
    let addr = server.addr;
    let mut client = SyncClient::connect(options(&server.url()).since(Some(0)))
        .await
        .unwrap();
    let states = record_states(&client);

    // Another writer keeps writing to the database while the server goes down and up.
    let writer = {
        let local = local.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                local
                    .create_task(&OpContext::default(), new_task(&format!("w{i}")))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    // Read some, so that the client has a resume point inside the log.
    let first = collect_until(&mut client, 5).await;
    server.stop().await;
    assert!(
        client
            .wait_for_state(ConnectionState::Reconnecting, WAIT)
            .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server = Server::restart(&db, addr).await;
    assert!(
        client
            .wait_for_state(ConnectionState::Connected, WAIT)
            .await
    );
    writer.await.unwrap();

    let latest = local.latest_seq().await.unwrap();
    let created = local
        .events_since(0, 1000, &[])
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type == EventType::TaskCreated)
        .count();
    assert_eq!(created, 60);
    let last_first = first.last().unwrap().seq;
    let rest = collect_until(&mut client, latest).await;
    let mut events = first;
    events.extend(rest);
    assert_gap_free(&events, 1, latest);
    assert!(last_first < latest);
    // Nothing more is pending: no duplicate shows up later.
    assert_eq!(
        client.recv_timeout(Duration::from_millis(300)).await,
        Recv::Timeout
    );

    client.close().await;
    let seen = tokio::time::timeout(WAIT, states).await.unwrap().unwrap();
    let mut compact = seen.clone();
    compact.dedup();
    assert_eq!(
        compact,
        [
            ConnectionState::Connected,
            ConnectionState::Reconnecting,
            ConnectionState::Connected,
            ConnectionState::Disconnected
        ],
        "{seen:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_queued_while_disconnected_are_flushed_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let server = Server::on_free_port(&db).await;
    let addr = server.addr;
    let m = http(&server.url());
    m.create_project(&OpContext::default(), "demo", true)
        .await
        .unwrap();
    let client = SyncClient::connect(options(&server.url())).await.unwrap();

    // Connected: an op is acked with its result; a failed op is the error.
    let v = client
        .send_op(Op::TaskCreate(new_task("online")))
        .await
        .unwrap();
    let online: Task = serde_json::from_value(v).unwrap();
    assert_eq!(online.title, "online");
    let e = client
        .send_op(Op::TaskProgress {
            id: "t-zzzzzzzz".into(),
            message: "hello".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::TaskNotFound);

    server.stop().await;
    assert!(
        client
            .wait_for_state(ConnectionState::Reconnecting, WAIT)
            .await
    );
    let restart = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(client.state(), ConnectionState::Reconnecting);
        Server::restart(&db, addr).await
    };
    let (a, b, c, server) = tokio::join!(
        client.send_op(Op::TaskCreate(new_task("queued a"))),
        client.send_op(Op::TaskCreate(new_task("queued b"))),
        client.send_op(Op::TaskProgress {
            id: online.id.clone(),
            message: "queued progress".into(),
        }),
        restart,
    );
    let a: Task = serde_json::from_value(a.unwrap()).unwrap();
    let b: Task = serde_json::from_value(b.unwrap()).unwrap();
    c.unwrap();
    assert_eq!(client.state(), ConnectionState::Connected);

    // Each op applied once, in the order it was sent.
    let m = http(&server.url());
    let events = m.events_since(0, 1000, &[]).await.unwrap();
    let created: Vec<String> = events
        .iter()
        .filter(|e| e.event_type == EventType::TaskCreated)
        .map(|e| e.data["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(created, ["online", "queued a", "queued b"]);
    let detail = m.get_task(&online.id).await.unwrap();
    let progress = detail
        .timeline
        .iter()
        .filter(|e| e.kind.type_name() == "progress")
        .count();
    assert_eq!(progress, 1);
    assert_ne!(a.id, b.id);

    // A repeated op id is answered with the first result.
    let again = client
        .send_op_with_id("op-fixed", Op::TaskCreate(new_task("fixed")))
        .await
        .unwrap();
    let same = client
        .send_op_with_id("op-fixed", Op::TaskCreate(new_task("fixed")))
        .await
        .unwrap();
    assert_eq!(again["id"], same["id"]);

    client.close().await;
    server.stop().await;
}

/// A loopback TCP proxy whose connections can be frozen: a frozen connection stays open
/// but forwards nothing more, like a peer that vanished without closing.
struct FreezingProxy {
    addr: SocketAddr,
    /// Connections with an index below this are frozen.
    frozen_below: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
}

async fn pump(mut r: OwnedReadHalf, mut w: OwnedWriteHalf, idx: usize, frozen: Arc<AtomicUsize>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if idx < frozen.load(Ordering::SeqCst) {
            // Hold both sockets open and forward nothing, ever.
            std::future::pending::<()>().await;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
}

async fn freezing_proxy(upstream: SocketAddr) -> FreezingProxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let frozen_below = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (f, a) = (frozen_below.clone(), accepted.clone());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let idx = a.fetch_add(1, Ordering::SeqCst);
            let Ok(server) = TcpStream::connect(upstream).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pump(cr, sw, idx, f.clone()));
            tokio::spawn(pump(sr, cw, idx, f.clone()));
        }
    });
    FreezingProxy {
        addr,
        frozen_below,
        accepted,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_detected_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::on_free_port(&dir.path().join("m.db")).await;
    let m = http(&server.url());
    m.create_project(&OpContext::default(), "demo", true)
        .await
        .unwrap();
    let proxy = freezing_proxy(server.addr).await;
    let mut client = SyncClient::connect(
        options(&format!("http://{}", proxy.addr))
            .since(Some(0))
            .heartbeat(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let states = record_states(&client);
    collect_until(&mut client, 1).await;

    // The first connection goes silent; heartbeats notice and a new connection takes over.
    proxy.frozen_below.store(1, Ordering::SeqCst);
    assert!(
        client
            .wait_for_state(ConnectionState::Reconnecting, WAIT)
            .await
    );
    assert!(
        client
            .wait_for_state(ConnectionState::Connected, WAIT)
            .await
    );
    assert!(proxy.accepted.load(Ordering::SeqCst) >= 2);
    let t = m
        .create_task(&OpContext::default(), new_task("after the freeze"))
        .await
        .unwrap();
    let latest = m.latest_seq().await.unwrap();
    let events = collect_until(&mut client, latest).await;
    assert_gap_free(&events, 2, latest);
    assert_eq!(events[0].event_type, EventType::TaskCreated);
    assert_eq!(events[0].data["id"], t.id.as_str());
    assert!(
        client
            .last_error()
            .is_none_or(|e| e.code() == Code::Timeout),
        "{:?}",
        client.last_error()
    );

    client.close().await;
    let seen = tokio::time::timeout(WAIT, states).await.unwrap().unwrap();
    assert!(
        seen.windows(2)
            .any(|w| w == [ConnectionState::Reconnecting, ConnectionState::Connected]),
        "{seen:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_refusals_and_limits() {
    // A wrong token is refused at once.
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::start(&dir.path().join("m.db"), listener, Some("s3cret")).await;
    let e = SyncClient::connect(options(&server.url()).token(Some("nope".into())))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthorized);
    let ok = SyncClient::connect(options(&server.url()).token(Some("s3cret".into())))
        .await
        .unwrap();
    assert_eq!(ok.state(), ConnectionState::Connected);
    ok.close().await;
    let addr = server.addr;
    server.stop().await;

    // Nobody listening: with no reconnects allowed, the error at once.
    let url = format!("http://{addr}");
    let e = SyncClient::connect(options(&url).max_reconnects(Some(0)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ConnectionRefused);
    assert!(e.retryable());
    assert_eq!(e.suggestion(), Some(UNREACHABLE_SUGGESTION));

    // With a limit, the client gives up after it and ends.
    let mut limited = SyncClient::connect(options(&url).max_reconnects(Some(2)))
        .await
        .unwrap();
    assert!(
        limited
            .wait_for_state(ConnectionState::Disconnected, WAIT)
            .await
    );
    assert_eq!(
        limited.last_error().map(|e| e.code()),
        Some(Code::ConnectionRefused)
    );
    assert_eq!(limited.next_event().await, None);
    let e = limited
        .send_op(Op::SessionHeartbeat { id: "s-1".into() })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Kind::Unavailable);

    // Without a limit it keeps trying; an op waits, and fails when the client is closed.
    let waiting = SyncClient::connect(options(&url)).await.unwrap();
    assert_eq!(waiting.state(), ConnectionState::Reconnecting);
    let sender = waiting.op_sender();
    let pending = tokio::spawn(async move {
        sender
            .send_op(Op::SessionHeartbeat { id: "s-1".into() })
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!pending.is_finished());
    waiting.close().await;
    let e = tokio::time::timeout(WAIT, pending)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), Kind::Unavailable);

    // Bad URLs never get that far.
    assert_eq!(
        SyncClient::connect(options("ftp://h"))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
}
