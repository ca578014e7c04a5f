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

    /// A success with warnings: in JSON mode beside `data` (`"warnings": [...]`), for people
    /// on stderr after the output.
    pub fn success_warned<T: Serialize>(
        &self,
        data: &T,
        warnings: &[String],
        human: impl FnOnce(&Style) -> String,
    ) {
        let mut env = json!({ "success": true, "data": data });
        if !warnings.is_empty() {
            env["warnings"] = json!(warnings);
        }
        self.envelope(env, human);
        if !self.json {
            for w in warnings {
                let _ = writeln!(std::io::stderr().lock(), "warning: {}", terminal_safe(w));
            }
        }
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
            match next {
                // Quiet output is only the ids: the hint goes to stderr.
                Some(c) if s.quiet => {
                    let _ = writeln!(std::io::stderr(), "More results: add --cursor {c}");
                }
                Some(c) => text.push_str(&s.dim(&format!("\nMore results: add --cursor {c}"))),
                None => {}
            }
            text
        });
    }

    fn envelope(&self, env: Value, human: impl FnOnce(&Style) -> String) {
        let mut stdout = std::io::stdout().lock();
        let text = if self.json {
            serde_json::to_string(&env).expect("envelope serializes")
        } else {
            terminal_safe(&human(&Style {
                color: self.color,
                quiet: self.quiet,
            }))
        };
        if !text.is_empty() {
            // A closed pipe (e.g. `| head`) is not an error worth reporting.
            let _ = writeln!(stdout, "{}", text.trim_end_matches('\n'));
        }
    }

    /// A human note on stderr, terminal-safe; none when quiet.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{}", terminal_safe(text));
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
        let mut text = format!("{} {}", style.red("error:"), clean(e.message()));
        if let Some(s) = e.suggestion() {
            text.push_str(&format!("\n{} {}", style.bold("hint:"), clean(s)));
        }
        text.push_str(&format!("\n{}", style.dim(&format!("({})", e.code()))));
        let _ = writeln!(std::io::stderr().lock(), "{}", terminal_safe(&text));
    }
}

/// Quiet output of a record: `key=value` lines, values with control characters escaped.
pub fn pairs(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", clean(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints one line of output as it happens (progress, followed events, JSON lines):
/// terminal-safe, and false once the reader went away.
pub fn print_line(text: &str) -> bool {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", terminal_safe(text)).is_ok() && stdout.flush().is_ok()
}

/// Styling for human output.
pub struct Style {
    pub color: bool,
    pub quiet: bool,
}

/// Opens and closes a style in rendered text; [`terminal_safe`] turns the pair into the
/// terminal's escape once every control character of the text itself is escaped.
const STYLE_OPEN: char = '\u{e000}';
const STYLE_CLOSE: char = '\u{e001}';
/// The styles [`Style`] paints with: nothing else becomes an escape sequence.
const STYLE_CODES: &[&str] = &["0", "1", "2", "31", "32", "33", "36"];

/// Text from the store (titles, names, messages) as one line a terminal shows as it is:
/// control characters (escape, newline, carriage return, tab, …) and direction overrides
/// are written as `\e`, `\n`, `\u{…}`, so nothing can colour, move or garble the
/// terminal, or break a table row. JSON output keeps the exact text.
pub fn clean(s: &str) -> String {
    escape(s, false)
}

fn escape(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x1b' => out.push_str("\\e"),
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// The last step of all human output: control characters left in it are escaped (lines
/// stay lines), then the styles [`Style`] painted become escape sequences.
pub fn terminal_safe(text: &str) -> String {
    let text = escape(text, true);
    if !text.contains(STYLE_OPEN) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(STYLE_OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + STYLE_OPEN.len_utf8()..];
        match after.split_once(STYLE_CLOSE) {
            Some((code, tail)) if STYLE_CODES.contains(&code) => {
                out.push_str(&format!("\x1b[{code}m"));
                rest = tail;
            }
            _ => {
                out.push_str("\\u{e000}");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("{STYLE_OPEN}{code}{STYLE_CLOSE}{s}{STYLE_OPEN}0{STYLE_CLOSE}")
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

/// `1 task`, `2 tasks`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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

/// The columns a string takes on a terminal: wide (CJK, emoji) characters count two,
/// combining ones none, styles nothing.
fn width(s: &str) -> usize {
    use unicode_width::UnicodeWidthChar;
    let mut w = 0;
    let mut in_style = false;
    for c in s.chars() {
        match (in_style, c) {
            (false, STYLE_OPEN) => in_style = true,
            (true, STYLE_CLOSE) => in_style = false,
            (true, _) => {}
            (false, c) => w += c.width().unwrap_or(0),
        }
    }
    w
}

/// Text from the store, [`clean`]ed and shortened to `max` columns with an ellipsis.
pub fn truncate(s: &str, max: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let s = clean(s);
    if width(&s) <= max {
        return s;
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > max.saturating_sub(1) {
            break;
        }
        w += cw;
        out.push(c);
    }
    out.push('…');
    out
}

/// An aligned table with a dimmed header.
pub fn table(style: &Style, headers: &[&str], rows: &[Vec<String>]) -> String {
    // A cell is one line whatever its text holds.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let rows = &rows;
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
                plural(t.dependencies.len(), "dep", "deps")
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
                truncate(&s.name, 30),
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
        clean(&t.title)
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
        // Wide characters take two columns; the next column starts at the same place.
        let t = table(
            &s,
            &["title", "n"],
            &[
                vec!["数据库".into(), "1".into()],
                vec!["🚀 go".into(), "2".into()],
                vec!["abc".into(), "3".into()],
            ],
        );
        let cols: Vec<usize> = t
            .lines()
            .skip(1)
            .map(|l| width(&l[..l.rfind(' ').unwrap()]) + 1)
            .collect();
        assert!(cols.iter().all(|c| *c == cols[0]), "{t}");
    }

    #[test]
    fn text_from_the_store_cannot_drive_the_terminal() {
        assert_eq!(
            clean("a\x1b[31mred\nnext\r\u{202e}"),
            "a\\e[31mred\\nnext\\r\\u{202e}"
        );
        let s = Style {
            color: true,
            quiet: false,
        };
        // Our own styles become escapes; the text's never do.
        let out = terminal_safe(&format!("{} \x1b[2J", s.red("x")));
        assert_eq!(out, "\x1b[31mx\x1b[0m \\e[2J");
        let out = terminal_safe("\u{e000}2J\u{e001}");
        assert!(!out.contains('\x1b'), "{out}");
        let t = table(&s, &["a"], &[vec!["one\ntwo".into()]]);
        assert_eq!(t.lines().count(), 2);
    }

    #[test]
    fn truncation_and_relative_times() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("数据库迁移", 6), "数据…");
        assert_eq!(width(&truncate("数据库迁移", 6)), 5);
        assert_eq!(relative(&Utc::now()), "just now");
        assert_eq!(
            relative(&(Utc::now() - chrono::Duration::minutes(5))),
            "5m ago"
        );
    }
}
