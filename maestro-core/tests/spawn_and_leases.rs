//! Contract of the spawn-claim and lease operations on the SQLite store, across several
//! stores (as several processes would open) on one database file.

use maestro_core::*;
use std::sync::Arc;
use std::time::Duration;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

fn new_task(title: &str) -> NewTask {
    NewTask {
        title: title.into(),
        ..Default::default()
    }
}

#[test]
fn racing_hosts_claim_each_spawn_request_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("m.db");
    rt().block_on(async {
        let m = Maestro::open(&db).unwrap();
        let op = OpContext::default();
        m.create_project(&op, "p", true).await.unwrap();
        let t = m.create_task(&op, new_task("T")).await.unwrap();
        let mut requests = Vec::new();
        for _ in 0..20 {
            let new = NewSession {
                task_ids: vec![t.id.clone()],
                force: true,
                ..Default::default()
            };
            requests.push(m.spawn_session(&op, new).await.unwrap().id);
        }
        let requests = Arc::new(requests);
        // Four "hosts", each with its own store on the file, race for every request.
        let mut handles = Vec::new();
        for h in 0..4 {
            let store = Maestro::open(&db).unwrap();
            let requests = requests.clone();
            handles.push(tokio::spawn(async move {
                let mut won = Vec::new();
                for id in requests.iter() {
                    let host = format!("host-{h}");
                    if let Some(s) = store
                        .claim_spawn(&OpContext::default(), id, &host)
                        .await
                        .unwrap()
                    {
                        assert_eq!(s.status, SessionStatus::Starting);
                        assert_eq!(s.host.as_deref(), Some(host.as_str()));
                        won.push(s.id);
                    }
                }
                won
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        all.sort();
        let mut expected = requests.to_vec();
        expected.sort();
        assert_eq!(all, expected, "every request claimed by exactly one host");
        let e = m.claim_spawn(&op, "s-zzzzzz", "host").await.unwrap_err();
        assert_eq!(e.code(), Code::SessionNotFound);
    });
}

#[test]
fn reaping_is_shared_by_every_store_on_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("m.db");
    let clock = maestro_core::clock::ManualClock::starting_now();
    let lease = Duration::from_secs(20);
    let open = || {
        let opts = maestro_core::sqlite::SqliteOptions {
            clock: clock.clone(),
            ..Default::default()
        };
        Maestro::new(Arc::new(SqliteStore::open_with(&db, opts).unwrap())).with_lease(lease)
    };
    rt().block_on(async {
        let a = open();
        let b = open();
        let op = OpContext::default();
        a.create_project(&op, "p", true).await.unwrap();
        let t = a.create_task(&op, new_task("T")).await.unwrap();
        let w = a
            .register_session(&op, NewSession::default())
            .await
            .unwrap();
        a.claim_task(&OpContext::session(Some(w.id.clone())), &t.id, &w.id)
            .await
            .unwrap();
        clock.advance(Duration::from_secs(40));
        // Two reapers at once: the session is declared lost once.
        let (ra, rb) = tokio::join!(a.reap_expired(&op), b.reap_expired(&op));
        assert_eq!(ra.unwrap().len() + rb.unwrap().len(), 1);
        let d = b.get_task(&t.id).await.unwrap();
        assert_eq!(d.task.status, TaskStatus::Pending);
        let released = d
            .timeline
            .iter()
            .filter(|e| matches!(e.kind, TimelineKind::Released { .. }))
            .count();
        assert_eq!(released, 1);
        let events = a.events_since(0, 1000, &[]).await.unwrap();
        let lost_events = events
            .iter()
            .filter(|e| e.event_type == EventType::SessionUpdated && e.data["status"] == "lost")
            .count();
        assert_eq!(lost_events, 1);
        assert!(
            a.clone()
                .with_lease(Duration::ZERO)
                .reap_expired(&op)
                .await
                .is_err(),
            "a zero lease is refused"
        );
    });
}
