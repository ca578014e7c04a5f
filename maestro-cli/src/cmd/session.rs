//! `session …`.

use crate::cli::SessionCmd;
use crate::context::Ctx;
use crate::output::{Style, relative, session_table};
use maestro_core::{NewSession, Result, Session, SessionFilter};

pub async fn run(ctx: &mut Ctx, cmd: SessionCmd) -> Result<()> {
    let project = ctx.project()?;
    let m = ctx.open(false)?;
    let op = ctx.op();
    match cmd {
        SessionCmd::Register { name, role } => {
            let new = NewSession {
                project_id: project,
                name,
                role,
                task_ids: ctx.task_ids(),
                pid: Some(i64::from(std::os::unix::process::parent_id())),
                cwd: Some(ctx.env.cwd().display().to_string()),
                host: hostname(),
                ..Default::default()
            };
            let s = m.register_session(&op, new).await?;
            ctx.out.success(&s, |st| {
                if st.quiet {
                    return s.id.clone();
                }
                format!(
                    "{}\n\nUse it in this shell:\n  export MAESTRO_SESSION_ID={}",
                    st.ok(&format!(
                        "Registered session {} ({}, {})",
                        st.cyan(&s.id),
                        s.name,
                        s.role
                    )),
                    s.id
                )
            });
        }
        SessionCmd::Info => {
            let id = ctx.require_session(None)?;
            let s = m.get_session(&id).await?;
            ctx.out.success(&s, |st| detail(st, &s));
        }
        SessionCmd::List {
            active,
            status,
            limit,
            cursor,
        } => {
            let filter = SessionFilter {
                project_id: project,
                active,
                status,
                limit,
                cursor,
            };
            let page = m.list_sessions_as(&op, filter).await?;
            ctx.out.page(&page, |st| {
                if page.items.is_empty() && !st.quiet {
                    "No sessions — register one with: maestro session register --name <name>".into()
                } else {
                    session_table(st, &page.items)
                }
            });
        }
        SessionCmd::Get { id } => {
            let s = m.get_session(&id).await?;
            ctx.out.success(&s, |st| detail(st, &s));
        }
        SessionCmd::Spawn {
            task,
            name,
            skill,
            agent,
            cwd,
            role,
            force,
            max_cost,
            max_tokens,
            resume,
            no_worktree,
        } => {
            let new = NewSession {
                project_id: project,
                name,
                role,
                skill,
                agent,
                task_ids: task,
                cwd: Some(
                    cwd.map(|c| ctx.env.cwd().join(c))
                        .unwrap_or_else(|| ctx.env.cwd().to_path_buf())
                        .display()
                        .to_string(),
                ),
                force,
                budget: Some(maestro_core::Budget {
                    max_cost_usd: max_cost,
                    max_tokens,
                })
                .filter(|b| !b.is_empty()),
                resume,
                no_worktree,
                ..Default::default()
            };
            let s = m.spawn_session(&op, new).await?;
            ctx.out.success(&s, |st| {
                if st.quiet {
                    return s.id.clone();
                }
                let when = if s.status == maestro_core::SessionStatus::Waiting {
                    "It waits for the task's dependencies; then a running host launches it"
                } else {
                    "A running host launches it"
                };
                format!(
                    "{}\n{when}: maestro host (or maestro serve --spawn)\nWatch it with: maestro session get {}",
                    st.ok(&format!("Requested session {} for {} ({})", st.cyan(&s.id), s.task_ids.join(", "), s.status)),
                    s.id
                )
            });
        }
        SessionCmd::Logs { id, tail, raw } => {
            let s = m.get_session(&id).await?;
            let dirs = maestro_core::host::plan::HostDirs {
                home: ctx.env.maestro_home(),
            };
            let path = dirs.log_file(&s.id);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                maestro_core::Error::new(
                    maestro_core::Code::NotFound,
                    format!("No log for session '{}' at {}: {e}", s.id, path.display()),
                )
                .with_details(serde_json::json!({ "sessionId": s.id, "path": path.display().to_string() }))
                .with_suggestion(
                    "Logs are written by the host that launched the session, under its $MAESTRO_HOME/logs (tmux sessions log their window's output)",
                )
            })?;
            // Structured output is rendered readably, unless --raw.
            let output = ctx
                .settings()
                .agent_profiles()
                .ok()
                .and_then(|p| {
                    s.agent
                        .as_deref()
                        .and_then(|a| p.get(a).ok())
                        .map(|p| p.output)
                })
                .unwrap_or(maestro_core::host::plan::OutputKind::None);
            let text = if raw || output == maestro_core::host::plan::OutputKind::None {
                text
            } else {
                maestro_core::agent::parse_log(output, &text).render()
            };
            let text = match tail {
                Some(n) => {
                    let lines: Vec<&str> = text.lines().collect();
                    lines[lines.len().saturating_sub(n)..].join("\n")
                }
                None => text,
            };
            let data = serde_json::json!({
                "sessionId": s.id,
                "path": path.display().to_string(),
                "content": text,
            });
            ctx.out.success(&data, |_| text.clone());
        }
        SessionCmd::Heartbeat { id } => {
            let id = ctx.require_session(id.as_deref())?;
            let s = m.heartbeat(&op, &id).await?;
            ctx.out.success(&s, |st| {
                if st.quiet {
                    String::new()
                } else {
                    st.ok(&format!("Lease refreshed for {}", s.id))
                }
            });
        }
        SessionCmd::End { status, id } => {
            let id = ctx.require_session(id.as_deref())?;
            let s = m.end_session(&op, &id, status).await?;
            ctx.out.success(&s, |st| {
                if st.quiet {
                    String::new()
                } else {
                    st.ok(&format!("Session {} ended ({})", st.cyan(&s.id), s.status))
                }
            });
        }
    }
    Ok(())
}

