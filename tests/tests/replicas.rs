//! Several `maestro serve` replicas on one PostgreSQL database: claims stay exclusive across
//! them, and a WebSocket subscriber of any replica gets every event of every replica once,
//! in order, even across a replica killed with SIGKILL and restarted under load.

use maestro_core::Maestro;
use maestro_core::remote::{SyncClient, SyncEvent, SyncOptions};
use maestro_core::retry::RetryPolicy;
use maestro_tests::postgres::Postgres;
use maestro_tests::{Sandbox, Server, free_port, http, id, sandbox};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn subscribe(url: &str) -> SyncClient {
    let mut policy = RetryPolicy::new(u32::MAX, Duration::from_millis(100));
    policy.max_delay = Duration::from_millis(400);
    let opts = SyncOptions::new(url.to_string())
        .since(Some(0))
        .backoff(policy)
        .heartbeat(Duration::from_secs(2));
    SyncClient::connect(opts).await.expect("subscribe")
}

/// The next event's seq, if one comes within a moment.
async fn next_seq(client: &mut SyncClient) -> Option<i64> {
    match tokio::time::timeout(Duration::from_millis(200), client.next_event()).await {
        Ok(Some(SyncEvent::Event(e))) => Some(e.seq),
        Ok(Some(other)) => panic!("unexpected {other:?}"),
        _ => None,
    }
}

/// A store on a fresh database with a default project, and the server arguments for it.
fn database(sb: &Sandbox, pg: &Postgres) -> String {
    let url = pg.create_database("maestro");
    sb.ok(&["--db", &url, "init", "--name", "replicas"]);
    url
}

fn assert_every_seq_once_in_order(seqs: &[i64], latest: i64, who: &str) {
    let expected: Vec<i64> = (1..=latest).collect();
    assert_eq!(
        seqs, expected,
        "{who}: every event exactly once, in seq order"
    );
}

#[test]
fn two_replicas_claim_exclusively_and_every_subscriber_sees_every_event_in_order() {
    let pg = Postgres::start();
    let mut sb = sandbox!();
    sb.set_env("MAESTRO_PG_POOL_SIZE", "6");
    let db = database(&sb, &pg);
    let mut tasks = HashSet::new();
    for i in 0..40 {
        let v = sb.ok(&["--db", &db, "task", "create", &format!("task {i}")]);
        tasks.insert(id(&v));
    }
    let a = Server::start(&sb, Path::new(&db), "127.0.0.1:0", &[]);
    let b = Server::start(&sb, Path::new(&db), "127.0.0.1:0", &[]);
    for replica in [&a, &b] {
        let (status, body) = http(&replica.addr, "GET", "/health", &[], b"");
        assert_eq!(status, 200, "{body}");
        let health: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(health["db"], "ok");
        assert_eq!(health["database"]["kind"], "postgres");
        assert_eq!(health["database"]["location"], db.as_str());
        // The replica's pool, as its settings size it: the health check's read opened a
        // connection (idle again, or taken by the replica's own tailer meanwhile).
        let pool = &health["database"]["pool"];
        assert_eq!(pool["max"], 6, "{body}");
        let n = |k: &str| {
            pool[k]
                .as_u64()
                .unwrap_or_else(|| panic!("pool.{k}: {body}"))
        };
        assert!((1..=6).contains(&n("size")), "{body}");
        assert!(n("available") <= n("size"), "{body}");
        assert_eq!(n("waiting"), 0, "{body}");
    }
    let rt = runtime();
    let (mut on_a, mut on_b) =
        rt.block_on(async { (subscribe(&a.url).await, subscribe(&b.url).await) });

    // Four remote CLI workers, two through each replica, claim until nothing is ready.
    let script = r#"n=0; while out=$("$MAESTRO_BIN" task claim --next --json); do echo "$out"; n=$((n+1)); [ $n -gt 60 ] && break; done; echo "$out""#;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let server = if w % 2 == 0 { &a.url } else { &b.url };
            let env = [("MAESTRO_API_URL", server.as_str())];
            let s = id(&sb.ok_with(&env, &["session", "register", "--name", &format!("w{w}")]));
            sb.shell(
                script,
                &[("MAESTRO_API_URL", server), ("MAESTRO_SESSION_ID", &s)],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    let mut claimed = Vec::new();
    for worker in workers {
        let out = worker.wait_with_output().unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["success"] == true {
                claimed.push(v["data"]["id"].as_str().unwrap().to_string());
            } else {
                assert_eq!(v["error"], "nothing_ready", "unexpected failure: {v}");
            }
        }
    }
    assert_eq!(claimed.len(), 40, "every task claimed once, no more");
    assert_eq!(claimed.iter().cloned().collect::<HashSet<_>>(), tasks);

    let (seqs_a, seqs_b, latest) = rt.block_on(async {
        let latest = Maestro::open(&db).unwrap().latest_seq().await.unwrap();
        let (mut seqs_a, mut seqs_b) = (Vec::new(), Vec::new());
        let deadline = Instant::now() + Duration::from_secs(60);
        while (seqs_a.last() != Some(&latest) || seqs_b.last() != Some(&latest))
            && Instant::now() < deadline
        {
            if seqs_a.last() != Some(&latest) {
                seqs_a.extend(next_seq(&mut on_a).await);
            }
            if seqs_b.last() != Some(&latest) {
                seqs_b.extend(next_seq(&mut on_b).await);
            }
        }
        // Nothing more than the log holds arrives afterwards.
        seqs_a.extend(next_seq(&mut on_a).await);
        seqs_b.extend(next_seq(&mut on_b).await);
        on_a.close().await;
        on_b.close().await;
        (seqs_a, seqs_b, latest)
    });
    // 40 creates, 4 registrations and 40 claims (each an assignment and a status change).
    assert!(latest > 40 + 4 + 40, "{latest}");
    assert_every_seq_once_in_order(&seqs_a, latest, "replica A's subscriber");
    assert_every_seq_once_in_order(&seqs_b, latest, "replica B's subscriber");
}

