//! `task …` and `update`.

use super::json_object;
use crate::cli::{TaskCmd, TaskCreateArgs, TaskListArgs, TaskUpdateArgs};
use crate::context::Ctx;
use crate::output::{Style, clean, relative, table, task_line, task_table};
use maestro_core::{
    ClaimRequest, NewTask, Result, StatusAction, StatusChange, Task, TaskDetail, TaskFilter,
    TaskPatch, TimelineEntry, TimelineQuery,
};
use serde_json::json;

pub async fn run(ctx: &mut Ctx, cmd: TaskCmd) -> Result<()> {
    let project = ctx.project()?;
    let m = ctx.open(false)?;
    let op = ctx.op();
    match cmd {
        TaskCmd::List(a) => {
            let page = m.list_tasks_as(&op, filter(a, project)).await?;
            ctx.out.page(&page, |s| {
                if page.items.is_empty() && !s.quiet {
                    "No tasks match — create one with: maestro task create \"<title>\"".into()
                } else {
                    task_table(s, &page.items)
                }
            });
        }
        TaskCmd::Get { id } => {
            let d = m.get_task_as(&op, &id).await?;
            ctx.out.success(&d, |s| detail(s, &d));
        }
        TaskCmd::Timeline { id, limit, cursor } => {
            let page = m.timeline(&id, TimelineQuery { limit, cursor }).await?;
            ctx.out.page(&page, |s| {
                if page.items.is_empty() {
                    return "No timeline entries on this page".into();
                }
                page.items
                    .iter()
                    .map(|e| timeline_row(s, e))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        TaskCmd::Create(a) => {
            let new = new_task(a, project)?;
            let t = m.create_task(&op, new).await?;
            confirm(ctx, &t, "Created");
        }
        TaskCmd::Update(a) => {
            let (id, patch) = patch(a)?;
            let t = m.update_task(&op, &id, patch).await?;
            confirm(ctx, &t, "Updated");
        }
        TaskCmd::Start(a) => {
            let id = ctx
                .default_task(&m, a.id.as_deref(), "maestro task start <id>")
                .await?;
            let t = m.start_task(&op, &id, a.force).await?;
            confirm(ctx, &t, "Started");
        }
        TaskCmd::Complete(a) => {
            let id = ctx
                .default_task(&m, a.id.as_deref(), "maestro task complete <id>")
                .await?;
            let t = m.complete_task(&op, &id, a.force).await?;
            // Done with items of its checklist still open: said, not refused.
            let open: Vec<String> = m
                .get_task(&t.id)
                .await
                .map(|d| d.subtasks)
                .unwrap_or_default()
                .into_iter()
                .filter(|s| !s.completed)
                .map(|s| s.id)
                .collect();
            let warnings: Vec<String> = if open.is_empty() {
                Vec::new()
            } else {
                vec![format!(
                    "{} still open ({}); see them with 'maestro subtask list {}'",
                    crate::output::plural(open.len(), "subtask is", "subtasks are"),
                    open.join(", "),
                    t.id
                )]
            };
            ctx.out.success_warned(&t, &warnings, |s| {
                if s.quiet {
                    t.id.clone()
                } else {
                    s.ok(&format!("Completed {}", task_line(s, &t)))
                }
            });
        }
        TaskCmd::Reopen { id } => {
            let t = m.reopen_task(&op, &id).await?;
            confirm(ctx, &t, "Reopened");
        }
        TaskCmd::Cancel { id } => {
            let t = m.cancel_task(&op, &id).await?;
            confirm(ctx, &t, "Cancelled");
        }
        TaskCmd::Delete { id } => {
            let t = m.delete_task(&op, &id).await?;
            ctx.out
                .success(&json!({ "id": t.id, "deleted": true }), |s| {
                    if s.quiet {
                        t.id.clone()
                    } else {
                        s.ok(&format!("Deleted {} {}", s.cyan(&t.id), t.title))
                    }
                });
        }
        TaskCmd::Block(a) => {
            let change = StatusChange {
                force: a.force,
                ..StatusChange::new(StatusAction::Block { reason: a.reason })
            };
            let t = m.change_status(&op, &a.id, change).await?;
            confirm(ctx, &t, "Blocked");
        }
        TaskCmd::Ready { limit } => {
            let tasks = m.ready_tasks_as(&op, project.as_deref(), limit).await?;
            ctx.out.success(&tasks, |s| {
                if tasks.is_empty() && !s.quiet {
                    "Nothing is ready — see pending work with: maestro task list --status pending"
                        .into()
                } else {
                    task_table(s, &tasks)
                }
            });
        }
        TaskCmd::Claim { id, next: _, force } => {
            ctx.require_session(None)?;
            let claim = ClaimRequest {
                task_id: id,
                project_id: project,
                session_id: None,
                force,
            };
            let t = m.claim(&op, claim).await?;
            ctx.out.success(&t, |s| {
                if s.quiet {
                    return t.id.clone();
                }
                format!(
                    "{}\n\nNext:\n  maestro update \"<progress>\" --task {id}\n  maestro task complete {id}",
                    s.ok(&format!("Claimed {}", task_line(s, &t))),
                    id = t.id
                )
            });
        }
    }
    Ok(())
}

fn confirm(ctx: &Ctx, t: &Task, verb: &str) {
    ctx.out.success(t, |s| {
        if s.quiet {
            t.id.clone()
        } else {
            s.ok(&format!("{verb} {}", task_line(s, t)))
        }
    });
}

fn filter(a: TaskListArgs, project: Option<String>) -> TaskFilter {
    TaskFilter {
        project_id: project,
        status: a.status,
        priority: a.priority,
        label: Some(a.label.join(",")).filter(|l| !l.is_empty()),
        ready: a.ready,
        session_id: a.session,
        limit: a.limit,
        cursor: a.cursor,
    }
}

fn new_task(a: TaskCreateArgs, project: Option<String>) -> Result<NewTask> {
    Ok(NewTask {
        project_id: project,
        title: a.title,
        description: super::description(a.desc, a.desc_file.as_deref())?,
        priority: a.priority,
        depends_on: a
            .depends_on
            .into_iter()
            .filter(|d| !d.trim().is_empty())
            .collect(),
        labels: a
            .label
            .into_iter()
            .filter(|l| !l.trim().is_empty())
            .collect(),
        metadata: json_object("metadata", a.metadata.as_deref())?,
    })
}

fn patch(a: TaskUpdateArgs) -> Result<(String, TaskPatch)> {
    let p = TaskPatch {
        title: a.title,
        description: super::description(a.desc, a.desc_file.as_deref())?,
        priority: a.priority,
        status: a.status,
        add_dependencies: a.add_dep,
        remove_dependencies: a.remove_dep,
        labels: a.label,
        metadata: json_object("metadata", a.metadata.as_deref())?,
        expected_version: a.if_version,
        force: a.force,
    };
    Ok((a.id, p))
}

/// `update "<message>"`: a progress entry on each context task.
pub async fn update_progress(ctx: &mut Ctx, message: &str, task: Option<&str>) -> Result<()> {
    let m = ctx.open(false)?;
    let op = ctx.op();
    let ids = ctx
        .context_tasks(&m, task, "maestro update <message> --task <id>")
        .await?;
    let mut entries = Vec::with_capacity(ids.len());
    for id in &ids {
        entries.push(m.add_progress(&op, id, message).await?);
    }
    // One task → the entry; several → the list.
    let data = if entries.len() == 1 {
        json!(entries[0])
    } else {
        json!(entries)
    };
    ctx.out.success(&data, |s| {
        if s.quiet {
            return String::new();
        }
        let ids: Vec<String> = entries.iter().map(|e| s.cyan(&e.task_id)).collect();
        s.ok(&format!("Progress recorded on {}", ids.join(", ")))
    });
    Ok(())
}

/// One timeline entry as a line: when, what, and who did it.
fn timeline_row(s: &Style, e: &TimelineEntry) -> String {
    let who = e
        .session_id
        .as_deref()
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    format!(
        "  {:>9}  {:<17} {}{}",
        s.dim(&relative(&e.timestamp)),
        e.kind.type_name(),
        e.kind.summary(),
        s.dim(&who)
    )
}

fn detail(s: &Style, d: &TaskDetail) -> String {
    let t = &d.task;
    let mut out = format!(
        "{} {}\n{}  {}  version {}  updated {}",
        s.cyan(&t.id),
        s.bold(&clean(&t.title)),
        s.status(t.status),
        s.priority(t.priority),
        t.version,
        relative(&t.updated_at)
    );
    if !t.labels.is_empty() {
        out.push_str(&format!("  labels: {}", clean(&t.labels.join(", "))));
    }
    if !t.session_ids.is_empty() {
        out.push_str(&format!("\nassigned: {}", t.session_ids.join(", ")));
    }
    if let Some(r) = &t.blocked_reason {
        out.push_str(&format!("\nblocked: {}", clean(r)));
    }
    if !t.metadata.is_empty() {
        let pairs: Vec<String> = t
            .metadata
            .iter()
            .map(|(k, v)| format!("{}={}", clean(k), clean(&v.to_string())))
            .collect();
        out.push_str(&format!("\nmetadata: {}", pairs.join("  ")));
    }
    if !t.description.is_empty() {
        out.push_str(&format!("\n\n{}", t.description));
    }
    let refs = |title: &str, list: &[maestro_core::DependencyRef]| -> String {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|r| vec![s.cyan(&r.id), s.status(r.status), r.title.clone()])
            .collect();
        format!(
            "\n\n{}\n{}",
            s.bold(title),
            table(s, &["id", "status", "title"], &rows)
        )
    };
    if !d.dependency_details.is_empty() {
        out.push_str(&refs("Depends on", &d.dependency_details));
    }
    if !d.dependents.is_empty() {
        out.push_str(&refs("Needed by", &d.dependents));
    }
    out.push_str(&format!("\n\n{}", s.bold("Subtasks")));
    if d.subtasks.is_empty() {
        out.push_str(&format!(
            "\n  {}",
            s.dim(&format!(
                "none — add one with: maestro subtask create {} \"<title>\"",
                t.id
            ))
        ));
    }
    for st in &d.subtasks {
        let mark = if st.completed {
            s.green("[x]")
        } else {
            "[ ]".into()
        };
        out.push_str(&format!(
            "\n  {}. {mark} {} {}",
            st.order,
            clean(&st.title),
            s.dim(&st.id)
        ));
    }
    let shown = d.timeline.len() as i64;
    let title = if d.timeline_total > shown {
        format!(
            "Timeline (newest {shown} of {}; all: maestro task timeline {})",
            d.timeline_total, t.id
        )
    } else {
        "Timeline".to_string()
    };
    out.push_str(&format!("\n\n{}", s.bold(&title)));
    for e in &d.timeline {
        out.push('\n');
        out.push_str(&timeline_row(s, e));
    }
    out
}
