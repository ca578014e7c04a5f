//! Claude Code `--output-format stream-json --verbose`: `system` (init, api_retry …),
//! `assistant` and `user` messages in the Messages API's shape, and one `result` line.

use super::*;

#[derive(Debug, Default)]
pub(super) struct State {
    /// Usage of each model message seen, by message id (a message split over several lines
    /// repeats its usage), until the result line gives the totals.
    messages: BTreeMap<String, (u64, u64, u64)>,
}

fn message_usage(u: &Value) -> (u64, u64, u64) {
    let cached = u64_of(u, "cache_read_input_tokens");
    let input = u64_of(u, "input_tokens") + u64_of(u, "cache_creation_input_tokens") + cached;
    (input, u64_of(u, "output_tokens"), cached)
}

pub(super) fn push(
    s: &mut State,
    r: &mut RunRecord,
    last_text: &mut Option<String>,
    v: &Value,
) -> bool {
    match v.get("type").and_then(Value::as_str) {
        Some("system") => match v.get("subtype").and_then(Value::as_str) {
            Some("init") => {
                r.agent_session_id = str_of(v, "session_id").or(r.agent_session_id.take());
                r.model = str_of(v, "model");
                r.items.push(LogItem::Start {
                    model: r.model.clone(),
                    cwd: str_of(v, "cwd"),
                });
                true
            }
            Some("api_retry") => {
                let status = v
                    .get("error_status")
                    .map(|s| format!(" (status {s})"))
                    .unwrap_or_default();
                r.items.push(LogItem::Notice {
                    text: format!(
                        "API retry {}/{}{status}",
                        u64_of(v, "attempt"),
                        u64_of(v, "max_retries")
                    ),
                });
                true
            }
            _ => false,
        },
        Some("assistant") => {
            let Some(m) = v.get("message") else {
                return false;
            };
            if let (Some(id), Some(u)) = (str_of(m, "id"), m.get("usage")) {
                s.messages.insert(id, message_usage(u));
                if r.result.is_none() {
                    let mut usage = Usage::default();
                    for (i, o, c) in s.messages.values() {
                        usage.add_tokens(*i, *o, *c);
                    }
                    usage.turns = Some(s.messages.len() as u64);
                    r.usage = usage;
                }
            }
            for b in m
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let text = str_of(b, "text").unwrap_or_default();
                        *last_text = Some(text.clone());
                        r.items.push(LogItem::Text { text });
                    }
                    Some("thinking") => r.items.push(LogItem::Thinking {
                        text: str_of(b, "thinking").unwrap_or_default(),
                    }),
                    Some("tool_use") => r.items.push(LogItem::ToolCall {
                        id: str_of(b, "id").unwrap_or_default(),
                        name: str_of(b, "name").unwrap_or_default(),
                        input: summarize_input(b.get("input").unwrap_or(&Value::Null)),
                    }),
                    _ => {}
                }
            }
            true
        }
        Some("user") => {
            let content = v.pointer("/message/content");
            for b in content.and_then(Value::as_array).into_iter().flatten() {
                if b.get("type").and_then(Value::as_str) == Some("tool_result") {
                    r.items.push(LogItem::ToolResult {
                        id: str_of(b, "tool_use_id").unwrap_or_default(),
                        ok: !b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
                        output: shorten(
                            &content_text(b.get("content").unwrap_or(&Value::Null)),
                            MAX_OUTPUT,
                        ),
                    });
                }
            }
            true
        }
        Some("stream_event") => true,
        Some("result") => {
            result(r, v);
            true
        }
        _ => false,
    }
}

fn result(r: &mut RunRecord, v: &Value) {
    if let Some(id) = str_of(v, "session_id") {
        r.agent_session_id = Some(id);
    }
    if let Some(u) = v.get("usage") {
        let (input, output, cached) = message_usage(u);
        r.usage.input_tokens = Some(input);
        r.usage.output_tokens = Some(output);
        r.usage.cached_input_tokens = Some(cached);
    }
    if let Some(c) = v.get("total_cost_usd").and_then(Value::as_f64) {
        r.usage.cost_usd = Some(c);
    }
    if let Some(t) = v.get("num_turns").and_then(Value::as_u64) {
        r.usage.turns = Some(t);
    }
    r.denials = v
        .get("permission_denials")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| {
            let tool = str_of(d, "tool_name").unwrap_or_else(|| "tool".into());
            match d.get("tool_input") {
                Some(i) => format!("{tool}: {}", summarize_input(i)),
                None => tool,
            }
        })
        .collect();
    let subtype = str_of(v, "subtype");
    let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false);
    let text = str_of(v, "result").or_else(|| {
        let errors: Vec<&str> = v
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        (!errors.is_empty()).then(|| errors.join("; "))
    });
    let reason = str_of(v, "terminal_reason");
    r.result = Some(match (subtype.as_deref(), is_error) {
        (Some("success"), false) => RunResult::success(text),
        (Some("error_max_turns"), _) => RunResult::failed(ErrorKind::MaxTurns, subtype, text),
        (Some("error_max_budget_usd"), _) => RunResult::failed(ErrorKind::Budget, subtype, text),
        _ if reason.as_deref() == Some("max_turns") => {
            RunResult::failed(ErrorKind::MaxTurns, reason, text)
        }
        _ if v.get("api_error_status").is_some_and(|s| !s.is_null()) => {
            RunResult::failed(ErrorKind::ApiError, reason.or(subtype), text)
        }
        _ => RunResult::failed(ErrorKind::Other, reason.or(subtype), text),
    });
}
