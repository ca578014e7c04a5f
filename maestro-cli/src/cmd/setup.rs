//! `maestro setup claude|codex|gemini`: registers `maestro mcp` in an agent's own config,
//! installs the Maestro skills where the agent loads them, and adds heartbeat hooks where
//! the agent has hooks — merged into the files already there, the user's values kept
//! unless `--force`; what it changed is recorded (`.maestro/setup.json` in the project,
//! `$MAESTRO_HOME/setup.json` for the user scope) so that `--remove` takes back exactly that.

mod edit;

use crate::context::Ctx;
use edit::{Applied, Format, Op};
use maestro_cli::cli::{SetupAgent as Agent, SetupArgs, SetupScope as Scope};
use maestro_core::host::plan::HEARTBEAT_HOOK;
use maestro_core::skills;
use maestro_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One file and the entries Maestro wants in it.
struct FileWant {
    path: PathBuf,
    format: Format,
    ops: Vec<Op>,
}

/// What setup does for an agent in a scope: files to merge into and a skills folder.
struct Plan {
    files: Vec<FileWant>,
    skills_dir: PathBuf,
}

/// The MCP server entry every agent gets.
fn server_entry() -> Value {
    json!({ "command": "maestro", "args": ["mcp"] })
}

/// A hook running the heartbeat on every tool (Claude Code's and Gemini CLI's shape).
fn heartbeat_hook() -> Value {
    json!({ "matcher": "*", "hooks": [{ "type": "command", "command": HEARTBEAT_HOOK }] })
}

/// Where each agent keeps its config and skills, for `root` (the project's folder) or `home`.
fn plan(agent: Agent, scope: Scope, root: &Path, home: &Path) -> Plan {
    let base = match scope {
        Scope::Project => root,
        Scope::User => home,
    };
    match agent {
        Agent::Claude => {
            let servers = match scope {
                Scope::Project => root.join(".mcp.json"),
                Scope::User => home.join(".claude.json"),
            };
            let mut settings = vec![
                Op::add(&["permissions", "allow"], json!("mcp__maestro")),
                Op::add(&["hooks", "PreToolUse"], heartbeat_hook()),
                Op::add(&["hooks", "PostToolUse"], heartbeat_hook()),
            ];
            if scope == Scope::Project {
                // Project servers run once approved; setting up is the approval.
                settings.insert(0, Op::add(&["enabledMcpjsonServers"], json!("maestro")));
            }
            Plan {
                files: vec![
                    FileWant {
                        path: servers,
                        format: Format::Json,
                        ops: vec![Op::set(&["mcpServers", "maestro"], server_entry())],
                    },
                    FileWant {
                        path: base.join(".claude/settings.json"),
                        format: Format::Json,
                        ops: settings,
                    },
                ],
                skills_dir: base.join(".claude/skills"),
            }
        }
        Agent::Codex => Plan {
            files: vec![FileWant {
                path: base.join(".codex/config.toml"),
                format: Format::Toml,
                ops: vec![Op::set(&["mcp_servers", "maestro"], server_entry())],
            }],
            skills_dir: base.join(".codex/skills"),
        },
        Agent::Gemini => Plan {
            files: vec![FileWant {
                path: base.join(".gemini/settings.json"),
                format: Format::Json,
                ops: vec![
                    Op::set(&["mcpServers", "maestro"], server_entry()),
                    Op::add(&["hooks", "BeforeTool"], heartbeat_hook()),
                    Op::add(&["hooks", "AfterTool"], heartbeat_hook()),
                ],
            }],
            skills_dir: base.join(".gemini/skills"),
        },
    }
}

/// What setup added to one file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileRecord {
    format: Option<Format>,
    /// The file did not exist before setup.
    created_file: bool,
    applied: Vec<Applied>,
}

/// Everything setup added, per `agent:scope`, per file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    #[serde(default)]
    setups: BTreeMap<String, BTreeMap<String, FileRecord>>,
}

