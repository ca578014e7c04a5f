//! The parsers on output recorded from the real CLIs (Claude Code 2.1, Codex 0.171, Gemini
//! CLI 0.61) against the scripted model endpoint of the end-to-end tests; prompts, paths and
//! long outputs shortened.

use super::*;

const CLAUDE_OK: &str = include_str!("../../tests/fixtures/agents/claude-lifecycle.jsonl");
const CLAUDE_API_ERROR: &str = include_str!("../../tests/fixtures/agents/claude-api-error.jsonl");
const CLAUDE_MAX_TURNS: &str = include_str!("../../tests/fixtures/agents/claude-max-turns.jsonl");
const CODEX_OK: &str = include_str!("../../tests/fixtures/agents/codex-lifecycle.jsonl");
const CODEX_API_ERROR: &str = include_str!("../../tests/fixtures/agents/codex-api-error.jsonl");
const GEMINI_OK: &str = include_str!("../../tests/fixtures/agents/gemini-lifecycle.jsonl");
const GEMINI_API_ERROR: &str = include_str!("../../tests/fixtures/agents/gemini-api-error.jsonl");
const GEMINI_MAX_TURNS: &str = include_str!("../../tests/fixtures/agents/gemini-max-turns.jsonl");

/// The scripted lifecycle ends with this message, after four successful tool calls.
fn lifecycle_result(r: &RunRecord) {
    let res = r.result.as_ref().unwrap();
    assert!(res.is_success());
    assert_eq!(
        res.message.as_deref(),
        Some("The notes are written and the task is complete.")
    );
    assert_eq!(tool_calls(r).len(), 4);
    assert_eq!(results_ok(r), vec![true; 4]);
}

/// The scripted lifecycle reports these totals (five turns).
fn lifecycle_usage(r: &RunRecord) {
    assert_eq!(r.usage.input_tokens, Some(8100), "{:?}", r.usage);
    assert_eq!(r.usage.cached_input_tokens, Some(5900));
    assert_eq!(r.usage.output_tokens, Some(175));
    assert_eq!(r.usage.turns, Some(5));
    assert_eq!(r.usage.total_tokens(), Some(8275));
}

fn tool_calls(r: &RunRecord) -> Vec<(String, String)> {
    r.items
        .iter()
        .filter_map(|i| match i {
            LogItem::ToolCall { name, input, .. } => Some((name.clone(), input.clone())),
            _ => None,
        })
        .collect()
}

fn results_ok(r: &RunRecord) -> Vec<bool> {
    r.items
        .iter()
        .filter_map(|i| match i {
            LogItem::ToolResult { ok, .. } => Some(*ok),
            _ => None,
        })
        .collect()
}

#[test]
fn claude_stream_json_gives_the_session_usage_cost_and_result() {
    let r = parse_log(OutputKind::Claude, CLAUDE_OK);
    assert_eq!(
        r.agent_session_id.as_deref(),
        Some("146b3311-0d0b-40be-a899-bc44cc81ce50")
    );
    assert_eq!(r.model.as_deref(), Some("claude-opus-5-5"));
    lifecycle_usage(&r);
    assert!((r.usage.cost_usd.unwrap() - 0.01348).abs() < 1e-9);
    lifecycle_result(&r);
    assert!(r.denials.is_empty());
    let calls = tool_calls(&r);
    assert_eq!(calls[0].0, "Bash");
    assert!(calls[0].1.starts_with("maestro task start t-"), "{calls:?}");
    assert_eq!(calls[1].0, "Write");
    assert_eq!(calls[1].1, "/work/tree-parent/tree/NOTES.md (54 bytes)");
    assert!(matches!(r.items[0], LogItem::Start { .. }));
    assert!(!r.items.iter().any(|i| matches!(i, LogItem::Raw { .. })));
}

#[test]
fn claude_errors_and_max_turns_are_told_apart() {
    let r = parse_log(OutputKind::Claude, CLAUDE_API_ERROR);
    let res = r.result.unwrap();
    assert_eq!(res.error, Some(ErrorKind::ApiError));
    assert_eq!(res.code.as_deref(), Some("prompt_too_long"));
    assert!(res.message.unwrap().starts_with("Prompt is too long"));
    assert_eq!(r.usage.cost_usd, Some(0.0));

    let r = parse_log(OutputKind::Claude, CLAUDE_MAX_TURNS);
    let res = r.result.unwrap();
    assert_eq!(res.error, Some(ErrorKind::MaxTurns));
    assert_eq!(res.code.as_deref(), Some("error_max_turns"));
    assert_eq!(
        res.message.as_deref(),
        Some("Reached maximum number of turns (1)")
    );
    assert_eq!(r.usage.input_tokens, Some(300));
    assert_eq!(r.usage.cached_input_tokens, Some(100));
    assert_eq!(r.usage.turns, Some(2));
}

