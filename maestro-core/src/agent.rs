//! What a coding agent's run was, read from its structured output (pure code, no I/O).
//!
//! The built-in profiles start Claude Code with `--output-format stream-json --verbose`,
//! Codex with `exec --json` and Gemini CLI with `--output-format stream-json`: one JSON
//! object per line. A [`RunParser`] reads those lines one at a time, as the agent prints
//! them, into a neutral [`RunRecord`]: the agent's own session id, the [`Usage`] (tokens,
//! cost, turns), the [`RunResult`] (success or an [`ErrorKind`], and the final message),
//! and readable [`LogItem`]s (assistant text, tool calls, tool results) for a log view.
//! A line that is not JSON, or JSON of a kind the parser does not know, is kept as a
//! [`LogItem::Raw`]: nothing fails the parse.
//!
//! Token counts are normalized: `input_tokens` counts every prompt token, the cached ones
//! included (Claude reports cache reads apart; they are added), and `cached_input_tokens`
//! is the part served from the prompt cache. Claude Code reports its cost; for the others
//! [`PriceTable`] computes it when the config has a price for the model.

mod claude;
mod codex;
mod gemini;

use crate::error::{Error, Result};
use crate::host::plan::OutputKind;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::ops::Range;

/// Tokens, cost and turns of a run; `None` where the agent did not say.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// The part of `input_tokens` read from the prompt cache.
    pub cached_input_tokens: Option<u64>,
    /// Reported by the agent (Claude Code), else computed from a [`PriceTable`].
    pub cost_usd: Option<f64>,
    /// Model turns (requests to the model): reported by Claude Code, counted from the stream
    /// for the others (one per answer that follows tool results).
    pub turns: Option<u64>,
}

impl Usage {
    /// Input plus output tokens, when both are known.
    pub fn total_tokens(&self) -> Option<u64> {
        Some(self.input_tokens? + self.output_tokens?)
    }

    fn add_tokens(&mut self, input: u64, output: u64, cached: u64) {
        *self.input_tokens.get_or_insert(0) += input;
        *self.output_tokens.get_or_insert(0) += output;
        *self.cached_input_tokens.get_or_insert(0) += cached;
    }
}

/// Why a run did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The agent stopped at its turn limit.
    MaxTurns,
    /// The agent stopped at its own spending limit.
    Budget,
    /// The model API refused or failed (bad request, prompt too long, overload …).
    ApiError,
    /// The output ended without a result (the agent was killed or crashed).
    Incomplete,
    /// The agent reported an error of another kind.
    Other,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaxTurns => "max_turns",
            Self::Budget => "budget",
            Self::ApiError => "api_error",
            Self::Incomplete => "incomplete",
            Self::Other => "other",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    /// `None` on success.
    pub error: Option<ErrorKind>,
    /// The agent's own word for the outcome (`success`, `error_max_turns`,
    /// `FatalTurnLimitedError`, an HTTP status …).
    pub code: Option<String>,
    /// The final assistant message, or the error message.
    pub message: Option<String>,
}

impl RunResult {
    pub fn is_success(&self) -> bool {
        self.error.is_none()
    }

    fn success(message: Option<String>) -> Self {
        Self {
            error: None,
            code: Some("success".into()),
            message,
        }
    }

    fn failed(kind: ErrorKind, code: Option<String>, message: Option<String>) -> Self {
        Self {
            error: Some(kind),
            code,
            message,
        }
    }
}

/// One readable step of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LogItem {
    /// The run started (model and working directory when the agent says).
    Start {
        model: Option<String>,
        cwd: Option<String>,
    },
    /// Something the assistant said.
    Text { text: String },
    /// The model's visible reasoning.
    Thinking { text: String },
    /// A tool call; `input` is a one-line summary (the command, the file path …).
    ToolCall {
        id: String,
        name: String,
        input: String,
    },
    /// A tool's result (`output` shortened to [`MAX_OUTPUT`] bytes).
    ToolResult {
        id: String,
        ok: bool,
        output: String,
    },
    /// A notice or error from the agent itself (a retry, a failed turn).
    Notice { text: String },
    /// A line the parser does not understand, as it was.
    Raw { line: String },
}

/// How much of a tool's output a [`LogItem::ToolResult`] keeps.
pub const MAX_OUTPUT: usize = 2000;
/// How much of a tool call's input a [`LogItem::ToolCall`] keeps.
pub const MAX_INPUT: usize = 300;

/// Everything read from one run's output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// The agent CLI's own session (thread) id: what a resume continues.
    pub agent_session_id: Option<String>,
    pub model: Option<String>,
    pub usage: Usage,
    /// `None` while the run goes on; [`RunParser::finish`] sets it.
    pub result: Option<RunResult>,
    /// Tool calls the agent's permission system refused (Claude Code reports them).
    pub denials: Vec<String>,
    pub items: Vec<LogItem>,
}

