//! `config get|set|unset|list` and the `--get/--set/--list` forms.

use crate::cli::{ConfigArgs, ConfigCmd};
use crate::context::Ctx;
use crate::output::table;
use maestro_core::config::ConfigFile;
use maestro_core::config::keys::{self, Effective};
use maestro_core::{Error, Result};
use serde_json::{Value, json};

pub fn run(ctx: &mut Ctx, a: ConfigArgs) -> Result<()> {
    let cmd = match (a.command, a.get, a.set, a.list) {
        (Some(c), ..) => c,
        (None, Some(key), _, _) => ConfigCmd::Get { key },
        (None, None, Some(kv), _) => {
            let (key, value) = kv.split_once('=').ok_or_else(|| {
                Error::invalid_argument(format!("'{kv}' is not key=value"))
                    .with_suggestion("Use e.g. maestro config --set apiUrl=http://127.0.0.1:3000")
            })?;
            ConfigCmd::Set {
                key: key.trim().to_string(),
                value: value.to_string(),
                global: a.global,
            }
        }
        (None, None, None, _) => ConfigCmd::List,
    };
    match cmd {
        ConfigCmd::Get { key } => {
            let Some(e) = ctx.settings().effective(&key)? else {
                let known = keys::find(&key).is_some() || keys::is_user_key(&key);
                let why = if known {
                    "is not set and has no default"
                } else {
                    "is not set"
                };
                return Err(Error::new(
                    maestro_core::Code::NotFound,
                    format!("'{key}' {why}"),
                )
                .with_details(json!({ "key": key }))
                .with_suggestion(format!(
                    "Set it with 'maestro config set {key} <value>', or see every setting with 'maestro config list'"
                )));
            };
            ctx.out.success(&e, |s| {
                if s.quiet {
                    render(&e.value)
                } else {
                    format!("{}  {}", render(&e.value), s.dim(&origin(&e)))
                }
            });
        }
        ConfigCmd::Set { key, value, global } => {
            let global = global || a.global;
            let mut file = target(ctx, global)?;
            let other = other_file(ctx, global)?;
            let value = keys::value_for(&key, &value);
            keys::check_set(&file, other.as_ref(), &key, &value)?;
            file.set(&key, value.clone())?;
            file.save()?;
            let path = file.path.display().to_string();
            ctx.out
                .success(&json!({ "key": key, "value": value, "file": path }), |s| {
                    if s.quiet {
                        String::new()
                    } else {
                        s.ok(&format!("{key} = {} ({path})", render(&value)))
                    }
                });
        }
        ConfigCmd::Unset { key, global } => {
            let mut file = target(ctx, global || a.global)?;
            let removed = file.unset(&key);
            if removed {
                file.save()?;
            }
            let path = file.path.display().to_string();
            ctx.out.success(
                &json!({ "key": key, "removed": removed, "file": path }),
                |s| match (removed, s.quiet) {
                    (_, true) => String::new(),
                    (true, _) => s.ok(&format!("Removed {key} from {path}")),
                    (false, _) => format!("{key} was not set in {path}"),
                },
            );
        }
        ConfigCmd::List => {
            let entries = ctx.settings().effective_all()?;
            let data: serde_json::Map<String, Value> = entries
                .iter()
                .map(|e| {
                    (
                        e.key.clone(),
                        json!({ "value": e.value, "source": e.source, "from": e.from }),
                    )
                })
                .collect();
            ctx.out.success(&data, |s| {
                if s.quiet {
                    return entries
                        .iter()
                        .map(|e| format!("{}={}", e.key, render(&e.value)))
                        .collect::<Vec<_>>()
                        .join("\n");
                }
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|e| vec![e.key.clone(), render(&e.value), s.dim(&origin(e))])
                    .collect();
                table(s, &["key", "value", "source"], &rows)
            });
        }
    }
    Ok(())
}

/// `project (/path/.maestro/config.json)`, `env (MAESTRO_LEASE_SECONDS)`, `default`.
fn origin(e: &Effective) -> String {
    let source = serde_json::to_value(&e.source)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    match &e.from {
        Some(from) => format!("{source} ({from})"),
        None => source,
    }
}

/// The file `set` does not write, whose values it is read with.
fn other_file(ctx: &Ctx, global: bool) -> Result<Option<ConfigFile>> {
    match ctx.env.project_config_path() {
        Some(p) if global => ConfigFile::load(&p).map(Some),
        Some(_) => ConfigFile::load(&ctx.env.user_config_path()).map(Some),
        None => Ok(None),
    }
}

/// The file `set` writes: the project's config inside a project, else the user's.
fn target(ctx: &Ctx, global: bool) -> Result<ConfigFile> {
    match ctx.env.project_config_path().filter(|_| !global) {
        Some(p) => ConfigFile::load(&p),
        None => ConfigFile::load(&ctx.env.user_config_path()),
    }
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
