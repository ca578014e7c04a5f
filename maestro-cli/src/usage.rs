//! What a command line the parser refused (or answered itself: `--help`, `--version`) prints:
//! clap's text for people; in JSON mode one envelope, with what was missing or unknown, the
//! parser's tips and a command to run in the error. Every command gets this from here.

use crate::output::Out;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use maestro_cli::cli::Cli;
use maestro_core::{Code, Error};
use serde_json::{Map, Value, json};
use std::process::ExitCode;

/// Prints the parser's answer and gives the exit code: 0 for help and version, else 2.
pub fn report(e: clap::Error, args: &[String], json: bool) -> ExitCode {
    let shown = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
    if !json {
        let _ = e.print();
        return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
    }
    let out = Out::new(true, false);
    let (path, _) = command_path(args);
    match e.kind() {
        ErrorKind::DisplayVersion => out.success(
            &json!({ "name": "maestro", "version": env!("CARGO_PKG_VERSION") }),
            |_| String::new(),
        ),
        ErrorKind::DisplayHelp => out.success(
            &json!({ "command": path.join(" "), "help": e.render().to_string() }),
            |_| String::new(),
        ),
        _ => out.error(&to_error(&e, args)),
    }
    ExitCode::from(if shown { 0 } else { 2 })
}

/// The error object of a refused command line.
pub fn to_error(e: &clap::Error, args: &[String]) -> Error {
    let (path, cmd) = command_path(args);
    let help = format!("{} --help", path.join(" "));
    let mut details = Map::new();
    details.insert("kind".into(), json!(kind_name(e.kind())));
    for (kind, value) in e.context() {
        let key = match kind {
            ContextKind::InvalidArg if e.kind() == ErrorKind::MissingRequiredArgument => "missing",
            ContextKind::InvalidArg => "argument",
            ContextKind::InvalidSubcommand => "subcommand",
            ContextKind::InvalidValue => "value",
            ContextKind::ValidValue => "allowed",
            ContextKind::ValidSubcommand => "subcommands",
            ContextKind::PriorArg => "conflictsWith",
            ContextKind::SuggestedArg
            | ContextKind::SuggestedSubcommand
            | ContextKind::SuggestedValue
            | ContextKind::SuggestedCommand => "didYouMean",
            ContextKind::Suggested => "tips",
            ContextKind::Usage => "usage",
            _ => continue,
        };
        details.insert(key.into(), context_json(value, key == "missing"));
    }
    // Of the commands the parser would suggest, the hidden aliases are left out; the best
    // match is its last.
    if let Some(Value::Array(names)) = details.get("didYouMean") {
        let visible: Vec<&Value> = names
            .iter()
            .filter(|n| {
                n.as_str()
                    .and_then(|n| cmd.find_subcommand(n))
                    .is_none_or(|c| !c.is_hide_set())
            })
            .collect();
        let best = visible.last().map(|v| (*v).clone());
        match best {
            Some(v) => details.insert("didYouMean".into(), v),
            None => details.remove("didYouMean"),
        };
    }
    // A value the core refused keeps the core's code, details and suggestion.
    if let Some(ours) = std::error::Error::source(e).and_then(|s| s.downcast_ref::<Error>()) {
        let mut theirs = match ours.details() {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        if let Some(arg) = details.get("argument") {
            theirs.insert("argument".into(), arg.clone());
        }
        return ours.clone().with_details(Value::Object(theirs));
    }
    if matches!(
        e.kind(),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let subs: Vec<&str> = cmd
            .get_subcommands()
            .filter(|c| !c.is_hide_set())
            .map(|c| c.get_name())
            .collect();
        let name = path.join(" ");
        details.remove("subcommand");
        details.insert("subcommands".into(), json!(subs));
        let example = subs
            .first()
            .map(|s| format!("e.g. '{name} {s}'; "))
            .unwrap_or_default();
        return Error::new(
            Code::MissingRequiredField,
            format!("'{name}' needs a subcommand: {}", subs.join(", ")),
        )
        .with_details(Value::Object(details))
        .with_suggestion(format!("Name one, {example}see '{help}'"));
    }
    let message = e
        .render()
        .to_string()
        .lines()
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .trim_end_matches(':')
        .to_string();
    let missing: Vec<&str> = details
        .get("missing")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let message = if missing.is_empty() {
        message
    } else {
        format!("{message}: {}", missing.join(", "))
    };
    let code = if e.kind() == ErrorKind::MissingRequiredArgument {
        Code::MissingRequiredField
    } else {
        Code::InvalidArgument
    };
    let suggestion = suggestion(e, args, &details, &help);
    Error::new(code, message)
        .with_details(Value::Object(details))
        .with_suggestion(suggestion)
}

/// A command that fixes the line when the parser knows how (a did-you-mean, what is
/// missing), with the tips it gave; else where to read the arguments.
fn suggestion(
    e: &clap::Error,
    args: &[String],
    details: &Map<String, Value>,
    help: &str,
) -> String {
    let tips: Vec<String> = details
        .get("tips")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|s| s.as_str().map(capitalize))
                .collect()
        })
        .unwrap_or_default();
    let bad = details
        .get("argument")
        .or_else(|| details.get("subcommand"))
        .and_then(Value::as_str);
    let fixed = match (e.kind(), bad, details.get("didYouMean")) {
        (_, Some(bad), Some(Value::String(good))) => Some(
            replace(args, bad, good)
                .filter(|line| maestro_cli::suggest::parses(line))
                .and_then(|line| command_line(&line))
                .map_or(format!("Did you mean {good}?"), |cmd| {
                    format!("Did you mean {good}? Run '{cmd}'")
                }),
        ),
        (ErrorKind::MissingRequiredArgument, ..) => {
            let mut line = args.to_vec();
            for item in details
                .get("missing")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                line.extend(
                    item.as_str()
                        .unwrap_or("")
                        .split_whitespace()
                        .map(str::to_string),
                );
            }
            command_line(&line).map(|cmd| format!("Add what is missing: '{cmd}'"))
        }
        _ => None,
    };
    let mut parts: Vec<String> = fixed.into_iter().chain(tips).collect();
    parts.push(format!("see '{help}' for the arguments and examples"));
    let text = parts.join("; ");
    capitalize(&text)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `args` with the word `bad` (or `bad=…`) replaced by `good`.