fn read(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::storage(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::storage(format!("cannot create {}: {e}", dir.display())))?;
    }
    std::fs::write(path, text)
        .map_err(|e| Error::storage(format!("cannot write {}: {e}", path.display())))
}

fn load_record(path: &Path) -> Result<Record> {
    match read(path)? {
        None => Ok(Record::default()),
        Some(t) => serde_json::from_str(&t).map_err(|e| {
            Error::invalid_argument(format!("{} is not a setup record: {e}", path.display()))
                .with_suggestion("Move the file away; setup then records afresh")
        }),
    }
}

fn save_record(path: &Path, record: &Record) -> Result<()> {
    if record.setups.is_empty() {
        if path.exists() {
            std::fs::remove_file(path)
                .map_err(|e| Error::storage(format!("cannot remove {}: {e}", path.display())))?;
        }
        return Ok(());
    }
    write(path, &(serde_json::to_string_pretty(record)? + "\n"))
}

/// A file's change, for the output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FileChange {
    path: String,
    changed: Vec<String>,
    /// Entries left alone because you hold another value there.
    kept: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diff: Option<String>,
}

pub async fn run(ctx: &mut Ctx, a: SetupArgs) -> Result<()> {
    let env = &ctx.env;
    let home = PathBuf::from(env.var("HOME").unwrap_or("."));
    let root = env
        .project_root()
        .unwrap_or_else(|| env.cwd().to_path_buf());
    let plan = plan(a.agent, a.scope, &root, &home);
    let record_path = match a.scope {
        Scope::Project => root.join(".maestro/setup.json"),
        Scope::User => env.maestro_home().join("setup.json"),
    };
    let key = format!("{}:{}", a.agent.name(), a.scope.name());
    let mut record = load_record(&record_path)?;
    let data = if a.remove {
        remove(&plan, &mut record, &key, a.dry_run)?
    } else {
        add(&plan, &mut record, &key, a.dry_run, a.force)?
    };
    if !a.dry_run {
        save_record(&record_path, &record)?;
    }
    let data = json!({
        "agent": a.agent.name(),
        "scope": a.scope.name(),
        "dryRun": a.dry_run,
        "removed": a.remove,
        "files": data.0,
        "skills": data.1,
        "record": record_path.display().to_string(),
    });
    ctx.out.success(&data, |s| human(s, &data));
    Ok(())
}

/// Plans every file first (so a file that does not parse changes nothing), then writes.
fn add(
    plan: &Plan,
    record: &mut Record,
    key: &str,
    dry_run: bool,
    force: bool,
) -> Result<(Vec<FileChange>, Value)> {
    let mut outcomes = Vec::new();
    for f in &plan.files {
        let before = read(&f.path)?;
        let out = edit::apply(
            &f.path,
            f.format,
            before.as_deref().unwrap_or(""),
            &f.ops,
            force,
        )?;
        outcomes.push((f, before, out));
    }
    let mut changes = Vec::new();
    let entry = record.setups.entry(key.to_string()).or_default();
    for (f, before, out) in outcomes {
        let label = f.path.display().to_string();
        let diff = (dry_run && !out.applied.is_empty())
            .then(|| edit::diff(&label, before.as_deref().unwrap_or(""), &out.text));
        if !dry_run && !out.applied.is_empty() {
            write(&f.path, &out.text)?;
            let rec = entry.entry(label.clone()).or_default();
            rec.format = Some(f.format);
            rec.created_file |= before.is_none();
            rec.applied.extend(out.applied.iter().cloned());
        }
        changes.push(FileChange {
            path: label,
            changed: out.applied.iter().map(|a| a.op.describe()).collect(),
            kept: out
                .kept
                .iter()
                .map(|(op, v)| json!({ "entry": op.describe(), "yours": v }))
                .collect(),
            diff,
        });
    }
    let skills = if dry_run {
        json!({ "dir": plan.skills_dir.display().to_string(), "wouldInstall": skills::BUNDLED.iter().map(|s| s.name).collect::<Vec<_>>() })
    } else {
        json!(skills::install(skills::BUNDLED, &plan.skills_dir, force)?)
    };
    if !dry_run {
        // The skills keep their own install record; this marks that setup installed them.
        entry.entry(SKILLS_KEY.to_string()).or_default();
    }
    Ok((changes, skills))
}

