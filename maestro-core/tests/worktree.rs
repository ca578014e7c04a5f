//! Task worktrees, the merge engine and gc on real git repositories in temporary folders.

mod worktree_support;

use maestro_core::worktree::merge::in_progress;
use maestro_core::worktree::queue::{QueueSettings, process_next};
use maestro_core::worktree::*;
use maestro_core::{Code, Error};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use worktree_support::*;

#[test]
fn discovery_gives_clear_errors_with_suggestions() {
    let fx = Fx::new();
    let plain = fx.dir.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let e = Repo::discover(&plain).unwrap_err();
    assert_eq!(e.code(), Code::NotARepository);
    assert!(e.suggestion().unwrap().contains("git init"));
    assert_eq!(
        Repo::discover(&fx.dir.join("nope")).unwrap_err().code(),
        Code::InvalidArgument
    );
    let bare = fx.dir.join("bare.git");
    git(&fx.dir, &["init", "-q", "--bare", bare.to_str().unwrap()]);
    let e = Repo::discover(&bare).unwrap_err();
    assert_eq!(e.code(), Code::NotARepository);
    assert!(e.message().contains("bare"), "{}", e.message());
    let e = Repo::discover(&fx.repo_dir.join(".git")).unwrap_err();
    assert!(e.message().contains(".git folder"), "{}", e.message());

    // From a subfolder and from a linked worktree: the same repository, the same folder.
    std::fs::create_dir_all(fx.repo_dir.join("src/deep")).unwrap();
    let repo = Repo::discover(&fx.repo_dir.join("src/deep")).unwrap();
    assert_eq!(repo.toplevel, fx.repo_dir);
    assert_eq!(repo.name, "app");
    assert!(matches!(&repo.head, Head::Branch { name, .. } if name == "main"));
    let linked = fx.dir.join("linked");
    fx.linked(&linked, "side");
    let from_linked = Repo::discover(&linked).unwrap();
    assert_eq!(from_linked.common_dir, repo.common_dir);
    assert_eq!(fx.wts.repo_dir(&from_linked), fx.wts.repo_dir(&repo));
    assert_eq!(
        fx.wts.task_path(&repo, "t-1"),
        fx.wts.repo_dir(&repo).join("t-1")
    );
    assert_eq!(
        fx.wts.repo_dir(&repo).parent(),
        Some(fx.dir.join("home/worktrees").as_path())
    );

    // A detached HEAD has no branch to start from, unless a base is given.
    git(&linked, &["checkout", "-q", "--detach"]);
    let detached = Repo::discover(&linked).unwrap();
    let e = fx
        .wts
        .ensure(&detached, &fx.request("t-1", "x"))
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(e.details()["reason"], "detached_head");
    assert!(e.suggestion().unwrap().contains("worktree.base"));
    let mut req = fx.request("t-1", "x");
    req.base = Some("main".into());
    assert!(fx.wts.ensure(&detached, &req).unwrap().created);

    // A base that does not exist.
    let mut req = fx.request("t-2", "x");
    req.base = Some("no-such-branch".into());
    let e = fx.wts.ensure(&repo, &req).unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert_eq!(e.details()["base"], "no-such-branch");
    req.base = Some("--upload-pack=evil".into());
    assert_eq!(
        fx.wts.ensure(&repo, &req).unwrap_err().code(),
        Code::NotFound
    );

    // A repository without commits.
    let empty = fx.dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    git(&empty, &["init", "-q", "-b", "main"]);
    let e = fx
        .wts
        .ensure(&Repo::discover(&empty).unwrap(), &fx.request("t-3", "x"))
        .unwrap_err();
    assert_eq!(e.details()["reason"], "unborn_head");
    // A task id that cannot name a folder.
    let e = fx.wts.ensure(&repo, &fx.request("../x", "x")).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
}

#[test]
fn a_task_worktree_is_created_reused_locked_and_verified() {
    let fx = Fx::new();
    let repo = fx.repo();
    let wt = fx
        .wts
        .ensure(&repo, &fx.request("t-1", "Add the login page"))
        .unwrap();
    assert!(wt.created);
    assert_eq!(wt.path, fx.wts.task_path(&repo, "t-1"));
    assert!(wt.path.starts_with(fx.dir.join("home/worktrees")));
    let dir_name = wt
        .path
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        dir_name.starts_with("app-") && dir_name.len() == "app-".len() + 8,
        "{dir_name}"
    );
    assert_eq!(wt.branch, "maestro/t-1-add-the-login-page");
    assert_eq!(wt.base, "main");
    assert_eq!(wt.base_commit, fx.main());
    assert_eq!(read(&wt.path, "README.md"), "# app\n");
    assert_eq!(
        git(&wt.path, &["rev-parse", "--show-toplevel"]),
        wt.path.to_string_lossy()
    );
    verify(&wt.path, &wt.branch).unwrap();
    assert_eq!(
        fx.git_worktrees(),
        vec![wt.path.to_string_lossy().into_owned()]
    );

    // Spawned again (even with another title): the same worktree and branch.
    let again = fx
        .wts
        .ensure(&repo, &fx.request("t-1", "Renamed task"))
        .unwrap();
    assert!(!again.created);
    assert_eq!(
        (again.path.clone(), again.branch.clone()),
        (wt.path.clone(), wt.branch.clone())
    );
    assert_eq!(again.base_commit, wt.base_commit);

    // Locked while a session holds it, with the reason visible to git.
    repo.lock_worktree(&wt.path, "maestro session s-1").unwrap();
    repo.lock_worktree(&wt.path, "maestro session s-1").unwrap();
    let list = git(&fx.repo_dir, &["worktree", "list", "--porcelain"]);
    assert!(list.contains("locked maestro session s-1"), "{list}");
    repo.lock_worktree(&wt.path, "maestro session s-2").unwrap();
    assert!(
        git(&fx.repo_dir, &["worktree", "list", "--porcelain"])
            .contains("locked maestro session s-2")
    );
    repo.unlock_worktree(&wt.path).unwrap();
    repo.unlock_worktree(&wt.path).unwrap();
    assert!(!git(&fx.repo_dir, &["worktree", "list", "--porcelain"]).contains("locked"));
    assert_eq!(
        repo.lock_worktree(&fx.dir.join("elsewhere"), "x")
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // verify refuses what is not the task's worktree.
    git(&wt.path, &["checkout", "-q", "-b", "other"]);
    let e = verify(&wt.path, &wt.branch).unwrap_err();
    assert_eq!(e.code(), Code::WorktreeConflict);
    assert!(e.message().contains("'other'"), "{}", e.message());
    git(&wt.path, &["checkout", "-q", &wt.branch]);
    std::fs::create_dir_all(wt.path.join("sub")).unwrap();
    assert!(
        verify(&wt.path.join("sub"), &wt.branch).is_err(),
        "not the top level"
    );
    assert!(verify(&fx.dir.join("missing"), &wt.branch).is_err());

    // A configured base.
    git(&fx.repo_dir, &["checkout", "-q", "-b", "develop"]);
    write(&fx.repo_dir, "dev.txt", "dev\n");
    let dev = commit_all(&fx.repo_dir, "dev");
    git(&fx.repo_dir, &["checkout", "-q", "main"]);
    let mut req = fx.request("t-2", "On develop");
    req.base = Some("develop".into());
    let wt2 = fx.wts.ensure(&fx.repo(), &req).unwrap();
    assert_eq!(
        (wt2.base.as_str(), wt2.base_commit.as_str()),
        ("develop", dev.as_str())
    );
    assert_eq!(read(&wt2.path, "dev.txt"), "dev\n");
}

