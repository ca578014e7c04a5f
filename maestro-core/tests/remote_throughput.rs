//! Throughput and latency of the remote clients over loopback. Not part of the normal test
//! run (ignored); the numbers go to `benchmarks/remote.md`:
//!
//! ```text
//! cargo test --release -p maestro-core --test remote_throughput -- --ignored --nocapture --test-threads=1
//! ```

#![cfg(all(feature = "remote", feature = "server"))]

use maestro_core::remote::{HttpStore, Recv, SyncClient, SyncEvent, SyncOptions};
use maestro_core::retry::RetryPolicy;
use maestro_core::server::{ServerOptions, launch_with_listener};
use maestro_core::*;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

async fn start(db: &Path) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut opts = ServerOptions::new(Maestro::open(db).unwrap());
    opts.poll_interval = Duration::from_millis(20);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(launch_with_listener(opts, listener, async {
        let _ = rx.await;
    }));
    (url, tx)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, mut samples: Vec<Duration>, total: Duration) {
    samples.sort();
    println!(
        "{what}: {} ops in {:.2} s = {:.0} ops/s; p50 {:.2} ms, p99 {:.2} ms",
        samples.len(),
        total.as_secs_f64(),
        samples.len() as f64 / total.as_secs_f64(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run with --ignored --nocapture"]
async fn http_store_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop) = start(&dir.path().join("m.db")).await;
    let m = Maestro::new(Arc::new(
        HttpStore::new(&url, None, RetryPolicy::default()).unwrap(),
    ));
    let op = OpContext::default();
    m.create_project(&op, "bench", true).await.unwrap();
    let n = 1000;
    let mut ids = Vec::with_capacity(n);
    let mut samples = Vec::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let task = m
            .create_task(
                &op,
                NewTask {
                    title: format!("task {i}"),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        samples.push(t.elapsed());
        ids.push(task.id);
    }
    report("HttpStore create_task (sequential)", samples, t0.elapsed());

    let mut samples = Vec::with_capacity(n);
    let t0 = Instant::now();
    for id in &ids {
        let t = Instant::now();
        m.get_task(id).await.unwrap();
        samples.push(t.elapsed());
    }
    report("HttpStore get_task (sequential)", samples, t0.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run with --ignored --nocapture"]
async fn sync_client_replay_and_live_latency() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let local = Maestro::open(&db).unwrap();
    let op = OpContext::default();
    local.create_project(&op, "bench", true).await.unwrap();
    for i in 0..5000 {
        local
            .create_task(
                &op,
                NewTask {
                    title: format!("task {i}"),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let latest = local.latest_seq().await.unwrap();
    let (url, _stop) = start(&db).await;

    let t0 = Instant::now();
    let mut client = SyncClient::connect(SyncOptions::new(&url).since(Some(0)))
        .await
        .unwrap();
    let mut n = 0;
    while client.last_seq() != Some(latest) {
        match client.recv_timeout(Duration::from_secs(30)).await {
            Recv::Event(SyncEvent::Event(_)) => n += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let took = t0.elapsed();
    println!(
        "SyncClient replay: {n} events in {:.2} s = {:.0} events/s (connect included)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );

    // Live: HTTP write -> event delivered to the subscriber.
    let m = Maestro::new(Arc::new(
        HttpStore::new(&url, None, RetryPolicy::default()).unwrap(),
    ));
    let mut samples = Vec::new();
    let t0 = Instant::now();
    for i in 0..300 {
        let t = Instant::now();
        let task = m
            .create_task(
                &op,
                NewTask {
                    title: format!("live {i}"),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        loop {
            match client.recv_timeout(Duration::from_secs(30)).await {
                Recv::Event(SyncEvent::Event(e))
                    if e.event_type == EventType::TaskCreated && e.data["id"] == task.id =>
                {
                    break;
                }
                Recv::Event(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        samples.push(t.elapsed());
    }
    report(
        "HTTP create_task -> SyncClient event (write + delivery)",
        samples,
        t0.elapsed(),
    );

    // Ops over the socket, one at a time.
    let mut samples = Vec::new();
    let t0 = Instant::now();
    for i in 0..500 {
        let t = Instant::now();
        client
            .send_op(protocol::Op::TaskCreate(NewTask {
                title: format!("op {i}"),
                ..Default::default()
            }))
            .await
            .unwrap();
        samples.push(t.elapsed());
    }
    report(
        "SyncClient send_op task.create (sequential)",
        samples,
        t0.elapsed(),
    );
    client.close().await;
}
