//! Codex `exec --json`: `thread.started`, `turn.started`, `item.started|updated|completed`
//! (agent messages, reasoning, commands, file changes, MCP calls), `turn.completed` with the
//! turn's usage, `turn.failed` and `error`. There is no result line: a run succeeded when
//! a turn completed and none failed.

use super::*;

#[derive(Debug, Default)]
pub(super) struct State {
    /// Calls whose start was shown, so their completion only adds the result.
    started: std::collections::BTreeSet<String>,
    completed_turn: bool,
    failure: Option<String>,
    turns: TurnCounter,
}

fn call(item: &Value) -> Option<(String, String)> {
    match item.get("type").and_then(Value::as_str)? {
        "command_execution" => Some(("shell".into(), summarize_input(item))),
        "file_change" => Some(("apply_patch".into(), changes(item))),
        "mcp_tool_call" => Some((
            format!(
                "{}.{}",
                str_of(item, "server").unwrap_or_default(),
                str_of(item, "tool").unwrap_or_default()
            ),
            summarize_input(item.get("arguments").unwrap_or(&Value::Null)),
        )),
        "web_search" => Some((
            "web_search".into(),
            str_of(item, "query").unwrap_or_default(),
        )),
        _ => None,
    }
}

fn changes(item: &Value) -> String {
    item.get("changes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} {}",
                str_of(c, "kind").unwrap_or_default(),
                str_of(c, "path").unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn push(
    s: &mut State,
    r: &mut RunRecord,
    last_text: &mut Option<String>,
    v: &Value,
) -> bool {
    let item = v.get("item").unwrap_or(&Value::Null);
    let id = str_of(item, "id").unwrap_or_default();
    match v.get("type").and_then(Value::as_str) {
        Some("thread.started") => {
            r.agent_session_id = str_of(v, "thread_id");
            r.items.push(LogItem::Start {
                model: None,
                cwd: None,
            });
        }
        Some("turn.started" | "item.updated") => {}
        Some("item.started") => {
            if let Some((name, input)) = call(item) {
                s.turns.model_output();
                s.started.insert(id.clone());
                r.items.push(LogItem::ToolCall { id, name, input });
            }
        }
        Some("item.completed") => match item.get("type").and_then(Value::as_str) {
            Some("agent_message") => {
                s.turns.model_output();
                let text = str_of(item, "text").unwrap_or_default();
                *last_text = Some(text.clone());
                r.items.push(LogItem::Text { text });
            }
            Some("reasoning") => {
                s.turns.model_output();
                r.items.push(LogItem::Thinking {
                    text: str_of(item, "text").unwrap_or_default(),
                });
            }
            Some("error") => r.items.push(LogItem::Notice {
                text: str_of(item, "message").unwrap_or_default(),
            }),
            Some(_) if call(item).is_some() => {
                if !s.started.remove(&id)
                    && let Some((name, input)) = call(item)
                {
                    s.turns.model_output();
                    r.items.push(LogItem::ToolCall {
                        id: id.clone(),
                        name,
                        input,
                    });
                }
                let status = str_of(item, "status");
                let ok = status.as_deref() != Some("failed")
                    && item
                        .get("exit_code")
                        .and_then(Value::as_i64)
                        .is_none_or(|c| c == 0);
                let output = match item.get("type").and_then(Value::as_str) {
                    Some("command_execution") => {
                        str_of(item, "aggregated_output").unwrap_or_default()
                    }
                    Some("file_change") => changes(item),
                    _ => item
                        .get("result")
                        .or_else(|| item.get("error"))
                        .map(content_text)
                        .unwrap_or_default(),
                };
                r.items.push(LogItem::ToolResult {
                    id,
                    ok,
                    output: shorten(&output, MAX_OUTPUT),
                });
                s.turns.tool_result();
            }
            _ => return false,
        },
        Some("turn.completed") => {
            let u = v.get("usage").unwrap_or(&Value::Null);
            r.usage.add_tokens(
                u64_of(u, "input_tokens"),
                u64_of(u, "output_tokens"),
                u64_of(u, "cached_input_tokens"),
            );
            r.usage.turns = Some(s.turns.turns);
            s.completed_turn = true;
        }
        Some("turn.failed") => {
            let message = v
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("the turn failed")
                .to_string();
            r.items.push(LogItem::Notice {
                text: message.clone(),
            });
            s.failure = Some(message);
        }
        Some("error") => r.items.push(LogItem::Notice {
            text: str_of(v, "message").unwrap_or_default(),
        }),
        _ => return false,
    }
    true
}

pub(super) fn finish(s: &mut State, r: &mut RunRecord, last: Option<String>) -> Option<RunResult> {
    if s.turns.turns > 0 {
        r.usage.turns = Some(s.turns.turns);
    }
    if let Some(m) = s.failure.take() {
        // The message is often the API's JSON error body: keep its code and message.
        let body: Option<Value> = serde_json::from_str(&m).ok();
        let err = body.as_ref().and_then(|b| b.get("error"));
        let code = err.and_then(|e| str_of(e, "code").or_else(|| str_of(e, "type")));
        let text = err.and_then(|e| str_of(e, "message")).unwrap_or(m);
        return Some(RunResult::failed(ErrorKind::ApiError, code, Some(text)));
    }
    s.completed_turn.then(|| RunResult::success(last))
}