#[test]
fn a_path_that_is_not_maestros_is_refused_and_left_alone() {
    let fx = Fx::new();
    let repo = fx.repo();
    let path = fx.wts.task_path(&repo, "t-1");
    write(&path, "precious.txt", "mine");
    let e = fx.wts.ensure(&repo, &fx.request("t-1", "x")).unwrap_err();
    assert_eq!(e.code(), Code::WorktreeConflict);
    assert!(e.suggestion().is_some());
    assert_eq!(read(&path, "precious.txt"), "mine");

    // Another task's Maestro worktree moved into this task's place: refused too.
    let other = fx.wts.ensure(&repo, &fx.request("t-2", "x")).unwrap();
    std::fs::remove_dir_all(&path).unwrap();
    git(
        &fx.repo_dir,
        &[
            "worktree",
            "move",
            other.path.to_str().unwrap(),
            path.to_str().unwrap(),
        ],
    );
    let e = fx.wts.ensure(&repo, &fx.request("t-1", "x")).unwrap_err();
    assert!(
        e.message().contains("belongs to task t-2"),
        "{}",
        e.message()
    );

    // A branch of the task that is checked out somewhere else.
    let elsewhere = fx.dir.join("elsewhere");
    fx.linked(&elsewhere, "maestro/t-3-x");
    let e = fx.wts.ensure(&repo, &fx.request("t-3", "x")).unwrap_err();
    assert_eq!(e.code(), Code::WorktreeConflict);
    assert!(
        e.message().contains("already checked out"),
        "{}",
        e.message()
    );
}

