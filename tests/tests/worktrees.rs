//! A git worktree per task and the merge queue, end to end: real git repositories in
//! temporary directories, real `maestro host` processes, shell workers that only edit files
//! and call maestro (the host commits what they leave and merges with `merge.auto`).

use maestro_tests::{Sandbox, sandbox, until};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// A worker: claims its task, reports what `$CHECK` holds if it exists, writes `$CONTENT`
/// to `$FILE` in its working directory, waits
/// for `$BARRIER` workers to have started when set, sleeps when `$HANG` is set, then
/// completes the task (unless `$NO_COMPLETE`). It never runs git: the host commits for it.
const WORKER: &str = r#"#!/bin/sh
set -eu
T="${MAESTRO_TASK_IDS%%,*}"
maestro task claim "$T" -q >/dev/null
if [ -n "${CHECK:-}" ] && [ -e "$CHECK" ]; then maestro update "found $CHECK: $(cat "$CHECK")" --task "$T" -q; fi
printf '%s\n' "$CONTENT" > "$FILE"
maestro update "wrote $FILE in $(pwd)" --task "$T" -q
if [ -n "${BARRIER:-}" ]; then
  touch "$BARRIER_DIR/$T"
  i=0
  while [ "$(ls "$BARRIER_DIR" | wc -l)" -lt "$BARRIER" ] && [ $i -lt 300 ]; do i=$((i+1)); sleep 0.1; done
fi
if [ -n "${HANG:-}" ]; then sleep 120; fi
if [ -z "${NO_COMPLETE:-}" ]; then maestro task complete "$T" -q >/dev/null; fi
"#;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A project with a git repository `work/repo` (branch main, one commit with README and
/// shared.txt), a worker script and `merge.auto` on.
fn setup(sb: &mut Sandbox) -> PathBuf {
    sb.init();
    let home = sb.path().join("maestro-home");
    sb.set_env("MAESTRO_HOME", &home.display().to_string());
    let repo = sb.cwd().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README"), "hello\n").unwrap();
    std::fs::write(repo.join("shared.txt"), "one\ntwo\nthree\n").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let script = sb.path().join("worker.sh");
    std::fs::write(&script, WORKER).unwrap();
    sb.ok(&["config", "set", "merge.auto", "true"]);
    repo
}

/// Config `agents.<name>`: the worker with these variables.
fn agent(sb: &Sandbox, name: &str, env: &[(&str, &str)]) {
    let script = sb.path().join("worker.sh");
    let vars: serde_json::Map<String, Value> = env
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    let profile = serde_json::json!({ "command": ["sh", script], "env": vars });
    sb.ok(&[
        "config",
        "set",
        &format!("agents.{name}"),
        &profile.to_string(),
    ]);
}

fn host(sb: &Sandbox) -> Child {
    sb.spawn(&["host", "--max-concurrent", "4", "--json"], &[])
}

