//! Benchmarks of the core store: `cargo bench -p maestro-core --bench core`.
//!
//! Every scenario runs on a file-backed SQLite store in WAL mode (the default), through
//! the `Maestro` facade, on a current-thread runtime (as the CLI runs it). Targets:
//! the ready queue over 10,000 tasks and 20,000 dependency edges in at most 20 ms, one
//! claim in at most 1 ms, 10,000 task inserts in at most 1 s.
//!
//! `MAESTRO_BENCH_TASKS` scales the graph down for a quick run (default 10,000).

use maestro_core::*;
use std::future::Future;
use std::time::{Duration, Instant};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// A deterministic pseudo-random sequence (64-bit LCG), so every run builds the same graph.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// CPU time of the calling thread (Linux), to tell work from waiting on a busy machine.
fn cpu_time() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

struct Stats {
    samples: Vec<Duration>,
    /// CPU time of the benchmark thread per sample, when the platform tells it.
    cpu: Vec<Duration>,
}

impl Stats {
    fn new(mut samples: Vec<Duration>, mut cpu: Vec<Duration>) -> Self {
        samples.sort();
        cpu.sort();
        Self { samples, cpu }
    }
    fn cpu_median(&self) -> Option<Duration> {
        (!self.cpu.is_empty()).then(|| self.cpu[self.cpu.len() / 2])
    }
    fn pct(&self, p: f64) -> Duration {
        let i = ((self.samples.len() - 1) as f64 * p).round() as usize;
        self.samples[i]
    }
    fn median(&self) -> Duration {
        self.pct(0.5)
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn verdict(value: Duration, target: Duration) -> &'static str {
    if value <= target { "ok" } else { "MISSED" }
}

fn report(name: &str, stats: &Stats, target: Option<Duration>) {
    let n = stats.samples.len();
    let cpu = stats
        .cpu_median()
        .map_or(String::new(), |c| format!("  cpu median {:>11}", ms(c)));
    let line = format!(
        "{name:<48} n={n:<4} median {:>11}  p95 {:>11}  min {:>11}  max {:>11}{cpu}",
        ms(stats.median()),
        ms(stats.pct(0.95)),
        ms(stats.samples[0]),
        ms(stats.samples[n - 1]),
    );
    match target {
        Some(t) => println!("{line}  target {} ({})", ms(t), verdict(stats.median(), t)),
        None => println!("{line}"),
    }
}

/// Times `iters` runs of `f`.
fn time<F, Fut, T>(rt: &tokio::runtime::Runtime, iters: usize, mut f: F) -> Stats
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    // The kernel updates a thread's CPU time at scheduler ticks (milliseconds), too
    // coarse for one call: only long runs report it.
    let samples = (0..iters)
        .map(|i| {
            let start = Instant::now();
            rt.block_on(f(i)).expect("benchmarked call failed");
            start.elapsed()
        })
        .collect();
    Stats::new(samples, Vec::new())
}

fn fresh_store(dir: &tempfile::TempDir, name: &str) -> Maestro {
    let m = Maestro::open(dir.path().join(name)).expect("open store");
    rt().block_on(m.create_project(&OpContext::default(), "bench", true))
        .expect("project");
    m
}

/// Inserts `n` tasks into a fresh store, `batch` per call (`None`: `create_task` each);
/// three rounds.
fn bench_inserts(dir: &tempfile::TempDir, n: usize, batch: Option<usize>) {
    let rt = rt();
    let (mut totals, mut cpus) = (Vec::new(), Vec::new());
    let new = |i: usize| NewTask {
        title: format!("task {i}"),
        labels: vec!["bench".into()],
        ..Default::default()
    };
    for round in 0..3 {
        let m = fresh_store(dir, &format!("inserts-{batch:?}-{round}.db"));
        let op = OpContext::default();
        let (start, cpu_start) = (Instant::now(), cpu_time());
        rt.block_on(async {
            match batch {
                None => {
                    for i in 0..n {
                        m.create_task(&op, new(i)).await.expect("insert");
                    }
                }
                Some(size) => {
                    for first in (0..n).step_by(size) {
                        let chunk = (first..(first + size).min(n)).map(new).collect();
                        m.create_tasks(&op, chunk).await.expect("insert");
                    }
                }
            }
        });
        totals.push(start.elapsed());
        if let (Some(a), Some(b)) = (cpu_start, cpu_time()) {
            cpus.push(b - a);
        }
    }
    let name = match batch {
        None => format!("{n} task inserts (create_task, one tx each)"),
        Some(size) => format!("{n} task inserts (create_tasks, {size} per tx)"),
    };
    report(
        &name,
        &Stats::new(totals, cpus),
        Some(Duration::from_secs(1)),
    );
}

