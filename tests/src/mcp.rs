//! A minimal MCP client for tests: `maestro mcp` as a child process, one JSON-RPC message
//! per line on its stdin and stdout. `MCP_TRACE=1` prints the traffic (first 200 characters
//! of each line) on stderr, to read with `--nocapture`.

use crate::Sandbox;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long one answer may take before the test gives up (a hung server fails the test
/// instead of hanging it).
const ANSWER_BOUND: Duration = Duration::from_secs(60);

fn trace(dir: &str, line: &str) {
    if std::env::var_os("MCP_TRACE").is_some() {
        eprintln!("{dir} {}", line.chars().take(200).collect::<String>());
    }
}

pub struct McpClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    next_id: i64,
}

impl McpClient {
    /// Starts `maestro mcp <args>` in `sb` with `env` added.
    pub fn start(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut all = vec!["mcp"];
        all.extend_from_slice(args);
        let mut c = sb.command(&all);
        c.envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("start maestro mcp");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            stdin: child.stdin.take(),
            child,
            lines,
            next_id: 0,
        }
    }

    /// Writes one raw line.
    pub fn send_raw(&mut self, line: &str) {
        trace(">>", line);
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// The next message the server writes.
    pub fn recv(&mut self) -> Value {
        let line = self
            .lines
            .recv_timeout(ANSWER_BOUND)
            .expect("an answer from maestro mcp");
        trace("<<", &line);
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Sends a request and returns its response (the whole message).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_raw(&msg.to_string());
        loop {
            let m = self.recv();
            if m["id"] == id {
                return m;
            }
        }
    }

    pub fn notify(&mut self, method: &str) {
        self.send_raw(&json!({"jsonrpc": "2.0", "method": method}).to_string());
    }

    /// The MCP handshake; returns the initialize result.
    pub fn initialize(&mut self) -> Value {
        let r = self.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "maestro-tests", "version": "1"}}),
        );
        self.notify("notifications/initialized");
        r["result"].clone()
    }

    /// The tools offered, by name.
    pub fn tool_names(&mut self) -> Vec<String> {
        let r = self.request("tools/list", json!({}));
        r["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{r}"))
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// Calls a tool; returns the `tools/call` result (content, structuredContent, isError).
    pub fn call(&mut self, tool: &str, args: Value) -> Value {
        let r = self.request("tools/call", json!({"name": tool, "arguments": args}));
        assert!(r.get("error").is_none(), "{tool}: {r}");
        r["result"].clone()
    }

    /// Calls a tool that must succeed; returns its structured result, after checking the
    /// text content says the same.
    pub fn ok(&mut self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args);
        assert_eq!(r["isError"], false, "{tool}: {r}");
        let text: Value = serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, r["structuredContent"], "{tool}");
        r["structuredContent"].clone()
    }

    /// Calls a tool that must fail with `code`; returns the error object.
    pub fn fails(&mut self, tool: &str, args: Value, code: &str) -> Value {
        let r = self.call(tool, args);
        assert_eq!(r["isError"], true, "{tool} should fail: {r}");
        let e = r["structuredContent"].clone();
        assert_eq!(e["code"], code, "{tool}: {e}");
        assert!(
            e["message"].is_string() && e["retryable"].is_boolean(),
            "{e}"
        );
        e
    }

    /// Closes stdin and waits for the server to exit; returns its exit code and stderr.
    pub fn close(mut self) -> (i32, String) {
        drop(self.stdin.take());
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        let status = self.child.wait().expect("wait for maestro mcp");
        (status.code().unwrap_or(-1), stderr)
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