#[test]
fn codex_jsonl_gives_the_thread_usage_and_last_message() {
    let r = parse_log(OutputKind::Codex, CODEX_OK);
    assert_eq!(
        r.agent_session_id.as_deref(),
        Some("01a23c40-66f0-7543-a88a-cd1f255a88ff")
    );
    lifecycle_usage(&r);
    assert_eq!(r.usage.cost_usd, None, "no price table");
    lifecycle_result(&r);
    let calls = tool_calls(&r);
    assert_eq!(calls[0].0, "shell");
    assert!(calls[0].1.contains("maestro task start"), "{calls:?}");
    assert_eq!(
        calls[1],
        (
            "apply_patch".into(),
            "add /work/tree-parent/tree/NOTES.md".into()
        )
    );
    // "Reading additional input from stdin..." is not JSON: kept as it was.
    assert!(r.items.contains(&LogItem::Raw {
        line: "Reading additional input from stdin...".into()
    }));

    let prices = PriceTable::from_config(Some(&json!({
        "codex": {"input": 1.0, "cachedInput": 0.1, "output": 10.0}
    })))
    .unwrap();
    let r = parse_log_with(OutputKind::Codex, CODEX_OK, Some(&prices));
    // (8100 - 5900) × 1 + 5900 × 0.1 + 175 × 10 per million.
    let want = (2200.0 + 590.0 + 1750.0) / 1e6;
    assert!((r.usage.cost_usd.unwrap() - want).abs() < 1e-12);
}

#[test]
fn codex_failed_turns_are_api_errors() {
    let r = parse_log(OutputKind::Codex, CODEX_API_ERROR);
    let res = r.result.unwrap();
    assert_eq!(res.error, Some(ErrorKind::ApiError));
    assert_eq!(res.code.as_deref(), Some("invalid_request_error"));
    assert_eq!(
        res.message.as_deref(),
        Some("prompt is too long: 300000 tokens > 200000 maximum")
    );
    assert_eq!(r.usage.input_tokens, None);
}

#[test]
fn gemini_stream_json_gives_the_session_stats_and_result() {
    let r = parse_log(OutputKind::Gemini, GEMINI_OK);
    assert_eq!(
        r.agent_session_id.as_deref(),
        Some("8c3034b0-915b-4edb-8358-70caef76885b")
    );
    assert_eq!(r.model.as_deref(), Some("gemini-2.5-pro"));
    lifecycle_usage(&r);
    lifecycle_result(&r);
    let calls = tool_calls(&r);
    assert_eq!(calls[1].0, "write_file");
    // The two warnings on stderr are kept as raw lines.
    let raw = r
        .items
        .iter()
        .filter(|i| matches!(i, LogItem::Raw { .. }))
        .count();
    assert_eq!(raw, 2);
}

#[test]
fn gemini_errors_and_turn_limits_are_told_apart() {
    let r = parse_log(OutputKind::Gemini, GEMINI_API_ERROR);
    let res = r.result.unwrap();
    assert_eq!(res.error, Some(ErrorKind::ApiError));
    assert!(res.message.unwrap().contains("prompt is too long"));
    assert_eq!(r.usage.input_tokens, Some(0));

    let r = parse_log(OutputKind::Gemini, GEMINI_MAX_TURNS);
    let res = r.result.clone().unwrap();
    assert_eq!(res.error, Some(ErrorKind::MaxTurns));
    assert_eq!(res.code.as_deref(), Some("FatalTurnLimitedError"));
    assert_eq!(r.usage.input_tokens, Some(300));
    assert_eq!(r.usage.cached_input_tokens, Some(100));
    // Without a policy file Gemini offers no shell: the call failed, and the log says so.
    assert_eq!(results_ok(&r), vec![false]);
}

