//! The WebSocket sync endpoint of `maestro serve`, against a real server on 127.0.0.1:0.
#![cfg(feature = "server")]

mod server_support;

use futures_util::{SinkExt, StreamExt};
use maestro_core::protocol::{ClientFrame, Op, ServerFrame};
use maestro_core::{Maestro, NewTask, OpContext, SqliteStore, TaskPatch};
use serde_json::json;
use server_support::*;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn new_task(title: &str) -> NewTask {
    NewTask {
        title: title.into(),
        ..Default::default()
    }
}

fn seqs(events: &[maestro_core::Event]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_replays_the_log_then_streams_live_events_in_order() {
    let s = TestServer::start().await;
    s.project("demo").await;
    for i in 0..3 {
        s.task(&format!("before {i}")).await;
    }
    let latest = s.maestro.latest_seq().await.unwrap();
    let mut ws = s.ws().await;
    assert_eq!(hello(&mut ws).await, latest);
    send(&mut ws, &subscribe(0, &[])).await;
    let replayed = events(&mut ws, latest as usize).await;
    assert_eq!(seqs(&replayed), (1..=latest).collect::<Vec<_>>());
    assert_eq!(replayed[0].event_type.as_str(), "project:created");

    // Live: written over HTTP, delivered in order right after the replay.
    for i in 0..5 {
        let (st, _) = call(
            s.http
                .post(s.url("/api/tasks"))
                .json(&json!({"title": format!("live {i}")})),
        )
        .await;
        assert_eq!(st, 201);
    }
    let now = s.maestro.latest_seq().await.unwrap();
    let live = events(&mut ws, (now - latest) as usize).await;
    assert_eq!(seqs(&live), (latest + 1..=now).collect::<Vec<_>>());
    let created: Vec<_> = live
        .iter()
        .filter(|e| e.event_type.as_str() == "task:created")
        .map(|e| e.data["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        created,
        (0..5).map(|i| format!("live {i}")).collect::<Vec<_>>()
    );

    // Subscribing from the current seq sends nothing old.
    let mut ws2 = s.ws().await;
    let seq = hello(&mut ws2).await;
    send(&mut ws2, &subscribe(seq, &[])).await;
    s.task("only new").await;
    let got = events(&mut ws2, 1).await;
    assert_eq!(got[0].seq, seq + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_filter_applies_to_replay_and_live() {
    let s = TestServer::start().await;
    let op = OpContext::default();
    let p1 = s.project("one").await;
    let p2 = s
        .maestro
        .create_project(&op, "two", false)
        .await
        .unwrap()
        .id;
    let in_project = |p: &str, t: &str| NewTask {
        project_id: Some(p.to_string()),
        ..new_task(t)
    };
    s.maestro
        .create_task(&op, in_project(&p1, "a"))
        .await
        .unwrap();
    s.maestro
        .create_task(&op, in_project(&p2, "b"))
        .await
        .unwrap();
    let mut ws = s.ws().await;
    hello(&mut ws).await;
    send(&mut ws, &subscribe(0, &[&p2])).await;
    // project:created of p2, then the task and its timeline entry.
    let replay = events(&mut ws, 3).await;
    assert!(
        replay
            .iter()
            .all(|e| e.project_id.as_deref() == Some(p2.as_str()))
    );
    s.maestro
        .create_task(&op, in_project(&p1, "c"))
        .await
        .unwrap();
    s.maestro
        .create_task(&op, in_project(&p2, "d"))
        .await
        .unwrap();
    let live = events(&mut ws, 1).await;
    assert_eq!(live[0].project_id.as_deref(), Some(p2.as_str()));
    assert_eq!(live[0].data["title"], "d");
    assert!(live[0].seq > replay[2].seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_is_answered_with_pong_and_the_server_pings_idle_clients() {
    let s = TestServer::start_with(|o| {
        o.ping_interval = Duration::from_millis(50);
        o.idle_timeout = Duration::from_millis(400);
    })
    .await;
    let mut ws = s.ws().await;
    hello(&mut ws).await;
    send(&mut ws, &ClientFrame::Ping).await;
    assert_eq!(next_frame(&mut ws).await, ServerFrame::Pong);

    // A reading client answers the server's pings (automatically) and stays connected.
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(900);
    while let Ok(msg) = tokio::time::timeout_at(until, ws.next()).await {
        match msg {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 3, "only {pings} pings");
    send(&mut ws, &ClientFrame::Ping).await;
    assert_eq!(next_frame(&mut ws).await, ServerFrame::Pong);

    // A client that never answers is dropped after the idle timeout.
    let mut dead = s.ws().await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let mut closed = false;
    for _ in 0..100 {
        match tokio::time::timeout(WAIT, dead.next()).await.unwrap() {
            Some(Ok(Message::Ping(_) | Message::Text(_))) => continue,
            _ => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "the silent client was not dropped");
}

/// Op ids are scoped to their caller: two clients that pick the same id each get their own
/// result; one client reconnecting under its identity gets its first result again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_ids_belong_to_their_client() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let s = TestServer::start().await;
    s.project("demo").await;
    let create = |title: &str| ClientFrame::Op {
        id: "op-1".into(),
        op: Op::TaskCreate(new_task(title)),
    };
    let mut titles = Vec::new();
    for title in ["from a", "from b"] {
        let mut ws = s.ws().await;
        hello(&mut ws).await;
        send(&mut ws, &create(title)).await;
        let ack = next_frame(&mut ws).await;
        let ServerFrame::Ack { ok: true, data, .. } = &ack else {
            panic!("expected an ack, got {ack:?}");
        };
        titles.push(
            data.as_ref().unwrap()["title"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(titles, ["from a", "from b"], "each client its own result");
    // A client naming itself keeps its op ids across connections; the same id for another
    // request is refused rather than answered with the first result.
    let named = || {
        let mut req = s.ws_url.as_str().into_client_request().unwrap();
        req.headers_mut()
            .insert("x-maestro-client", "c-steady".parse().unwrap());
        req
    };
    let mut acks = Vec::new();
    for _ in 0..2 {
        let (mut ws, _) = tokio_tungstenite::connect_async(named()).await.unwrap();
        hello(&mut ws).await;
        send(&mut ws, &create("steady")).await;
        acks.push(next_frame(&mut ws).await);
    }
    assert_eq!(acks[0], acks[1], "the first result after a reconnection");
    let (mut ws, _) = tokio_tungstenite::connect_async(named()).await.unwrap();
    hello(&mut ws).await;
    send(&mut ws, &create("something else")).await;
    let err = next_frame(&mut ws).await.ack_error().unwrap();
    assert_eq!(err.code(), maestro_core::Code::IdempotencyKeyReused);
    let page = s.maestro.list_tasks(Default::default()).await.unwrap();
    assert_eq!(page.items.len(), 3);
}

/// Stored results are pruned after the retention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_records_are_pruned_after_their_retention() {
    let s = TestServer::start().await;
    s.project("demo").await;
    let op = OpContext::default().with_op_id("keep-me");
    let first = s.maestro.create_task(&op, new_task("once")).await.unwrap();
    assert_eq!(
        s.maestro.create_task(&op, new_task("once")).await.unwrap(),
        first
    );
    assert_eq!(
        s.maestro
            .prune_op_records(Duration::from_secs(3600))
            .await
            .unwrap(),
        0,
        "younger than the retention"
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        s.maestro
            .prune_op_records(Duration::from_millis(10))
            .await
            .unwrap(),
        1
    );
    let again = s.maestro.create_task(&op, new_task("once")).await.unwrap();
    assert_ne!(again.id, first.id, "the key is free again once pruned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_are_acked_and_idempotent_by_op_id() {
    let s = TestServer::start().await;
    s.project("demo").await;
    let mut ws = s.ws().await;
    hello(&mut ws).await;
    let create = ClientFrame::Op {
        id: "op-1".into(),
        op: Op::TaskCreate(new_task("over the socket")),
    };
    send(&mut ws, &create).await;
    let first = next_frame(&mut ws).await;
    send(&mut ws, &create).await;
    let second = next_frame(&mut ws).await;
    let ServerFrame::Ack { id, ok, data, .. } = &first else {
        panic!("expected an ack, got {first:?}");
    };
    assert_eq!((id.as_str(), *ok), ("op-1", true));
    assert_eq!(first, second);
    let task_id = data.as_ref().unwrap()["id"].as_str().unwrap().to_string();
    let page = s.maestro.list_tasks(Default::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);

    let update = ClientFrame::Op {
        id: "op-2".into(),
        op: Op::TaskUpdate {
            id: task_id.clone(),
            patch: TaskPatch {
                title: Some("renamed".into()),
                expected_version: Some(1),
                ..Default::default()
            },
        },
    };
    send(&mut ws, &update).await;
    let ack = next_frame(&mut ws).await;
    assert!(ack.ack_error().is_none(), "{ack:?}");
    // Replayed with the same id: the first result again, not a version conflict.
    send(&mut ws, &update).await;
    assert_eq!(next_frame(&mut ws).await, ack);
    assert_eq!(s.maestro.get_task(&task_id).await.unwrap().task.version, 2);

    // Failures come back as acks carrying the error object.
    let missing = ClientFrame::Op {
        id: "op-3".into(),
        op: Op::TaskDelete {
            id: "t-missing".into(),
        },
    };
    send(&mut ws, &missing).await;
    let err = next_frame(&mut ws).await.ack_error().unwrap();
    assert_eq!(err.code(), maestro_core::Code::TaskNotFound);
    ws.send(Message::text(
        r#"{"type":"op","id":"op-4","op":"task.explode","args":{}}"#,
    ))
    .await
    .unwrap();
    let err = next_frame(&mut ws).await;
    let ServerFrame::Ack { id, ok: false, .. } = &err else {
        panic!("expected a failed ack, got {err:?}");
    };
    assert_eq!(id, "op-4");
    assert_eq!(
        err.ack_error().unwrap().code(),
        maestro_core::Code::InvalidArgument
    );

    // Status, progress, claim and subtask ops.
    let session = s
        .maestro
        .register_session(&OpContext::default(), Default::default())
        .await
        .unwrap();
    let ops = [
        Op::TaskClaim {
            id: None,
            session_id: session.id.clone(),
            project_id: None,
        },
        Op::TaskProgress {
            id: task_id.clone(),
            message: "working".into(),
        },
        Op::SubtaskCreate {
            task_id: task_id.clone(),
            title: "part".into(),
            description: None,
        },
        Op::SessionHeartbeat {
            id: session.id.clone(),
        },
        Op::TaskStatus {
            id: task_id.clone(),
            change: maestro_core::StatusChange::new(maestro_core::StatusAction::Complete),
        },
    ];
    for (i, op) in ops.into_iter().enumerate() {
        let id = format!("batch-{i}");
        send(&mut ws, &ClientFrame::Op { id: id.clone(), op }).await;
        match next_frame(&mut ws).await {
            ServerFrame::Ack {
                id: got, ok: true, ..
            } => assert_eq!(got, id),
            other => panic!("op {i} failed: {other:?}"),
        }
    }
    let t = s.maestro.get_task(&task_id).await.unwrap();
    assert_eq!(t.task.status, maestro_core::TaskStatus::Completed);
    assert_eq!(t.subtasks.len(), 1);

    // A frame of a type this server does not know (a newer client's, say) and without an id
    // is answered with an error frame, and the connection goes on.
    for text in [
        r#"{"type":"dance","steps":3}"#,
        "not json",
        r#"{"type":"ping","x":"#,
    ] {
        ws.send(Message::text(text)).await.unwrap();
        match next_frame(&mut ws).await {
            ServerFrame::Error { error } => {
                assert_eq!(error["error"], "invalid_argument", "{text}: {error}");
                assert!(
                    error["message"]
                        .as_str()
                        .unwrap()
                        .contains("malformed frame")
                );
            }
            other => panic!("{text}: unexpected {other:?}"),
        }
    }
    send(&mut ws, &ClientFrame::Ping).await;
    assert_eq!(next_frame(&mut ws).await, ServerFrame::Pong);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_point_older_than_the_log_gets_resync_required() {
    let s = TestServer::start().await;
    s.project("demo").await;
    for i in 0..10 {
        s.task(&format!("t{i}")).await;
    }
    let latest = s.maestro.latest_seq().await.unwrap();
    s.maestro.prune_events(5).await.unwrap();
    let oldest = latest - 4;
    assert_eq!(s.maestro.oldest_seq().await.unwrap(), oldest);
    let mut ws = s.ws().await;
    hello(&mut ws).await;
    send(&mut ws, &subscribe(0, &[])).await;
    assert_eq!(
        next_frame(&mut ws).await,
        ServerFrame::ResyncRequired { oldest }
    );
    send(&mut ws, &subscribe(oldest - 2, &[])).await;
    assert_eq!(
        next_frame(&mut ws).await,
        ServerFrame::ResyncRequired { oldest }
    );
    // From a retained point the replay works, and live events follow.
    send(&mut ws, &subscribe(oldest - 1, &[])).await;
    let got = events(&mut ws, 5).await;
    assert_eq!(seqs(&got), (oldest..=latest).collect::<Vec<_>>());
    s.task("after").await;
    assert_eq!(
        seqs(&events(&mut ws, 2).await),
        vec![latest + 1, latest + 2]
    );
    // A resume point beyond the log (another database) also needs a resync.
    send(&mut ws, &subscribe(latest + 1000, &[])).await;
    assert_eq!(
        next_frame(&mut ws).await,
        ServerFrame::ResyncRequired { oldest }
    );
    // Filtered replays check the bound too.
    let pid = s.maestro.project(None).await.unwrap().id;
    send(&mut ws, &subscribe(1, &[&pid])).await;
    assert_eq!(
        next_frame(&mut ws).await,
        ServerFrame::ResyncRequired { oldest }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_prunes_the_log_to_its_retention() {
    let s = TestServer::start_with(|o| {
        o.retain_events = 4;
        o.prune_interval = Duration::from_millis(50);
    })
    .await;
    s.project("demo").await;
    for i in 0..6 {
        s.task(&format!("t{i}")).await;
    }
    let latest = s.maestro.latest_seq().await.unwrap();
    let mut oldest = 0;
    for _ in 0..200 {
        oldest = s.maestro.oldest_seq().await.unwrap();
        if oldest == latest - 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(oldest, latest - 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_cut_off_and_resumes_from_its_last_seq() {
    let s = TestServer::start_with(|o| {
        o.client_buffer = 4;
        o.write_timeout = Duration::from_secs(60);
    })
    .await;
    s.project("demo").await;
    let mut ws = s.ws().await;
    let start = hello(&mut ws).await;
    send(&mut ws, &subscribe(start, &[])).await;
    // Without reading, let ~10 MB of events pile up: far more than socket buffers hold.
    let big = "x".repeat(32 * 1024);
    for i in 0..300 {
        let t = NewTask {
            description: Some(big.clone()),
            ..new_task(&format!("big {i}"))
        };
        s.maestro
            .create_task(&OpContext::default(), t)
            .await
            .unwrap();
    }
    let latest = s.maestro.latest_seq().await.unwrap();
    let mut got = Vec::new();
    let close = loop {
        match next_msg(&mut ws).await {
            Got::Frame(ServerFrame::Event(e)) => got.push(e.seq),
            Got::Frame(other) => panic!("unexpected {other:?}"),
            Got::Closed(c) => break c,
        }
    };
    let close = close.expect("a close frame with a reason");
    assert_eq!(close.code, CloseCode::Again, "{close:?}");
    assert!(close.reason.contains("slow consumer"));
    assert!((got.len() as i64) < latest - start, "was not cut off");
    assert_eq!(
        got,
        (start + 1..=start + got.len() as i64).collect::<Vec<_>>()
    );
    // Resume from the last seq seen: the rest, exactly once, in order.
    let last = *got.last().unwrap_or(&start);
    let mut ws = s.ws().await;
    hello(&mut ws).await;
    send(&mut ws, &subscribe(last, &[])).await;
    let rest = events(&mut ws, (latest - last) as usize).await;
    assert_eq!(seqs(&rest), (last + 1..=latest).collect::<Vec<_>>());
    let text = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|l| l == "maestro_ws_slow_consumers_total 1"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_by_another_process_reach_websocket_clients() {
    let s = TestServer::start().await;
    s.project("demo").await;
    let mut ws = s.ws().await;
    let seq = hello(&mut ws).await;
    send(&mut ws, &subscribe(seq, &[])).await;
    // A second store on the same file stands for another process (its commits do not
    // notify this server: only polling finds them).
    let other = Maestro::new(Arc::new(SqliteStore::open(&s.db).unwrap()));
    let t = other
        .create_task(&OpContext::default(), new_task("from elsewhere"))
        .await
        .unwrap();
    let got = events(&mut ws, 2).await;
    assert_eq!(seqs(&got), vec![seq + 1, seq + 2]);
    assert_eq!(got[0].event_type.as_str(), "task:created");
    assert_eq!(got[0].data["id"], t.id);
    // Interleaved writers in both "processes" arrive in seq order.
    for i in 0..10 {
        let m = if i % 2 == 0 { &other } else { &s.maestro };
        m.create_task(&OpContext::default(), new_task(&format!("i{i}")))
            .await
            .unwrap();
    }
    let got = events(&mut ws, 20).await;
    assert_eq!(seqs(&got), (seq + 3..=seq + 22).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_websockets_with_going_away() {
    let mut s = TestServer::start().await;
    s.project("demo").await;
    let mut a = s.ws().await;
    let mut b = s.ws().await;
    let seq = hello(&mut a).await;
    hello(&mut b).await;
    send(&mut a, &subscribe(seq, &[])).await;
    s.stop().await.unwrap();
    for ws in [&mut a, &mut b] {
        match next_msg(ws).await {
            Got::Closed(Some(c)) => {
                assert_eq!(c.code, CloseCode::Away);
                assert!(c.reason.contains("shutting down"));
            }
            other => panic!(
                "expected a 1001 close, got {}",
                match other {
                    Got::Closed(None) => "a close without frame".to_string(),
                    Got::Frame(f) => format!("{f:?}"),
                    Got::Closed(Some(c)) => format!("{c:?}"),
                }
            ),
        }
    }
    assert!(s.http.get(s.url("/health")).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_from_the_last_seq_delivers_every_event_exactly_once() {
    let s = TestServer::start().await;
    s.project("demo").await;
    let maestro = s.maestro.clone();
    // A writer keeps producing while the client disconnects and resubscribes.
    let writer = tokio::spawn(async move {
        for i in 0..150 {
            maestro
                .create_task(&OpContext::default(), new_task(&format!("w{i}")))
                .await
                .unwrap();
            if i % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let mut seen: Vec<i64> = Vec::new();
    let mut last = 0;
    for round in 0..6 {
        let mut ws = s.ws().await;
        hello(&mut ws).await;
        send(&mut ws, &subscribe(last, &[])).await;
        let take = if round < 5 { 25 } else { 0 };
        for e in events(&mut ws, take).await {
            seen.push(e.seq);
            last = e.seq;
        }
        // Drop the connection without closing it cleanly.
        drop(ws);
    }
    writer.await.unwrap();
    let latest = s.maestro.latest_seq().await.unwrap();
    let mut ws = s.ws().await;
    hello(&mut ws).await;
    send(&mut ws, &subscribe(last, &[])).await;
    for e in events(&mut ws, (latest - last) as usize).await {
        seen.push(e.seq);
    }
    assert_eq!(seen, (1..=latest).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_clients_each_receive_a_thousand_events_in_order() {
    let s = TestServer::start_with(|o| o.client_buffer = 2048).await;
    s.project("demo").await;
    let start = s.maestro.latest_seq().await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..100 {
        let mut ws = s.ws().await;
        hello(&mut ws).await;
        send(&mut ws, &subscribe(start, &[])).await;
        clients.push(ws);
    }
    // Make sure every subscription is live before writing (a ping round-trip each).
    for ws in clients.iter_mut() {
        send(ws, &ClientFrame::Ping).await;
        assert_eq!(next_frame(ws).await, ServerFrame::Pong);
    }
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut ws| tokio::spawn(async move { seqs(&events(&mut ws, 1000).await) }))
        .collect();
    // Each task creation writes two events.
    for i in 0..500 {
        s.task(&format!("fan-out {i}")).await;
    }
    assert_eq!(s.maestro.latest_seq().await.unwrap(), start + 1000);
    let expected: Vec<i64> = (start + 1..=start + 1000).collect();
    for r in readers {
        assert_eq!(r.await.unwrap(), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_get_on_ws_is_a_json_error() {
    let s = TestServer::start().await;
    assert_error(
        &call(s.http.get(s.url("/ws"))).await,
        400,
        "invalid_argument",
    );
}
