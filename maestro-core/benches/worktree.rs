//! Benchmarks of task worktrees and merges: `cargo bench -p maestro-core --bench worktree`.
//!
//! A real git repository of 10,000 files (100 folders of 100 small files, one commit) in a
//! temporary folder. Timed: creating a task's worktree ([`Worktrees::ensure`], which is
//! `git worktree add` plus Maestro's marker and lock), reusing it, committing a session's
//! leftovers, and one merge with a trivial gate (`true`), split into its phases. The bare
//! `git worktree add` of the same repository is timed too, as the floor.
//!
//! `MAESTRO_BENCH_FILES` changes the repository's size, `MAESTRO_BENCH_RUNS` the samples.

#[path = "../tests/worktree_support/mod.rs"]
mod worktree_support;

use maestro_core::worktree::*;
use std::time::{Duration, Instant};
use worktree_support::git;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Stats(Vec<Duration>);

impl Stats {
    fn pct(&self, p: f64) -> Duration {
        let mut s = self.0.clone();
        s.sort();
        s[((s.len() - 1) as f64 * p).round() as usize]
    }
    fn report(&self, name: &str) {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
        println!(
            "{name:<52} n={:<3} median {:>9}  p90 {:>9}  min {:>9}  max {:>9}",
            self.0.len(),
            ms(self.pct(0.5)),
            ms(self.pct(0.9)),
            ms(self.pct(0.0)),
            ms(self.pct(1.0)),
        );
    }
}

fn time(runs: usize, mut f: impl FnMut(usize)) -> Stats {
    Stats(
        (0..runs)
            .map(|i| {
                let start = Instant::now();
                f(i);
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let files = env_usize("MAESTRO_BENCH_FILES", 10_000);
    let runs = env_usize("MAESTRO_BENCH_RUNS", 10);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = std::fs::canonicalize(tmp.path()).unwrap();
    let repo_dir = dir.join("big");
    std::fs::create_dir_all(&repo_dir).unwrap();
    git(&repo_dir, &["init", "-q", "-b", "main"]);
    git(&repo_dir, &["config", "user.name", "Bench"]);
    git(&repo_dir, &["config", "user.email", "bench@example.com"]);
    let setup = Instant::now();
    for i in 0..files {
        let d = repo_dir.join(format!("src/m{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&d).unwrap();
        }
        std::fs::write(
            d.join(format!("f{i:05}.rs")),
            format!("pub fn f{i}() -> u32 {{ {i} }}\n"),
        )
        .unwrap();
    }
    git(&repo_dir, &["add", "-A"]);
    git(&repo_dir, &["commit", "-q", "-m", "10k files"]);
    println!(
        "repository: {files} files, {} MB checked out, made in {:.1} s; {runs} runs each; git {}",
        gc::disk_usage(&repo_dir) / 1_000_000,
        setup.elapsed().as_secs_f64(),
        git(&repo_dir, &["version"]).trim_start_matches("git version ")
    );
    let wts = Worktrees::open(&dir.join("home")).unwrap();
    let repo = Repo::discover(&repo_dir).unwrap();
    let req = |i: usize| WorktreeRequest {
        task_id: format!("t-{i:04}"),
        project_id: "p-bench".into(),
        title: format!("Bench task {i}"),
        ..Default::default()
    };

    // Interleaved, so both see the same state of the (shared) disk.
    let (mut raw, mut created) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let p = dir.join(format!("raw-{i}"));
        let start = Instant::now();
        git(
            &repo_dir,
            &["worktree", "add", "-q", "--detach", p.to_str().unwrap()],
        );
        raw.push(start.elapsed());
        let start = Instant::now();
        assert!(wts.ensure(&repo, &req(i)).unwrap().created);
        created.push(start.elapsed());
    }
    Stats(raw.clone()).report("git worktree add (the floor)");
    Stats(created.clone()).report("ensure: create a task worktree");
    let over: Vec<Duration> = created
        .iter()
        .zip(&raw)
        .map(|(c, r)| c.saturating_sub(*r))
        .collect();
    Stats(over).report("  ensure minus the floor, pairwise");
    time(runs, |i| {
        assert!(!wts.ensure(&repo, &req(i)).unwrap().created);
    })
    .report("ensure: reuse it (next session)");
    time(runs, |i| {
        let p = wts.task_path(&repo, &format!("t-{i:04}"));
        repo.lock_worktree(&p, "bench session").unwrap();
        repo.unlock_worktree(&p).unwrap();
    })
    .report("lock + unlock");
    time(runs, |i| {
        let p = wts.task_path(&repo, &format!("t-{i:04}"));
        assert_eq!(commit_pending(&p, "t", "s").unwrap(), None);
    })
    .report("commit_pending on a clean tree (no-op)");
    time(runs, |i| {
        let p = wts.task_path(&repo, &format!("t-{i:04}"));
        std::fs::write(
            p.join(format!("src/m000/f{i:05}.rs")),
            format!("// task {i}\n"),
        )
        .unwrap();
        std::fs::write(p.join(format!("new-{i}.txt")), "new\n").unwrap();
        assert!(
            commit_pending(&p, &format!("t-{i:04}"), "s-1")
                .unwrap()
                .is_some()
        );
    })
    .report("commit_pending: 1 changed + 1 new file");

    // One merge per task (each changed its own file), with a trivial gate. The user's tree
    // has main checked out and clean, so every merge also brings it along.
    let mut phases: Vec<[Duration; 4]> = Vec::new();
    let merges = time(runs, |i| {
        let mut r = MergeRequest::new(
            &format!("t-{i:04}"),
            &wts.ensure(&repo, &req(i)).unwrap().branch,
            "main",
        );
        r.gate = Some(Gate {
            command: "true".into(),
            timeout: Duration::from_secs(60),
        });
        let start = Instant::now();
        let job = MergeJob::begin(&wts, &repo, r).unwrap();
        let begun = start.elapsed();
        let mut marks = Vec::new();
        let outcome = job
            .run(|p| {
                if matches!(p, Progress::Built { .. } | Progress::GatePassed { .. }) {
                    marks.push(start.elapsed());
                }
            })
            .unwrap();
        let end = start.elapsed();
        assert!(
            matches!(
                outcome,
                MergeOutcome::Merged {
                    up_to_date: false,
                    attempts: 1,
                    ..
                }
            ),
            "{outcome:?}"
        );
        if let [built, gated] = marks[..] {
            phases.push([begun, built - begun, gated - built, end - gated]);
        }
    });
    merges.report("merge (rebase, gate `true`, tree brought along)");
    let phase = |k: usize, name: &str| Stats(phases.iter().map(|p| p[k]).collect()).report(name);
    phase(0, "  begin: recover, journal, reset a pooled worktree");
    phase(1, "  build: rebase onto the target");
    phase(2, "  gate `true`");
    phase(3, "  land: check trees, swap, sync tree, clean up");
    assert_eq!(git(&repo_dir, &["status", "--porcelain"]), "");
    time(runs, |_| {
        assert!(recover(&wts, &repo).unwrap().is_empty());
    })
    .report("recover with nothing to recover");
    let list = Instant::now();
    let infos = wts.list(&[], &["p-bench".into()]).unwrap();
    println!(
        "list: {} worktrees (status + size of each) in {:.1} ms",
        infos.len(),
        list.elapsed().as_secs_f64() * 1e3
    );
}
