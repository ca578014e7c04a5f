//! `init`, `whoami`, `status` and `project …`.

use crate::cli::ProjectCmd;
use crate::context::Ctx;
use crate::output::{Style, pairs, plural, table};
use maestro_core::config::{CONFIG_FILE, ConfigFile, DB_FILE, PROJECT_DIR};
use maestro_core::{Project, ProjectInit, Result, TaskStatus};
use serde_json::json;

pub async fn init(ctx: &mut Ctx, name: Option<String>) -> Result<()> {
    // Remote: the project lives on the server, and this folder records which one it uses.
    // Local: without --db / MAESTRO_DB, init makes a project store in this folder.
    let remote = ctx.server_url()?;
    let explicit = ctx.global.db.is_some() || ctx.env.var("MAESTRO_DB").is_some();
    let path = if explicit {
        ctx.db_path()
    } else {
        ctx.env.cwd().join(PROJECT_DIR).join(DB_FILE)
    };
    let (m, location) = match &remote {
        Some(_) => {
            let m = ctx.open(false)?;
            let loc = m.location();
            (m, loc)
        }
        None => (
            ctx.local(maestro_core::Maestro::open(&path)?)?,
            path.display().to_string(),
        ),
    };
    let op = ctx.op();
    let folder = ctx
        .env
        .cwd()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "maestro".into());
    // Without a name, a local store that has a default project is already set up.
    let existing = match (&name, &remote) {
        (None, None) => match m.project(None).await {
            Ok(p) => Some(p),
            Err(e) if e.code() == maestro_core::Code::NoProjectContext => None,
            Err(e) => return Err(e),
        },
        _ => None,
    };
    let init = match existing {
        Some(project) => ProjectInit {
            project,
            created: false,
        },
        None => {
            m.init_project(&op, name.as_deref().unwrap_or(&folder))
                .await?
        }
    };
    let project = init.project;
    // In remote mode the server's default is everyone's: record the choice here instead.
    let recorded = match &remote {
        Some(_) => Some(record_project(ctx, &project.id)?),
        None => None,
    };
    let key = if remote.is_some() { "server" } else { "db" };
    let mut data = json!({ "project": project, key: location, "created": init.created });
    if let Some(file) = &recorded {
        data["config"] = json!(file.display().to_string());
    }
    let db = location.clone();
    ctx.out.success(&data, |s| {
        if s.quiet {
            return project.id.clone();
        }
        let head = if init.created {
            s.ok(&format!("Created project {} {}", s.cyan(&project.id), s.bold(&project.name)))
        } else {
            s.ok(&format!("Project {} {} is already set up", s.cyan(&project.id), s.bold(&project.name)))
        };
        let mut out = format!("{head}\n  store: {db}");
        if let Some(file) = &recorded {
            out.push_str(&format!("\n  this folder uses it: projectId in {}", file.display()));
        } else if !project.default {
            out.push_str(&format!(
                "\n  the store's default project is another one; make this one the default with: maestro project use {}",
                project.id
            ));
        }
        out.push_str("\n\nNext:\n  maestro task create \"First task\"\n  maestro session register --name me");
        out
    });
    Ok(())
}

/// Records `projectId` in this folder's `.maestro/config.json` (the nearest project
/// folder's, else the working directory's); returns the file.
fn record_project(ctx: &mut Ctx, id: &str) -> Result<std::path::PathBuf> {
    let path = ctx
        .env
        .project_config_path()
        .unwrap_or_else(|| ctx.env.cwd().join(PROJECT_DIR).join(CONFIG_FILE));
    let mut file = ConfigFile::load(&path)?;
    file.set("projectId", json!(id))?;
    file.save()?;
    Ok(path)
}

