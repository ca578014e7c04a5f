//! Real-time sync across process crashes: a subscriber sees every event once, in order.

use maestro_core::Maestro;
use maestro_core::remote::{SyncClient, SyncEvent, SyncOptions};
use maestro_core::retry::RetryPolicy;
use maestro_tests::{Server, free_port, sandbox};
use std::time::{Duration, Instant};

#[test]
fn a_subscriber_gets_every_event_once_across_a_server_sigkill_and_restart() {
    let sb = sandbox!();
    let db = sb.path().join("server.db");
    let db_arg = db.to_str().unwrap().to_string();
    sb.ok(&["--db", &db_arg, "init", "--name", "sync"]);
    let addr = format!("127.0.0.1:{}", free_port());
    let server = Server::start(&sb, &db, &addr, &[]);
    let url = server.url.clone();

    // Another process keeps writing to the same database in local mode throughout.
    let script = r#"for i in $(seq 1 120); do "$MAESTRO_BIN" --db "$DB" task create "w$i" --json >/dev/null || exit 1; sleep 0.02; done"#;
    let writer = sb.shell(script, &[("DB", &db_arg)]).spawn().unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seqs = rt.block_on(async {
        let mut policy = RetryPolicy::new(u32::MAX, Duration::from_millis(100));
        policy.max_delay = Duration::from_millis(400);
        let opts = SyncOptions::new(url)
            .since(Some(0))
            .backoff(policy)
            .heartbeat(Duration::from_secs(2));
        let mut client = SyncClient::connect(opts).await.expect("connect");
        let mut seqs = Vec::new();
        let mut server = Some(server);
        let mut restarted = None;
        let mut writer = Some(writer);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            assert!(
                Instant::now() < deadline,
                "timed out with {} events",
                seqs.len()
            );
            if let Some(ev) = tokio::time::timeout(Duration::from_millis(200), client.next_event())
                .await
                .ok()
                .flatten()
            {
                match ev {
                    SyncEvent::Event(e) => seqs.push(e.seq),
                    other => panic!("unexpected {other:?}"),
                }
            }
            // Kill the server hard once some events have arrived, restart it on the same port.
            if seqs.len() >= 40 && server.is_some() {
                server.take().unwrap().kill();
                tokio::time::sleep(Duration::from_millis(500)).await;
                let (sb2, db2, addr2) = (&sb, &db, &addr);
                restarted = Some(Server::start(sb2, db2, addr2, &[]));
            }
            // Done when the writer finished and we caught up with the log.
            if let Some(w) = writer.as_mut()
                && let Ok(Some(status)) = w.try_wait()
            {
                assert!(status.success(), "writer failed");
                writer = None;
            }
            if writer.is_none() && restarted.is_some() {
                let latest = Maestro::open(&db).unwrap().latest_seq().await.unwrap();
                if seqs.last() == Some(&latest) {
                    break;
                }
            }
        }
        client.close().await;
        seqs
    });
    let expected: Vec<i64> = (1..=*seqs.last().unwrap()).collect();
    assert_eq!(seqs, expected, "every event exactly once, in seq order");
    assert!(seqs.len() > 120 * 2, "the writer's events all arrived");
}
