//! Parsing agent output: `cargo bench -p maestro-core --bench agent_parse`.
//!
//! Builds a 10 MB Claude Code stream-json log by repeating the tool-call lines of a
//! recorded run (assistant tool uses, tool results with their output, text), between the
//! recorded init and result lines, then times `agent::parse_log` over it, and the same
//! size of Codex and Gemini JSONL. Target: 10 MB of stream-json in at most 100 ms.

use maestro_core::agent::parse_log;
use maestro_core::host::plan::OutputKind;
use std::time::{Duration, Instant};

const CLAUDE: &str = include_str!("../tests/fixtures/agents/claude-lifecycle.jsonl");
const CODEX: &str = include_str!("../tests/fixtures/agents/codex-lifecycle.jsonl");
const GEMINI: &str = include_str!("../tests/fixtures/agents/gemini-lifecycle.jsonl");
const SIZE: usize = 10 * 1024 * 1024;

/// The recorded log with its middle lines repeated up to `SIZE` bytes.
fn grow(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let first = lines.iter().position(|l| l.starts_with('{')).unwrap_or(0);
    let (head, body, tail) = (
        &lines[..=first],
        &lines[first + 1..lines.len() - 1],
        lines[lines.len() - 1],
    );
    let mut out = String::with_capacity(SIZE + 64 * 1024);
    for l in head {
        out.push_str(l);
        out.push('\n');
    }
    while out.len() < SIZE {
        for l in body {
            out.push_str(l);
            out.push('\n');
        }
    }
    out.push_str(tail);
    out.push('\n');
    out
}

fn main() {
    for (name, kind, log, target) in [
        ("claude stream-json", OutputKind::Claude, CLAUDE, Some(100)),
        ("codex exec --json", OutputKind::Codex, CODEX, None),
        ("gemini stream-json", OutputKind::Gemini, GEMINI, None),
    ] {
        let text = grow(log);
        let lines = text.lines().count();
        let mut samples: Vec<Duration> = (0..7)
            .map(|_| {
                let start = Instant::now();
                let r = parse_log(kind, &text);
                let took = start.elapsed();
                assert!(r.result.is_some() && !r.items.is_empty());
                took
            })
            .collect();
        samples.sort();
        let median = samples[samples.len() / 2];
        let mb = text.len() as f64 / 1e6;
        let verdict = target.map_or(String::new(), |t| {
            let ok = median <= Duration::from_millis(t);
            format!("  target {t} ms ({})", if ok { "ok" } else { "MISSED" })
        });
        println!(
            "parse {name:<20} {mb:.1} MB, {lines} lines: median {:.1} ms, min {:.1} ms ({:.0} MB/s){verdict}",
            median.as_secs_f64() * 1e3,
            samples[0].as_secs_f64() * 1e3,
            mb / median.as_secs_f64()
        );
    }
}
