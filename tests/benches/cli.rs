//! CLI latency and memory: whole `maestro` processes, as agents run them.
//!
//! Run: `cargo build --release -p maestro-cli && cargo bench -p maestro-tests --bench cli`
//! Prints the median and max wall time and the max RSS (GNU time) per command.
//!
//! Scaling curves: `cargo bench -p maestro-tests --bench cli -- --scale 1000,10000,100000`
//! measures `task list`, `task ready`, `task claim --next` and `status` on stores of each
//! size, beside an empty process (`/bin/true`, the machine's floor) in the same run.

use maestro_tests::Sandbox;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 50;

fn stats(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 9 / 10], v[v.len() - 1])
}

/// Max RSS in KiB of one run of `base`, via GNU time.
fn max_rss_kib(base: Command) -> Option<u64> {
    let time = std::path::Path::new("/usr/bin/time");
    if !time.exists() {
        return None;
    }
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
    if let Some(dir) = base.get_current_dir() {
        c.current_dir(dir);
    }
    let out = c.output().ok()?;
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()?
        .trim()
        .parse()
        .ok()
}

/// One command's numbers: median, p90 and max wall time, max RSS in MB.
struct Measured {
    p50: Duration,
    p90: Duration,
    max: Duration,
    rss_mb: Option<f64>,
}

impl Measured {
    fn ms(d: Duration) -> String {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
    fn rss(&self) -> String {
        self.rss_mb
            .map(|m| format!("{m:.1} MB"))
            .unwrap_or_else(|| "n/a".into())
    }
}

/// Runs `make()` `runs` times (after `before()`, untimed, each time), checking each succeeds.
fn measure(
    name: &str,
    runs: usize,
    mut before: impl FnMut(),
    make: impl Fn() -> Command,
) -> Measured {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        before();
        let mut c = make();
        let start = Instant::now();
        let out = c.output().expect("run the command");
        times.push(start.elapsed());
        assert!(
            out.status.success(),
            "{name} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (p50, p90, max) = stats(times);
    before();
    let rss_mb = max_rss_kib(make()).map(|k| k as f64 / 1024.0);
    Measured {
        p50,
        p90,
        max,
        rss_mb,
    }
}

fn bench(sb: &Sandbox, name: &str, args: &[&str]) {
    let m = measure(name, RUNS, || {}, || sb.command(args));
    println!(
        "{name:<42} median {:>9}  p90 {:>9}  max {:>9}  max RSS {}",
        Measured::ms(m.p50),
        Measured::ms(m.p90),
        Measured::ms(m.max),
        m.rss()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return; // `cargo test --benches` probing
    }
    let bin = maestro_tests::bench_bin();
    if let Some(i) = args.iter().position(|a| a == "--scale") {
        let sizes: Vec<usize> = args
            .get(i + 1)
            .map(String::as_str)
            .unwrap_or("1000,10000,100000")
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("--scale takes sizes like 1000,10000")
            })
            .collect();
        scaling(&bin, &sizes);
        return;
    }
    let sb = Sandbox::with_bin(bin);
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

/// Fills the sandbox's store with `n` tasks through the core (setup, not measured): every
/// fourth depends on the one before it, priorities rotate, and every tenth is completed, so
/// the ready queue, the blocked tasks and the counts all have work to do.
fn seed(sb: &Sandbox, n: usize) {
    use maestro_core::{Maestro, NewTask, OpContext, Priority, SqliteStore};
    let db = sb.cwd().join(".maestro/maestro.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let m = Maestro::new(std::sync::Arc::new(SqliteStore::open(&db).unwrap()));
        let op = OpContext::default();
        let mut prev: Option<String> = None;
        let mut done = Vec::new();
        for chunk in 0..n.div_ceil(500) {
            let batch: Vec<NewTask> = (chunk * 500..((chunk + 1) * 500).min(n))
                .map(|i| NewTask {
                    title: format!("task {i}"),
                    description: Some(format!("What task {i} is about, in a sentence or two.")),
                    priority: Some(Priority::ALL[i % 3]),
                    labels: vec!["bench".into()],
                    ..Default::default()
                })
                .collect();
            let created = m.create_tasks(&op, batch).await.unwrap();
            for (k, t) in created.into_iter().enumerate() {
                let i = chunk * 500 + k;
                if i % 4 == 3
                    && let Some(p) = &prev
                {
                    let patch = maestro_core::TaskPatch {
                        add_dependencies: vec![p.clone()],
                        ..Default::default()
                    };
                    m.update_task(&op, &t.id, patch).await.unwrap();
                }
                if i % 10 == 0 {
                    done.push(t.id.clone());
                }
                prev = Some(t.id);
            }
        }
        for id in done {
            m.start_task(&op, &id, true).await.unwrap();
            m.complete_task(&op, &id, true).await.unwrap();
        }
    });
}

