//! `maestro mcp`: the context cost of each tool set (`tools/list` size, ≈ tokens as
//! characters / 4) and the latency of tool calls over one stdio session.
//!
//! Run: `cargo build --release -p maestro-cli && cargo bench -p maestro-tests --bench mcp`
//! (`MAESTRO_BIN` measures another binary).

use maestro_tests::Sandbox;
use maestro_tests::mcp::McpClient;
use serde_json::json;
use std::time::{Duration, Instant};

const CALLS: usize = 500;

fn stats(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 9 / 10], v[v.len() - 1])
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` probing
    }
    let sb = Sandbox::with_bin(maestro_tests::bench_bin());
    sb.init();
    let task = sb.task("Benchmark task", &[]);
    let s = maestro_tests::id(&sb.ok(&["session", "register", "--name", "bench"]));

    println!("| tool set | tools | tools/list result, chars | ≈ tokens (chars / 4) |");
    println!("|---|---|---|---|");
    for set in ["worker", "orchestrator", "all"] {
        let mut c = McpClient::start(&sb, &["--tools", set], &[]);
        c.initialize();
        let r = c.request("tools/list", json!({}));
        let text = r["result"].to_string();
        let n = r["result"]["tools"].as_array().map_or(0, Vec::len);
        println!("| {set} | {n} | {} | {} |", text.len(), text.len() / 4);
    }

    println!();
    println!("| call ({CALLS} in one session, as a worker session) | p50 | p90 | max |");
    println!("|---|---|---|---|");
    let mut c = McpClient::start(&sb, &["--tools", "worker"], &[("MAESTRO_SESSION_ID", &s)]);
    c.initialize();
    c.ok("claim", json!({"taskId": task}));
    let calls = [
        ("get_task", json!({"taskId": task})),
        ("status", json!({})),
        ("progress", json!({"message": "still going"})),
    ];
    for (tool, args) in calls {
        let mut times = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let start = Instant::now();
            c.ok(tool, args.clone());
            times.push(start.elapsed());
        }
        let (p50, p90, max) = stats(times);
        println!("| `{tool}` | {p50:.2?} | {p90:.2?} | {max:.2?} |");
    }
}