fn spawn(sb: &Sandbox, task: &str, agent: &str, repo: &Path) -> String {
    sb.ok(&[
        "session",
        "spawn",
        "--task",
        task,
        "--agent",
        agent,
        "--cwd",
        repo.to_str().unwrap(),
    ])["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn task(sb: &Sandbox, id: &str) -> Value {
    sb.ok(&["task", "get", id])
}

fn timeline(sb: &Sandbox, id: &str) -> Vec<Value> {
    sb.ok(&["task", "timeline", id, "--limit", "500"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn merged_commit(sb: &Sandbox, id: &str) -> Option<String> {
    timeline(sb, id)
        .into_iter()
        .find(|e| e["type"] == "merged")
        .map(|e| e["commit"].as_str().unwrap().to_string())
}

/// Stops a host with SIGTERM (it drains: waits for its agents and its merges).
fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[test]
fn two_workers_on_different_files_are_merged_in_order_and_gc_removes_exactly_those() {
    let mut sb = sandbox!();
    let repo = setup(&mut sb);
    agent(&sb, "wa", &[("FILE", "a.txt"), ("CONTENT", "from a")]);
    agent(&sb, "wb", &[("FILE", "b.txt"), ("CONTENT", "from b")]);
    agent(
        &sb,
        "wc",
        &[
            ("FILE", "c.txt"),
            ("CONTENT", "unfinished"),
            ("NO_COMPLETE", "1"),
        ],
    );
    let a = sb.task("Write a", &[]);
    let b = sb.task("Write b", &[]);
    let c = sb.task("Start c", &[]);
    let h = host(&sb);
    spawn(&sb, &a, "wa", &repo);
    assert!(until(300, || merged_commit(&sb, &a).is_some()), "a merged");
    spawn(&sb, &b, "wb", &repo);
    spawn(&sb, &c, "wc", &repo);
    assert!(until(300, || merged_commit(&sb, &b).is_some()), "b merged");
    assert!(
        until(300, || timeline(&sb, &c).iter().any(|e| e["type"]
            == "comment"
            && e["message"].as_str().unwrap_or("").contains("Committed"))),
        "c's leftovers committed"
    );
    stop(h);

    // Each task ran in its own worktree, outside the repository, on its own branch.
    let wa = task(&sb, &a)["worktree"].clone();
    let path_a = PathBuf::from(wa["path"].as_str().unwrap());
    assert!(
        path_a.starts_with(sb.path().join("maestro-home/worktrees")),
        "{wa}"
    );
    assert!(
        wa["branch"]
            .as_str()
            .unwrap()
            .starts_with(&format!("maestro/{a}-"))
    );
    assert_eq!(wa["base"], "main");
    // Both landed on main, a first; the user's clean checkout of main was brought along.
    assert_eq!(git(&repo, &["show", "main:a.txt"]), "from a");
    assert_eq!(git(&repo, &["show", "main:b.txt"]), "from b");
    assert_eq!(
        std::fs::read_to_string(repo.join("b.txt")).unwrap(),
        "from b\n"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    let log = git(&repo, &["log", "--format=%H", "main"]);
    let order: Vec<&str> = log.lines().collect();
    let (ca, cb) = (
        merged_commit(&sb, &a).unwrap(),
        merged_commit(&sb, &b).unwrap(),
    );
    let pos = |c: &str| order.iter().position(|l| *l == c).unwrap();
    assert!(pos(&cb) < pos(&ca), "b landed after a: {order:?}");
    assert_eq!(order[0], cb, "main is at b's merge");
    // The unfinished task's work is on its branch, not on main.
    let wc = task(&sb, &c)["worktree"].clone();
    let branch_c = wc["branch"].as_str().unwrap().to_string();
    assert_eq!(
        git(&repo, &["show", &format!("{branch_c}:c.txt")]),
        "unfinished"
    );
    assert!(git(&repo, &["log", "-1", "--format=%B", &branch_c]).contains("Maestro-Task: "));

    let status = sb.ok(&["merge", "status"]);
    let entries = status[0]["entries"].as_array().unwrap();
    let states: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["taskId"].as_str().unwrap(), e["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, vec![(a.as_str(), "merged"), (b.as_str(), "merged")]);

    let list = sb.ok(&["worktree", "list"]);
    let state_of = |t: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|w| w["taskId"] == t)
            .map(|w| w["state"].as_str().unwrap().to_string())
    };
    assert_eq!(state_of(&a).as_deref(), Some("merged"));
    assert_eq!(state_of(&b).as_deref(), Some("merged"));
    assert_eq!(state_of(&c).as_deref(), Some("active"));
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|w| w["sizeBytes"].as_u64().is_some_and(|s| s > 0)),
        "{list}"
    );

    let dry = sb.ok(&["worktree", "gc", "--dry-run"]);
    let mut removals: Vec<&str> = dry["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["action"] == "remove_worktree")
        .map(|x| x["taskId"].as_str().unwrap())
        .collect();
    removals.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(removals, want, "exactly the merged ones: {dry}");
    assert!(path_a.exists(), "a dry run removes nothing");
    let done = sb.ok(&["worktree", "gc"]);
    assert!(
        done["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["error"].is_null()),
        "{done}"
    );
    assert!(!path_a.exists());
    assert!(
        PathBuf::from(wc["path"].as_str().unwrap()).exists(),
        "c's worktree stays"
    );
    let branches = git(&repo, &["branch", "--format=%(refname:short)"]);
    assert!(!branches.contains(&format!("maestro/{a}-")), "{branches}");
    assert!(branches.contains(&branch_c), "{branches}");
}

#[test]
fn same_lines_block_the_second_with_a_conflict_and_a_failing_gate_blocks_too() {
    let mut sb = sandbox!();
    let repo = setup(&mut sb);
    sb.ok(&[
        "config",
        "set",
        "merge.gate",
        "if [ -e bad.txt ]; then echo 'gate: bad.txt must not exist' >&2; exit 3; fi",
    ]);
    let barrier = sb.path().join("barrier");
    std::fs::create_dir_all(&barrier).unwrap();
    let bd = barrier.display().to_string();
    for (name, content) in [
        ("w1", "one\nTWO from 1\nthree"),
        ("w2", "one\nTWO from 2\nthree"),
    ] {
        agent(
            &sb,
            name,
            &[
                ("FILE", "shared.txt"),
                ("CONTENT", content),
                ("BARRIER", "2"),
                ("BARRIER_DIR", &bd),
            ],
        );
    }
    agent(&sb, "bad", &[("FILE", "bad.txt"), ("CONTENT", "x")]);
    let t1 = sb.task("Edit line two", &[]);
    let t2 = sb.task("Edit line two too", &[]);
    let h = host(&sb);
    spawn(&sb, &t1, "w1", &repo);
    spawn(&sb, &t2, "w2", &repo);
    let blocked = |t: &str| task(&sb, t)["status"] == "blocked";
    assert!(
        until(300, || (merged_commit(&sb, &t1).is_some() && blocked(&t2))
            || (merged_commit(&sb, &t2).is_some() && blocked(&t1))),
        "one merged, the other blocked"
    );
    let (won, lost) = if blocked(&t2) { (&t1, &t2) } else { (&t2, &t1) };
    let d = task(&sb, lost);
    assert_eq!(d["blockedReason"], "merge_conflict", "{d}");
    let entry = timeline(&sb, lost)
        .into_iter()
        .rev()
        .find(|e| e["type"] == "blocked")
        .unwrap();
    assert_eq!(
        entry["details"]["paths"],
        serde_json::json!(["shared.txt"]),
        "{entry}"
    );
    let subtasks = d["subtasks"].as_array().unwrap();
    assert_eq!(subtasks.len(), 1, "{d}");
    assert!(
        subtasks[0]["title"]
            .as_str()
            .unwrap()
            .contains("shared.txt")
    );
    assert_eq!(entry["details"]["subtaskId"], subtasks[0]["id"]);
    assert!(
        git(&repo, &["show", "main:shared.txt"]).contains(if won == &t1 {
            "from 1"
        } else {
            "from 2"
        })
    );

    let t3 = sb.task("Add a bad file", &[]);
    spawn(&sb, &t3, "bad", &repo);
    assert!(until(300, || blocked(&t3)), "the gate blocks it");
    stop(h);
    let d = task(&sb, &t3);
    assert_eq!(d["blockedReason"], "gate_failed", "{d}");
    let entry = timeline(&sb, &t3)
        .into_iter()
        .rev()
        .find(|e| e["type"] == "blocked")
        .unwrap();
    assert!(
        entry["details"]["tail"]
            .as_str()
            .unwrap()
            .contains("bad.txt must not exist"),
        "{entry}"
    );
    assert_eq!(entry["details"]["exitCode"], 3);
    assert!(
        git(&repo, &["ls-tree", "--name-only", "main"])
            .lines()
            .all(|l| l != "bad.txt")
    );
    let status = sb.run(&["merge", "status"]);
    assert!(
        status.stdout.contains("conflict in shared.txt"),
        "{}",
        status.stdout
    );
}

#[test]
fn a_worker_killed_with_sigkill_keeps_its_work_on_the_branch_for_the_next_worker() {
    let mut sb = sandbox!();
    let repo = setup(&mut sb);
    agent(
        &sb,
        "hang",
        &[
            ("FILE", "half.txt"),
            ("CONTENT", "half done"),
            ("HANG", "1"),
        ],
    );
    agent(
        &sb,
        "finish",
        &[
            ("FILE", "rest.txt"),
            ("CONTENT", "the rest"),
            ("CHECK", "half.txt"),
        ],
    );
    let t = sb.task("Long job", &[]);
    let h = host(&sb);
    let s1 = spawn(&sb, &t, "hang", &repo);
    assert!(
        until(300, || timeline(&sb, &t).iter().any(|e| e["type"]
            == "progress"
            && e["message"].as_str().unwrap_or("").starts_with("wrote"))),
        "the worker wrote its file"
    );
    let pid = sb.ok(&["session", "get", &s1])["pid"].as_i64().unwrap();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(
        until(300, || sb.ok(&["session", "get", &s1])["status"]
            == "failed"),
        "the session ended"
    );
    let wt = task(&sb, &t)["worktree"].clone();
    let branch = wt["branch"].as_str().unwrap().to_string();
    assert!(
        until(100, || Command::new("git")
            .args(["show", &format!("{branch}:half.txt")])
            .current_dir(&repo)
            .output()
            .unwrap()
            .status
            .success()),
        "the work is committed on {branch}"
    );
    assert!(
        git(&repo, &["log", "-1", "--format=%B", &branch])
            .contains(&format!("Maestro-Session: {s1}"))
    );
    // The task went back to the queue; the next worker gets the same worktree and sees it.
    assert_eq!(task(&sb, &t)["status"], "pending");
    spawn(&sb, &t, "finish", &repo);
    assert!(until(300, || merged_commit(&sb, &t).is_some()), "merged");
    stop(h);
    assert_eq!(task(&sb, &t)["worktree"]["path"], wt["path"], "reused");
    assert!(
        timeline(&sb, &t)
            .iter()
            .any(|e| e["message"] == "found half.txt: half done")
    );
    assert_eq!(git(&repo, &["show", "main:half.txt"]), "half done");
    assert_eq!(git(&repo, &["show", "main:rest.txt"]), "the rest");
}

/// Runs one worker to completion under a host (no automatic merge) and stops the host.
fn completed_in_worktree(sb: &Sandbox, repo: &Path, title: &str, agent_name: &str) -> String {
    let t = sb.task(title, &[]);
    let h = host(sb);
    spawn(sb, &t, agent_name, repo);
    assert!(
        until(300, || task(sb, &t)["status"] == "completed"
            && sb
                .ok(&["session", "list", "--active"])
                .as_array()
                .unwrap()
                .is_empty()),
        "{title} completed"
    );
    stop(h);
    t
}

#[test]
fn a_dirty_checkout_of_the_target_makes_a_local_merge_wait_with_the_reason() {
    let mut sb = sandbox!();
    let repo = setup(&mut sb);
    sb.ok(&["config", "set", "merge.auto", "false"]);
    agent(&sb, "wa", &[("FILE", "a.txt"), ("CONTENT", "from a")]);
    let t = completed_in_worktree(&sb, &repo, "Write a", "wa");
    assert!(merged_commit(&sb, &t).is_none(), "merge.auto is off");
    std::fs::write(repo.join("README"), "edited by the user\n").unwrap();
    let before = git(&repo, &["rev-parse", "main"]);
    let out = sb.ok(&["merge", &t]);
    assert_eq!(out["entry"]["entry"]["state"], "waiting", "{out}");
    let reason = out["entry"]["entry"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("uncommitted") && reason.contains("README"),
        "{reason}"
    );
    assert_eq!(
        git(&repo, &["rev-parse", "main"]),
        before,
        "main did not move"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("README")).unwrap(),
        "edited by the user\n",
        "the user's change is untouched"
    );
    git(&repo, &["checkout", "--", "README"]);
    let out = sb.ok(&["merge"]);
    assert_eq!(
        out["ran"][0]["result"]["outcome"]["result"], "merged",
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("a.txt")).unwrap(),
        "from a\n"
    );
    assert!(merged_commit(&sb, &t).is_some());
}

#[test]
fn a_host_killed_mid_merge_is_recovered_by_the_next_host() {
    let mut sb = sandbox!();
    let repo = setup(&mut sb);
    let marker = sb.path().join("gate-started");
    sb.ok(&[
        "config",
        "set",
        "merge.gate",
        &format!("touch '{}'; sleep 60", marker.display()),
    ]);
    agent(&sb, "wa", &[("FILE", "a.txt"), ("CONTENT", "from a")]);
    let t = sb.task("Write a", &[]);
    let mut h = host(&sb);
    spawn(&sb, &t, "wa", &repo);
    assert!(until(300, || marker.exists()), "the gate started");
    let before = git(&repo, &["rev-parse", "main"]);
    let _ = h.kill();
    let _ = h.wait();
    let status = sb.ok(&["merge", "status"]);
    assert_eq!(status[0]["entries"][0]["state"], "merging", "{status}");
    assert_eq!(git(&repo, &["rev-parse", "main"]), before, "nothing landed");

    // The next host settles the dead merge (rolled back: it had not landed) and merges
    // again, with the gate it is configured with now.
    sb.ok(&["config", "set", "merge.gate", "true"]);
    let h = host(&sb);
    assert!(
        until(300, || merged_commit(&sb, &t).is_some()),
        "merged after recovery"
    );
    stop(h);
    assert_eq!(git(&repo, &["show", "main:a.txt"]), "from a");
    assert_eq!(
        git(&repo, &["rev-parse", "main^"]),
        before,
        "one commit on top: nothing half-done"
    );
    let merges = sb.path().join("maestro-home/worktrees");
    let journals = Command::new("find")
        .args([merges.to_str().unwrap(), "-name", "m-*.json"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&journals.stdout).trim().is_empty(),
        "the journal is gone"
    );
}

#[test]
fn two_hosts_share_the_queue_and_every_task_is_merged_once() {
    let mut sb = sandbox!();
    let repo = setup(&mut sb);
    let tasks: Vec<String> = (0..4)
        .map(|i| {
            agent(
                &sb,
                &format!("w{i}"),
                &[
                    ("FILE", &format!("f{i}.txt")),
                    ("CONTENT", &format!("file {i}")),
                ],
            );
            sb.task(&format!("Write f{i}"), &[])
        })
        .collect();
    let (h1, h2) = (host(&sb), host(&sb));
    for (i, t) in tasks.iter().enumerate() {
        spawn(&sb, t, &format!("w{i}"), &repo);
    }
    assert!(
        until(600, || tasks
            .iter()
            .all(|t| merged_commit(&sb, t).is_some())),
        "every task merged"
    );
    stop(h1);
    stop(h2);
    for (i, t) in tasks.iter().enumerate() {
        let merged = timeline(&sb, t)
            .iter()
            .filter(|e| e["type"] == "merged")
            .count();
        assert_eq!(merged, 1, "{t} merged once");
        assert_eq!(
            git(&repo, &["show", &format!("main:f{i}.txt")]),
            format!("file {i}")
        );
    }
    let commits = git(&repo, &["rev-list", "--count", "main"]);
    assert_eq!(commits, "5", "one commit per task on top of the first");
}

/// The folders git knows as worktrees of `repo`, but its main work tree.
fn linked_worktrees(repo: &Path) -> Vec<String> {
    let main = std::fs::canonicalize(repo).unwrap();
    git(repo, &["worktree", "list", "--porcelain"])
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .filter(|p| Path::new(p) != main)
        .map(str::to_string)
        .collect()
}

#[test]
fn a_host_killed_while_agents_work_in_worktrees_leaves_no_orphan_worktree() {
    let mut sb = sandbox!();
    let repo = setup(&mut sb);
    for (name, file, check) in [("hang_a", "a.txt", ""), ("hang_b", "b.txt", "")]
        .into_iter()
        .chain([
            ("finish_a", "a2.txt", "a.txt"),
            ("finish_b", "b2.txt", "b.txt"),
        ])
    {
        let mut env = vec![("FILE", file), ("CONTENT", name)];
        if check.is_empty() {
            env.push(("HANG", "1"));
        } else {
            env.push(("CHECK", check));
        }
        agent(&sb, name, &env);
    }
    let tasks = [sb.task("Job a", &[]), sb.task("Job b", &[])];
    let host_a = host(&sb);
    let sessions: Vec<String> = tasks
        .iter()
        .zip(["hang_a", "hang_b"])
        .map(|(t, a)| spawn(&sb, t, a, &repo))
        .collect();
    assert!(
        until(300, || tasks.iter().all(|t| timeline(&sb, t).iter().any(
            |e| e["message"].as_str().unwrap_or("").starts_with("wrote")
        ))),
        "both agents wrote their file"
    );
    let recorded: Vec<String> = tasks
        .iter()
        .map(|t| {
            task(&sb, t)["worktree"]["path"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();

    // The host dies at once: nobody commits for its agents, nobody watches them.
    assert!(
        Command::new("kill")
            .args(["-KILL", &host_a.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    maestro_tests::wait(host_a);
    let host_b = host(&sb);
    assert!(
        until(300, || sessions
            .iter()
            .all(|s| sb.ok(&["session", "get", s])["status"] == "lost")
            && tasks.iter().all(|t| task(&sb, t)["status"] == "pending")),
        "the next host recovered the sessions"
    );

    // Every worktree on disk and in git is one a task records, with the work left in it.
    let listed = sb.ok(&["worktree", "list"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    for w in listed {
        assert_eq!(w["state"], "active", "{w}");
        assert_eq!(w["registered"], true, "{w}");
        assert_eq!(w["onDisk"], true, "{w}");
        assert!(
            recorded.contains(&w["path"].as_str().unwrap().to_string()),
            "{w}"
        );
    }
    let mut linked = linked_worktrees(&repo);
    linked.sort();
    let mut want: Vec<String> = recorded
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap().display().to_string())
        .collect();
    want.sort();
    assert_eq!(linked, want, "git knows exactly the recorded worktrees");
    assert_eq!(git(&repo, &["worktree", "prune", "--dry-run", "-v"]), "");
    for (path, file) in recorded.iter().zip(["a.txt", "b.txt"]) {
        assert!(Path::new(path).join(file).is_file(), "{path}/{file} kept");
    }

    // The next workers get the same worktrees, see the work, and the merges land; then gc
    // leaves nothing behind.
    for (t, a) in tasks.iter().zip(["finish_a", "finish_b"]) {
        spawn(&sb, t, a, &repo);
    }
    assert!(
        until(600, || tasks
            .iter()
            .all(|t| merged_commit(&sb, t).is_some())),
        "both merged"
    );
    stop(host_b);
    for (t, (path, file)) in tasks.iter().zip(recorded.iter().zip(["a.txt", "b.txt"])) {
        assert_eq!(task(&sb, t)["worktree"]["path"], path.as_str(), "reused");
        assert!(
            timeline(&sb, t).iter().any(|e| e["message"]
                .as_str()
                .unwrap_or("")
                .starts_with(&format!("found {file}"))),
            "{t} saw the work of its killed agent"
        );
    }
    let gc = sb.ok(&["worktree", "gc"]);
    // What is listed now is only what the tasks remember: no folder, no git worktree.
    let left = sb.ok(&["worktree", "list"]);
    assert!(
        left.as_array()
            .unwrap()
            .iter()
            .all(|w| w["onDisk"] == false && w["registered"] == false),
        "{gc}\n{left}"
    );
    for path in &recorded {
        assert!(!Path::new(path).exists(), "{path} removed");
    }
    // Only the merge queue's own pooled worktree stays, to build the next merge in.
    let linked = linked_worktrees(&repo);
    assert!(
        linked.iter().all(|p| p.contains("/merges/pool/")),
        "{linked:?}"
    );
    let branches = git(&repo, &["branch", "--format=%(refname:short)"]);
    assert!(!branches.contains("maestro/"), "{branches}");
    for file in ["a.txt", "b.txt", "a2.txt", "b2.txt"] {
        assert!(
            repo.join(file).is_file(),
            "{file} merged into main's checkout"
        );
    }
}