/// Per-format state between lines.
#[derive(Debug, Default)]
enum State {
    Claude(claude::State),
    Codex(codex::State),
    Gemini(gemini::State),
    #[default]
    Text,
}

/// Reads an agent's output line by line.
#[derive(Debug)]
pub struct RunParser {
    kind: OutputKind,
    state: State,
    record: RunRecord,
    /// The last assistant text, for the final message of CLIs that print no result line.
    last_text: Option<String>,
}

impl RunParser {
    pub fn new(kind: OutputKind) -> Self {
        let state = match kind {
            OutputKind::Claude => State::Claude(Default::default()),
            OutputKind::Codex => State::Codex(Default::default()),
            OutputKind::Gemini => State::Gemini(Default::default()),
            OutputKind::None => State::Text,
        };
        Self {
            kind,
            state,
            record: RunRecord::default(),
            last_text: None,
        }
    }

    pub fn kind(&self) -> OutputKind {
        self.kind
    }

    /// Reads one line (without its newline); returns the range of items it added or
    /// changed (Gemini's streamed text extends the last item).
    pub fn push_line(&mut self, line: &str) -> Range<usize> {
        let before = self.record.items.len();
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            return before..before;
        }
        let mut changed = before;
        let parsed = match &self.state {
            State::Text => None,
            _ if line.trim_start().starts_with('{') => serde_json::from_str::<Value>(line).ok(),
            _ => None,
        };
        let known = match (&mut self.state, parsed) {
            (State::Claude(s), Some(v)) => {
                claude::push(s, &mut self.record, &mut self.last_text, &v)
            }
            (State::Codex(s), Some(v)) => codex::push(s, &mut self.record, &mut self.last_text, &v),
            (State::Gemini(s), Some(v)) => {
                let (known, extended) = gemini::push(s, &mut self.record, &mut self.last_text, &v);
                if extended {
                    changed = before.saturating_sub(1);
                }
                known
            }
            _ => false,
        };
        if !known {
            self.record.items.push(LogItem::Raw {
                line: line.to_string(),
            });
        }
        changed.min(before)..self.record.items.len()
    }

    /// What is known so far.
    pub fn record(&self) -> &RunRecord {
        &self.record
    }

    /// The usage so far (Claude Code reports it per model message; the others at the end).
    pub fn usage(&self) -> &Usage {
        &self.record.usage
    }

    /// Ends the run: a run with no result line is [`ErrorKind::Incomplete`] (or, for the
    /// formats whose success has no line of its own, judged from what was seen); a cost is
    /// computed from `prices` when the agent reported none.
    pub fn finish(mut self, prices: Option<&PriceTable>) -> RunRecord {
        let last_text = self.last_text.take();
        let result = match &mut self.state {
            State::Claude(_) => None,
            State::Codex(s) => codex::finish(s, &mut self.record, last_text.clone()),
            State::Gemini(s) => gemini::finish(s, &mut self.record),
            State::Text => Some(RunResult::success(None)),
        };
        if self.record.result.is_none() {
            self.record.result = result.or_else(|| {
                Some(RunResult::failed(
                    ErrorKind::Incomplete,
                    None,
                    Some("the output ended without a result".into()),
                ))
            });
        }
        if self.record.usage.cost_usd.is_none()
            && let Some(price) =
                prices.and_then(|p| p.get(self.record.model.as_deref(), self.kind.as_str()))
        {
            self.record.usage.cost_usd = price.cost(&self.record.usage);
        }
        self.record
    }
}

