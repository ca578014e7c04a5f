//! Fault injection with real processes: `maestro serve` killed with SIGKILL under load and
//! restarted on the same database, WebSocket subscribers through those kills, a host killed
//! while its agents run, and a store on a full disk.

use maestro_core::protocol::Op;
use maestro_core::remote::{HttpStore, SyncClient, SyncEvent, SyncOptions};
use maestro_core::retry::RetryPolicy;
use maestro_core::{Event, Maestro, NewTask, OpContext, Task, TaskFilter};
use maestro_tests::fs::Tmpfs;
use maestro_tests::{Sandbox, Server, free_port, http, sandbox, until};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many times the write test kills the server: a kill lands between a commit and its
/// answer rarely, and this many make a missing op-id dedupe show (a doubled write).
const KILLS: usize = 40;
/// How many times the subscriber test kills the server.
const SUBSCRIBER_KILLS: usize = 8;

/// A retry policy patient enough to outlast a server restart.
fn patient() -> RetryPolicy {
    let mut p = RetryPolicy::new(400, Duration::from_millis(20));
    p.max_delay = Duration::from_millis(250);
    p
}

/// A server on a fixed loopback address (so a restarted one is where its clients expect
/// it) over a store in a sandbox, with remote writers creating tasks in it.
struct Loaded {
    sb: Sandbox,
    db: std::path::PathBuf,
    addr: String,
    url: String,
    rt: tokio::runtime::Runtime,
    acks: Acks,
    stop: Arc<AtomicBool>,
    writers: Vec<tokio::task::JoinHandle<usize>>,
}

impl Loaded {
    /// `maestro --db db init`, `maestro serve`, and `writers` clients writing to it.
    fn start(writers: usize) -> (Loaded, Server) {
        let sb = sandbox!();
        let db = sb.path().join("server.db");
        sb.ok(&["--db", db.to_str().unwrap(), "init", "--name", "faults"]);
        let addr = format!("127.0.0.1:{}", free_port());
        let server = Server::start(&sb, &db, &addr, &[]);
        let url = server.url.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let acks: Acks = Default::default();
        let stop = Arc::new(AtomicBool::new(false));
        let writers = start_writers(&rt, &url, writers, &acks, &stop);
        let loaded = Loaded {
            sb,
            db,
            addr,
            url,
            rt,
            acks,
            stop,
            writers,
        };
        (loaded, server)
    }

    /// SIGKILL, then a new server on the same database and address.
    fn kill_and_restart(&self, server: Server) -> Server {
        server.kill();
        Server::start(&self.sb, &self.db, &self.addr, &[])
    }

    /// Stops the writers; the number of calls that gave up.
    fn stop_writers(&mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let writers = std::mem::take(&mut self.writers);
        writers
            .into_iter()
            .map(|w| self.rt.block_on(w).unwrap())
            .sum()
    }
}

/// Writes acknowledged by the server: title → task id.
type Acks = Arc<Mutex<HashMap<String, String>>>;

/// Remote clients creating tasks until `stop`, each call with its own op id (which all its
/// retries reuse); an acknowledged call records its title and the id it was answered.
fn start_writers(
    rt: &tokio::runtime::Runtime,
    url: &str,
    writers: usize,
    acks: &Acks,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<usize>> {
    (0..writers)
        .map(|w| {
            let store = HttpStore::new(url, None, patient())
                .unwrap()
                .with_timeout(Duration::from_secs(10))
                .unwrap();
            let m = Maestro::new(Arc::new(store));
            let (acks, stop) = (acks.clone(), stop.clone());
            rt.spawn(async move {
                let mut failures = 0;
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let title = format!("w{w}-{i}");
                    let op = OpContext::default().with_op_id(format!("op-{title}"));
                    let new = NewTask {
                        title: title.clone(),
                        ..Default::default()
                    };
                    match m.create_task(&op, new).await {
                        Ok(t) => {
                            assert_eq!(t.title, title, "answered with another task");
                            acks.lock().unwrap().insert(title, t.id);
                        }
                        Err(_) => failures += 1,
                    }
                }
                failures
            })
        })
        .collect()
}

