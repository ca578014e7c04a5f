//! `maestro`: the command-line interface of Maestro.

mod cli;
mod cmd;
mod context;
mod output;

use clap::Parser;
use clap::error::ErrorKind;
use maestro_core::{Code, Error};
use output::Out;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let json_forced =
        std::env::var("MAESTRO_JSON").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
    let json = json_forced || args.iter().any(|a| a == "--json");
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e, json),
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

/// Reports a command-line parse error: clap's text for people, the error object in JSON mode.
fn usage_error(e: clap::Error, json: bool) -> ExitCode {
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) || !json {
        let _ = e.print();
        return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
    }
    let ours = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<Error>())
        .cloned();
    let err = ours.unwrap_or_else(|| {
        let text = e.render().to_string();
        let first = text
            .lines()
            .next()
            .unwrap_or("invalid arguments")
            .trim_start_matches("error: ")
            .to_string();
        let code = if e.kind() == ErrorKind::MissingRequiredArgument {
            Code::MissingRequiredField
        } else {
            Code::InvalidArgument
        };
        Error::new(code, first)
            .with_suggestion("Run the command with --help to see its arguments and examples")
    });
    Out::new(true, false).error(&err);
    ExitCode::from(2)
}
