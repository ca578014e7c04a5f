//! The Rust side of the Node binding benchmark (bench/bench.mjs): the same calls through the
//! core facade on a multi-threaded tokio runtime (like the addon's), so the difference is the
//! binding's per-call overhead.
//!
//!   cargo bench -p maestro-node --bench facade

use maestro_core::{Maestro, NewTask, OpContext};
use std::time::{Duration, Instant};

const GETS: u32 = 20_000;
const CREATES: u32 = 10_000;

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
        let start = Instant::now();
        for _ in 0..GETS {
            m.get_task(&task.id).await?;
        }
        let get = start.elapsed() / GETS;

        let start = Instant::now();
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
        Ok::<(Duration, Duration), maestro_core::Error>((get, create))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let (get, create) = result?;
    println!(
        "rust facade getTask: {:.1} us/call ({GETS} sequential calls)",
        get.as_secs_f64() * 1e6
    );
    println!(
        "rust facade createTask x{CREATES}: {:.2} s ({:.1} us/call)",
        create.as_secs_f64(),
        create.as_secs_f64() * 1e6 / f64::from(CREATES)
    );
    Ok(())
}