/// The record's marker that setup installed skills for this agent and scope.
const SKILLS_KEY: &str = "skills";

fn remove(
    plan: &Plan,
    record: &mut Record,
    key: &str,
    dry_run: bool,
) -> Result<(Vec<FileChange>, Value)> {
    let Some(files) = record.setups.get(key) else {
        return Ok((Vec::new(), json!(null)));
    };
    let mut planned = Vec::new();
    for (path, rec) in files {
        let Some(format) = rec.format else { continue };
        let p = PathBuf::from(path);
        let Some(text) = read(&p)? else { continue };
        let (after, removed, kept) =
            edit::remove(&p, format, &text, &rec.applied, rec.created_file)?;
        planned.push((p, text, after, removed, kept));
    }
    let mut changes = Vec::new();
    for (p, text, after, removed, kept) in planned {
        let label = p.display().to_string();
        let diff = dry_run.then(|| edit::diff(&label, &text, after.as_deref().unwrap_or("")));
        if !dry_run {
            match &after {
                Some(t) if *t != text => write(&p, t)?,
                Some(_) => {}
                None => std::fs::remove_file(&p)
                    .map_err(|e| Error::storage(format!("cannot remove {}: {e}", p.display())))?,
            }
        }
        changes.push(FileChange {
            path: label,
            changed: removed.iter().map(|a| a.op.describe()).collect(),
            kept: kept
                .iter()
                .map(|a| json!({ "entry": a.op.describe(), "yours": "changed since setup" }))
                .collect(),
            diff,
        });
    }
    let skills = if files.contains_key(SKILLS_KEY) && !dry_run {
        json!(skills::uninstall(skills::BUNDLED, &plan.skills_dir)?)
    } else {
        json!({ "dir": plan.skills_dir.display().to_string() })
    };
    if !dry_run {
        record.setups.remove(key);
    }
    Ok((changes, skills))
}

fn human(s: &crate::output::Style, data: &Value) -> String {
    let mut out = Vec::new();
    let verb = if data["removed"] == true {
        "removed"
    } else {
        "added"
    };
    let files = data["files"].as_array().cloned().unwrap_or_default();
    if data["removed"] == true && files.is_empty() && data["skills"].is_null() {
        return format!(
            "Nothing to remove: maestro setup {} --scope {} has not been run here",
            data["agent"].as_str().unwrap_or(""),
            data["scope"].as_str().unwrap_or("")
        );
    }
    for f in &files {
        let path = f["path"].as_str().unwrap_or("");
        if let Some(d) = f["diff"].as_str() {
            out.push(d.trim_end().to_string());
            continue;
        }
        let changed: Vec<&str> = f["changed"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if changed.is_empty() {
            out.push(format!("{} {path}: unchanged", s.dim("·")));
        } else {
            out.push(s.ok(&format!("{path}: {verb} {}", changed.join(", "))));
        }
        for k in f["kept"].as_array().into_iter().flatten() {
            out.push(format!(
                "  {} kept your {}: {} (--force replaces it)",
                s.yellow("!"),
                k["entry"].as_str().unwrap_or(""),
                k["yours"]
            ));
        }
    }
    let skills = &data["skills"];
    if let Some(dir) = skills["dir"].as_str() {
        let line = if data["dryRun"] == true {
            format!("skills: would install into {dir}")
        } else if data["removed"] == true {
            let n = skills["removed"].as_array().map_or(0, Vec::len);
            format!("skills: removed {n} files from {dir}")
        } else {
            let n = skills["files"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["action"] != "unchanged")
                .count();
            format!("skills: {n} files written to {dir}")
        };
        out.push(line);
    }
    if data["dryRun"] == true {
        out.push(s.dim("(dry run: nothing was written)"));
    }
    out.join("\n")
}
