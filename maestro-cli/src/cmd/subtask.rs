//! `subtask …`.

use crate::cli::SubtaskCmd;
use crate::context::Ctx;
use crate::output::{Style, table};
use maestro_core::{Result, Subtask, SubtaskPatch};
use serde_json::json;

pub async fn run(ctx: &mut Ctx, cmd: SubtaskCmd) -> Result<()> {
    let m = ctx.open(false)?;
    let op = ctx.op();
    match cmd {
        SubtaskCmd::Create {
            task_id,
            title,
            desc,
            desc_file,
        } => {
            let desc = super::description(desc, desc_file.as_deref())?;
            let st = m
                .create_subtask(&op, &task_id, &title, desc.as_deref())
                .await?;
            confirm(ctx, &st, "Added");
        }
        SubtaskCmd::List { task_id } => {
            let list = m.list_subtasks(&task_id).await?;
            ctx.out.success(&list, |s| {
                if list.is_empty() {
                    format!("No subtasks yet — add one with: maestro subtask create {task_id} \"<title>\"")
                } else {
                    subtask_table(s, &list)
                }
            });
        }
        SubtaskCmd::Complete {
            task_id,
            subtask_id,
        } => {
            let st = m.complete_subtask(&op, Some(&task_id), &subtask_id).await?;
            confirm(ctx, &st, "Completed");
        }
        SubtaskCmd::Update {
            task_id,
            subtask_id,
            title,
            desc,
            desc_file,
            order,
            done,
            undone,
        } => {
            let completed = if done {
                Some(true)
            } else if undone {
                Some(false)
            } else {
                None
            };
            let patch = SubtaskPatch {
                title,
                description: super::description(desc, desc_file.as_deref())?,
                completed,
                order,
            };
            if patch == SubtaskPatch::default() {
                return Err(maestro_core::Error::invalid_argument("Nothing to update")
                    .with_suggestion(
                        "Pass at least one of --title, --desc, --order, --done, --undone",
                    ));
            }
            let st = m
                .update_subtask(&op, Some(&task_id), &subtask_id, patch)
                .await?;
            confirm(ctx, &st, "Updated");
        }
        SubtaskCmd::Delete {
            task_id,
            subtask_id,
        } => {
            let st = m.delete_subtask(&op, Some(&task_id), &subtask_id).await?;
            ctx.out.success(
                &json!({ "id": st.id, "taskId": st.task_id, "deleted": true }),
                |s| {
                    if s.quiet {
                        st.id.clone()
                    } else {
                        s.ok(&format!("Deleted subtask {} {}", s.cyan(&st.id), st.title))
                    }
                },
            );
        }
    }
    Ok(())
}

fn confirm(ctx: &Ctx, st: &Subtask, verb: &str) {
    ctx.out.success(st, |s| {
        if s.quiet {
            return st.id.clone();
        }
        s.ok(&format!(
            "{verb} subtask {} {}. {} (task {})",
            s.cyan(&st.id),
            st.order,
            st.title,
            st.task_id
        ))
    });
}

fn subtask_table(s: &Style, list: &[Subtask]) -> String {
    if s.quiet {
        return list
            .iter()
            .map(|st| st.id.as_str())
            .collect::<Vec<_>>()
            .join("\n");
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|st| {
            let mark = if st.completed {
                s.green("[x]")
            } else {
                "[ ]".into()
            };
            vec![st.order.to_string(), mark, s.cyan(&st.id), st.title.clone()]
        })
        .collect();
    table(s, &["#", "done", "id", "title"], &rows)
}