/// `task list`, `task ready`, `task claim --next` and `status` at each size, with the empty
/// process and `--version` measured in the same run as the floor.
fn scaling(bin: &std::path::Path, sizes: &[usize]) {
    const SCALE_RUNS: usize = 30;
    let mut rows: Vec<(String, Vec<Measured>)> = Vec::new();
    let mut floor: Vec<(String, Vec<Measured>)> = vec![
        ("`/bin/true` (empty process)".into(), Vec::new()),
        ("`maestro --version`".into(), Vec::new()),
    ];
    for &n in sizes {
        let sb = Sandbox::with_bin(bin);
        sb.init();
        let start = Instant::now();
        seed(&sb, n);
        eprintln!("seeded {n} tasks in {:.1} s", start.elapsed().as_secs_f64());
        let cmds: [(&str, &[&str]); 3] = [
            (
                "`task list --json` (first 100)",
                &["task", "list", "--json"],
            ),
            (
                "`task ready --json` (first 100)",
                &["task", "ready", "--json"],
            ),
            ("`status --json`", &["status", "--json"]),
        ];
        for (i, (name, args)) in cmds.iter().enumerate() {
            let m = measure(name, SCALE_RUNS, || {}, || sb.command(args));
            if rows.len() <= i {
                rows.push((name.to_string(), Vec::new()));
            }
            rows[i].1.push(m);
        }
        // Each claim by a new session (registered untimed), as agents starting up do.
        let session = std::cell::RefCell::new(String::new());
        let claim = measure(
            "task claim --next",
            SCALE_RUNS,
            || {
                let out = sb.command(&["session", "register", "-q"]).output().unwrap();
                *session.borrow_mut() = String::from_utf8_lossy(&out.stdout).trim().to_string();
            },
            || {
                let mut c = sb.command(&["task", "claim", "--next", "--json"]);
                c.env("MAESTRO_SESSION_ID", session.borrow().as_str());
                c
            },
        );
        if rows.len() <= cmds.len() {
            rows.push(("`task claim --next --json`".into(), Vec::new()));
        }
        rows[cmds.len()].1.push(claim);
        floor[0].1.push(measure(
            "/bin/true",
            SCALE_RUNS,
            || {},
            || Command::new("/bin/true"),
        ));
        floor[1].1.push(measure(
            "--version",
            SCALE_RUNS,
            || {},
            || sb.command(&["--version"]),
        ));
    }
    println!(
        "\nmaestro CLI scaling, {SCALE_RUNS} runs per cell, median (p90) and max RSS ({})\n",
        bin.display()
    );
    let head: Vec<String> = sizes.iter().map(|n| format!("{n} tasks")).collect();
    println!("| command | {} |", head.join(" | "));
    println!("|---|{}", "---|".repeat(sizes.len()));
    for (name, ms) in rows.iter().chain(floor.iter()) {
        let cells: Vec<String> = ms
            .iter()
            .map(|m| {
                format!(
                    "{} ({}), {}",
                    Measured::ms(m.p50),
                    Measured::ms(m.p90),
                    m.rss()
                )
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}