#[test]
fn a_replica_killed_under_load_and_restarted_loses_and_doubles_nothing() {
    let pg = Postgres::start();
    let sb = sandbox!();
    let db = database(&sb, &pg);
    let addr_a = format!("127.0.0.1:{}", free_port());
    let a = Server::start(&sb, Path::new(&db), &addr_a, &[]);
    let b = Server::start(&sb, Path::new(&db), "127.0.0.1:0", &[]);

    // Writers through both replicas; the one through A retries while A is down.
    let script = r#"for i in $(seq 1 $N); do
        until "$MAESTRO_BIN" task create "$W$i" --json >/dev/null 2>&1; do sleep 0.1; done
        sleep 0.01
    done"#;
    let through_a = sb
        .shell(
            script,
            &[("MAESTRO_API_URL", &a.url), ("W", "a"), ("N", "60")],
        )
        .spawn()
        .unwrap();
    let through_b = sb
        .shell(
            script,
            &[("MAESTRO_API_URL", &b.url), ("W", "b"), ("N", "60")],
        )
        .spawn()
        .unwrap();

    let rt = runtime();
    let (seqs_a, seqs_b, latest) = rt.block_on(async {
        let mut on_a = subscribe(&a.url).await;
        let mut on_b = subscribe(&b.url).await;
        let (mut seqs_a, mut seqs_b) = (Vec::new(), Vec::new());
        let mut a = Some(a);
        let mut restarted = None;
        let mut writers = vec![through_a, through_b];
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            assert!(
                Instant::now() < deadline,
                "timed out with {} and {} events",
                seqs_a.len(),
                seqs_b.len()
            );
            seqs_a.extend(next_seq(&mut on_a).await);
            seqs_b.extend(next_seq(&mut on_b).await);
            if seqs_a.len() >= 30 && a.is_some() {
                a.take().unwrap().kill();
                tokio::time::sleep(Duration::from_millis(500)).await;
                restarted = Some(Server::start(&sb, Path::new(&db), &addr_a, &[]));
            }
            writers.retain_mut(|w| match w.try_wait().unwrap() {
                Some(status) => {
                    assert!(status.success(), "a writer failed");
                    false
                }
                None => true,
            });
            if writers.is_empty() && restarted.is_some() {
                let latest = Maestro::open(&db).unwrap().latest_seq().await.unwrap();
                if seqs_a.last() == Some(&latest) && seqs_b.last() == Some(&latest) {
                    on_a.close().await;
                    on_b.close().await;
                    break (seqs_a, seqs_b, latest);
                }
            }
        }
    });
    assert_every_seq_once_in_order(&seqs_a, latest, "the killed replica's subscriber");
    assert_every_seq_once_in_order(&seqs_b, latest, "the other replica's subscriber");
    let tasks = pg.count("maestro", "SELECT COUNT(*) FROM tasks");
    assert_eq!(tasks, 120, "every write landed once");
    let titles = pg.count("maestro", "SELECT COUNT(DISTINCT title) FROM tasks");
    assert_eq!(titles, 120, "no write was applied twice");
}