/// A WebSocket client creating tasks with ops until `stop`, each with its own op id (which
/// the sync client resends after a drop); an acknowledged op records its title and id.
/// Its events are drained, so it is never cut off as a slow consumer.
fn start_ws_writer(
    rt: &tokio::runtime::Runtime,
    url: &str,
    acks: &Acks,
    stop: &Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    let mut policy = RetryPolicy::new(u32::MAX, Duration::from_millis(20));
    policy.max_delay = Duration::from_millis(250);
    let opts = SyncOptions::new(url).backoff(policy);
    let (acks, stop) = (acks.clone(), stop.clone());
    rt.spawn(async move {
        let mut client = SyncClient::connect(opts).await.expect("connect");
        let ops = client.op_sender();
        let drain = tokio::spawn(async move { while client.next_event().await.is_some() {} });
        let mut failures = 0;
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let title = format!("ws-{i}");
            let new = NewTask {
                title: title.clone(),
                ..Default::default()
            };
            match ops
                .send_op_with_id(format!("op-{title}"), Op::TaskCreate(new))
                .await
            {
                Ok(task) => {
                    assert_eq!(task["title"], title.as_str(), "answered with another task");
                    let id = task["id"].as_str().unwrap().to_string();
                    acks.lock().unwrap().insert(title, id);
                }
                Err(_) => failures += 1,
            }
        }
        drain.abort();
        failures
    })
}

/// A `maestro` CLI process creating tasks in remote mode until `stop_file` exists; each
/// acknowledged call (exit 0) appends `<title> <id>` to `acks_file`.
fn cli_writer(sb: &Sandbox, url: &str, stop_file: &Path, acks_file: &Path) -> std::process::Child {
    let script = r#"i=0
while [ ! -e "$STOP" ] && [ $i -lt 100000 ]; do
  i=$((i+1))
  if id=$("$MAESTRO_BIN" task create "c-$i" -q); then echo "c-$i $id" >> "$ACKS"; fi
done"#;
    sb.shell(
        script,
        &[
            ("MAESTRO_API_URL", url),
            ("MAESTRO_RETRIES", "100"),
            ("MAESTRO_RETRY_DELAY", "20"),
            ("STOP", stop_file.to_str().unwrap()),
            ("ACKS", acks_file.to_str().unwrap()),
        ],
    )
    .spawn()
    .unwrap()
}

/// Every task of the store, over all pages.
fn all_tasks(rt: &tokio::runtime::Runtime, db: &Path) -> Vec<Task> {
    let m = Maestro::open(db).unwrap();
    rt.block_on(async {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = m
                .list_tasks(TaskFilter {
                    limit: Some(maestro_core::MAX_LIMIT),
                    cursor,
                    ..Default::default()
                })
                .await
                .unwrap();
            out.extend(page.items);
            cursor = page.next_cursor;
            if cursor.is_none() {
                break out;
            }
        }
    })
}

/// The whole event log of the store.
fn event_log(rt: &tokio::runtime::Runtime, db: &Path) -> Vec<Event> {
    let m = Maestro::open(db).unwrap();
    rt.block_on(async {
        let mut out: Vec<Event> = Vec::new();
        loop {
            let since = out.last().map_or(0, |e| e.seq);
            let page = m.events_since(since, 10_000, &[]).await.unwrap();
            if page.is_empty() {
                break out;
            }
            out.extend(page);
        }
    })
}

/// `PRAGMA integrity_check` of the database file.
fn integrity(db: &Path) -> String {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap()
}

/// Waits (bounded) until at least `n` writes were acknowledged.
fn wait_for_acks(acks: &Acks, n: usize) {
    let reached = until(1200, || acks.lock().unwrap().len() >= n);
    assert!(
        reached,
        "only {} writes acknowledged, waited for {n}",
        acks.lock().unwrap().len()
    );
}