fn replace(args: &[String], bad: &str, good: &str) -> Option<Vec<String>> {
    let bad = bad.split_whitespace().next()?;
    let at = args
        .iter()
        .skip(1)
        .position(|a| a == bad || a.starts_with(&format!("{bad}=")))?
        + 1;
    let mut line = args.to_vec();
    line[at] = line[at].replacen(bad, good, 1);
    Some(line)
}

/// A command line as one string to put between single quotes: `maestro` and its words,
/// those with spaces in double quotes; `None` when a word cannot be written so.
fn command_line(args: &[String]) -> Option<String> {
    let mut words = vec!["maestro".to_string()];
    for a in args.iter().skip(1) {
        if a.contains('\'') || a.contains('"') && a.contains(char::is_whitespace) {
            return None;
        }
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "\"$`\\;|&()<>*?".contains(c))
        {
            if a.starts_with('<') && a.ends_with('>') && !a.contains(char::is_whitespace) {
                words.push(a.clone());
                continue;
            }
            if a.contains('"') {
                return None;
            }
            words.push(format!("\"{a}\""));
        } else {
            words.push(a.clone());
        }
    }
    Some(words.join(" "))
}

fn context_json(value: &ContextValue, list: bool) -> Value {
    match value {
        ContextValue::String(s) if list => json!([s]),
        ContextValue::String(s) => json!(s),
        ContextValue::Strings(v) if !list && v.len() == 1 => json!(v[0]),
        ContextValue::Strings(v) => json!(v),
        ContextValue::StyledStr(s) => json!(s.to_string()),
        ContextValue::StyledStrs(v) => json!(v.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        ContextValue::Bool(b) => json!(b),
        ContextValue::Number(n) => json!(n),
        _ => Value::Null,
    }
}

/// `UnknownArgument` as `unknown_argument`.
fn kind_name(kind: ErrorKind) -> String {
    let mut out = String::new();
    for (i, c) in format!("{kind:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The commands `args` names (`["maestro", "task", "create"]`) and the last one's parser.
fn command_path(args: &[String]) -> (Vec<String>, clap::Command) {
    let root = <Cli as clap::CommandFactory>::command();
    let mut path = vec!["maestro".to_string()];
    let mut cmd = root.clone();
    let mut words = args.iter().skip(1);
    while let Some(w) = words.next() {
        if w == "--" {
            break;
        }
        if let Some(long) = w.strip_prefix("--") {
            let takes_value = |c: &clap::Command| {
                c.get_arguments()
                    .any(|a| a.get_long() == Some(long) && a.get_action().takes_values())
            };
            if !long.contains('=') && (takes_value(&cmd) || takes_value(&root)) {
                words.next();
            }
            continue;
        }
        if w.starts_with('-') {
            continue;
        }
        match cmd.find_subcommand(w) {
            Some(sub) => {
                path.push(sub.get_name().to_string());
                let sub = sub.clone();
                cmd = sub;
            }
            None => break,
        }
    }
    (path, cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn refused(line: &str) -> Error {
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        let e = Cli::try_parse_from(&args).unwrap_err();
        to_error(&e, &args)
    }

    #[test]
    fn missing_and_unknown_arguments_are_named_with_a_command_that_parses() {
        let e = refused("maestro task create --json");
        assert_eq!(e.code(), Code::MissingRequiredField);
        assert_eq!(e.details()["missing"], json!(["<TITLE>"]));
        let s = e.suggestion().unwrap();
        assert!(s.contains("'maestro task create --json <TITLE>'"), "{s}");
        let e = refused("maestro task list --stauts pending");
        assert_eq!(e.details()["didYouMean"], "--status");
        let s = e.suggestion().unwrap();
        assert!(s.contains("'maestro task list --status pending'"), "{s}");
        // A fix that still would not parse is named, not offered as a command.
        let s = refused("maestro task list --stauts done")
            .suggestion()
            .unwrap()
            .to_string();
        assert!(s.starts_with("Did you mean --status?;"), "{s}");
        let e = refused("maestro tsak list");
        assert_eq!(e.details()["didYouMean"], "task");
        assert!(e.suggestion().unwrap().contains("'maestro task list'"));
        let e = refused("maestro task");
        assert_eq!(e.code(), Code::MissingRequiredField);
        assert!(e.suggestion().unwrap().contains("'maestro task --help'"));
        let e = refused("maestro task list --status done");
        assert_eq!(e.code(), Code::InvalidStatus);
        assert_eq!(e.details()["argument"], "--status <STATUS>");
    }

    #[test]
    fn the_command_path_skips_flags_and_their_values() {
        let args: Vec<String> = "maestro --db x.db task --project p list --json"
            .split_whitespace()
            .map(str::to_string)
            .collect();
        assert_eq!(command_path(&args).0, ["maestro", "task", "list"]);
    }
}
