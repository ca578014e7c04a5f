//! Throughput and event delivery of `maestro serve` on PostgreSQL, through one and two
//! replicas, against the SQLite server on the same machine, in one run.
//!
//! Run: `cargo build --release -p maestro-cli && cargo bench -p maestro-tests --bench replicas`
//!
//! Every server is a real `maestro serve` process of the release binary on a loopback port;
//! the PostgreSQL cluster is a fresh one of Debian's server, as durable as the SQLite store
//! (`synchronous_commit = off`: fsync on, commits not waiting for their flush, like SQLite's
//! WAL with `synchronous = NORMAL`). Clients are HTTP stores of the core (`Maestro::connect`), split evenly over the
//! replicas. Measured, per setup:
//! - creates/s: 8 clients creating tasks for `SECS` seconds;
//! - claims/s: 8 worker sessions claiming the next ready task of a queue of 3,000 until it is
//!   empty or `SECS` pass;
//! - event delivery: a task created through one replica, until a WebSocket subscriber of the
//!   other (of the same server for SQLite) receives its event; 300 in sequence, p50 and p99.

use maestro_core::remote::{SyncClient, SyncEvent, SyncOptions};
use maestro_core::{Maestro, NewSession, NewTask, OpContext};
use maestro_tests::postgres::{Durability, Postgres};
use maestro_tests::{Sandbox, Server};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SECS: u64 = 5;
const CLIENTS: usize = 8;
const QUEUE: usize = 3000;
const SAMPLES: usize = 300;

struct Setup {
    name: &'static str,
    urls: Vec<String>,
}

fn client(url: &str) -> Maestro {
    Maestro::connect(url, None).expect("connect")
}

async fn creates_per_second(s: &Setup) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(SECS);
    let start = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let m = client(&s.urls[i % s.urls.len()]);
            let done = done.clone();
            tokio::spawn(async move {
                let op = OpContext::default();
                let mut n = 0;
                while Instant::now() < end {
                    let new = NewTask {
                        title: format!("c{i}-{n}"),
                        ..Default::default()
                    };
                    m.create_task(&op, new).await.expect("create");
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn claims_per_second(s: &Setup) -> f64 {
    let m = client(&s.urls[0]);
    let op = OpContext::default();
    let project = m.create_project(&op, "claims", true).await.unwrap();
    for chunk in 0..QUEUE / 100 {
        let batch = (0..100)
            .map(|i| NewTask {
                title: format!("q{chunk}-{i}"),
                ..Default::default()
            })
            .collect();
        m.create_tasks(&op, batch).await.unwrap();
    }
    let done = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(SECS);
    let mut workers = Vec::new();
    for i in 0..CLIENTS {
        let m = client(&s.urls[i % s.urls.len()]);
        let new = NewSession {
            name: Some(format!("w{i}")),
            project_id: Some(project.id.clone()),
            ..Default::default()
        };
        let session = m.register_session(&op, new).await.unwrap();
        let done = done.clone();
        workers.push(async move {
            let op = OpContext::session(Some(session.id.clone()));
            while Instant::now() < end {
                match m.claim_next(&op, None, &session.id).await {
                    Ok(_) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if e.code() == maestro_core::Code::NothingReady => break,
                    Err(e) => panic!("claim: {e}"),
                }
            }
        });
    }
    let start = Instant::now();
    let handles: Vec<_> = workers.into_iter().map(tokio::spawn).collect();
    for h in handles {
        h.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// p50 and p99 of create → the event at a subscriber of the last replica.
async fn delivery(s: &Setup) -> (Duration, Duration) {
    let writer = client(&s.urls[0]);
    let reader = s.urls.last().unwrap();
    let latest = writer.latest_seq().await.unwrap();
    let opts = SyncOptions::new(reader.clone()).since(Some(latest));
    let mut sub = SyncClient::connect(opts).await.expect("subscribe");
    let op = OpContext::default();
    let mut samples = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let title = format!("latency {i}");
        let sent = Instant::now();
        let new = NewTask {
            title: title.clone(),
            ..Default::default()
        };
        writer.create_task(&op, new).await.unwrap();
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), sub.next_event())
                .await
                .expect("an event within 10 s")
                .expect("the subscription is open");
            if let SyncEvent::Event(e) = ev
                && e.data["title"] == title.as_str()
            {
                samples.push(sent.elapsed());
                break;
            }
        }
    }
    sub.close().await;
    samples.sort();
    (samples[SAMPLES / 2], samples[SAMPLES * 99 / 100])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probing
    }
    let bin = std::env::var_os("MAESTRO_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/maestro")
        });
    let sb = Sandbox::with_bin(bin);
    let quiet = |db: &str| {
        let mut c = sb.command(&Server::args(Path::new(db), "127.0.0.1:0", &[]));
        c.env("RUST_LOG", "error")
            .stderr(std::process::Stdio::null());
        Server::start_command(c)
    };
    let sqlite_db = sb.path().join("bench.db").display().to_string();
    sb.ok(&["--db", &sqlite_db, "init", "--name", "bench"]);
    let pg = Postgres::start_with(Durability::AsSqlite);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "maestro serve: SQLite vs PostgreSQL replicas; {CLIENTS} clients, {SECS} s phases ({})",
        sb.bin().display()
    );
    for (name, replicas) in [
        ("sqlite", 1),
        ("postgres, 1 replica", 1),
        ("postgres, 2 replicas", 2),
    ] {
        let (servers, db): (Vec<Server>, String) = if name == "sqlite" {
            (vec![quiet(&sqlite_db)], sqlite_db.clone())
        } else {
            let db = pg.create_database(&format!("bench{replicas}"));
            sb.ok(&["--db", &db, "init", "--name", "bench"]);
            ((0..replicas).map(|_| quiet(&db)).collect(), db)
        };
        let setup = Setup {
            name,
            urls: servers.iter().map(|s| s.url.clone()).collect(),
        };
        let (creates, claims, (p50, p99)) = rt.block_on(async {
            (
                creates_per_second(&setup).await,
                claims_per_second(&setup).await,
                delivery(&setup).await,
            )
        });
        let across = if replicas == 2 {
            "other replica"
        } else {
            "same server"
        };
        println!(
            "{:<22} creates/s {creates:>7.0}  claims/s {claims:>7.0}  event delivery ({across}) p50 {:.2} ms  p99 {:.2} ms",
            setup.name,
            ms(p50),
            ms(p99)
        );
        drop(servers);
        let _ = db;
    }
}