/// `n` tasks, each (but the first two) depending on two distinct earlier tasks drawn
/// uniformly: 2n - 3 edges. The oldest 40% are completed, 5% of the rest in progress.
fn build_graph(m: &Maestro, n: usize) -> Vec<String> {
    let rt = rt();
    let op = OpContext::default();
    let mut rng = Lcg(0x5eed);
    let mut ids: Vec<String> = Vec::with_capacity(n);
    let start = Instant::now();
    rt.block_on(async {
        for i in 0..n {
            let mut deps = Vec::new();
            if i >= 2 {
                let a = rng.below(i);
                let mut b = rng.below(i);
                while b == a {
                    b = rng.below(i);
                }
                deps = vec![ids[a].clone(), ids[b].clone()];
            }
            let t = m
                .create_task(
                    &op,
                    NewTask {
                        title: format!("task {i}"),
                        priority: Some(Priority::ALL[rng.below(3)]),
                        depends_on: deps,
                        ..Default::default()
                    },
                )
                .await
                .expect("create");
            ids.push(t.id);
        }
    });
    let built = start.elapsed();
    let edges = 2 * n.saturating_sub(2);
    println!(
        "{:<44} {} ({} tasks, {} edges, one create_task each)",
        "graph build",
        ms(built),
        n,
        edges
    );
    let start = Instant::now();
    let completed = n * 4 / 10;
    rt.block_on(async {
        for id in &ids[..completed] {
            m.start_task(&op, id, false).await.expect("start");
            m.complete_task(&op, id, false).await.expect("complete");
        }
        for id in ids[completed..].iter().step_by(20) {
            m.start_task(&op, id, true).await.expect("start");
        }
    });
    println!(
        "{:<44} {}",
        "status updates (start+complete 40%)",
        ms(start.elapsed())
    );
    ids
}

fn bench_ready_and_claims(dir: &tempfile::TempDir, n: usize) {
    let m = fresh_store(dir, "graph.db");
    let ids = build_graph(&m, n);
    let rt = rt();
    let status = rt.block_on(m.status(None)).expect("status");
    println!(
        "graph state: {} tasks, {} ready, by status {}",
        status.tasks.total,
        status.tasks.ready,
        serde_json::Value::Object(status.tasks.by_status.clone())
    );
    let target = Some(Duration::from_millis(20));
    report(
        "ready queue: ready_tasks (default page, 100)",
        &time(&rt, 200, |_| m.ready_tasks(None, None)),
        target,
    );
    report(
        "ready queue: ready_tasks (max page, 1000)",
        &time(&rt, 100, |_| m.ready_tasks(None, Some(MAX_LIMIT))),
        target,
    );
    report(
        "ready queue: list_tasks --ready (1000)",
        &time(&rt, 100, |_| {
            m.list_tasks(TaskFilter {
                ready: true,
                limit: Some(MAX_LIMIT),
                ..Default::default()
            })
        }),
        target,
    );
    report(
        "ready queue: status (counts the whole queue)",
        &time(&rt, 100, |_| m.status(None)),
        target,
    );
    report(
        "get_task (detail with dependents, timeline)",
        &time(&rt, 200, |i| m.get_task(&ids[(i * 37) % ids.len()])),
        None,
    );

    let op = OpContext::default();
    let sessions: Vec<Session> = rt.block_on(async {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(
                m.register_session(
                    &op,
                    NewSession {
                        name: Some(format!("claimer {i}")),
                        ..Default::default()
                    },
                )
                .await
                .expect("session"),
            );
        }
        v
    });
    let sops: Vec<OpContext> = sessions
        .iter()
        .map(|s| OpContext::session(Some(s.id.clone())))
        .collect();
    let claim = Some(Duration::from_millis(1));
    report(
        "claim_next (one claim, 4 sessions)",
        &time(&rt, 200, |i| {
            let k = i % sessions.len();
            m.claim_next(&sops[k], None, &sessions[k].id)
        }),
        claim,
    );
    let ready: Vec<String> = rt
        .block_on(m.ready_tasks(None, Some(200)))
        .expect("ready")
        .into_iter()
        .map(|t| t.id)
        .collect();
    report(
        "claim_task by id",
        &time(&rt, ready.len(), |i| {
            let k = i % sessions.len();
            m.claim_task(&sops[k], &ready[i], &sessions[k].id)
        }),
        claim,
    );
    // The worst case of the old ready condition: thousands of pending high-priority tasks
    // that are all blocked, ahead of the ready ones in priority order.
    let gate = rt
        .block_on(m.create_task(
            &op,
            NewTask {
                title: "gate".into(),
                ..Default::default()
            },
        ))
        .expect("gate");
    let blocked = n / 2;
    let wall: Vec<NewTask> = (0..blocked)
        .map(|i| NewTask {
            title: format!("blocked {i}"),
            priority: Some(Priority::High),
            depends_on: vec![gate.id.clone()],
            ..Default::default()
        })
        .collect();
    rt.block_on(m.create_tasks(&op, wall))
        .expect("blocked tasks");
    report(
        &format!("claim_next behind {blocked} blocked high tasks"),
        &time(&rt, 100, |i| {
            let k = i % sessions.len();
            m.claim_next(&sops[k], None, &sessions[k].id)
        }),
        claim,
    );
    report(
        "ready_tasks (default page), same graph",
        &time(&rt, 100, |_| m.ready_tasks(None, None)),
        target,
    );
    report(
        "add_progress",
        &time(&rt, 200, |i| {
            m.add_progress(&op, &ready[i % ready.len()], "step")
        }),
        None,
    );
}