#[test]
fn acknowledged_writes_survive_server_sigkills_and_none_is_applied_twice() {
    let (mut load, server) = Loaded::start(3);
    let ws = start_ws_writer(&load.rt, &load.url, &load.acks, &load.stop);
    let sb = &load.sb;
    let (stop_file, cli_acks) = (sb.path().join("stop"), sb.path().join("cli-acks"));
    let cli = cli_writer(sb, &load.url, &stop_file, &cli_acks);
    let cli_count = || {
        std::fs::read_to_string(&cli_acks)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let mut server = Some(server);
    for round in 1..=KILLS {
        // Each kill lands while both kinds of client are writing.
        wait_for_acks(&load.acks, round * 15);
        assert!(
            until(600, || cli_count() >= round),
            "the CLI writer is stuck"
        );
        server = Some(load.kill_and_restart(server.take().unwrap()));
    }
    wait_for_acks(&load.acks, (KILLS + 1) * 15);
    std::fs::write(&stop_file, b"").unwrap();
    let failures = load.stop_writers() + load.rt.block_on(ws).unwrap();
    let cli = cli.wait_with_output().unwrap();
    assert!(cli.status.success(), "{cli:?}");
    // The last of the kills: nothing is shut down cleanly.
    server.take().unwrap().kill();

    let (db, rt) = (&load.db, &load.rt);
    assert_eq!(integrity(db), "ok");
    let mut acked = load.acks.lock().unwrap().clone();
    let cli_acked = std::fs::read_to_string(&cli_acks).unwrap_or_default();
    for line in cli_acked.lines() {
        let (title, id) = line.split_once(' ').expect("<title> <id>");
        acked.insert(title.to_string(), id.to_string());
    }
    assert!(
        cli_acked.lines().count() >= KILLS,
        "the CLI writer got few answers: {}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let tasks = all_tasks(rt, db);
    let mut by_title: HashMap<&str, Vec<&str>> = HashMap::new();
    for t in &tasks {
        by_title.entry(&t.title).or_default().push(&t.id);
    }
    let twice: Vec<_> = by_title.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(twice.is_empty(), "applied more than once: {twice:?}");
    for (title, id) in &acked {
        assert_eq!(
            by_title.get(title.as_str()),
            Some(&vec![id.as_str()]),
            "acknowledged write {title} ({id}) is missing"
        );
    }
    // Unacknowledged writes (calls that gave up) may be applied, but once, like the rest.
    assert!(
        tasks.len() <= acked.len() + failures,
        "{} tasks for {} acknowledged and {failures} failed calls",
        tasks.len(),
        acked.len()
    );
    // The log holds one creation per task, in a gapless sequence.
    let log = event_log(rt, db);
    let seqs: Vec<i64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let created = log
        .iter()
        .filter(|e| e.event_type == maestro_core::EventType::TaskCreated)
        .count();
    assert_eq!(created, tasks.len());
}

/// Asserts that `got` is the event log `log`, each event once and in order.
fn assert_is_the_log(who: &str, got: &[Event], log: &[Event]) {
    let key = |e: &Event| (e.seq, e.event_type, e.data.get("id").cloned());
    let got_keys: Vec<_> = got.iter().map(key).collect();
    let log_keys: Vec<_> = log.iter().map(key).collect();
    if got_keys != log_keys {
        let seqs: Vec<i64> = got.iter().map(|e| e.seq).collect();
        let repeated: Vec<i64> = seqs
            .windows(2)
            .filter(|w| w[1] <= w[0])
            .map(|w| w[1])
            .collect();
        let missing: Vec<i64> = log
            .iter()
            .map(|e| e.seq)
            .filter(|s| !seqs.contains(s))
            .collect();
        panic!(
            "{who} received {} events, the log holds {}; repeated or out of order: \
             {repeated:?}; missing: {missing:?}",
            got.len(),
            log.len()
        );
    }
    assert_eq!(got, log, "{who}: the events differ from the log's");
}

/// The events a `maestro events --follow --json` printed to `file` so far.
fn followed(file: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    // A line being written is left for later.
    let complete = text.rsplit_once('\n').map_or("", |(done, _)| done);
    complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn subscribers_get_every_event_exactly_once_through_repeated_server_kills() {
    let (mut load, server) = Loaded::start(2);
    // The core's sync client, in this process …
    let received: Arc<Mutex<Vec<Event>>> = Default::default();
    let reader = {
        let received = received.clone();
        let mut policy = RetryPolicy::new(u32::MAX, Duration::from_millis(50));
        policy.max_delay = Duration::from_millis(300);
        let opts = SyncOptions::new(load.url.clone())
            .since(Some(0))
            .backoff(policy)
            .heartbeat(Duration::from_secs(1));
        load.rt.spawn(async move {
            let mut client = SyncClient::connect(opts).await.expect("connect");
            while let Some(ev) = client.next_event().await {
                match ev {
                    SyncEvent::Event(e) => received.lock().unwrap().push(e),
                    other => panic!("unexpected {other:?}"),
                }
            }
        })
    };
    // … and `maestro events --follow` in a process of its own.
    let follow_file = load.sb.path().join("followed.jsonl");
    let mut follower = load
        .sb
        .command(&["events", "--follow", "--since", "0", "--json"])
        .env("MAESTRO_API_URL", &load.url)
        .stdout(std::fs::File::create(&follow_file).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let received_len = || received.lock().unwrap().len();
    let followed_len = || followed(&follow_file).len();

    let mut server = Some(server);
    for round in 1..=SUBSCRIBER_KILLS {
        // Kill only once both subscribers are live again and have seen new events.
        let (before, before_cli) = (received_len(), followed_len());
        let both = until(1200, || {
            received_len() >= before + 40 && followed_len() >= before_cli + 40
        });
        assert!(
            both,
            "a subscriber is stuck after {} kills: {} and {} events",
            round - 1,
            received_len(),
            followed_len()
        );
        server = Some(load.kill_and_restart(server.take().unwrap()));
    }
    wait_for_acks(&load.acks, 40);
    load.stop_writers();
    let (db, rt) = (&load.db, &load.rt);
    let latest = rt.block_on(async { Maestro::open(db).unwrap().latest_seq().await.unwrap() });
    let caught_up = until(1200, || {
        received.lock().unwrap().last().map(|e| e.seq) == Some(latest)
            && followed(&follow_file).last().map(|e| e.seq) == Some(latest)
    });
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(
        caught_up,
        "the subscribers stopped at {} and {} of {latest} events",
        received_len(),
        followed_len()
    );
    reader.abort();
    drop(server);

    let log = event_log(rt, db);
    assert_is_the_log("the sync client", &received.lock().unwrap(), &log);
    assert_is_the_log("maestro events --follow", &followed(&follow_file), &log);
}

/// Fills the file system holding `dir` with one file, `dir/filler`, until it is full.
fn fill(dir: &Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("cannot fill {}: {e}", dir.display()),
        }
    }
    let _ = f.sync_all();
    path
}

/// A description big enough (60 KiB, under the limit of 64) that a few need new pages.
fn bulky(i: usize) -> String {
    format!("{i}:{}", "x".repeat(60 * 1024))
}

#[test]
fn a_full_disk_refuses_writes_with_a_storage_error_and_loses_nothing() {
    let fs = Tmpfs::mount("8m");
    let mut sb = sandbox!();
    let db = fs.join("m.db");
    sb.set_env("MAESTRO_DB", &db.display().to_string());
    sb.init();
    let first = sb.task("before the disk filled", &[]);
    let filler = fill(fs.path());

    // Writes go on while pages are free, then fail, each with a clear storage_error.
    let mut created = vec![first];
    let mut refused = None;
    for i in 0..200 {
        let r = sb.run(&[
            "task",
            "create",
            &format!("big {i}"),
            "--desc",
            &bulky(i),
            "--json",
        ]);
        let v = r.json();
        if v["success"] == true {
            created.push(v["data"]["id"].as_str().unwrap().to_string());
            continue;
        }
        assert_eq!(r.code, 1, "{v}");
        refused = Some(v);
        break;
    }
    let e = refused.expect("200 writes of 60 KiB fitted on a full 8 MiB disk");
    assert_eq!(e["error"], "storage_error", "{e}");
    assert_eq!(e["details"]["diskFull"], true, "{e}");
    assert!(e["message"].as_str().unwrap().contains("is full"), "{e}");
    assert!(
        e["suggestion"].as_str().unwrap().contains("Free space"),
        "{e}"
    );
    // A new process may not even read (SQLite cannot create its WAL index), and then says
    // why; when it can, it sees every write that was answered.
    let r = sb.run(&["task", "list", "--json"]);
    let v = r.json();
    if v["success"] == true {
        assert_eq!(v["data"].as_array().unwrap().len(), created.len(), "{v}");
    } else {
        assert_eq!(v["details"]["diskFull"], true, "{v}");
    }
    let e = sb.fails(
        &["task", "create", "small", "--desc", &bulky(0)],
        "storage_error",
        1,
    );
    assert_eq!(e["details"]["diskFull"], true, "{e}");

    // (The check itself needs the WAL index, hence room on the disk.)
    std::fs::remove_file(filler).unwrap();
    assert_eq!(integrity(&db), "ok");
    let after = sb.task("after space was freed", &["--desc", &bulky(1)]);
    created.push(after);
    assert_eq!(integrity(&db), "ok");
    let ids: Vec<String> = sb
        .ok(&["task", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(maestro_tests::id)
        .collect();
    let mut want = created.clone();
    want.sort();
    let mut have = ids;
    have.sort();
    assert_eq!(have, want);
}

#[test]
fn a_server_on_a_full_disk_answers_errors_keeps_answering_and_says_so_on_health() {
    let fs = Tmpfs::mount("8m");
    let sb = sandbox!();
    let db = fs.join("m.db");
    sb.ok(&["--db", db.to_str().unwrap(), "init", "--name", "full"]);
    let server = Server::start(&sb, &db, "127.0.0.1:0", &[]);
    let addr = server.addr.clone();
    let json = [("Content-Type", "application/json")];
    let create = |i: usize| {
        let body = serde_json::json!({ "title": format!("big {i}"), "description": bulky(i) });
        http(
            &addr,
            "POST",
            "/api/tasks",
            &json,
            body.to_string().as_bytes(),
        )
    };
    let (status, body) = create(0);
    assert_eq!(status, 201, "{body}");
    let filler = fill(fs.path());

    let mut created = 1;
    let mut refused = None;
    for i in 1..200 {
        let (status, body) = create(i);
        if status == 201 {
            created += 1;
            continue;
        }
        refused = Some((status, body));
        break;
    }
    let (status, body) = refused.expect("200 writes of 60 KiB fitted on a full 8 MiB disk");
    let e: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["error"], "storage_error", "{status} {e}");
    assert_eq!(e["details"]["diskFull"], true, "{e}");
    assert_eq!(e["retryable"], true, "{e}");
    assert_eq!(status, 503, "{e}");
    // The server keeps answering: reads work, and /health says writes fail.
    let (status, list) = http(&addr, "GET", "/api/tasks?limit=500", &[], b"");
    assert_eq!(status, 200, "{list}");
    let listed: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        created,
        "{listed}"
    );
    let (status, health) = http(&addr, "GET", "/health", &[], b"");
    let h: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(status, 503, "{h}");
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["error"]["error"], "storage_error", "{h}");
    assert_eq!(h["error"]["details"]["diskFull"], true, "{h}");
    assert_eq!(h["error"]["retryable"], true, "{h}");
    assert_eq!(integrity(&db), "ok");

    std::fs::remove_file(filler).unwrap();
    let (status, body) = create(1000);
    assert_eq!(status, 201, "{body}");
    let (status, health) = http(&addr, "GET", "/health", &[], b"");
    assert_eq!(status, 200, "{health}");
    drop(server);
    assert_eq!(integrity(&db), "ok");
}

/// A worker that claims its task, does half of it, then waits (a child `sleep` in its
/// process group) as if thinking for a long time.
const SLOW_WORKER: &str = r#"#!/bin/sh
set -eu
T="${MAESTRO_TASK_IDS%%,*}"
maestro task claim "$T" -q >/dev/null
s=$(maestro subtask create "$T" "first half" -q)
maestro subtask complete "$T" "$s" -q >/dev/null
sleep 60
maestro task complete "$T" -q >/dev/null
"#;

/// A process of this machine, from its `/proc/<pid>/stat`.
struct Proc {
    pid: i64,
    name: String,
    zombie: bool,
    parent: i64,
    group: i64,
}

/// Every process of this machine.
fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        // pid (name) state ppid pgrp …
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let (Some((head, rest)), Some(open)) = (stat.rsplit_once(')'), stat.find('(')) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() < 3 {
            continue;
        }
        out.push(Proc {
            pid,
            name: head[open + 1..].to_string(),
            zombie: f[0] == "Z",
            parent: f[1].parse().unwrap_or(0),
            group: f[2].parse().unwrap_or(0),
        });
    }
    out
}

