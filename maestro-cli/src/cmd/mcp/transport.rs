//! Newline-delimited JSON-RPC over stdin/stdout for the MCP server, answering what the SDK's
//! own stdio transport leaves unanswered: a line that is not JSON gets a parse error
//! (-32700), JSON that is not a JSON-RPC message (a batch, a missing `method`) an invalid
//! request (-32600) with its id when it has one, a line longer than [`MAX_LINE`] an invalid
//! request. Notifications sent before `initialize` are dropped (there is no session to
//! deliver them to yet). End of input ends the server.

use rmcp::RoleServer;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// The longest request line read, in bytes; longer ones are discarded whole.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// JSON-RPC's error codes for what cannot reach the server.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;

pub struct LineTransport<R, W> {
    reader: BufReader<R>,
    writer: Arc<Mutex<W>>,
    line: Vec<u8>,
    /// The line being read is past [`MAX_LINE`] and being skipped.
    too_long: bool,
    initialized: bool,
    /// Error answers still being written.
    replies: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

enum Line {
    Message,
    TooLong,
    Eof,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin + Send + 'static> LineTransport<R, W> {
    pub fn new(reader: R, writer: W) -> Self {
        Self {
            reader: BufReader::new(reader),
            writer: Arc::new(Mutex::new(writer)),
            line: Vec::new(),
            too_long: false,
            initialized: false,
            replies: Vec::new(),
        }
    }

    /// Reads one line into `self.line` (without its newline), never holding more than
    /// [`MAX_LINE`] bytes of it. A last line without a newline counts. Cancel-safe: the
    /// service polls `receive` in a `select!`, so a read may be dropped at its `await` and
    /// resumed later; the partial line stays in `self` until the caller takes it.
    async fn read_line(&mut self) -> std::io::Result<Line> {
        loop {
            let chunk = self.reader.fill_buf().await?;
            if chunk.is_empty() {
                return Ok(match (self.too_long, self.line.is_empty()) {
                    (true, _) => Line::TooLong,
                    (false, true) => Line::Eof,
                    (false, false) => Line::Message,
                });
            }
            let (take, done) = match chunk.iter().position(|b| *b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if !self.too_long {
                self.line.extend_from_slice(&chunk[..take]);
                if self.line.len() > MAX_LINE {
                    self.too_long = true;
                    self.line = Vec::new();
                }
            }
            self.reader.consume(take + usize::from(done));
            if done {
                return Ok(if self.too_long {
                    Line::TooLong
                } else {
                    Line::Message
                });
            }
        }
    }

    /// Answers a line that reaches no handler with a JSON-RPC error, in a task of its own
    /// so that a dropped `receive` cannot cut the answer short.
    fn reply_error(&mut self, id: Value, code: i64, message: &str) {
        let reply =
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
        let writer = self.writer.clone();
        self.replies.retain(|r| !r.is_finished());
        self.replies.push(tokio::spawn(async move {
            write_line(&writer, reply.to_string().into_bytes()).await
        }));
    }

    /// The next message for the server, answering the lines that are none.
    async fn next(&mut self) -> std::io::Result<Option<RxJsonRpcMessage<RoleServer>>> {
        loop {
            let read = self.read_line().await?;
            // Nothing below awaits: the line is handled whole once taken.
            let line = std::mem::take(&mut self.line);
            self.too_long = false;
            match read {
                Line::Eof => return Ok(None),
                Line::TooLong => {
                    let msg =
                        format!("Request too large: the limit is {MAX_LINE} bytes per message");
                    self.reply_error(Value::Null, INVALID_REQUEST, &msg);
                    continue;
                }
                Line::Message => {}
            }
            let text = line.strip_suffix(b"\r").unwrap_or(&line);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let value: Value = match serde_json::from_slice(text) {
                Ok(v) => v,
                Err(e) => {
                    let msg = format!("Parse error: {e}");
                    self.reply_error(Value::Null, PARSE_ERROR, &msg);
                    continue;
                }
            };
            let id = value.get("id").cloned().unwrap_or(Value::Null);
            let method = value
                .get("method")
                .and_then(Value::as_str)
                .map(str::to_string);
            let value_meta = (method.clone(), value.pointer("/params/_meta").cloned());
            let message = match serde_json::from_value::<RxJsonRpcMessage<RoleServer>>(value) {
                Ok(m) => m,
                Err(e) => {
                    // An id of the wrong type cannot be echoed back.
                    let id = if id.is_string() || id.is_number() {
                        id
                    } else {
                        Value::Null
                    };
                    let msg = format!("Invalid request: {e}");
                    self.reply_error(id, INVALID_REQUEST, &msg);
                    continue;
                }
            };
            if method.as_deref() == Some("initialize") {
                self.initialized = true;
            } else if !self.initialized {
                match &message {
                    RxJsonRpcMessage::<RoleServer>::Request(_)
                        if !inline_lifecycle(&value_meta) =>
                    {
                        let msg = "Server not initialized: send 'initialize' first";
                        self.reply_error(id, INVALID_REQUEST, msg);
                        continue;
                    }
                    RxJsonRpcMessage::<RoleServer>::Request(_) => {}
                    _ => continue,
                }
            }
            return Ok(Some(message));
        }
    }
}

/// Whether a request may come before `initialize`: a ping, a discovery, or one that carries
/// its protocol version itself (the lifecycle without `initialize`, which the SDK serves).
fn inline_lifecycle((method, meta): &(Option<String>, Option<Value>)) -> bool {
    matches!(method.as_deref(), Some("ping" | "server/discover"))
        || meta
            .as_ref()
            .is_some_and(|m| m.get("io.modelcontextprotocol/protocolVersion").is_some())
}

async fn write_line<W: AsyncWrite + Unpin>(
    writer: &Mutex<W>,
    mut bytes: Vec<u8>,
) -> std::io::Result<()> {
    bytes.push(b'\n');
    let mut w = writer.lock().await;
    w.write_all(&bytes).await?;
    w.flush().await
}

impl<R, W> rmcp::transport::Transport<RoleServer> for LineTransport<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let writer = self.writer.clone();
        let bytes = serde_json::to_vec(&item).map_err(std::io::Error::other);
        async move { write_line(&writer, bytes?).await }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        // A read error (stdin gone) ends the session like the end of input.
        self.next().await.ok().flatten()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        for r in self.replies.drain(..) {
            let _ = r.await;
        }
        self.writer.lock().await.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::transport::Transport;