fn main() {
    let n: usize = std::env::var("MAESTRO_BENCH_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    println!(
        "maestro-core store benchmarks: file-backed SQLite (WAL), {} cores available",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let only = std::env::var("MAESTRO_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "inserts" {
        bench_inserts(&dir, n, None);
        bench_inserts(&dir, n, Some(100));
        bench_inserts(&dir, n, Some(n));
    }
    if only.is_empty() || only == "graph" {
        bench_ready_and_claims(&dir, n);
    }
    if only.is_empty() || only == "hot" {
        bench_hot_paths(&dir);
    }
}

/// Average wall and CPU time per call over `iters` calls of `f` (one thread).
fn per_call<F, Fut, T>(rt: &tokio::runtime::Runtime, name: &str, iters: usize, mut f: F)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let (start, cpu_start) = (Instant::now(), cpu_time());
    rt.block_on(async {
        for i in 0..iters {
            f(i).await.expect("benchmarked call failed");
        }
    });
    let wall = start.elapsed() / iters as u32;
    let cpu = match (cpu_start, cpu_time()) {
        (Some(a), Some(b)) => format!(
            "  cpu {:>8.1} µs",
            (b - a).as_secs_f64() * 1e6 / iters as f64
        ),
        _ => String::new(),
    };
    println!(
        "{name:<48} n={iters:<6} wall {:>8.1} µs{cpu}",
        wall.as_secs_f64() * 1e6
    );
}

/// The calls behind the server's hot routes, as the load generator shapes its data: 1,000
/// tasks with a description and a label (each after the second depending on two earlier
/// ones), detail reads serialized to JSON, single creates and updates.
fn bench_hot_paths(dir: &tempfile::TempDir) {
    let m = fresh_store(dir, "hot.db");
    let rt = rt();
    let op = OpContext::default();
    let mut ids: Vec<String> = Vec::new();
    rt.block_on(async {
        for i in 0..1000 {
            let deps = if i >= 2 {
                vec![ids[i / 2].clone(), ids[i - 1].clone()]
            } else {
                Vec::new()
            };
            let t = m
                .create_task(
                    &op,
                    NewTask {
                        title: format!("task {i}"),
                        description: Some(format!("description of task {i}")),
                        labels: vec!["load".into()],
                        depends_on: deps,
                        ..Default::default()
                    },
                )
                .await
                .expect("create");
            ids.push(t.id);
        }
    });
    per_call(&rt, "hot: get_task + JSON (detail)", 20_000, |i| {
        let m = &m;
        let id = &ids[(i * 37) % ids.len()];
        async move {
            let d = m.get_task(id).await?;
            Ok(serde_json::to_vec(&d).expect("json").len())
        }
    });
    per_call(&rt, "hot: create_task + JSON", 3_000, |i| {
        let (m, op) = (&m, &op);
        async move {
            let t = m
                .create_task(
                    op,
                    NewTask {
                        title: format!("new {i}"),
                        description: Some("created by the bench".into()),
                        labels: vec!["load".into()],
                        ..Default::default()
                    },
                )
                .await?;
            Ok(serde_json::to_vec(&t).expect("json").len())
        }
    });
    per_call(&rt, "hot: update_task (title) + JSON", 3_000, |i| {
        let (m, op) = (&m, &op);
        let id = &ids[(i * 37) % ids.len()];
        async move {
            let t = m
                .update_task(
                    op,
                    id,
                    TaskPatch {
                        title: Some(format!("renamed {i}")),
                        ..Default::default()
                    },
                )
                .await?;
            Ok(serde_json::to_vec(&t).expect("json").len())
        }
    });
}