/// The pids of the live (not zombie) processes in process group `pgid`.
fn live_group(pgid: i64) -> Vec<i64> {
    processes()
        .into_iter()
        .filter(|p| !p.zombie && p.group == pgid)
        .map(|p| p.pid)
        .collect()
}

/// A sandbox with a project, `MAESTRO_HOME` and the agent profile `slow` ([`SLOW_WORKER`]).
fn slow_agents() -> Sandbox {
    let mut sb = sandbox!();
    let home = sb.path().join("maestro-home");
    sb.set_env("MAESTRO_HOME", &home.display().to_string());
    let script = sb.path().join("slow.sh");
    std::fs::write(&script, SLOW_WORKER).unwrap();
    let cmd = format!("[\"sh\",\"{}\"]", script.display());
    sb.ok(&["config", "set", "agents.slow.command", &cmd, "--global"]);
    sb
}

/// Spawns a `slow` agent for each of two new tasks and waits until both are half way;
/// the tasks, the sessions and the agents' pids.
fn two_agents_half_way(sb: &Sandbox) -> ([String; 2], Vec<String>, Vec<i64>) {
    let tasks = [sb.task("first", &[]), sb.task("second", &[])];
    let sessions: Vec<String> = tasks
        .iter()
        .map(|t| maestro_tests::id(&sb.ok(&["session", "spawn", "--task", t, "--agent", "slow"])))
        .collect();
    let half_way = until(300, || {
        tasks.iter().all(|t| {
            sb.ok(&["subtask", "list", t])
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["completed"] == true)
        })
    });
    assert!(half_way, "the agents did not get half way");
    let pids: Vec<i64> = sessions
        .iter()
        .map(|s| sb.ok(&["session", "get", s])["pid"].as_i64().unwrap())
        .collect();
    (tasks, sessions, pids)
}

