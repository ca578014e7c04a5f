//! All output: the JSON envelope, human tables and error rendering, in one place.

use chrono::Utc;
use maestro_core::{Error, Page, Priority, Session, SessionStatus, Task, TaskStatus, Timestamp};
use serde::Serialize;
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};

/// Makes a write to a closed stdout or stderr (`maestro … | head -1`) end the process
/// quietly with exit code 0 instead of a panic, for every command: output is written with
/// `print!` and friends in places, and the reader going away is not an error to report.
pub fn exit_quietly_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.starts_with("failed printing to std") && text.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// How to print.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
    pub quiet: bool,
    pub color: bool,
}

impl Out {
    pub fn new(json: bool, quiet: bool) -> Self {
        let color =
            !json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self { json, quiet, color }
    }

    /// Prints a success: the envelope in JSON mode, else what `human` renders.
    pub fn success<T: Serialize>(&self, data: &T, human: impl FnOnce(&Style) -> String) {
        self.envelope(json!({ "success": true, "data": data }), human);
    }

    /// Prints a page of results, with `nextCursor` when more remain.
    pub fn page<T: Serialize>(&self, page: &Page<T>, human: impl FnOnce(&Style) -> String) {
        let mut env = json!({ "success": true, "data": page.items });
        if let Some(c) = &page.next_cursor {
            env["nextCursor"] = json!(c);
        }
        let next = page.next_cursor.clone();
        self.envelope(env, |s| {
            let mut text = human(s);
            if let Some(c) = next {
                text.push_str(&s.dim(&format!("\nMore results: add --cursor {c}")));
            }
            text
        });
    }

    fn envelope(&self, env: Value, human: impl FnOnce(&Style) -> String) {
        let mut stdout = std::io::stdout().lock();
        let text = if self.json {
            serde_json::to_string(&env).expect("envelope serializes")
        } else {
            human(&Style {
                color: self.color,
                quiet: self.quiet,
            })
        };
        if !text.is_empty() {
            // A closed pipe (e.g. `| head`) is not an error worth reporting.
            let _ = writeln!(stdout, "{}", text.trim_end_matches('\n'));
        }
    }

    /// Prints an error: the error object on stdout in JSON mode, else a message on stderr.
    pub fn error(&self, e: &Error) {
        if self.json {
            let _ = writeln!(std::io::stdout().lock(), "{}", e.to_json());
            return;
        }
        let style = Style {
            color: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            quiet: false,
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{} {}", style.red("error:"), e.message());
        if let Some(s) = e.suggestion() {
            let _ = writeln!(err, "{} {s}", style.bold("hint:"));
        }
        let _ = writeln!(err, "{}", style.dim(&format!("({})", e.code())));
    }
}

/// Styling for human output.
pub struct Style {
    pub color: bool,
    pub quiet: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn cyan(&self, s: &str) -> String {
        self.paint("36", s)
    }

    /// A success line: `✓ message`.
    pub fn ok(&self, msg: &str) -> String {
        format!("{} {msg}", self.green("✓"))
    }

    pub fn status(&self, s: TaskStatus) -> String {
        let text = format!("{} {}", status_icon(s), s);
        match s {
            TaskStatus::Pending => text,
            TaskStatus::InProgress => self.yellow(&text),
            TaskStatus::Blocked => self.red(&text),
            TaskStatus::Completed => self.green(&text),
            TaskStatus::Cancelled => self.dim(&text),
        }
    }

    pub fn priority(&self, p: Priority) -> String {
        match p {
            Priority::High => self.red("high"),
            Priority::Medium => "medium".to_string(),
            Priority::Low => self.dim("low"),
        }
    }

    pub fn session_status(&self, s: SessionStatus) -> String {
        let text = s.to_string();
        match s {
            SessionStatus::Active => self.green(&text),
            SessionStatus::Spawning | SessionStatus::Starting => self.yellow(&text),
            SessionStatus::Failed | SessionStatus::Lost => self.red(&text),
            _ => self.dim(&text),
        }
    }
}

pub fn status_icon(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Pending => "○",
        TaskStatus::InProgress => "◐",
        TaskStatus::Blocked => "⊘",
        TaskStatus::Completed => "●",
        TaskStatus::Cancelled => "✕",
    }
}

/// "just now", "5m ago", "3h ago", "2d ago", or a date.
pub fn relative(t: &Timestamp) -> String {
    let secs = (Utc::now() - *t).num_seconds();
    match secs {
        s if s < 10 => "just now".into(),
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s if s < 30 * 86_400 => format!("{}d ago", s / 86_400),
        _ => t.format("%Y-%m-%d").to_string(),
    }
}

/// Visible width of a string, ignoring ANSI escapes.
fn width(s: &str) -> usize {
    let mut w = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => w += 1,
        }
    }
    w
}

/// Shortens to `max` characters with an ellipsis.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// An aligned table with a dimmed header.
pub fn table(style: &Style, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let line = |cells: Vec<String>| -> String {
        let n = cells.len();
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            out.push_str(&cell);
            if i + 1 < n {
                out.push_str(&" ".repeat(widths[i] - width(&cell) + 2));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = style.dim(&line(headers.iter().map(|h| h.to_uppercase()).collect()));
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.clone()));
    }
    out
}

pub fn task_table(style: &Style, tasks: &[Task]) -> String {
    if style.quiet {
        return tasks
            .iter()
            .map(|t| t.id.as_str())
            .collect::<Vec<_>>()
            .join("\n");
    }
    let rows: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let deps = if t.dependencies.is_empty() {
                String::new()
            } else {
                format!("{} deps", t.dependencies.len())
            };
            vec![
                style.cyan(&t.id),
                style.status(t.status),
                style.priority(t.priority),
                truncate(&t.title, 60),
                style.dim(&deps),
                style.dim(&relative(&t.updated_at)),
            ]
        })
        .collect();
    table(
        style,
        &["id", "status", "priority", "title", "deps", "updated"],
        &rows,
    )
}

pub fn session_table(style: &Style, sessions: &[Session]) -> String {
    if style.quiet {
        return sessions
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>()
            .join("\n");
    }
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|s| {
            vec![
                style.cyan(&s.id),
                s.name.clone(),
                s.role.to_string(),
                style.session_status(s.status),
                s.task_ids.join(","),
                style.dim(&relative(&s.last_seen)),
            ]
        })
        .collect();
    table(
        style,
        &["id", "name", "role", "status", "tasks", "last seen"],
        &rows,
    )
}

/// A one-line summary of a task, for confirmations.
pub fn task_line(style: &Style, t: &Task) -> String {
    format!(
        "{} {} {}",
        style.cyan(&t.id),
        style.status(t.status),
        t.title
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_ignoring_colour_codes() {
        let s = Style {
            color: true,
            quiet: false,
        };
        let t = table(
            &s,
            &["a", "b"],
            &[
                vec![s.red("x"), "1".into()],
                vec!["long".into(), "2".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(width(lines[1]), width("x     1"));
        assert_eq!(width(lines[2]), width("long  2"));
    }

    #[test]
    fn truncation_and_relative_times() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(relative(&Utc::now()), "just now");
        assert_eq!(
            relative(&(Utc::now() - chrono::Duration::minutes(5))),
            "5m ago"
        );
    }
}
