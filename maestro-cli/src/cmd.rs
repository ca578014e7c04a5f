//! One module per command group, each with a `run()`.

mod agent;
mod config;
mod demo;
mod events;
mod host;
pub mod mcp;
mod merge;
mod migrate;
mod project;
mod serve;
mod session;
pub mod setup;
mod skill;
mod subtask;
mod task;

use crate::cli::{Cli, Command, TaskCmd};
use crate::context::Ctx;
use crate::output::Out;
use maestro_core::{Error, Result};

/// Runs a parsed command line.
pub fn run(cli: Cli, out: Out) -> Result<()> {
    let mut ctx = Ctx::new(cli.global, out);
    // The server wants every core; a one-shot command is done before a second thread helps.
    let mut builder = match cli.command {
        Command::Serve(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let rt = builder
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(dispatch(&mut ctx, cli.command))
}

async fn dispatch(ctx: &mut Ctx, command: Command) -> Result<()> {
    match command {
        Command::Init { name } => project::init(ctx, name).await,
        Command::Whoami => project::whoami(ctx).await,
        Command::Status => project::status(ctx).await,
        Command::Project(c) => project::run(ctx, c).await,
        Command::Task(c) => task::run(ctx, c).await,
        Command::Update { message, task } => {
            task::update_progress(ctx, &message, task.as_deref()).await
        }
        Command::Subtask(c) => subtask::run(ctx, c).await,
        Command::Session(c) => session::run(ctx, c).await,
        Command::Config(a) => config::run(ctx, a),
        Command::Events {
            since,
            limit,
            follow,
        } => events::run(ctx, since, limit, follow).await,
        Command::Skill(c) => skill::run(ctx, c).await,
        Command::Agent(c) => agent::run(ctx, c).await,
        Command::Host(a) => host::run(ctx, a).await,
        Command::Demo(a) => demo::run(ctx, a).await,
        Command::Serve(a) => serve::run(ctx, a).await,
        Command::Mcp(a) => mcp::run(ctx, a).await,
        Command::Setup(a) => setup::run(ctx, a).await,
        Command::Merge(a) => merge::run(ctx, a).await,
        Command::Worktree(c) => merge::worktree(ctx, c).await,
        Command::Migrate(a) => migrate::run(ctx, a).await,
        Command::Completions { shell } => {
            let mut script = Vec::new();
            let mut cmd = crate::cli::completion_command();
            clap_complete::generate(shell, &mut cmd, "maestro", &mut script);
            let script = String::from_utf8_lossy(&script).into_owned();
            ctx.out.success(
                &serde_json::json!({ "shell": shell.to_string(), "script": script }),
                |_| script.clone(),
            );
            Ok(())
        }
        Command::TaskListAlias(a) => task::run(ctx, TaskCmd::List(a)).await,
        Command::TaskGetAlias { id } => task::run(ctx, TaskCmd::Get { id }).await,
        Command::TaskCreateAlias(a) => task::run(ctx, TaskCmd::Create(a)).await,
        Command::TaskUpdateAlias(a) => task::run(ctx, TaskCmd::Update(a)).await,
        Command::TaskStartAlias(a) => task::run(ctx, TaskCmd::Start(a)).await,
        Command::TaskCompleteAlias(a) => task::run(ctx, TaskCmd::Complete(a)).await,
        Command::TaskBlockAlias(a) => task::run(ctx, TaskCmd::Block(a)).await,
    }
}

/// Parses a JSON object given on the command line.
fn json_object(
    field: &str,
    text: Option<&str>,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
    match text {
        None => Ok(None),
        Some(t) => match serde_json::from_str(t) {
            Ok(serde_json::Value::Object(m)) => Ok(Some(m)),
            _ => Err(
                Error::invalid_argument(format!("--{field} must be a JSON object"))
                    .with_details(serde_json::json!({ "field": field, "value": t }))
                    .with_suggestion(format!("Pass e.g. --{field} '{{\"key\": \"value\"}}'")),
            ),
        },
    }
}

/// A description given inline (`--desc`) or read from a file (`--desc-file`, `-` for
/// standard input; the file's final newlines are not part of it).
fn description(inline: Option<String>, file: Option<&std::path::Path>) -> Result<Option<String>> {
    let Some(path) = file else {
        return Ok(inline);
    };
    let read = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map(|_| text)
    } else {
        std::fs::read_to_string(path)
    };
    read.map(|t| Some(t.trim_end_matches(['\n', '\r']).to_string())).map_err(|e| {
        Error::invalid_argument(format!("cannot read the description from {}: {e}", path.display()))
            .with_details(serde_json::json!({ "field": "descFile", "path": path.display().to_string() }))
            .with_suggestion("Name a readable text file, or '-' to read standard input, e.g. 'maestro task create \"Title\" --desc-file notes.md'")
    })
}
