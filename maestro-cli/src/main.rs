//! `maestro`: the command-line interface of Maestro.

mod cmd;
mod context;
mod output;
mod usage;

use clap::Parser;
use maestro_cli::cli;
use output::Out;
use std::process::ExitCode;

fn main() -> ExitCode {
    output::exit_quietly_on_closed_pipe();
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let json_forced =
        std::env::var("MAESTRO_JSON").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    let json = json_forced
        || args
            .iter()
            .take_while(|a| *a != "--")
            .any(|a| a == "--json");
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage::report(e, &args, json),
    };
    let out = Out::new(json, cli.global.quiet);
    let code = match cmd::run(cli, out) {
        Ok(()) => 0,
        Err(e) => {
            out.error(&e);
            e.exit_code()
        }
    };
    ExitCode::from(code as u8)
}