/// Waits (bounded) until no process of the agents' groups runs; kills what is left, and
/// fails, if some still do.
fn assert_no_orphans(pids: &[i64]) {
    let gone = until(300, || pids.iter().all(|p| live_group(*p).is_empty()));
    let left: Vec<Vec<i64>> = pids.iter().map(|p| live_group(*p)).collect();
    for p in left.iter().flatten() {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &p.to_string()])
            .status();
    }
    assert!(gone, "orphan agent processes left running: {left:?}");
}

/// The next host stops the agents a killed one left (none of their processes is left),
/// declares their sessions lost with a reason naming the host, and their tasks go back to
/// the queue.
fn assert_recovered(sb: &Sandbox, tasks: &[String], sessions: &[String], pids: &[i64]) {
    assert_no_orphans(pids);
    let marked = until(100, || {
        sessions
            .iter()
            .all(|s| sb.ok(&["session", "get", s])["status"] == "lost")
    });
    for s in sessions {
        let s = sb.ok(&["session", "get", s]);
        assert!(marked, "{s}");
        assert!(s["reason"].as_str().unwrap().contains("host"), "{s}");
    }
    for t in tasks {
        let d = sb.ok(&["task", "get", t]);
        assert_eq!(d["status"], "pending", "{d}");
    }
}

