//! `agent list | show`: the profiles a host on this machine would launch.

use crate::cli::AgentCmd;
use crate::context::Ctx;
use crate::output::{Style, table};
use maestro_core::Result;
use maestro_core::host::plan::{AgentProfile, AllowedCommands, StoreContext, profile_view};
use serde_json::{Value, json};

pub async fn run(ctx: &mut Ctx, cmd: AgentCmd) -> Result<()> {
    let opts = super::host::options(ctx, None)?;
    let store = opts.store.clone();
    match cmd {
        AgentCmd::List => {
            let profiles: Vec<&AgentProfile> = opts.profiles.all().collect();
            let data: Vec<Value> = profiles.iter().map(|p| describe(p, &store)).collect();
            ctx.out.success(&data, |st| {
                let rows: Vec<Vec<String>> = profiles
                    .iter()
                    .map(|p| {
                        vec![
                            st.bold(&p.name),
                            serde_json::to_value(p.heartbeat)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_default(),
                            p.output.as_str().to_string(),
                            allowed(&p.allowed_commands),
                            shell_line(&profile_view(p, &store).argv),
                        ]
                    })
                    .collect();
                table(
                    st,
                    &["NAME", "HEARTBEAT", "OUTPUT", "ALLOWED", "COMMAND"],
                    &rows,
                )
            });
        }
        AgentCmd::Show { name } => {
            let p = opts.profiles.get(&name)?;
            let data = describe(p, &store);
            ctx.out.success(&data, |st| show(st, p, &store));
        }
    }
    Ok(())
}

/// The profile as configured, plus what a launch with this host's store runs.
fn describe(p: &AgentProfile, store: &StoreContext) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    let view = serde_json::to_value(profile_view(p, store)).unwrap_or(Value::Null);
    v["launch"] = view;
    v["store"] = json!(match store {
        StoreContext::Local { .. } => "local",
        StoreContext::Remote { .. } => "remote",
    });
    v
}

fn allowed(a: &AllowedCommands) -> String {
    match a.prefixes() {
        None => "everything".into(),
        Some(list) => list.join(", "),
    }
}

/// An argv as one shell line.
fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| maestro_core::prompt::quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn show(st: &Style, p: &AgentProfile, store: &StoreContext) -> String {
    let view = profile_view(p, store);
    let mut out = format!(
        "{}  {} heartbeat, {} output, allowed: {}\n\n{}\n  {}\n",
        st.bold(&p.name),
        serde_json::to_value(p.heartbeat)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        p.output.as_str(),
        allowed(&p.allowed_commands),
        st.dim("argv:"),
        shell_line(&view.argv)
    );
    if let Some(r) = &view.resume_argv {
        out.push_str(&format!("{}\n  {}\n", st.dim("resume:"), shell_line(r)));
    }
    if !view.env.is_empty() {
        out.push_str(&format!("{}\n", st.dim("env:")));
        for (k, v) in &view.env {
            out.push_str(&format!("  {k}={v}\n"));
        }
    }
    for (placeholder, contents) in &view.files {
        out.push_str(&format!(
            "{} {placeholder}\n  {}\n",
            st.dim("file"),
            contents.trim_end().replace('\n', "\n  ")
        ));
    }
    out.push_str(&st.dim(
        "\nPer-session placeholders ({prompt}, {session_id}, {task_id} …) are filled in at launch.",
    ));
    out
}
