//! The host loop in-process, with shell commands as agents.

use maestro_core::host::plan::{AgentProfile, Profiles, StoreContext};
use maestro_core::host::{Host, HostControl, HostEvent, HostOptions};
use maestro_core::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn profile(name: &str, argv: &[&str]) -> AgentProfile {
    AgentProfile::process(name, argv.iter().map(|s| s.to_string()).collect())
}

#[test]
fn the_host_launches_records_exits_and_reports_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("m.db");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let m = Maestro::open(&db).unwrap();
        let op = OpContext::default();
        m.create_project(&op, "p", true).await.unwrap();
        let t = m
            .create_task(
                &op,
                NewTask {
                    title: "T".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut profiles = Profiles::default();
        // The agent sees its context and its prompt file.
        profiles.insert(profile(
            "ok",
            &[
                "sh",
                "-c",
                "echo \"$MAESTRO_SESSION_ID $MAESTRO_TASK_IDS $MAESTRO_SKILL $1\"; test -s \"$1\"; echo to-stderr >&2",
                "sh",
                "{prompt_file}",
            ],
        ));
        profiles.insert(profile("crash", &["sh", "-c", "exit 3"]));
        profiles.insert(profile("missing", &["/nonexistent/agent-binary"]));
        let spawn = |agent: &str| {
            let m = m.clone();
            let (agent, task) = (agent.to_string(), t.id.clone());
            async move {
                m.spawn_session(
                    &OpContext::default(),
                    NewSession {
                        task_ids: vec![task],
                        agent: Some(agent),
                        force: true,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .id
            }
        };
        // One request before the host starts, the others while it runs.
        let ok = spawn("ok").await;
        let mut opts = HostOptions::new(
            tmp.path().join("home"),
            StoreContext::Local { db: db.clone() },
        );
        opts.profiles = profiles;
        opts.max_concurrent = 2;
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = events.clone();
        let host = Host::new(Maestro::open(&db).unwrap(), opts)
            .on_event(move |e| seen.lock().unwrap().push(e.clone()));
        let (control, rx) = tokio::sync::watch::channel(HostControl::Run);
        let running = tokio::spawn(async move { host.run(rx).await });
        let crash = spawn("crash").await;
        let missing = spawn("missing").await;
        let unknown = spawn("nope").await;
        let all = [&ok, &crash, &missing, &unknown];
        let mut ended = false;
        for _ in 0..400 {
            let mut done = true;
            for id in all {
                done &= m.get_session(id).await.unwrap().status.is_terminal();
            }
            if done {
                ended = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(ended, "every session ended");
        control.send(HostControl::Drain).unwrap();
        let summary = running.await.unwrap().unwrap();
        assert_eq!(summary.launched, 2);
        assert_eq!(summary.completed, 1);
        assert_eq!(summary.failed, 1);
        assert_eq!(summary.launch_failures, 2);

        let s = m.get_session(&ok).await.unwrap();
        assert_eq!(s.status, SessionStatus::Completed);
        assert_eq!(s.exit_code, Some(0));
        assert!(s.pid.unwrap() > 0);
        assert!(s.started_at.is_some() && s.ended_at.is_some());
        let log = std::fs::read_to_string(tmp.path().join(format!("home/logs/{ok}.log"))).unwrap();
        assert!(log.contains(&format!("{ok} {} maestro-worker", t.id)), "{log}");
        assert!(log.contains("to-stderr"));
        let prompt =
            std::fs::read_to_string(tmp.path().join(format!("home/prompts/{ok}.md"))).unwrap();
        assert!(prompt.contains(&format!("maestro task claim {} --json", t.id)));

        let s = m.get_session(&crash).await.unwrap();
        assert_eq!(s.status, SessionStatus::Failed);
        assert_eq!(s.exit_code, Some(3));
        assert_eq!(s.reason.as_deref(), Some("exited with code 3"));

        let s = m.get_session(&missing).await.unwrap();
        assert_eq!(s.status, SessionStatus::Failed);
        assert!(s.reason.unwrap().contains("command not found"));
        assert!(s.pid.is_none());

        let s = m.get_session(&unknown).await.unwrap();
        assert_eq!(s.status, SessionStatus::Failed);
        assert!(s.reason.unwrap().contains("Unknown agent profile 'nope'"));

        let events = events.lock().unwrap();
        let launched = events
            .iter()
            .filter(|e| matches!(e, HostEvent::Launched { .. }))
            .count();
        assert_eq!(launched, 2);
    });
}