#[test]
fn a_host_killed_while_agents_run_is_recovered_by_the_next_host_without_orphans() {
    let sb = slow_agents();
    sb.init();
    let host_a = sb.spawn(&["host", "--json"], &[]);
    let (tasks, sessions, pids) = two_agents_half_way(&sb);

    // The host dies at once; its agents (in their own process groups) live on, unwatched.
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &host_a.id().to_string()])
        .status();
    maestro_tests::wait(host_a);
    for pid in &pids {
        assert!(
            !live_group(*pid).is_empty(),
            "agent {pid} died with its host"
        );
    }

    let host_b = sb.spawn(&["host", "--json"], &[]);
    assert_recovered(&sb, &tasks, &sessions, &pids);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &host_b.id().to_string()])
        .status();
    let run = maestro_tests::wait(host_b);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let recovered: usize = run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "recovered")
        .map(|e| e["sessionIds"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(recovered, 2, "{}", run.stdout);
}

#[test]
fn a_server_with_spawn_killed_while_agents_run_recovers_them_on_restart() {
    let mut sb = slow_agents();
    let db = sb.path().join("server.db");
    let addr = format!("127.0.0.1:{}", free_port());
    let spawn = ["--spawn", "--agent", "slow"];
    let server = Server::start(&sb, &db, &addr, &spawn);
    sb.set_env("MAESTRO_API_URL", &server.url);
    sb.ok(&["project", "create", "served", "--default"]);
    let (tasks, sessions, pids) = two_agents_half_way(&sb);

    server.kill();
    for pid in &pids {
        assert!(
            !live_group(*pid).is_empty(),
            "agent {pid} died with its server"
        );
    }
    let server = Server::start(&sb, &db, &addr, &spawn);
    assert_recovered(&sb, &tasks, &sessions, &pids);
    server.terminate();
}

#[test]
fn an_agent_whose_session_was_reaped_after_its_host_died_is_stopped_by_the_next_host() {
    let sb = slow_agents();
    sb.init();
    let host_a = sb.spawn(&["host"], &[]);
    let (tasks, sessions, pids) = two_agents_half_way(&sb);
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &host_a.id().to_string()])
        .status();
    maestro_tests::wait(host_a);
    // Nobody keeps the leases now: with a lease of 1 s, `task ready` declares them lost.
    let short = [("MAESTRO_LEASE_SECONDS", "1")];
    let reaped = until(100, || {
        sb.ok_with(&short, &["task", "ready"])
            .as_array()
            .unwrap()
            .len()
            == 2
    });
    assert!(reaped, "the silent sessions were not reaped");
    for s in &sessions {
        assert_eq!(sb.ok(&["session", "get", s])["status"], "lost");
    }
    for pid in &pids {
        assert!(
            !live_group(*pid).is_empty(),
            "agent {pid} stopped by itself"
        );
    }

    let host_b = sb.spawn(&["host"], &[]);
    assert_no_orphans(&pids);
    for t in &tasks {
        assert_eq!(sb.ok(&["task", "get", t])["status"], "pending");
    }
    drop(host_b);
}

