//! `merge` (the merge queue) and `worktree` (list and gc of task worktrees).

use crate::cli::{MergeArgs, MergeCmd, WorktreeCmd};
use crate::context::Ctx;
use crate::output::{Style, table};
use maestro_core::host::worktrees::MergeRunner;
use maestro_core::worktree::{
    MergeOutcome, QueueEntry, QueueState, Settings, WorktreeRecord, Worktrees,
};
use maestro_core::{
    Error, MAX_LIMIT, Maestro, MergeEnqueue, MergeResult, ProjectQueue, Result, TaskFilter,
};
use serde_json::json;

pub async fn run(ctx: &mut Ctx, a: MergeArgs) -> Result<()> {
    let m = ctx.open(false)?;
    let project = ctx.project()?;
    if let Some(MergeCmd::Status) = a.command {
        return status(ctx, &m, project.as_deref()).await;
    }
    let settings = Settings::from_config(ctx.config()?)?;
    let op = ctx.op();
    let project_id = m.project(project.as_deref()).await?.id;
    let queued = match &a.task {
        Some(task) => Some(
            m.enqueue_merge(
                &op,
                MergeEnqueue {
                    task_id: task.clone(),
                    into: a.into.clone(),
                    configured_into: settings.into.clone(),
                    force: a.force,
                },
            )
            .await?,
        ),
        None => None,
    };
    let task_id = queued.as_ref().and_then(|q| {
        a.task.as_ref().and_then(|t| {
            q.queue
                .entries
                .iter()
                .rev()
                .find(|e| e.task_id.starts_with(t.as_str()))
                .map(|e| e.task_id.clone())
        })
    });
    // With a local store this process runs the queue; a server's queue is its host's.
    let runs = !a.no_run && !m.store().is_remote();
    let ran = if runs {
        MergeRunner::new(m.clone(), ctx.env.maestro_home(), settings)
            .run_pending(Some(&project_id))
            .await?
    } else {
        Vec::new()
    };
    let queues = m.merge_queues(Some(&project_id)).await?;
    let entry = task_id.as_deref().and_then(|t| {
        queues
            .iter()
            .find_map(|q| q.queue.get(t).map(|e| (q.queue.target.clone(), e.clone())))
    });
    let data = json!({
        "taskId": task_id,
        "entry": entry.as_ref().map(|(target, e)| json!({"target": target, "entry": e})),
        "ran": ran.iter().map(|r| json!({"taskId": r.task_id, "target": r.target, "result": r.result})).collect::<Vec<_>>(),
        "queues": queues,
    });
    ctx.out.success(&data, |st| {
        let mut lines: Vec<String> = ran
            .iter()
            .map(|r| describe(&r.task_id, &r.target, &r.result))
            .collect();
        match &entry {
            Some((target, e)) if e.state.is_pending() => lines.push(format!(
                "{} waits in the queue of {target}: {}{}",
                e.task_id,
                state_text(&e.state),
                if runs {
                    ""
                } else {
                    " (a running host merges it: maestro host)"
                }
            )),
            Some(_) => {}
            None if ran.is_empty() => lines.push(st.ok("Nothing to merge")),
            None => {}
        }
        lines.join("\n")
    });
    Ok(())
}

