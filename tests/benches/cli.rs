//! CLI latency and memory: whole `maestro` processes, as agents run them.
//!
//! Run: `cargo build --release -p maestro-cli && cargo bench -p maestro-tests --bench cli`
//! Prints the median and max wall time and the max RSS (GNU time) per command.

use maestro_tests::Sandbox;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 50;

fn stats(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 9 / 10], v[v.len() - 1])
}

/// Max RSS in KiB of one run, via GNU time.
fn max_rss_kib(sb: &Sandbox, args: &[&str]) -> Option<u64> {
    let time = std::path::Path::new("/usr/bin/time");
    if !time.exists() {
        return None;
    }
    let base = sb.command(args);
    let mut c = Command::new(time);
    c.arg("-f")
        .arg("%M")
        .arg(base.get_program())
        .args(base.get_args())
        .env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c.current_dir(sb.cwd());
    let out = c.output().ok()?;
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()?
        .trim()
        .parse()
        .ok()
}

fn bench(sb: &Sandbox, name: &str, args: &[&str]) {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = sb.command(args).output().expect("run maestro");
        times.push(start.elapsed());
        assert!(
            out.status.success(),
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let (p50, p90, max) = stats(times);
    let rss = max_rss_kib(sb, args)
        .map(|k| format!("{:.1} MB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into());
    println!(
        "{name:<42} median {:>6.2} ms  p90 {:>6.2} ms  max {:>6.2} ms  max RSS {rss}",
        p50.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probing
    }
    let sb = Sandbox::with_bin(maestro_tests::bench_bin());
    sb.init();
    // 1,000 tasks, built quickly through one process per 100 creates would be slow: use the
    // same binary in a loop; this is setup, not measured.
    let script = r#"for i in $(seq 1 1000); do "$MAESTRO_BIN" task create "task $i" --priority low --json >/dev/null || exit 1; done"#;
    let out = sb.shell(script, &[]).output().unwrap();
    assert!(
        out.status.success(),
        "setup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "maestro CLI, store of 1,000 tasks, {RUNS} runs each ({})",
        sb.bin().display()
    );
    bench(
        &sb,
        "task list --json (100 of 1,000)",
        &["task", "list", "--json"],
    );
    bench(
        &sb,
        "task list --limit 1000 --json",
        &["task", "list", "--limit", "1000", "--json"],
    );
    bench(
        &sb,
        "task create --json",
        &["task", "create", "bench task", "--json"],
    );
    bench(&sb, "task ready --json", &["task", "ready", "--json"]);
    bench(&sb, "status --json", &["status", "--json"]);
    bench(&sb, "--version", &["--version"]);
    // As an agent runs them: with a session (whose lease each call refreshes), on its task.
    let mut sb = sb;
    let session = String::from_utf8_lossy(
        &sb.command(&["session", "register", "-q"])
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .to_string();
    sb.set_env("MAESTRO_SESSION_ID", &session);
    let claimed = sb
        .command(&["task", "claim", "--next", "-q"])
        .output()
        .unwrap();
    let task = String::from_utf8_lossy(&claimed.stdout).trim().to_string();
    bench(
        &sb,
        "task list --json, as a session",
        &["task", "list", "--json"],
    );
    bench(
        &sb,
        "update --task T --json, as its owner",
        &["update", "step", "--task", &task, "--json"],
    );
    bench(
        &sb,
        "task get T --json, as its owner",
        &["task", "get", &task, "--json"],
    );
}