    /// What the transport answers and forwards for `input`.
    async fn feed(input: &str) -> (Vec<Value>, Vec<Value>) {
        let (mut client, server_out) = tokio::io::duplex(1 << 16);
        let mut t = LineTransport::new(std::io::Cursor::new(input.as_bytes().to_vec()), server_out);
        let mut forwarded = Vec::new();
        while let Some(m) = t.receive().await {
            forwarded.push(serde_json::to_value(&m).unwrap());
        }
        t.close().await.unwrap();
        drop(t);
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut client, &mut out)
            .await
            .unwrap();
        let replies = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (replies, forwarded)
    }

    #[tokio::test]
    async fn bad_lines_get_json_rpc_errors_and_good_ones_pass() {
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        let input = format!(
            "{{not json\n\n[1,2]\n{{\"jsonrpc\":\"2.0\",\"id\":7}}\n{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}}\n{{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/list\"}}\n{{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}}\n{init}\r\n{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}}"
        );
        let (replies, forwarded) = feed(&input).await;
        let codes: Vec<(Value, i64)> = replies
            .iter()
            .map(|r| (r["id"].clone(), r["error"]["code"].as_i64().unwrap()))
            .collect();
        assert_eq!(
            codes,
            vec![
                (Value::Null, PARSE_ERROR),
                (Value::Null, INVALID_REQUEST),
                (json!(7), INVALID_REQUEST),
                (json!("a"), INVALID_REQUEST),
            ]
        );
        // The notification before initialize is dropped; the one after (without a final
        // newline) is delivered.
        let methods: Vec<&str> = forwarded
            .iter()
            .map(|m| m["method"].as_str().unwrap())
            .collect();
        assert_eq!(
            methods,
            vec!["ping", "initialize", "notifications/initialized"]
        );
    }

    #[tokio::test]
    async fn an_oversized_line_is_refused_and_the_next_one_read() {
        let big = format!("{{\"x\":\"{}\"}}\n", "a".repeat(MAX_LINE + 10));
        let input = format!("{big}{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}}\n");
        let (replies, forwarded) = feed(&input).await;
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0]["error"]["code"], INVALID_REQUEST);
        assert!(
            replies[0]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("too large")
        );
        assert_eq!(forwarded.len(), 1);
        assert_eq!(forwarded[0]["method"], "ping");
    }
}
