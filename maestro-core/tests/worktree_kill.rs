//! Merges in real processes killed with SIGKILL between (and during) journal steps, then
//! settled by the next process; and two processes merging onto one target at once.
//!
//! The binary runs itself as the merging child (`MAESTRO_KILL_CHILD=1`), so the process
//! that dies is a real one holding real locks. No test harness: `main` runs each scenario.

mod worktree_support;

use maestro_core::worktree::journal::{self, Step};
use maestro_core::worktree::merge::in_progress;
use maestro_core::worktree::*;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use worktree_support::*;

fn main() {
    if std::env::var_os("MAESTRO_KILL_CHILD").is_some() {
        child();
        return;
    }
    killed_inside_the_gate_rolls_back_and_stops_the_gates_processes();
    killed_between_steps_rolls_back_or_finishes();
    two_processes_merge_onto_one_target_at_once();
    println!("worktree_kill: all scenarios passed");
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} is set by the parent"))
}

/// The merging process: merges until its journal reaches `MK_STOP`, says so in `MK_READY`
/// and waits to be killed; with `MK_STOP=none` it merges to the end and writes the outcome.
fn child() {
    let wts = Worktrees::open(Path::new(&env("MK_HOME"))).unwrap();
    let repo = Repo::discover(Path::new(&env("MK_REPO"))).unwrap();
    let mut req = MergeRequest::new(&env("MK_TASK"), &env("MK_BRANCH"), "main");
    req.max_attempts = 20;
    if let Ok(command) = std::env::var("MK_GATE") {
        req.gate = Some(Gate {
            command,
            timeout: Duration::from_secs(120),
        });
    }
    let ready = PathBuf::from(env("MK_READY"));
    let mut job = MergeJob::begin(&wts, &repo, req).unwrap();
    let stop = env("MK_STOP");
    if stop == "none" {
        let outcome = job.run(|_| {}).unwrap();
        std::fs::write(&ready, serde_json::to_vec(&outcome).unwrap()).unwrap();
        return;
    }
    let stop: Step = serde_json::from_value(serde_json::json!(stop)).unwrap();
    while job.journal().step != stop {
        assert!(
            job.step(&mut |_| {}).unwrap().is_none(),
            "ended before {stop:?}"
        );
    }
    std::fs::write(&ready, b"").unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn spawn(fx: &Fx, wt: &Worktree, task: &str, stop: &str, gate: Option<&str>) -> (Child, PathBuf) {
    let ready = fx.dir.join(format!("ready-{task}-{stop}"));
    let _ = std::fs::remove_file(&ready);
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("MAESTRO_KILL_CHILD", "1")
        .env("MK_HOME", fx.dir.join("home"))
        .env("MK_REPO", &fx.repo_dir)
        .env("MK_TASK", task)
        .env("MK_BRANCH", &wt.branch)
        .env("MK_STOP", stop)
        .env("MK_READY", &ready);
    if let Some(g) = gate {
        cmd.env("MK_GATE", g);
    }
    (cmd.spawn().unwrap(), ready)
}

/// Waits until `ready` exists or the child has exited.
fn wait_ready(child: &mut Child, ready: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                ready.exists() || status.signal().is_some(),
                "child failed: {status}"
            );
            return;
        }
        assert!(Instant::now() < deadline, "the child never got there");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A process that is gone (or a zombie nobody reaped yet).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn killed_inside_the_gate_rolls_back_and_stops_the_gates_processes() {
    let fx = Fx::new();
    let wt = fx.task("t-a", &[("a.txt", "a\n")]);
    let before = fx.main();
    let pid_file = fx.dir.join("sleeper.pid");
    // The gate leaves a process behind in the merge's tree, then kills its merger.
    let gate = format!(
        "sleep 300 & echo $! > '{}'; kill -9 $PPID; sleep 1",
        pid_file.display()
    );
    let (mut child, _) = spawn(&fx, &wt, "t-a", "none", Some(&gate));
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "the merger was killed");
    let sleeper: u32 = read(&fx.dir, "sleeper.pid").trim().parse().unwrap();
    assert!(!dead(sleeper), "the gate's process outlived its merger");
    let merges = fx.wts.merges_dir(&fx.repo());
    let id = journal::ids(&merges).unwrap().pop().expect("a journal");
    let j = journal::read(&merges.join(format!("{id}.json")))
        .unwrap()
        .unwrap();
    assert_eq!(j.step, Step::Gating);
    assert!(
        in_progress(&fx.wts, &fx.repo()).unwrap().is_empty(),
        "its lock died with it"
    );

    let rec = recover(&fx.wts, &fx.repo()).unwrap();
    assert_eq!(rec.len(), 1);
    assert_eq!((rec[0].step, &rec[0].outcome), (Step::Gating, &None));
    assert_eq!(fx.main(), before);
    assert_eq!(fx.merge_leftovers(), Vec::<String>::new());
    assert_eq!(fx.git_worktrees().len(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dead(sleeper) {
        assert!(
            Instant::now() < deadline,
            "the stray gate process was not killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("ok: killed inside the gate");
}

fn killed_between_steps_rolls_back_or_finishes() {
    let fx = Fx::new();
    let wt = fx.task("t-a", &[("a.txt", "a\n")]);
    let before = fx.main();
    for stop in ["prepared", "built", "gated", "advancing"] {
        let (mut child, ready) = spawn(&fx, &wt, "t-a", stop, None);
        wait_ready(&mut child, &ready);
        child.kill().unwrap();
        assert_eq!(child.wait().unwrap().signal(), Some(9));
        assert!(
            !fx.merge_leftovers().is_empty(),
            "{stop}: a journal is left"
        );
        let rec = recover(&fx.wts, &fx.repo()).unwrap();
        assert_eq!(rec.len(), 1, "{stop}");
        assert_eq!(rec[0].outcome, None, "{stop}: rolled back");
        assert_eq!(fx.main(), before, "{stop}: the target is where it was");
        assert_eq!(fx.merge_leftovers(), Vec::<String>::new(), "{stop}");
        assert_eq!(
            fx.git_worktrees().len(),
            1,
            "{stop}: no temporary worktree left"
        );
        println!("ok: killed at {stop}, rolled back");
    }
    // Killed once the target moved, before the user's tree was brought along.
    let (mut child, ready) = spawn(&fx, &wt, "t-a", "advanced", None);
    wait_ready(&mut child, &ready);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_ne!(fx.main(), before, "the swap happened");
    assert!(
        !fx.repo_dir.join("a.txt").exists(),
        "the user's tree is behind"
    );
    let rec = recover(&fx.wts, &fx.repo()).unwrap();
    let commit = merged_commit(rec[0].outcome.as_ref().expect("finished"));
    assert_eq!(fx.main(), commit);
    assert_eq!(read(&fx.repo_dir, "a.txt"), "a\n");
    assert_eq!(git(&fx.repo_dir, &["status", "--porcelain"]), "");
    assert_eq!(fx.merge_leftovers(), Vec::<String>::new());
    println!("ok: killed at advanced, finished");
}

fn two_processes_merge_onto_one_target_at_once() {
    let fx = Fx::new();
    let a = fx.task("t-a", &[("a.txt", "a\n")]);
    let b = fx.task("t-b", &[("b.txt", "b\n")]);
    let start = fx.main();
    let gate = Some("sleep 1");
    let (mut ca, ra) = spawn(&fx, &a, "t-a", "none", gate);
    let (mut cb, rb) = spawn(&fx, &b, "t-b", "none", gate);
    assert!(ca.wait().unwrap().success());
    assert!(cb.wait().unwrap().success());
    let oa: MergeOutcome = serde_json::from_slice(&std::fs::read(ra).unwrap()).unwrap();
    let ob: MergeOutcome = serde_json::from_slice(&std::fs::read(rb).unwrap()).unwrap();
    let (ca, cb) = (merged_commit(&oa), merged_commit(&ob));
    let previous = |o: &MergeOutcome| match o {
        MergeOutcome::Merged { previous, .. } => previous.clone(),
        other => panic!("expected merged, got {other:?}"),
    };
    // One landed on the start, the other on top of it (building again if it had built on
    // the start too).
    let (first, second) = if previous(&oa) == start {
        (&ca, &ob)
    } else {
        (&cb, &oa)
    };
    assert_eq!(&previous(second), first, "{oa:?} {ob:?}");
    let line = git(
        &fx.repo_dir,
        &["rev-list", "--first-parent", &format!("{start}..main")],
    );
    assert_eq!(line.lines().count(), 2);
    assert!(line.contains(&ca) && line.contains(&cb));
    assert_eq!(read(&fx.repo_dir, "a.txt"), "a\n");
    assert_eq!(read(&fx.repo_dir, "b.txt"), "b\n");
    assert_eq!(git(&fx.repo_dir, &["status", "--porcelain"]), "");
    println!("ok: two processes merged at once");
}