impl LogItem {
    /// The item as text for a log view: one line per item, tool output indented below.
    pub fn render(&self) -> String {
        let indent = |s: &str| {
            s.trim_end()
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        match self {
            Self::Start { model, cwd } => format!(
                "── run started{}{}",
                model
                    .as_deref()
                    .map(|m| format!(", model {m}"))
                    .unwrap_or_default(),
                cwd.as_deref()
                    .map(|c| format!(", in {c}"))
                    .unwrap_or_default()
            ),
            Self::Text { text } => format!("assistant: {}", text.trim()),
            Self::Thinking { text } => format!("(thinking) {}", text.trim()),
            Self::ToolCall { name, input, .. } => format!("▶ {name}: {input}"),
            Self::ToolResult { ok, output, .. } => {
                let mark = if *ok { "✓" } else { "✗" };
                if output.trim().is_empty() {
                    mark.to_string()
                } else {
                    format!("{mark}\n{}", indent(output))
                }
            }
            Self::Notice { text } => format!("! {}", text.trim()),
            Self::Raw { line } => line.clone(),
        }
    }
}

impl RunRecord {
    /// The run as text: its items, then a summary line of the result and usage.
    pub fn render(&self) -> String {
        let mut out: Vec<String> = self.items.iter().map(LogItem::render).collect();
        let u = &self.usage;
        let num = |n: Option<u64>| n.map_or("?".to_string(), |n| n.to_string());
        let outcome = match &self.result {
            None => "running".to_string(),
            Some(r) if r.is_success() => "success".to_string(),
            Some(r) => format!(
                "{}{}",
                r.error.map_or("error", ErrorKind::as_str),
                r.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        };
        out.push(format!(
            "── {outcome}; {} turns, {} input tokens ({} cached), {} output tokens{}",
            num(u.turns),
            num(u.input_tokens),
            num(u.cached_input_tokens),
            num(u.output_tokens),
            u.cost_usd.map(|c| format!(", ${c:.4}")).unwrap_or_default()
        ));
        out.join("\n")
    }
}

/// Parses a whole log (the host's `<session>.log`).
pub fn parse_log(kind: OutputKind, text: &str) -> RunRecord {
    parse_log_with(kind, text, None)
}

/// Parses a whole log, pricing the run with `prices`.
pub fn parse_log_with(kind: OutputKind, text: &str, prices: Option<&PriceTable>) -> RunRecord {
    let mut p = RunParser::new(kind);
    for line in text.lines() {
        p.push_line(line);
    }
    p.finish(prices)
}

/// USD per million tokens of one model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    /// Cached input tokens (default: the input price).
    #[serde(default)]
    pub cached_input: Option<f64>,
    pub output: f64,
}

impl Price {
    /// The cost of `usage`, `None` without token counts.
    pub fn cost(&self, usage: &Usage) -> Option<f64> {
        let input = usage.input_tokens?;
        let output = usage.output_tokens?;
        let cached = usage.cached_input_tokens.unwrap_or(0).min(input);
        let per = 1_000_000.0;
        Some(
            (input - cached) as f64 * self.input / per
                + cached as f64 * self.cached_input.unwrap_or(self.input) / per
                + output as f64 * self.output / per,
        )
    }
}

/// Prices by model name (config `prices`: `{"gpt-5.5": {"input": 1.25, "cachedInput":
/// 0.125, "output": 10}}`, USD per million tokens). A profile's name works as a key too, for
/// agents that do not name their model (Codex).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PriceTable(pub BTreeMap<String, Price>);

impl PriceTable {
    pub fn from_config(prices: Option<&Value>) -> Result<Self> {
        let Some(v) = prices else {
            return Ok(Self::default());
        };
        serde_json::from_value(v.clone()).map_err(|e| {
            Error::invalid_argument(format!("config 'prices' is invalid: {e}"))
                .with_details(json!({ "field": "prices" }))
                .with_suggestion(
                    "Give USD per million tokens by model, e.g. maestro config set prices.gpt-5.5 '{\"input\":1.25,\"cachedInput\":0.125,\"output\":10}'",
                )
        })
    }

    /// The price of `model`, else of `profile`.
    pub fn get(&self, model: Option<&str>, profile: &str) -> Option<&Price> {
        model
            .and_then(|m| self.0.get(m))
            .or_else(|| self.0.get(profile))
    }
}

/// Counts model turns in a stream that does not report them: the first output, then the
/// first output after each tool result, starts a turn.
#[derive(Debug, Default)]
struct TurnCounter {
    answer_due: bool,
    turns: u64,
}

impl TurnCounter {
    fn model_output(&mut self) {
        if self.answer_due || self.turns == 0 {
            self.turns += 1;
            self.answer_due = false;
        }
    }

    fn tool_result(&mut self) {
        self.answer_due = true;
    }
}

/// A one-line summary of a tool's input: the command for shells, the path for file tools,
/// else compact JSON; at most [`MAX_INPUT`] bytes.
fn summarize_input(input: &Value) -> String {
    let pick = [
        "command",
        "cmd",
        "file_path",
        "path",
        "pattern",
        "url",
        "query",
    ];
    let text = pick
        .iter()
        .find_map(|k| match input.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ => None,
        })
        .map(|s| {
            let size = input
                .get("content")
                .and_then(Value::as_str)
                .map(|c| format!(" ({} bytes)", c.len()))
                .unwrap_or_default();
            format!("{s}{size}")
        })
        .unwrap_or_else(|| match input {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        });
    shorten(
        &text.split_whitespace().collect::<Vec<_>>().join(" "),
        MAX_INPUT,
    )
}

/// `s` cut to at most `max` bytes (on a character boundary), saying how much was left out.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &s[..end], s.len() - end)
}

/// The text of a tool result's content: a string, or the text blocks of an array.
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str).or_else(|| b.as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

#[cfg(test)]
mod tests;
