//! `demo`: a newcomer's first run. A temporary project with six dependent tasks; an
//! orchestrator spawns a worker for every ready task; an in-process host launches scripted
//! workers that use only maestro commands; progress bars show the work as it happens.

use crate::cli::DemoArgs;
use crate::context::Ctx;
use crate::output::{Style, status_icon, terminal_safe, truncate};
use maestro_core::host::plan::{AgentProfile, StoreContext};
use maestro_core::host::{Host, HostControl, HostOptions};
use maestro_core::{
    Code, Error, Maestro, NewSession, NewTask, OpContext, Priority, Result, Role, SessionFilter,
    SessionStatus, Task, TaskFilter, TaskStatus,
};
use serde_json::json;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The bundled scripted worker.
const WORKER_SCRIPT: &str = include_str!("demo/worker.sh");
/// The demo gives up after this long.
const DEADLINE: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_millis(100);
/// Subtasks each scripted worker creates.
const STEPS: usize = 3;

/// The plan: title, description, priority, indexes of dependencies.
const PLAN: &[(&str, &str, Priority, &[usize])] = &[
    (
        "Design the data model",
        "Tables for users and orders",
        Priority::High,
        &[],
    ),
    (
        "Write the storage layer",
        "CRUD over the data model",
        Priority::High,
        &[0],
    ),
    (
        "Build the HTTP API",
        "REST endpoints",
        Priority::Medium,
        &[1],
    ),
    (
        "Write the CLI client",
        "Commands over the API",
        Priority::Medium,
        &[1],
    ),
    (
        "Write end-to-end tests",
        "API and CLI together",
        Priority::Medium,
        &[2, 3],
    ),
    (
        "Write the user guide",
        "From the data model up",
        Priority::Low,
        &[0],
    ),
];

/// The temporary folder, removed on drop unless kept.
struct Workdir {
    path: PathBuf,
    keep: bool,
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn workdir(keep: bool) -> Result<Workdir> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let path =
        std::env::temp_dir().join(format!("maestro-demo-{}-{nanos:08x}", std::process::id()));
    std::fs::create_dir_all(&path).map_err(|e| {
        Error::storage(format!("cannot create {}: {e}", path.display()))
            .with_suggestion("Set TMPDIR to a writable folder")
    })?;
    Ok(Workdir { path, keep })
}

pub async fn run(ctx: &mut Ctx, a: DemoArgs) -> Result<()> {
    if a.workers == 0 {
        return Err(Error::invalid_argument("--workers must be at least 1"));
    }
    let dir = workdir(a.keep)?;
    let db = dir.path.join("maestro.db");
    let exe = std::env::current_exe()
        .map_err(|e| Error::internal(format!("cannot find the maestro executable: {e}")))?;
    let script = dir.path.join("worker.sh");
    std::fs::write(&script, WORKER_SCRIPT)
        .map_err(|e| Error::storage(format!("cannot write {}: {e}", script.display())))?;

    let m = Maestro::open(&db)?;
    let op = OpContext::default();
    let project = m.create_project(&op, "maestro demo", true).await?;
    let mut ids: Vec<String> = Vec::new();
    for (title, desc, priority, deps) in PLAN {
        let t = m
            .create_task(
                &op,
                NewTask {
                    title: title.to_string(),
                    description: Some(desc.to_string()),
                    priority: Some(*priority),
                    depends_on: deps.iter().map(|i| ids[*i].clone()).collect(),
                    ..Default::default()
                },
            )
            .await?;
        ids.push(t.id);
    }

    let mut opts = HostOptions::new(dir.path.clone(), StoreContext::Local { db: db.clone() });
    opts.profiles.insert(AgentProfile {
        env: [
            ("MAESTRO_BIN".to_string(), exe.display().to_string()),
            (
                "MAESTRO_DEMO_STEP".to_string(),
                format!("{:.3}", a.step_ms as f64 / 1000.0),
            ),
            ("MAESTRO_JSON".to_string(), "0".to_string()),
        ]
        .into(),
        ..AgentProfile::process("scripted", vec!["sh".into(), script.display().to_string()])
    });
    opts.default_agent = "scripted".into();
    opts.max_concurrent = a.workers;
    opts.path_prefix = exe.parent().map(Path::to_path_buf);

    let out = ctx.out;
    let live = !out.json && !out.quiet && std::io::stdout().is_terminal();
    let style = Style {
        color: out.color,
        quiet: out.quiet,
    };
    if !out.json && !out.quiet {
        crate::output::print_line(&format!(
            "{}\n",
            style.bold(&format!(
                "Maestro demo: {} tasks with dependencies, scripted workers ({} at a time)",
                PLAN.len(),
                a.workers
            ))
        ));
    }

    let started = Instant::now();
    let (control, rx) = tokio::sync::watch::channel(HostControl::Run);
    let host = Host::new(Maestro::open(&db)?, opts);
    let orchestrate = async {
        let r = orchestrate(&m, &project.id, live, &style, out.json || out.quiet).await;
        let _ = control.send(HostControl::Drain);
        r
    };
    let (host_result, orchestrated) = tokio::join!(host.run(rx), orchestrate);
    let summary = host_result?;
    let tasks = orchestrated?;
    let elapsed = started.elapsed();

    let sessions = m
        .list_sessions(SessionFilter {
            project_id: Some(project.id.clone()),
            ..Default::default()
        })
        .await?
        .items;
    let workers: Vec<_> = sessions.iter().filter(|s| s.role == Role::Worker).collect();
    let completed_sessions = workers
        .iter()
        .filter(|s| s.status == SessionStatus::Completed)
        .count();
    let events = m.latest_seq().await?;
    let done = tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Completed)
        .count();
    let data = json!({
        "projectId": project.id,
        "dir": dir.path.display().to_string(),
        "kept": a.keep,
        "elapsedMs": elapsed.as_millis() as u64,
        "tasks": tasks.iter().map(|t| json!({"id": t.id, "title": t.title, "status": t.status, "sessionIds": t.session_ids})).collect::<Vec<_>>(),
        "sessions": workers.iter().map(|s| json!({"id": s.id, "status": s.status, "taskIds": s.task_ids, "pid": s.pid, "exitCode": s.exit_code})).collect::<Vec<_>>(),
        "launched": summary.launched,
        "events": events,
    });
    ctx.out.success(&data, |s| {
        let mut text = format!(
            "\n{}\n  {} worker sessions ({} completed), {} events in the durable log.",
            s.ok(&format!(
                "{done}/{} tasks completed in {:.1} s",
                tasks.len(),
                elapsed.as_secs_f64()
            )),
            workers.len(),
            completed_sessions,
            events
        );
        if a.keep {
            text.push_str(&format!(
                "\n\nExplore it:\n  export MAESTRO_DB={} MAESTRO_HOME={}\n  maestro status\n  maestro task get {} \n  maestro session list\n  maestro session logs {}",
                db.display(),
                dir.path.display(),
                tasks.last().map(|t| t.id.as_str()).unwrap_or(""),
                workers.first().map(|w| w.id.as_str()).unwrap_or("")
            ));
        } else {
            text.push_str("\n\nRun 'maestro demo --keep' to explore the result, or start your own:\n  maestro init --name my-project\n  maestro host &\n  maestro session spawn --task <id>");
        }
        text
    });
    if done != tasks.len() {
        return Err(Error::new(
            Code::InternalError,
            format!("Only {done} of {} demo tasks completed", tasks.len()),
        ));
    }
    Ok(())
}

