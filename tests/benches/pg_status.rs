//! What `status` costs on PostgreSQL at 100,000 tasks: the three aggregates it ran before
//! the counts were kept (migration 0003) against the read of `task_counts` it runs now, and
//! `maestro status --json` end to end.
//!
//! Run: `cargo build --release -p maestro-cli && cargo bench --profile dev -p maestro-tests
//! --bench pg_status [-- <tasks>]` (default 100,000; `MAESTRO_BIN` for another binary).
//!
//! A fresh cluster of Debian's server (`synchronous_commit = off`, as the replicas bench);
//! `maestro init` makes the store, then one `INSERT … SELECT generate_series` adds the tasks
//! (the triggers keep `task_counts` as the store does; the same mix as
//! `benchmarks/status_queries.py`: every tenth completed, one in twenty in progress, a
//! quarter waiting on a dependency, priorities rotating). Both ways must give the same counts.
//! Each statement runs 15 times in one `psql` session (`\timing`, the server's round trip
//! without the process); the CLI 20 times (a process, a connection, the read). With a
//! `MAESTRO_BIN` from before migration 0003 only the CLI is measured (the rest would migrate).

use maestro_core::Maestro;
use maestro_tests::postgres::{Durability, Postgres};
use maestro_tests::{Sandbox, bench_bin};
use std::time::Instant;

const RUNS: usize = 15;

fn median_p90(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() * 9 / 10])
}

/// Median and p90 in ms of `sql` (with `$1` the project), as `psql`'s `\timing` reports it.
fn timed(pg: &Postgres, sql: &str, project: &str) -> (f64, f64) {
    let sql = sql.replace("$1", &format!("'{project}'"));
    let script = format!("\\timing on\n{}", format!("{sql};\n").repeat(RUNS));
    let mut child = std::process::Command::new(pg_bin("psql"))
        .args([
            "-X",
            "-q",
            "-t",
            "-A",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "maestro",
        ])
        .arg("-p")
        .arg(pg.port.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("psql");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let times: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Time: "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(times.len(), RUNS, "{text}");
    median_p90(times)
}

fn pg_bin(name: &str) -> std::path::PathBuf {
    maestro_tests::postgres::bin_dir().join(name)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return; // `cargo test --benches` probing
    }
    let n: usize = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let pg = Postgres::start_with(Durability::AsSqlite);
    let url = pg.create_database("maestro");
    let sb = Sandbox::with_bin(bench_bin());
    let init = sb.ok(&["--db", &url, "init", "--name", "bench"]);
    let project = init["project"]["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    pg.psql(
        "maestro",
        &format!(
            "INSERT INTO tasks (id, project_id, title, description, status, priority, priority_rank,
                 labels, created_at, updated_at, seq, open_deps)
             SELECT 't-' || lpad(i::text, 8, '0'), '{project}', 'task ' || i,
                 'What task ' || i || ' is about, in a sentence or two.',
                 CASE WHEN i % 10 = 0 THEN 'completed' WHEN i % 20 = 5 THEN 'in_progress'
                      ELSE 'pending' END,
                 (ARRAY['high', 'medium', 'low'])[i % 3 + 1], i % 3, '[\"bench\"]', 1, 1, i + 1,
                 CASE WHEN i % 4 = 3 THEN 1 ELSE 0 END
             FROM generate_series(0, {n} - 1) AS i;
             ANALYZE"
        ),
    );
    let seeded = started.elapsed();
    let counted = pg.psql("maestro", "SELECT to_regclass('task_counts') IS NOT NULL") == "t";
    println!(
        "PostgreSQL status at {n} tasks ({}; seeded in {:.1} s{})",
        sb.bin().display(),
        seeded.as_secs_f64(),
        if counted {
            " with the triggers"
        } else {
            "; a binary from before task_counts"
        }
    );
    // End to end: a process, a connection (no TLS), the read, the JSON.
    let cli = |args: &[&str]| {
        let mut v = Vec::new();
        for i in 0..22 {
            let t = Instant::now();
            let out = sb.command(args).output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            if i >= 2 {
                v.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        median_p90(v)
    };
    let (p50, p90) = cli(&["--db", &url, "status", "--json"]);
    println!("  maestro status --json: {p50:.2} ms p50, {p90:.2} ms p90");
    let (p50, p90) = cli(&["--version"]);
    println!("  maestro --version:     {p50:.2} ms p50, {p90:.2} ms p90");
    if !counted {
        return; // what follows would migrate the database to this code's schema
    }
    let before = [
        "SELECT status, COUNT(*) FROM tasks WHERE project_id = $1 GROUP BY status",
        "SELECT priority, COUNT(*) FROM tasks WHERE project_id = $1 GROUP BY priority",
        "SELECT COUNT(*) FROM tasks t WHERE t.project_id = $1 AND t.status = 'pending' AND t.open_deps = 0",
    ];
    let now = "SELECT status, priority, ready, n FROM task_counts WHERE project_id = $1 AND n <> 0";
    // Both ways count alike.
    let by = |col: &str, from_counts: bool| {
        let sql = if from_counts {
            format!(
                "SELECT string_agg(k || '=' || s, ',' ORDER BY k) FROM (SELECT {col} AS k, SUM(n) AS s
                 FROM task_counts WHERE project_id = '{project}' GROUP BY 1 HAVING SUM(n) <> 0) g"
            )
        } else {
            format!(
                "SELECT string_agg(k || '=' || s, ',' ORDER BY k) FROM (SELECT {col} AS k, COUNT(*) AS s
                 FROM tasks WHERE project_id = '{project}' GROUP BY 1) g"
            )
        };
        pg.psql("maestro", &sql)
    };
    for col in ["status", "priority"] {
        assert_eq!(by(col, true), by(col, false), "{col}");
    }
    let mut total = 0.0;
    for sql in before {
        let (p50, p90) = timed(&pg, sql, &project);
        total += p50;
        println!("  before: {p50:8.3} ms p50, {p90:8.3} ms p90  {sql}");
    }
    println!("  before, the three: {total:.3} ms p50");
    let (p50, p90) = timed(&pg, now, &project);
    println!("  now:    {p50:8.3} ms p50, {p90:8.3} ms p90  {now}");

    // In the process: a pooled connection, one read-only snapshot.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let m = Maestro::open(&url).unwrap();
        let report = m.status(Some(&project)).await.unwrap();
        assert_eq!(report.tasks.total, n as i64);
        let mut v = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            m.status(Some(&project)).await.unwrap();
            v.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let (p50, p90) = median_p90(v);
        println!("  Maestro::status in the process (pooled): {p50:.3} ms p50, {p90:.3} ms p90");
    });
}