/// The pids of the live `maestro` processes whose parent is `parent`.
fn maestro_children(parent: u32) -> Vec<i64> {
    processes()
        .into_iter()
        .filter(|p| !p.zombie && p.name == "maestro" && p.parent == i64::from(parent))
        .map(|p| p.pid)
        .collect()
}

#[test]
fn cli_writers_killed_mid_call_leave_a_sound_store_with_every_acknowledged_write() {
    let sb = sandbox!();
    let db = sb.path().join("local.db");
    let db_arg = db.to_str().unwrap().to_string();
    sb.ok(&["--db", &db_arg, "init", "--name", "local"]);
    let acks_file = sb.path().join("acks");
    // Each writer appends `<title> <id>` for every call that succeeded (exit 0).
    let mut writers: Vec<std::process::Child> = (0..3)
        .map(|w| {
            let script = format!(
                r#"for i in $(seq 1 100); do
  if id=$("$MAESTRO_BIN" --db "$DB" task create "l{w}-$i" -q); then echo "l{w}-$i $id" >> "$ACKS"; fi
done"#
            );
            sb.shell(
                &script,
                &[("DB", db_arg.as_str()), ("ACKS", acks_file.to_str().unwrap())],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    // SIGKILL the writers' `maestro` calls as they run, 40 of them at most.
    let mut killed = 0;
    for _ in 0..6000 {
        let done = writers
            .iter_mut()
            .all(|w| w.try_wait().ok().flatten().is_some());
        if killed >= 40 || done {
            break;
        }
        if let Some(pid) = writers.iter().flat_map(|w| maestro_children(w.id())).next() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            killed += 1;
        }
        // Pacing, so that the kills spread over the run.
        std::thread::sleep(Duration::from_millis(15));
    }
    for w in writers {
        let out = w.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    assert!(killed >= 15, "only {killed} calls were killed");

    assert_eq!(integrity(&db), "ok");
    let acks = std::fs::read_to_string(&acks_file).unwrap_or_default();
    assert!(acks.lines().count() > 150, "{acks}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tasks = all_tasks(&rt, &db);
    let by_title: HashMap<&str, &str> = tasks
        .iter()
        .map(|t| (t.title.as_str(), t.id.as_str()))
        .collect();
    assert_eq!(by_title.len(), tasks.len(), "a title was written twice");
    for line in acks.lines() {
        let (title, id) = line.split_once(' ').unwrap();
        assert_eq!(
            by_title.get(title),
            Some(&id),
            "acknowledged {title} is missing"
        );
    }
    // The store works on: a write after the crashes is applied and logged.
    sb.ok(&["--db", &db_arg, "task", "create", "after"]);
    let log = event_log(&rt, &db);
    let seqs: Vec<i64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
}