/// Tokens, cost and turns in a few words.
fn usage_text(u: &maestro_core::agent::Usage) -> String {
    let mut parts = Vec::new();
    if let (Some(i), Some(o)) = (u.input_tokens, u.output_tokens) {
        parts.push(format!(
            "{i} in ({} cached) / {o} out tokens",
            u.cached_input_tokens.unwrap_or(0)
        ));
    }
    if let Some(c) = u.cost_usd {
        parts.push(format!("${c:.4}"));
    }
    if let Some(t) = u.turns {
        parts.push(format!("{t} turns"));
    }
    if parts.is_empty() {
        "not reported".into()
    } else {
        parts.join(", ")
    }
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

fn detail(st: &Style, s: &Session) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| st.dim("-"));
    let rows = [
        ("id", st.cyan(&s.id)),
        ("name", s.name.clone()),
        ("role", s.role.to_string()),
        ("status", st.session_status(s.status)),
        (
            "tasks",
            opt(Some(s.task_ids.join(", ")).filter(|t| !t.is_empty())),
        ),
        ("skill", opt(s.skill.clone())),
        ("agent", opt(s.agent.clone())),
        ("spawned by", opt(s.spawned_by.clone())),
        ("pid", opt(s.pid.map(|p| p.to_string()))),
        ("exit code", opt(s.exit_code.map(|p| p.to_string()))),
        ("reason", opt(s.reason.clone())),
        ("agent run", opt(s.agent_session_id.clone())),
        ("usage", opt(s.usage.as_ref().map(usage_text))),
        (
            "result",
            opt(s.result.as_ref().map(|r| {
                let outcome = r
                    .error
                    .map_or("success", maestro_core::agent::ErrorKind::as_str);
                match r.message.as_deref().filter(|m| !m.trim().is_empty()) {
                    Some(m) => format!("{outcome}: {}", m.trim()),
                    None => outcome.to_string(),
                }
            })),
        ),
        ("created", relative(&s.created_at)),
        ("last seen", relative(&s.last_seen)),
    ];
    rows.iter()
        .map(|(k, v)| format!("{:>10}  {v}", st.dim(k)))
        .collect::<Vec<_>>()
        .join("\n")
}