/// The orchestrator: spawns a worker for every ready task (again if its worker died) and
/// draws the progress until every task is completed.
async fn orchestrate(
    m: &Maestro,
    project: &str,
    live: bool,
    style: &Style,
    silent: bool,
) -> Result<Vec<Task>> {
    let me = m
        .register_session(
            &OpContext::default(),
            NewSession {
                project_id: Some(project.to_string()),
                name: Some("demo-orchestrator".into()),
                role: Some(Role::Orchestrator),
                ..Default::default()
            },
        )
        .await?;
    let op = OpContext::session(Some(me.id.clone()));
    let deadline = Instant::now() + DEADLINE;
    let mut workers: HashMap<String, String> = HashMap::new();
    let mut shown: HashMap<String, TaskStatus> = HashMap::new();
    let mut drawn = 0usize;
    loop {
        for t in m.ready_tasks(Some(project), None).await? {
            let alive = match workers.get(&t.id) {
                Some(s) => !m.get_session(s).await?.status.is_terminal(),
                None => false,
            };
            if !alive {
                let s = m
                    .spawn_session(
                        &op,
                        NewSession {
                            project_id: Some(project.to_string()),
                            task_ids: vec![t.id.clone()],
                            skill: Some("maestro-worker".into()),
                            agent: Some("scripted".into()),
                            ..Default::default()
                        },
                    )
                    .await?;
                workers.insert(t.id.clone(), s.id);
            }
        }
        let tasks = m
            .list_tasks(TaskFilter {
                project_id: Some(project.to_string()),
                ..Default::default()
            })
            .await?
            .items;
        let mut lines = Vec::with_capacity(tasks.len());
        for t in &tasks {
            let done = m
                .list_subtasks(&t.id)
                .await?
                .iter()
                .filter(|s| s.completed)
                .count();
            lines.push(progress_line(style, t, done, workers.get(&t.id)));
            if !live && !silent && shown.get(&t.id) != Some(&t.status) {
                shown.insert(t.id.clone(), t.status);
                if t.status != TaskStatus::Pending {
                    crate::output::print_line(&progress_line(style, t, done, workers.get(&t.id)));
                }
            }
        }
        if live {
            let mut stdout = std::io::stdout().lock();
            if drawn > 0 {
                let _ = write!(stdout, "\x1b[{drawn}A");
            }
            for l in &lines {
                let _ = writeln!(stdout, "\x1b[2K{}", terminal_safe(l));
            }
            let _ = stdout.flush();
            drawn = lines.len();
        }
        if tasks.iter().all(|t| t.status == TaskStatus::Completed) {
            m.end_session(&op, &me.id, None).await?;
            return Ok(tasks);
        }
        if Instant::now() > deadline {
            m.end_session(&op, &me.id, Some(SessionStatus::Failed))
                .await?;
            return Err(Error::new(
                Code::Timeout,
                format!("The demo did not finish within {} s", DEADLINE.as_secs()),
            )
            .with_suggestion("Run 'maestro demo --keep' and look at 'maestro session logs <id>'"));
        }
        tokio::time::sleep(TICK).await;
    }
}

fn progress_line(style: &Style, t: &Task, done: usize, worker: Option<&String>) -> String {
    let filled = match t.status {
        TaskStatus::Completed => 10,
        _ => (done.min(STEPS) * 10) / STEPS,
    };
    let bar = format!("{}{}", "█".repeat(filled), "░".repeat(10 - filled));
    let bar = match t.status {
        TaskStatus::Completed => style.green(&bar),
        TaskStatus::InProgress => style.yellow(&bar),
        _ => style.dim(&bar),
    };
    let status = format!("{} {}", status_icon(t.status), t.status);
    let who = worker.map(|w| style.dim(w)).unwrap_or_default();
    format!(
        "  {} {:<26} {bar} {done}/{STEPS}  {:<14} {who}",
        style.cyan(&t.id),
        truncate(&t.title, 26),
        status
    )
}