#[test]
fn unknown_and_broken_lines_are_kept_and_never_fail_the_parse() {
    for (kind, log) in [
        (OutputKind::Claude, CLAUDE_OK),
        (OutputKind::Codex, CODEX_OK),
        (OutputKind::Gemini, GEMINI_OK),
    ] {
        let mut p = RunParser::new(kind);
        let odd = [
            r#"{"type":"brand_new_event","x":1}"#,
            r#"{"type":"system","subtype":"hook_started"}"#,
            "{not json",
            "[1,2,3]",
            r#"{"no_type":true}"#,
            "plain text on stdout",
        ];
        let lines: Vec<&str> = log.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if i == 2 {
                for o in odd {
                    let added = p.push_line(o);
                    assert_eq!(added.len(), 1, "{kind:?} {o}");
                }
            }
            p.push_line(line);
        }
        let r = p.finish(None);
        for o in odd {
            assert!(
                r.items.contains(&LogItem::Raw { line: o.into() }),
                "{kind:?} lost {o}"
            );
        }
        assert!(r.result.unwrap().is_success(), "{kind:?}");
        lifecycle_usage(&parse_log(kind, log));
    }
}

#[test]
fn a_run_cut_short_is_incomplete_and_keeps_its_live_usage() {
    // Claude's output up to the second model message: usage so far, no result.
    let cut: Vec<&str> = CLAUDE_OK.lines().take(5).collect();
    let mut p = RunParser::new(OutputKind::Claude);
    for l in &cut {
        p.push_line(l);
    }
    assert!(p.usage().input_tokens.unwrap() > 0);
    assert_eq!(p.usage().turns, Some(2));
    let r = p.finish(None);
    assert_eq!(r.result.unwrap().error, Some(ErrorKind::Incomplete));
    assert!(r.agent_session_id.is_some());
    for (kind, log) in [
        (OutputKind::Codex, CODEX_OK),
        (OutputKind::Gemini, GEMINI_OK),
    ] {
        let head: String = log.lines().take(4).map(|l| format!("{l}\n")).collect();
        let r = parse_log(kind, &head);
        assert_eq!(
            r.result.unwrap().error,
            Some(ErrorKind::Incomplete),
            "{kind:?}"
        );
    }
}

#[test]
fn gemini_deltas_extend_one_text_item() {
    let mut p = RunParser::new(OutputKind::Gemini);
    p.push_line(r#"{"type":"message","role":"assistant","content":"Hel","delta":true}"#);
    let r = p.push_line(r#"{"type":"message","role":"assistant","content":"lo","delta":true}"#);
    assert_eq!(r, 0..1);
    assert_eq!(
        p.record().items,
        vec![LogItem::Text {
            text: "Hello".into()
        }]
    );
}

#[test]
fn plain_output_has_no_usage_and_inputs_are_summarized() {
    let r = parse_log(OutputKind::None, "hello\nworld\n");
    assert_eq!(r.items.len(), 2);
    assert_eq!(r.usage, Usage::default());
    assert!(r.result.unwrap().is_success());
    assert_eq!(
        summarize_input(&json!({"command": ["bash", "-lc", "ls"]})),
        "bash -lc ls"
    );
    let long = "é".repeat(400);
    let s = shorten(&long, 301);
    assert!(
        s.starts_with(&"é".repeat(150)) && s.ends_with("(500 more bytes)"),
        "{s}"
    );
    assert!(PriceTable::from_config(Some(&json!({"m": {"input": "x"}}))).is_err());
}

#[test]
fn a_run_renders_as_readable_lines() {
    let text = parse_log(OutputKind::Claude, CLAUDE_OK).render();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "── run started, model claude-opus-5-5, in /work/tree-parent/tree"
    );
    assert_eq!(lines[1], "assistant: I will start the task.");
    assert!(
        lines[2].starts_with("▶ Bash: maestro task start t-"),
        "{text}"
    );
    assert_eq!(lines[3], "✓");
    assert!(lines[4].starts_with("    {\"success\":true"), "{text}");
    assert_eq!(
        lines.last().unwrap(),
        &"── success; 5 turns, 8100 input tokens (5900 cached), 175 output tokens, $0.0135"
    );
    let r = parse_log(OutputKind::Gemini, GEMINI_MAX_TURNS).render();
    assert!(
        r.contains("✗\n    Tool \"run_shell_command\" not found"),
        "{r}"
    );
    assert!(r.ends_with("── max_turns: Reached max session turns for this session. Increase the number of turns by specifying maxSessionTurns in settings.json.; 1 turns, 300 input tokens (100 cached), 20 output tokens"), "{r}");
}
