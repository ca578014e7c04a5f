//! The Rust side of the Node binding benchmark (bench/bench.mjs): the same calls through the
//! core facade on a multi-threaded tokio runtime (like the addon's), so the difference is the
//! binding's per-call overhead.
//!
//!   cargo bench -p maestro-node --bench facade

use maestro_core::{Maestro, NewTask, OpContext};
use std::time::{Duration, Instant};

const GETS: u32 = 20_000;
const CREATES: u32 = 10_000;

/// CPU time of this process (all threads) so far, on Linux; a busy machine inflates wall
/// time, not this.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux configuration Rust supports.
    Some(Duration::from_millis(ticks * 10))
}

fn per_call_us(d: Option<Duration>, n: u32) -> String {
    d.map_or("n/a".into(), |d| {
        format!("{:.1}", d.as_secs_f64() * 1e6 / f64::from(n))
    })
}

fn main() -> Result<(), maestro_core::Error> {
    let dir = std::env::temp_dir().join(format!("maestro-node-bench-{}", std::process::id()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = rt.block_on(async {
        let m = Maestro::open(dir.join("facade.db"))?;
        let op = OpContext::default();
        m.create_project(&op, "bench", true).await?;
        let task = m
            .create_task(
                &op,
                NewTask {
                    title: "Benchmark task".into(),
                    description: Some("A task with subtasks and a timeline".into()),
                    labels: vec!["bench".into()],
                    ..Default::default()
                },
            )
            .await?;
        for i in 0..2 {
            m.create_subtask(&op, &task.id, &format!("subtask {i}"), None)
                .await?;
        }
        for i in 0..3 {
            m.add_progress(&op, &task.id, &format!("progress {i}"))
                .await?;
        }
        for _ in 0..1_000 {
            m.get_task(&task.id).await?;
        }
        let (start, cpu) = (Instant::now(), cpu_time());
        for _ in 0..GETS {
            m.get_task(&task.id).await?;
        }
        let get = start.elapsed() / GETS;
        let get_cpu = cpu.zip(cpu_time()).map(|(a, b)| b.saturating_sub(a));

        let (start, cpu) = (Instant::now(), cpu_time());
        for i in 0..CREATES {
            m.create_task(
                &op,
                NewTask {
                    title: format!("task {i}"),
                    ..Default::default()
                },
            )
            .await?;
        }
        let create = start.elapsed();
        let create_cpu = cpu.zip(cpu_time()).map(|(a, b)| b.saturating_sub(a));
        Ok::<_, maestro_core::Error>((get, get_cpu, create, create_cpu))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let (get, get_cpu, create, create_cpu) = result?;
    println!(
        "rust facade getTask: {:.1} us/call wall, {} us/call cpu ({GETS} sequential calls)",
        get.as_secs_f64() * 1e6,
        per_call_us(get_cpu, GETS)
    );
    println!(
        "rust facade createTask x{CREATES}: {:.2} s wall ({:.1} us/call), {} us/call cpu",
        create.as_secs_f64(),
        create.as_secs_f64() * 1e6 / f64::from(CREATES),
        per_call_us(create_cpu, CREATES)
    );
    Ok(())
}
