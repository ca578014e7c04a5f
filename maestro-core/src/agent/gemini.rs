//! Gemini CLI `--output-format stream-json`: `init`, `message` (user, and assistant text in
//! deltas), `tool_use`, `tool_result`, `error` and one `result` line with the stats.

use super::*;

#[derive(Debug, Default)]
pub(super) struct State {
    /// The last line was assistant text: a delta extends it.
    in_text: bool,
    turns: TurnCounter,
}

/// Returns (known, whether the last item was extended rather than a new one added).
pub(super) fn push(
    s: &mut State,
    r: &mut RunRecord,
    last_text: &mut Option<String>,
    v: &Value,
) -> (bool, bool) {
    let was_text = std::mem::take(&mut s.in_text);
    match v.get("type").and_then(Value::as_str) {
        Some("init") => {
            r.agent_session_id = str_of(v, "session_id");
            r.model = str_of(v, "model");
            r.items.push(LogItem::Start {
                model: r.model.clone(),
                cwd: None,
            });
        }
        Some("message") => {
            if v.get("role").and_then(Value::as_str) != Some("assistant") {
                return (true, false);
            }
            s.turns.model_output();
            let text = str_of(v, "content").unwrap_or_default();
            s.in_text = true;
            let delta = v.get("delta").and_then(Value::as_bool).unwrap_or(false);
            if delta
                && was_text
                && let Some(LogItem::Text { text: t }) = r.items.last_mut()
            {
                t.push_str(&text);
                *last_text = Some(t.clone());
                return (true, true);
            }
            *last_text = Some(text.clone());
            r.items.push(LogItem::Text { text });
        }
        Some("tool_use") => {
            s.turns.model_output();
            r.items.push(LogItem::ToolCall {
                id: str_of(v, "tool_id").unwrap_or_default(),
                name: str_of(v, "tool_name").unwrap_or_default(),
                input: summarize_input(v.get("parameters").unwrap_or(&Value::Null)),
            });
        }
        Some("tool_result") => {
            let ok = v.get("status").and_then(Value::as_str) == Some("success");
            let output = str_of(v, "output")
                .or_else(|| {
                    v.pointer("/error/message")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default();
            r.items.push(LogItem::ToolResult {
                id: str_of(v, "tool_id").unwrap_or_default(),
                ok,
                output: shorten(&output, MAX_OUTPUT),
            });
            s.turns.tool_result();
        }
        Some("error") => r.items.push(LogItem::Notice {
            text: str_of(v, "message").unwrap_or_default(),
        }),
        Some("result") => result(s, r, last_text, v),
        _ => return (false, false),
    }
    (true, false)
}

fn result(s: &State, r: &mut RunRecord, last_text: &Option<String>, v: &Value) {
    if let Some(st) = v.get("stats") {
        r.usage.input_tokens = Some(u64_of(st, "input_tokens"));
        r.usage.output_tokens = Some(u64_of(st, "output_tokens"));
        r.usage.cached_input_tokens = Some(u64_of(st, "cached"));
    }
    r.usage.turns = Some(s.turns.turns);
    r.result = Some(match v.get("status").and_then(Value::as_str) {
        Some("success") => RunResult::success(last_text.clone()),
        _ => {
            let code = v
                .pointer("/error/type")
                .and_then(Value::as_str)
                .map(str::to_string);
            let message = v
                .pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_string);
            let kind = match (code.as_deref(), message.as_deref()) {
                (Some(c), _) if c.contains("TurnLimit") => ErrorKind::MaxTurns,
                (_, Some(m)) if m.contains("API Error") => ErrorKind::ApiError,
                _ => ErrorKind::Other,
            };
            RunResult::failed(kind, code, message)
        }
    });
}

pub(super) fn finish(s: &State, r: &mut RunRecord) -> Option<RunResult> {
    if r.usage.turns.is_none() && s.turns.turns > 0 {
        r.usage.turns = Some(s.turns.turns);
    }
    None
}