#[test]
fn include_copies_only_ignored_files() {
    let fx = Fx::new();
    write(&fx.repo_dir, ".env", "TOKEN=1\n");
    write(&fx.repo_dir, "secrets/key.pem", "key\n");
    write(&fx.repo_dir, "notes.txt", "untracked, not ignored\n");
    let mut req = fx.request("t-1", "x");
    req.include = ["README.md", ".env", "secrets", "notes.txt", "missing.cfg"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let wt = fx.wts.ensure(&fx.repo(), &req).unwrap();
    assert_eq!(
        wt.copied,
        vec![PathBuf::from(".env"), PathBuf::from("secrets")]
    );
    assert_eq!(read(&wt.path, ".env"), "TOKEN=1\n");
    assert_eq!(read(&wt.path, "secrets/key.pem"), "key\n");
    assert!(!wt.path.join("notes.txt").exists());
    let skipped: Vec<(&str, &str)> = wt
        .skipped
        .iter()
        .map(|s| (s.path.to_str().unwrap(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(
        skipped
            .iter()
            .any(|(p, r)| *p == "README.md" && r.contains("tracked"))
    );
    assert!(
        skipped
            .iter()
            .any(|(p, r)| *p == "notes.txt" && r.contains("not ignored"))
    );
    assert!(
        skipped
            .iter()
            .any(|(p, r)| *p == "missing.cfg" && r.contains("not found"))
    );
    // The copies are ignored, so the next commit leaves them out.
    assert_eq!(commit_pending(&wt.path, "t-1", "s-1").unwrap(), None);
}

#[test]
fn uncommitted_work_is_committed_on_the_branch_and_reused_by_the_next_session() {
    let fx = Fx::new();
    let repo = fx.repo();
    let wt = fx.wts.ensure(&repo, &fx.request("t-1", "Work")).unwrap();
    assert_eq!(
        commit_pending(&wt.path, "t-1", "s-1").unwrap(),
        None,
        "clean: no-op"
    );
    write(&wt.path, "README.md", "# app, edited\n");
    write(&wt.path, "src/new.rs", "fn main() {}\n");
    write(&wt.path, "target/build.log", "ignored\n");
    std::fs::remove_file(wt.path.join("shared.txt")).unwrap();
    let c = commit_pending(&wt.path, "t-1", "s-1")
        .unwrap()
        .expect("committed");
    assert_eq!(git(&wt.path, &["rev-parse", "HEAD"]), c);
    assert_eq!(
        git(&fx.repo_dir, &["rev-parse", &wt.branch]),
        c,
        "on the task branch"
    );
    let msg = git(&wt.path, &["log", "-1", "--format=%B"]);
    assert!(msg.contains("t-1") && msg.contains("s-1"), "{msg}");
    assert!(msg.contains("Maestro-Session: s-1"), "{msg}");
    let files = git(&wt.path, &["show", "--name-status", "--format=", "HEAD"]);
    assert!(
        files.contains("README.md") && files.contains("src/new.rs"),
        "{files}"
    );
    assert!(files.contains("D\tshared.txt"), "{files}");
    assert!(
        !files.contains("target/"),
        "ignored files stay out: {files}"
    );
    assert_eq!(git(&wt.path, &["status", "--porcelain"]), "");
    assert_eq!(commit_pending(&wt.path, "t-1", "s-1").unwrap(), None);
    // The user's own tree is untouched.
    assert_eq!(read(&fx.repo_dir, "README.md"), "# app\n");

    // The next session of the task gets the same worktree with the work in it.
    let next = fx.wts.ensure(&repo, &fx.request("t-1", "Work")).unwrap();
    assert!(!next.created);
    assert_eq!(read(&next.path, "src/new.rs"), "fn main() {}\n");

    // Even if the folder is lost, the work is on the branch: made again from it.
    std::fs::remove_dir_all(&wt.path).unwrap();
    let remade = fx.wts.ensure(&repo, &fx.request("t-1", "Work")).unwrap();
    assert!(remade.created);
    assert_eq!(remade.branch, wt.branch);
    assert_eq!(read(&remade.path, "src/new.rs"), "fn main() {}\n");

    // A worktree in the middle of a rebase (detached) is not committed onto: refused, and
    // its files stay.
    git(&remade.path, &["checkout", "-q", "--detach"]);
    write(&remade.path, "late.txt", "late\n");
    let e = commit_pending(&remade.path, "t-1", "s-2").unwrap_err();
    assert_eq!(e.code(), Code::WorktreeConflict);
    assert_eq!(read(&remade.path, "late.txt"), "late\n");
    // Not a worktree's top: refused rather than committing in a parent repository.
    assert!(commit_pending(&remade.path.join("src"), "t-1", "s-2").is_err());
}

#[test]
fn a_creation_killed_half_way_is_made_again_and_keeps_the_branch() {
    let fx = Fx::new();
    let repo = fx.repo();
    let wt = fx.task("t-1", &[("a.txt", "a\n")]);
    let head = git(&fx.repo_dir, &["rev-parse", &wt.branch]);
    // What a kill during `git worktree add` leaves: the note, a partial folder.
    std::fs::remove_file(wt.path.join("README.md")).unwrap();
    let note = wt.path.parent().unwrap().join(".creating-t-1");
    std::fs::write(&note, b"").unwrap();
    let again = fx.wts.ensure(&repo, &fx.request("t-1", "t-1")).unwrap();
    assert!(again.created);
    assert!(!note.exists());
    assert_eq!(
        read(&again.path, "README.md"),
        "# app\n",
        "checked out completely"
    );
    assert_eq!(read(&again.path, "a.txt"), "a\n");
    assert_eq!(git(&fx.repo_dir, &["rev-parse", &wt.branch]), head);
}

#[test]
fn creation_is_serialised_per_repository() {
    let fx = Fx::new();
    let repo = fx.repo();
    let results: Vec<Worktree> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (wts, repo) = (&fx.wts, &repo);
                // Two threads per task.
                let req = fx.request(&format!("t-{}", i % 3), "same");
                s.spawn(move || wts.ensure(repo, &req).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for i in 0..3 {
        let of_task: Vec<&Worktree> = results
            .iter()
            .filter(|w| w.path.ends_with(format!("t-{i}")))
            .collect();
        assert_eq!(of_task.len(), 2);
        assert_eq!(
            of_task.iter().filter(|w| w.created).count(),
            1,
            "made once, reused once"
        );
    }
    assert_eq!(fx.git_worktrees().len(), 3);
}

#[test]
fn two_tasks_on_different_files_merge_in_order_and_the_users_tree_follows() {
    let fx = Fx::new();
    let repo = fx.repo();
    let a = fx.task("t-a", &[("a.txt", "from a\n")]);
    let b = fx.task("t-b", &[("b.txt", "from b\n")]);
    let mut q = MergeQueue::new("main");
    q.enqueue("t-a", &a.branch, Some("Task A"));
    q.enqueue("t-b", &b.branch, Some("Task B"));
    let settings = QueueSettings::default();
    let mut steps = Vec::new();
    let first = process_next(&fx.wts, &repo, &mut q, &settings, |p| steps.push(p.clone())).unwrap();
    assert_eq!(first.merged.as_ref().unwrap().0, "t-a");
    let second = process_next(&fx.wts, &repo, &mut q, &settings, |_| {}).unwrap();
    assert_eq!(second.merged.as_ref().unwrap().0, "t-b");
    assert!(
        process_next(&fx.wts, &repo, &mut q, &settings, |_| {})
            .unwrap()
            .merged
            .is_none()
    );
    let b_commit = merged_commit(second.merged.unwrap().1.as_ref().unwrap());
    assert_eq!(fx.main(), b_commit);
    let log = git(&fx.repo_dir, &["log", "--format=%s", "main"]);
    assert_eq!(
        log.lines().collect::<Vec<_>>()[..3],
        [
            "maestro: work left by session s-1 on task t-b",
            "maestro: work left by session s-1 on task t-a",
            "init"
        ]
    );
    assert!(matches!(
        q.get("t-a").unwrap().state,
        QueueState::Merged { .. }
    ));
    // The user's tree has main checked out and clean: it was brought along.
    assert_eq!(read(&fx.repo_dir, "a.txt"), "from a\n");
    assert_eq!(read(&fx.repo_dir, "b.txt"), "from b\n");
    assert_eq!(git(&fx.repo_dir, &["status", "--porcelain"]), "");
    // Every step was reported, and nothing is left behind.
    let kinds: Vec<String> = steps
        .iter()
        .map(|p| {
            serde_json::to_value(p).unwrap()["step"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        ["prepared", "built", "advancing", "advanced", "tree_synced"]
    );
    assert_eq!(fx.merge_leftovers(), Vec::<String>::new());
    assert_eq!(fx.git_worktrees().len(), 2, "only the two task worktrees");
    // The merges built one after the other in one pooled worktree, detached.
    let pool = pool_worktrees(&fx);
    assert_eq!(pool.len(), 1, "{pool:?}");
    assert_eq!(
        git(Path::new(&pool[0]), &["rev-parse", "--abbrev-ref", "HEAD"]),
        "HEAD",
        "detached"
    );
    // Merging again is a no-op.
    let again = fx.merge(&a, "t-a");
    assert!(
        matches!(
            again,
            MergeOutcome::Merged {
                up_to_date: true,
                ..
            }
        ),
        "{again:?}"
    );
    assert_eq!(fx.main(), b_commit);
}

#[test]
fn the_same_lines_changed_twice_make_the_second_a_conflict_with_its_paths() {
    let fx = Fx::new();
    let a = fx.task("t-a", &[("shared.txt", "one\nTWO from a\nthree\n")]);
    let b = fx.task(
        "t-b",
        &[
            ("shared.txt", "one\nTWO from b\nthree\n"),
            ("b-only.txt", "b\n"),
        ],
    );
    let after_a = merged_commit(&fx.merge(&a, "t-a"));
    match fx.merge(&b, "t-b") {
        MergeOutcome::Conflict {
            paths,
            target_commit,
            task_head,
            message,
        } => {
            assert_eq!(paths, vec!["shared.txt"]);
            assert_eq!(target_commit, after_a);
            assert_eq!(task_head, git(&fx.repo_dir, &["rev-parse", &b.branch]));
            assert!(!message.is_empty());
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(fx.main(), after_a, "the target did not move");
    assert_eq!(read(&fx.repo_dir, "shared.txt"), "one\nTWO from a\nthree\n");
    assert_eq!(fx.merge_leftovers(), Vec::<String>::new());
    assert_eq!(fx.git_worktrees().len(), 2);

    // Squash reports the same conflict.
    let mut req = MergeRequest::new("t-b", &b.branch, "main");
    req.strategy = Strategy::Squash;
    let o = MergeJob::begin(&fx.wts, &fx.repo(), req)
        .unwrap()
        .run(|_| {})
        .unwrap();
    assert!(
        matches!(&o, MergeOutcome::Conflict { paths, .. } if paths == &["shared.txt"]),
        "{o:?}"
    );
}

#[test]
fn squash_lands_one_commit_with_the_tasks_message() {
    let fx = Fx::new();
    let wt = fx.task("t-a", &[("a.txt", "1\n")]);
    write(&wt.path, "a2.txt", "2\n");
    commit_pending(&wt.path, "t-a", "s-2").unwrap();
    let before = fx.main();
    let mut req = MergeRequest::new("t-a", &wt.branch, "main");
    req.strategy = Strategy::Squash;
    req.message = Some("Add a\n\nMaestro-Task: t-a\n".into());
    let c = merged_commit(
        &MergeJob::begin(&fx.wts, &fx.repo(), req)
            .unwrap()
            .run(|_| {})
            .unwrap(),
    );
    assert_eq!(
        git(&fx.repo_dir, &["rev-parse", &format!("{c}^")]),
        before,
        "one commit"
    );
    assert_eq!(
        git(&fx.repo_dir, &["log", "-1", "--format=%s", "main"]),
        "Add a"
    );
    assert_eq!(read(&fx.repo_dir, "a2.txt"), "2\n");
}

#[test]
fn a_failing_gate_blocks_the_merge_with_the_tail_of_its_output() {
    let fx = Fx::new();
    let wt = fx.task("t-a", &[("a.txt", "a\n")]);
    let before = fx.main();
    let mut req = MergeRequest::new("t-a", &wt.branch, "main");
    req.gate = Some(Gate {
        command: "for i in $(seq 1 200); do echo line $i; done; echo boom >&2; exit 3".into(),
        timeout: Duration::from_secs(60),
    });
    match MergeJob::begin(&fx.wts, &fx.repo(), req)
        .unwrap()
        .run(|_| {})
        .unwrap()
    {
        MergeOutcome::GateFailed {
            tail,
            exit_code,
            timed_out,
            target_commit,
            ..
        } => {
            assert_eq!(exit_code, Some(3));
            assert!(!timed_out);
            assert!(
                tail.contains("line 200") && tail.ends_with("boom"),
                "{tail}"
            );
            assert!(
                !tail.contains("line 100\n"),
                "only the tail is kept: {tail}"
            );
            assert_eq!(target_commit, before);
        }
        other => panic!("expected gate_failed, got {other:?}"),
    }
    assert_eq!(fx.main(), before);
    assert_eq!(fx.merge_leftovers(), Vec::<String>::new());

    // A gate that runs too long is killed, with what it printed.
    let mut req = MergeRequest::new("t-a", &wt.branch, "main");
    req.gate = Some(Gate {
        command: "echo started; sleep 30".into(),
        timeout: Duration::from_millis(300),
    });
    let started = std::time::Instant::now();
    let o = MergeJob::begin(&fx.wts, &fx.repo(), req)
        .unwrap()
        .run(|_| {})
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    match o {
        MergeOutcome::GateFailed {
            tail, timed_out, ..
        } => {
            assert!(timed_out);
            assert!(
                tail.starts_with("started") && tail.contains("timed out"),
                "{tail}"
            );
        }
        other => panic!("expected gate_failed, got {other:?}"),
    }

    // A passing gate runs in the merged tree, with the merge's context.
    let mut req = MergeRequest::new("t-a", &wt.branch, "main");
    req.gate = Some(Gate {
        command: "test -f a.txt && test -f README.md && test \"$MAESTRO_MERGE_TASK_ID\" = t-a && test \"$MAESTRO_MERGE_TARGET\" = main".into(),
        timeout: Duration::from_secs(60),
    });
    let mut saw_gate = false;
    let o = MergeJob::begin(&fx.wts, &fx.repo(), req)
        .unwrap()
        .run(|p| saw_gate |= matches!(p, Progress::GatePassed { .. }))
        .unwrap();
    assert!(saw_gate);
    assert_eq!(fx.main(), merged_commit(&o));
}

#[test]
fn a_dirty_checked_out_target_makes_the_merge_wait() {
    let fx = Fx::new();
    let wt = fx.task("t-a", &[("a.txt", "a\n")]);
    let before = fx.main();
    write(
        &fx.repo_dir,
        "README.md",
        "# app, being edited by the user\n",
    );
    match fx.merge(&wt, "t-a") {
        MergeOutcome::Waiting { reason, tree } => {
            assert_eq!(tree.as_deref(), Some(fx.repo_dir.as_path()));
            assert!(
                reason.contains("README.md") && reason.contains("uncommitted"),
                "{reason}"
            );
        }
        other => panic!("expected waiting, got {other:?}"),
    }
    assert_eq!(fx.main(), before);
    assert_eq!(
        read(&fx.repo_dir, "README.md"),
        "# app, being edited by the user\n"
    );
    assert_eq!(fx.merge_leftovers(), Vec::<String>::new());
    // Once the user committed, it goes through and their tree follows.
    commit_all(&fx.repo_dir, "user edit");
    let o = fx.merge(&wt, "t-a");
    assert_eq!(fx.main(), merged_commit(&o));
    assert_eq!(read(&fx.repo_dir, "a.txt"), "a\n");
    assert_eq!(git(&fx.repo_dir, &["status", "--porcelain"]), "");

    // A target that is not checked out anywhere is merged without touching any tree.
    git(&fx.repo_dir, &["checkout", "-q", "-b", "elsewhere"]);
    write(&fx.repo_dir, "README.md", "dirty again\n");
    let b = fx.task("t-b", &[("b.txt", "b\n")]);
    let o = fx.merge(&b, "t-b");
    assert_eq!(fx.main(), merged_commit(&o));
    assert!(!fx.repo_dir.join("b.txt").exists());
}

/// Steps a merge until its journal reaches `step`, then drops it as a crash would.
fn crash_at(fx: &Fx, task: &str, branch: &str, step: journal::Step) -> journal::Journal {
    let mut job =
        MergeJob::begin(&fx.wts, &fx.repo(), MergeRequest::new(task, branch, "main")).unwrap();
    while job.journal().step != step {
        assert!(
            job.step(&mut |_| {}).unwrap().is_none(),
            "ended before {step:?}"
        );
    }
    job.journal().clone()
}

#[test]
fn a_merge_killed_before_the_swap_is_rolled_back() {
    use journal::Step;
    let fx = Fx::new();
    let wt = fx.task("t-a", &[("a.txt", "a\n")]);
    let before = fx.main();
    for step in [Step::Prepared, Step::Built, Step::Gated, Step::Advancing] {
        let j = crash_at(&fx, "t-a", &wt.branch, step);
        assert!(
            !fx.merge_leftovers().is_empty(),
            "the crash leaves its journal"
        );
        assert!(fx.merge_leftovers().contains(&format!("{}.json", j.id)));
        assert_eq!(
            in_progress(&fx.wts, &fx.repo()).unwrap(),
            Vec::<String>::new(),
            "its lock died with it"
        );
        let rec = recover(&fx.wts, &fx.repo()).unwrap();
        assert_eq!(rec.len(), 1);
        assert_eq!((rec[0].task_id.as_str(), rec[0].step), ("t-a", step));
        assert_eq!(rec[0].outcome, None, "rolled back at {step:?}");
        assert_eq!(fx.main(), before);
        assert_eq!(fx.merge_leftovers(), Vec::<String>::new());
        assert_eq!(
            fx.git_worktrees().len(),
            1,
            "the temporary worktree is gone"
        );
        assert!(recover(&fx.wts, &fx.repo()).unwrap().is_empty());
    }
    // And the merge simply runs again.
    let o = fx.merge(&wt, "t-a");
    assert_eq!(fx.main(), merged_commit(&o));
}

#[test]
fn a_merge_killed_after_the_swap_is_finished() {
    use journal::Step;
    let fx = Fx::new();
    let a = fx.task("t-a", &[("a.txt", "a\n")]);
    // Killed right after the swap, before the journal said so.
    let j = crash_at(&fx, "t-a", &a.branch, Step::Advancing);
    let new = j.new.clone().unwrap();
    git(
        &fx.repo_dir,
        &["update-ref", "refs/heads/main", &new, &j.old],
    );
    let rec = recover(&fx.wts, &fx.repo()).unwrap();
    match &rec[0].outcome {
        Some(MergeOutcome::Merged {
            commit,
            synced,
            stale,
            ..
        }) => {
            assert_eq!(commit, &new);
            assert_eq!(synced, &vec![fx.repo_dir.clone()]);
            assert!(stale.is_empty());
        }
        other => panic!("expected merged, got {other:?}"),
    }
    assert_eq!(fx.main(), new);
    assert_eq!(
        read(&fx.repo_dir, "a.txt"),
        "a\n",
        "the user's tree was brought along"
    );
    assert_eq!(git(&fx.repo_dir, &["status", "--porcelain"]), "");
    assert_eq!(fx.merge_leftovers(), Vec::<String>::new());

    // Killed after the journal recorded the swap, before the user's tree followed: the
    // next merge settles it first, then builds on it.
    let b = fx.task("t-b", &[("b.txt", "b\n")]);
    let j = crash_at(&fx, "t-b", &b.branch, Step::Advanced);
    assert_eq!(fx.main(), j.new.clone().unwrap());
    assert!(!fx.repo_dir.join("b.txt").exists(), "not brought along yet");
    let c = fx.task("t-c", &[("c.txt", "c\n")]);
    let mut job = MergeJob::begin(
        &fx.wts,
        &fx.repo(),
        MergeRequest::new("t-c", &c.branch, "main"),
    )
    .unwrap();
    let rec = job.take_recovered();
    assert!(
        matches!(&rec[0].outcome, Some(MergeOutcome::Merged { commit, .. }) if Some(commit) == j.new.as_ref())
    );
    let after_c = merged_commit(&job.run(|_| {}).unwrap());
    let mut q = MergeQueue::new("main");
    q.enqueue("t-b", &b.branch, None);
    q.start("t-b");
    q.reconcile(&rec);
    assert!(matches!(
        &q.get("t-b").unwrap().state,
        QueueState::Merged { .. }
    ));
    assert_eq!(fx.main(), after_c);
    assert_eq!(read(&fx.repo_dir, "b.txt"), "b\n");
    assert_eq!(read(&fx.repo_dir, "c.txt"), "c\n");
    assert_eq!(git(&fx.repo_dir, &["status", "--porcelain"]), "");
}

#[test]
fn a_live_merge_is_not_recovered_by_another_process() {
    let fx = Fx::new();
    let a = fx.task("t-a", &[("a.txt", "a\n")]);
    let mut job = MergeJob::begin(
        &fx.wts,
        &fx.repo(),
        MergeRequest::new("t-a", &a.branch, "main"),
    )
    .unwrap();
    job.step(&mut |_| {}).unwrap();
    assert_eq!(in_progress(&fx.wts, &fx.repo()).unwrap(), vec!["t-a"]);
    assert!(recover(&fx.wts, &fx.repo()).unwrap().is_empty());
    let o = job.run(|_| {}).unwrap();
    assert_eq!(fx.main(), merged_commit(&o));
}

#[test]
fn two_mergers_at_once_one_wins_the_swap_and_the_other_builds_again() {
    let fx = Fx::new();
    let repo = fx.repo();
    let a = fx.task("t-a", &[("a.txt", "a\n")]);
    let b = fx.task("t-b", &[("b.txt", "b\n")]);
    let start = fx.main();
    // Both build on the same target; A lands first.
    let mut ja =
        MergeJob::begin(&fx.wts, &repo, MergeRequest::new("t-a", &a.branch, "main")).unwrap();
    let mut jb =
        MergeJob::begin(&fx.wts, &repo, MergeRequest::new("t-b", &b.branch, "main")).unwrap();
    ja.step(&mut |_| {}).unwrap();
    jb.step(&mut |_| {}).unwrap();
    assert_eq!(jb.journal().old, start);
    let oa = ja.run(|_| {}).unwrap();
    let mut moved = Vec::new();
    let ob = jb
        .run(|p| {
            if let Progress::TargetMoved { now, attempt } = p {
                moved.push((now.clone(), *attempt));
            }
        })
        .unwrap();
    let (ca, cb) = (merged_commit(&oa), merged_commit(&ob));
    assert_eq!(moved, vec![(ca.clone(), 2)]);
    assert!(
        matches!(ob, MergeOutcome::Merged { attempts: 2, ref previous, .. } if *previous == ca)
    );
    assert_eq!(git(&fx.repo_dir, &["rev-parse", &format!("{cb}^")]), ca);
    assert_eq!(fx.main(), cb);

    // Four threads merging at the same time: all land, one after the other.
    let tasks: Vec<(String, Worktree)> = (0..4)
        .map(|i| {
            let t = format!("t-{i}");
            let wt = fx.task(&t, &[(&format!("f{i}.txt"), "x\n")]);
            (t, wt)
        })
        .collect();
    let outcomes: Vec<MergeOutcome> = std::thread::scope(|s| {
        let hs: Vec<_> = tasks
            .iter()
            .map(|(t, wt)| {
                let (wts, repo) = (&fx.wts, &repo);
                let mut req = MergeRequest::new(t, &wt.branch, "main");
                req.gate = Some(Gate {
                    command: "sleep 0.2".into(),
                    timeout: Duration::from_secs(60),
                });
                req.max_attempts = 10;
                s.spawn(move || {
                    MergeJob::begin(wts, repo, req)
                        .unwrap()
                        .run(|_| {})
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outcomes {
        merged_commit(o);
    }
    let first_parents = git(
        &fx.repo_dir,
        &["rev-list", "--first-parent", &format!("{cb}..main")],
    );
    assert_eq!(first_parents.lines().count(), 4, "four commits in a line");
    for i in 0..4 {
        assert_eq!(read(&fx.repo_dir, &format!("f{i}.txt")), "x\n");
    }
    assert_eq!(git(&fx.repo_dir, &["status", "--porcelain"]), "");
    assert_eq!(fx.merge_leftovers(), Vec::<String>::new());
}

#[test]
fn merge_requests_name_real_branches() {
    let fx = Fx::new();
    let a = fx.task("t-a", &[("a.txt", "a\n")]);
    let repo = fx.repo();
    let e =
        MergeJob::begin(&fx.wts, &repo, MergeRequest::new("t-a", &a.branch, "nope")).unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(
        e.message().contains("target branch 'nope'"),
        "{}",
        e.message()
    );
    let e = MergeJob::begin(
        &fx.wts,
        &repo,
        MergeRequest::new("t-a", "maestro/gone", "main"),
    )
    .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = MergeJob::begin(&fx.wts, &repo, MergeRequest::new("t-a", "main", "main")).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // A failed merge in the queue is recorded and the queue goes on.
    let mut q = MergeQueue::new("main");
    q.enqueue("t-x", "maestro/t-x-gone", None);
    q.enqueue("t-a", &a.branch, None);
    let p = process_next(&fx.wts, &repo, &mut q, &QueueSettings::default(), |_| {}).unwrap();
    let (task, result) = p.merged.unwrap();
    assert_eq!(task, "t-x");
    assert_eq!(result.unwrap_err().code(), Code::NotFound);
    assert!(
        matches!(&q.get("t-x").unwrap().state, QueueState::Failed { code, .. } if code == "not_found")
    );
    let p = process_next(&fx.wts, &repo, &mut q, &QueueSettings::default(), |_| {}).unwrap();
    assert!(p.merged.unwrap().1.is_ok());
}

fn record(wt: &Worktree, task: &str, merged_head: Option<String>) -> WorktreeRecord {
    WorktreeRecord {
        task_id: task.into(),
        project_id: "p-1".into(),
        path: wt.path.clone(),
        branch: wt.branch.clone(),
        merged_head,
        deleted: false,
    }
}

fn head_of(o: &MergeOutcome) -> String {
    merged(o).1
}

#[test]
fn gc_lists_and_removes_exactly_the_merged_and_deleted_clean_worktrees() {
    let fx = Fx::new();
    let repo = fx.repo();
    let merged = fx.task("t-merged", &[("m.txt", "m\n")]);
    let merged_head = head_of(&fx.merge(&merged, "t-merged"));
    let dirty = fx.task("t-dirty", &[("d.txt", "d\n")]);
    let dirty_head = head_of(&fx.merge(&dirty, "t-dirty"));
    write(&dirty.path, "unsaved.txt", "not committed yet\n");
    let locked = fx.task("t-locked", &[("l.txt", "l\n")]);
    let locked_head = head_of(&fx.merge(&locked, "t-locked"));
    repo.lock_worktree(&locked.path, "maestro session s-9")
        .unwrap();
    let moved = fx.task("t-moved", &[("mv.txt", "1\n")]);
    let moved_head = head_of(&fx.merge(&moved, "t-moved"));
    write(&moved.path, "mv.txt", "2\n");
    commit_pending(&moved.path, "t-moved", "s-2").unwrap();
    let deleted = fx.task("t-deleted", &[("x.txt", "x\n")]);
    let active = fx.task("t-active", &[("y.txt", "y\n")]);
    let mut other_store = fx.request("t-other", "x");
    other_store.project_id = "p-elsewhere".into();
    let other = fx.wts.ensure(&repo, &other_store).unwrap();
    let foreign = fx.wts.repo_dir(&repo).join("not-ours");
    write(&foreign, "file.txt", "someone's\n");
    let outside = fx.dir.join("outside");
    fx.linked(&outside, "maestro/t-out-x");
    let records = vec![
        record(&merged, "t-merged", Some(merged_head)),
        record(&dirty, "t-dirty", Some(dirty_head)),
        record(&locked, "t-locked", Some(locked_head)),
        record(&moved, "t-moved", Some(moved_head)),
        record(&active, "t-active", None),
        WorktreeRecord {
            task_id: "t-out".into(),
            project_id: "p-1".into(),
            path: outside.clone(),
            branch: "maestro/t-out-x".into(),
            merged_head: Some(git(&fx.repo_dir, &["rev-parse", "maestro/t-out-x"])),
            deleted: false,
        },
    ];
    let projects = vec!["p-1".to_string()];

    let list = fx.wts.list(&records, &projects).unwrap();
    let state = |task: &str| {
        list.iter()
            .find(|w| w.task_id.as_deref() == Some(task))
            .unwrap_or_else(|| panic!("{task} listed"))
    };
    assert_eq!(state("t-merged").state, WorktreeState::Merged);
    assert_eq!(state("t-dirty").changes, 1);
    assert_eq!(
        state("t-locked").locked.as_deref(),
        Some("maestro session s-9")
    );
    assert_eq!(
        state("t-moved").state,
        WorktreeState::Active,
        "new commits after the merge"
    );
    assert_eq!(state("t-deleted").state, WorktreeState::Deleted);
    assert_eq!(state("t-active").state, WorktreeState::Active);
    assert_eq!(state("t-other").state, WorktreeState::Unknown);
    assert!(!state("t-out").inside_root);
    assert!(state("t-merged").size_bytes > 0);
    assert!(state("t-merged").maestro && state("t-merged").registered && state("t-merged").on_disk);
    let f = list
        .iter()
        .find(|w| w.path == foreign)
        .expect("foreign listed");
    assert_eq!(f.state, WorktreeState::Foreign);
    assert!(!list.iter().any(|w| w.path.ends_with("merges")));

    // The dry run plans without touching anything.
    let plan = fx.wts.gc(&records, &projects).unwrap();
    assert_eq!(plan.removals(), vec!["t-deleted", "t-merged"]);
    assert_eq!(plan.branch_deletions(), vec![merged.branch.as_str()]);
    assert!(merged.path.exists() && deleted.path.exists());
    let kept: Vec<String> = plan
        .kept
        .iter()
        .map(|k| format!("{}: {}", k.path.display(), k.reason))
        .collect();
    assert_eq!(plan.kept.len(), 7, "{kept:#?}");

    let results = fx.wts.apply_gc(&plan);
    assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
    assert!(!merged.path.exists() && !deleted.path.exists());
    assert_eq!(
        read(&dirty.path, "unsaved.txt"),
        "not committed yet\n",
        "a dirty tree stays"
    );
    for kept in [
        &dirty.path,
        &locked.path,
        &moved.path,
        &active.path,
        &other.path,
        &foreign,
        &outside,
    ] {
        assert!(kept.exists(), "{} kept", kept.display());
    }
    let branches = git(&fx.repo_dir, &["branch", "--format=%(refname:short)"]);
    assert!(
        !branches.contains(&merged.branch),
        "the merged branch is deleted"
    );
    assert!(
        branches.contains(&deleted.branch),
        "a deleted task's unmerged branch is kept"
    );
    assert!(branches.contains(&moved.branch));
    // Nothing left to do.
    let again = fx.wts.gc(&records, &projects).unwrap();
    assert!(again.actions.is_empty(), "{:?}", again.actions);

    // A planned removal is checked again when applied: a tree that got dirty stays.
    let late = fx.task("t-late", &[("late.txt", "1\n")]);
    let late_head = head_of(&fx.merge(&late, "t-late"));
    // (The store passes every record of its projects: a Maestro worktree of one of them
    // without a record is a deleted task's.)
    let mut records = records;
    records.retain(|r| r.task_id != "t-merged");
    records.push(record(&late, "t-late", Some(late_head)));
    let plan = fx.wts.gc(&records, &projects).unwrap();
    write(&late.path, "new.txt", "written after the plan\n");
    let results = fx.wts.apply_gc(&plan);
    assert!(results.iter().all(|r| r.error.is_some()), "{results:?}");
    assert_eq!(read(&late.path, "new.txt"), "written after the plan\n");

    // A worktree whose folder vanished is pruned from git's records.
    std::fs::remove_dir_all(&late.path).unwrap();
    let plan = fx.wts.gc(&records, &projects).unwrap();
    assert!(
        plan.actions
            .iter()
            .any(|a| matches!(a, GcAction::PruneWorktree { .. })),
        "{plan:?}"
    );
    let results = fx.wts.apply_gc(&plan);
    assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
    assert!(!git(&fx.repo_dir, &["worktree", "list"]).contains("t-late"));
}

#[test]
fn error_values_carry_codes_for_clients() {
    let fx = Fx::new();
    let e: Error = Repo::discover(&fx.dir).unwrap_err();
    let v = e.to_json();
    assert_eq!(v["error"], "not_a_repository");
    assert_eq!(e.exit_code(), 2);
    assert_eq!(Code::WorktreeConflict.http_status(), 409);
}

#[test]
fn merges_reuse_their_worktrees_and_clear_what_a_dead_merge_left_in_one() {
    let fx = Fx::new();
    let repo = fx.repo();
    let a = fx.task("t-a", &[("a.txt", "a\n")]);
    let b = fx.task("t-b", &[("b.txt", "b\n")]);
    // A gate's ignored build output stays in the pooled worktree for the next gate.
    let mut req = MergeRequest::new("t-a", &a.branch, "main");
    req.gate = Some(Gate {
        command: "mkdir -p target && echo cached > target/out && echo junk > untracked.txt".into(),
        timeout: Duration::from_secs(60),
    });
    merged_commit(
        &MergeJob::begin(&fx.wts, &repo, req)
            .unwrap()
            .run(|_| {})
            .unwrap(),
    );
    let pool = pool_worktrees(&fx);
    assert_eq!(pool.len(), 1);
    let slot = PathBuf::from(&pool[0]);
    // A dead merge left a rebase stopped on a conflict in it.
    let commit_in_slot = |text: &str| {
        write(&slot, "README.md", text);
        git(&slot, &["commit", "-qam", text.trim()]);
        git(&slot, &["rev-parse", "HEAD"])
    };
    let x = commit_in_slot("slot\n");
    git(&slot, &["checkout", "-q", "--detach", "HEAD~1"]);
    let y = commit_in_slot("other\n");
    git(&slot, &["checkout", "-q", "--detach", &x]);
    let rebase = Command::new("git")
        .arg("-C")
        .arg(&slot)
        .args(["rebase", "-q", &y])
        .output()
        .unwrap();
    assert!(!rebase.status.success(), "the rebase stops on a conflict");
    let mut req = MergeRequest::new("t-b", &b.branch, "main");
    req.gate = Some(Gate {
        command: "test \"$(cat target/out)\" = cached && test ! -e untracked.txt".into(),
        timeout: Duration::from_secs(60),
    });
    let o = MergeJob::begin(&fx.wts, &repo, req)
        .unwrap()
        .run(|_| {})
        .unwrap();
    assert_eq!(fx.main(), merged_commit(&o));
    assert_eq!(pool_worktrees(&fx), pool, "the same worktree again");
    assert_eq!(read(&fx.repo_dir, "b.txt"), "b\n");

    // A merge while another one builds takes a second worktree; clearing the pool removes
    // the worktrees no merge uses.
    let c = fx.task("t-c", &[("c.txt", "c\n")]);
    let mut busy =
        MergeJob::begin(&fx.wts, &repo, MergeRequest::new("t-c", &c.branch, "main")).unwrap();
    busy.step(&mut |_| {}).unwrap();
    let d = fx.task("t-d", &[("d.txt", "d\n")]);
    merged_commit(&fx.merge(&d, "t-d"));
    assert_eq!(pool_worktrees(&fx).len(), 2);
    let removed = fx.wts.clear_merge_pool(&repo).unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(
        pool_worktrees(&fx),
        vec![busy.journal().worktree.to_string_lossy().into_owned()],
        "the busy one stays"
    );
    drop(busy);
    recover(&fx.wts, &repo).unwrap();
    assert_eq!(fx.wts.clear_merge_pool(&repo).unwrap().len(), 1);
    assert!(pool_worktrees(&fx).is_empty());
}
