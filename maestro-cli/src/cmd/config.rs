//! `config get|set|unset|list` and the `--get/--set/--list` forms.

use crate::cli::{ConfigArgs, ConfigCmd};
use crate::context::Ctx;
use crate::output::table;
use maestro_core::config::{ConfigFile, parse_value};
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
            let value = ctx.config()?.get(&key).cloned();
            let Some(value) = value else {
                return Err(Error::new(
                    maestro_core::Code::NotFound,
                    format!("'{key}' is not set"),
                )
                .with_details(json!({ "key": key }))
                .with_suggestion(format!("Set it with: maestro config set {key} <value>")));
            };
            ctx.out
                .success(&json!({ "key": key, "value": value }), |_| render(&value));
        }
        ConfigCmd::Set { key, value, global } => {
            let mut file = target(ctx, global || a.global)?;
            let value = parse_value(&value);
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
                |s| {
                    if removed {
                        s.ok(&format!("Removed {key} from {path}"))
                    } else {
                        format!("{key} was not set in {path}")
                    }
                },
            );
        }
        ConfigCmd::List => {
            let entries = ctx.config()?.effective();
            let data: serde_json::Map<String, Value> = entries
                .iter()
                .map(|(k, v, _)| (k.clone(), v.clone()))
                .collect();
            ctx.out.success(&data, |s| {
                if entries.is_empty() {
                    return "No settings yet — e.g.: maestro config set apiUrl http://127.0.0.1:3000".into();
                }
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|(k, v, f)| vec![k.clone(), render(v), s.dim(&f.display().to_string())])
                    .collect();
                table(s, &["key", "value", "file"], &rows)
            });
        }
    }
    Ok(())
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