/// One line on a merge the queue ran.
pub fn describe(task_id: &str, target: &str, result: &MergeResult) -> String {
    match result {
        MergeResult::Outcome { outcome } => match outcome {
            MergeOutcome::Merged {
                commit, up_to_date, ..
            } => format!(
                "{task_id} merged into {target} at {}{}",
                short(commit),
                if *up_to_date { " (already there)" } else { "" }
            ),
            MergeOutcome::Conflict { paths, .. } => format!(
                "{task_id} conflicts with {target} in {}: blocked (merge_conflict), a subtask says what to resolve",
                paths.join(", ")
            ),
            MergeOutcome::GateFailed { tail, .. } => format!(
                "{task_id} fails the gate on {target}: blocked (gate_failed)\n{}",
                tail.lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            MergeOutcome::Waiting { reason, .. } => {
                format!("{task_id} waits to merge into {target}: {reason}")
            }
        },
        MergeResult::Error { code, message } => {
            format!("{task_id} could not be merged into {target} ({code}): {message}")
        }
        MergeResult::Requeue => format!("{task_id} is back in the queue of {target}"),
    }
}

fn short(c: &str) -> &str {
    &c[..c.len().min(12)]
}

fn state_text(s: &QueueState) -> String {
    match s {
        QueueState::Queued => "queued".into(),
        QueueState::Merging => "merging".into(),
        QueueState::Waiting { reason } => format!("waiting: {reason}"),
        QueueState::Merged { commit } => format!("merged at {}", short(commit)),
        QueueState::Conflict { paths } => format!("conflict in {}", paths.join(", ")),
        QueueState::GateFailed { .. } => "gate failed".into(),
        QueueState::Failed { code, message } => format!("failed ({code}): {message}"),
    }
}

fn queue_rows(queues: &[ProjectQueue]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for q in queues {
        for (i, e) in q.queue.entries.iter().enumerate() {
            rows.push(entry_row(&q.queue.target, i + 1, e));
        }
    }
    rows
}

fn entry_row(target: &str, pos: usize, e: &QueueEntry) -> Vec<String> {
    vec![
        target.to_string(),
        pos.to_string(),
        e.task_id.clone(),
        e.branch.clone(),
        state_text(&e.state),
    ]
}

async fn status(ctx: &mut Ctx, m: &Maestro, project: Option<&str>) -> Result<()> {
    let project_id = m.project(project).await?.id;
    let queues = m.merge_queues(Some(&project_id)).await?;
    ctx.out.success(&queues, |st: &Style| {
        let rows = queue_rows(&queues);
        if rows.is_empty() {
            return "No merges queued (maestro merge <task> queues one)".into();
        }
        table(st, &["TARGET", "#", "TASK", "BRANCH", "STATE"], &rows)
    });
    Ok(())
}

/// What the store records of task worktrees, and the store's projects.
async fn records(m: &Maestro) -> Result<(Vec<WorktreeRecord>, Vec<String>)> {
    let projects: Vec<String> = m.list_projects().await?.into_iter().map(|p| p.id).collect();
    let mut records = Vec::new();
    for p in &projects {
        let mut cursor = None;
        loop {
            let page = m
                .list_tasks(TaskFilter {
                    project_id: Some(p.clone()),
                    limit: Some(MAX_LIMIT),
                    cursor,
                    ..Default::default()
                })
                .await?;
            for t in page.items {
                if let Some(wt) = t.worktree {
                    records.push(WorktreeRecord {
                        task_id: t.id,
                        project_id: t.project_id,
                        path: wt.path.into(),
                        branch: wt.branch,
                        merged_head: wt.merged_head,
                        deleted: false,
                    });
                }
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
    }
    Ok((records, projects))
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

pub async fn worktree(ctx: &mut Ctx, c: WorktreeCmd) -> Result<()> {
    let m = ctx.open(false)?;
    let (records, projects) = records(&m).await?;
    let home = ctx.env.maestro_home();
    let blocking = |f: Box<dyn FnOnce(Worktrees) -> Result<serde_json::Value> + Send>| {
        let home = home.clone();
        async move {
            tokio::task::spawn_blocking(move || f(Worktrees::open(&home)?))
                .await
                .map_err(|e| Error::internal(format!("the git thread failed: {e}")))?
        }
    };
    match c {
        WorktreeCmd::List => {
            let infos = blocking(Box::new(move |w| {
                Ok(serde_json::to_value(w.list(&records, &projects)?)?)
            }))
            .await?;
            let list: Vec<maestro_core::worktree::WorktreeInfo> = serde_json::from_value(infos)?;
            ctx.out.success(&list, |st| {
                if list.is_empty() {
                    return "No worktrees (a worker spawned in a git repository gets one)".into();
                }
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|w| {
                        vec![
                            w.task_id.clone().unwrap_or_else(|| "-".into()),
                            w.branch.clone().unwrap_or_else(|| "-".into()),
                            w.state.as_str().to_string(),
                            size(w.size_bytes),
                            w.changes.to_string(),
                            w.path.display().to_string(),
                        ]
                    })
                    .collect();
                table(
                    st,
                    &["TASK", "BRANCH", "STATE", "SIZE", "CHANGES", "PATH"],
                    &rows,
                )
            });
        }
        WorktreeCmd::Gc { dry_run } => {
            let out = blocking(Box::new(move |w| {
                let plan = w.gc(&records, &projects)?;
                if dry_run {
                    return Ok(
                        json!({ "dryRun": true, "actions": plan.actions, "kept": plan.kept }),
                    );
                }
                let results = w.apply_gc(&plan);
                Ok(json!({ "dryRun": false, "actions": results, "kept": plan.kept }))
            }))
            .await?;
            ctx.out.success(&out, |st| {
                let mut lines = Vec::new();
                let verb = if dry_run { "would remove" } else { "removed" };
                for a in out["actions"].as_array().into_iter().flatten() {
                    let (action, error) = if dry_run {
                        (a, None)
                    } else {
                        (&a["action"], a["error"].as_str())
                    };
                    let what = match action["action"].as_str() {
                        Some("remove_worktree") => {
                            format!("worktree {}", action["path"].as_str().unwrap_or(""))
                        }
                        Some("prune_worktree") => {
                            format!("git's record of {}", action["path"].as_str().unwrap_or(""))
                        }
                        Some("delete_branch") => {
                            format!("branch {}", action["branch"].as_str().unwrap_or(""))
                        }
                        _ => action.to_string(),
                    };
                    lines.push(match error {
                        Some(e) => format!("✗ {what}: {e}"),
                        None => format!(
                            "{verb} {what} (task {})",
                            action["taskId"].as_str().unwrap_or("")
                        ),
                    });
                }
                for k in out["kept"].as_array().into_iter().flatten() {
                    lines.push(st.dim(&format!(
                        "kept {}: {}",
                        k["path"].as_str().unwrap_or(""),
                        k["reason"].as_str().unwrap_or("")
                    )));
                }
                if lines.is_empty() {
                    lines.push(st.ok("Nothing to clean up"));
                }
                lines.join("\n")
            });
        }
    }
    Ok(())
}