pub async fn whoami(ctx: &mut Ctx) -> Result<()> {
    let server = ctx.server_url()?;
    let path = ctx.db_path();
    let project_flag = ctx.project()?;
    let store = if server.is_some() || path.exists() {
        Some(ctx.open(false)?)
    } else {
        None
    };
    let read_only = store.as_ref().is_some_and(|m| m.store().read_only());
    let project_id = match (&project_flag, &store) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(m)) => match m.project(None).await {
            Ok(p) => Some(p.id),
            Err(e) if e.code() == maestro_core::Code::NoProjectContext => None,
            Err(e) => return Err(e),
        },
        (None, None) => None,
    };
    let (mode, key, location) = match &server {
        Some(url) => ("remote", "server", url.clone()),
        None => ("local", "db", path.display().to_string()),
    };
    let data = json!({
        "mode": mode,
        key: location,
        "readOnly": read_only,
        "projectId": project_id,
        "sessionId": ctx.session_id(),
        "taskIds": ctx.task_ids(),
    });
    ctx.out.success(&data, |s| {
        if s.quiet {
            return pairs(&[
                ("mode", mode.to_string()),
                (key, location.clone()),
                ("project", project_id.clone().unwrap_or_default()),
                ("session", ctx.session_id().unwrap_or_default()),
                ("tasks", ctx.task_ids().join(",")),
            ]);
        }
        let none = s.dim("(none)");
        let row = |k: &str, v: Option<String>| vec![s.dim(k), v.unwrap_or_else(|| none.clone())];
        let rows = vec![
            row("mode", Some(mode.into())),
            row(
                key,
                Some(if read_only {
                    format!("{location} (read-only)")
                } else {
                    location.clone()
                }),
            ),
            row("project", project_id.clone()),
            row("session", ctx.session_id()),
            row(
                "tasks",
                Some(ctx.task_ids().join(", ")).filter(|t| !t.is_empty()),
            ),
        ];
        rows.into_iter()
            .map(|r| format!("{:>10}  {}", r[0], r[1]))
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub async fn status(ctx: &mut Ctx) -> Result<()> {
    let project = ctx.project()?;
    let m = ctx.open(false)?;
    let report = m.status_as(&ctx.op(), project.as_deref()).await?;
    ctx.out.success(&report, |s| {
        let count = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_i64()).unwrap_or(0);
        if s.quiet {
            let mut p = vec![
                ("project", report.project_id.clone()),
                ("total", report.tasks.total.to_string()),
                ("ready", report.tasks.ready.to_string()),
                ("activeSessions", report.sessions.active.to_string()),
            ];
            for st in TaskStatus::ALL {
                p.push((
                    st.as_str(),
                    count(report.tasks.by_status.get(st.as_str())).to_string(),
                ));
            }
            return pairs(&p);
        }
        if report.tasks.total == 0 {
            return format!(
                "Project {}: no tasks yet — create one with: maestro task create \"<title>\"",
                s.cyan(&report.project_id)
            );
        }
        let rows: Vec<Vec<String>> = TaskStatus::ALL
            .iter()
            .map(|st| {
                vec![
                    s.status(*st),
                    count(report.tasks.by_status.get(st.as_str())).to_string(),
                ]
            })
            .collect();
        let prio: Vec<String> = ["high", "medium", "low"]
            .iter()
            .map(|p| format!("{p} {}", count(report.tasks.by_priority.get(*p))))
            .collect();
        let u = &report.usage;
        let usage = if u.sessions > 0 {
            format!(
                "\n{} {} input ({} cached) · {} output tokens · ${:.4} over {} agent runs",
                s.dim("usage:"),
                u.input_tokens,
                u.cached_input_tokens,
                u.output_tokens,
                u.cost_usd,
                u.sessions
            )
        } else {
            String::new()
        };
        format!(
            "Project {}  {}, {} ready, {}\n\n{}\n\n{} {}{usage}",
            s.cyan(&report.project_id),
            plural(report.tasks.total as usize, "task", "tasks"),
            s.bold(&report.tasks.ready.to_string()),
            plural(
                report.sessions.active as usize,
                "active session",
                "active sessions"
            ),
            table(s, &["status", "tasks"], &rows),
            s.dim("priority:"),
            prio.join(" · ")
        )
    });
    Ok(())
}

pub async fn run(ctx: &mut Ctx, cmd: ProjectCmd) -> Result<()> {
    let m = ctx.open(false)?;
    match cmd {
        ProjectCmd::Use { id } => {
            let (p, file) = if ctx.server_url()?.is_some() {
                let p = m.get_project(&id).await?;
                let file = record_project(ctx, &p.id)?;
                (p, Some(file))
            } else {
                (m.use_project(&ctx.op(), &id).await?, None)
            };
            let mut data = json!(p);
            if let Some(f) = &file {
                data["config"] = json!(f.display().to_string());
            }
            ctx.out.success(&data, |s| {
                if s.quiet {
                    return p.id.clone();
                }
                match &file {
                    Some(f) => s.ok(&format!(
                        "This folder now uses project {} {} (projectId in {})",
                        s.cyan(&p.id),
                        p.name,
                        f.display()
                    )),
                    None => s.ok(&format!(
                        "Project {} {} is now the default",
                        s.cyan(&p.id),
                        p.name
                    )),
                }
            });
        }
        ProjectCmd::Create { name, default } => {
            let p = m.create_project(&ctx.op(), &name, default).await?;
            ctx.out.success(&p, |s| {
                if s.quiet {
                    p.id.clone()
                } else {
                    s.ok(&format!("Created project {} {}", s.cyan(&p.id), p.name))
                }
            });
        }
        ProjectCmd::List => {
            let list = m.list_projects().await?;
            ctx.out.success(&list, |s| project_table(s, &list));
        }
        ProjectCmd::Get { id } => {
            let id = id.or(ctx.project()?);
            let p = m.project(id.as_deref()).await?;
            ctx.out
                .success(&p, |s| project_table(s, std::slice::from_ref(&p)));
        }
    }
    Ok(())
}

fn project_table(s: &Style, list: &[Project]) -> String {
    if list.is_empty() {
        return "No projects yet — create one with: maestro init --name \"<name>\"".into();
    }
    if s.quiet {
        return list
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>()
            .join("\n");
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            let mark = if p.default {
                s.green("default")
            } else {
                String::new()
            };
            vec![
                s.cyan(&p.id),
                p.name.clone(),
                crate::output::relative(&p.created_at),
                mark,
            ]
        })
        .collect();
    table(s, &["id", "name", "created", ""], &rows)
}
