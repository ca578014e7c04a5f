//! A real server on 127.0.0.1:0 over a temporary database, and small HTTP/WS client helpers.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use maestro_core::protocol::{ClientFrame, ServerFrame};
use maestro_core::server::{self, ServerOptions};
use maestro_core::{Maestro, NewTask, OpContext, SqliteStore};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(20);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct TestServer {
    pub url: String,
    pub ws_url: String,
    pub maestro: Maestro,
    pub db: PathBuf,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<maestro_core::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server with test-friendly intervals, adjusted by `f`.
    pub async fn start_with(f: impl FnOnce(&mut ServerOptions)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("maestro.db");
        let maestro = Maestro::new(Arc::new(SqliteStore::open(&db).unwrap()));
        let mut opts = ServerOptions::new(maestro.clone());
        opts.poll_interval = Duration::from_millis(20);
        opts.shutdown_timeout = Duration::from_secs(5);
        f(&mut opts);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(server::launch_with_listener(opts, listener, async move {
            let _ = stopped.await;
        }));
        let server = Self {
            url: format!("http://{addr}"),
            ws_url: format!("ws://{addr}/ws"),
            maestro,
            db,
            http: reqwest::Client::new(),
            stop: Some(stop),
            handle: Some(handle),
            _dir: dir,
        };
        // Wait until it answers.
        for _ in 0..200 {
            if server.http.get(server.url("/health")).send().await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the server did not start");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Stops the server and returns what `launch_with_listener` returned.
    pub async fn stop(&mut self) -> maestro_core::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let handle = self.handle.take().expect("stopped once");
        tokio::time::timeout(WAIT, handle)
            .await
            .expect("the server stops in time")
            .expect("the server task does not panic")
    }

    /// A project made default, through the facade.
    pub async fn project(&self, name: &str) -> String {
        self.maestro
            .create_project(&OpContext::default(), name, true)
            .await
            .unwrap()
            .id
    }

    /// Creates a task through the facade (no HTTP).
    pub async fn task(&self, title: &str) -> String {
        self.maestro
            .create_task(
                &OpContext::default(),
                NewTask {
                    title: title.into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .id
    }

    pub async fn ws(&self) -> Ws {
        ws_connect(&self.ws_url).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Sends a request and returns the status and the JSON body (Null when empty).
pub async fn call(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = tokio::time::timeout(WAIT, req.send())
        .await
        .expect("the request finishes in time")
        .expect("the request is answered");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, body)
}

/// Asserts an error answer: status, code, and a message.
pub fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "unexpected answer {}", got.1);
    assert_eq!(got.1["success"], false, "{}", got.1);
    assert_eq!(got.1["error"], code, "{}", got.1);
    assert!(got.1["message"].as_str().is_some_and(|m| !m.is_empty()));
}

/// Reads until the server closes the connection (EOF or reset); returns what arrived.
pub async fn until_closed(c: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf).await {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

pub async fn ws_connect(url: &str) -> Ws {
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("connects in time")
        .expect("connects");
    ws
}

pub async fn send(ws: &mut Ws, frame: &ClientFrame) {
    ws.send(Message::text(frame.encode())).await.unwrap();
}

/// What the server sent next, skipping WebSocket-level pings and pongs.
pub enum Got {
    Frame(ServerFrame),
    Closed(Option<CloseFrame>),
}

pub async fn next_msg(ws: &mut Ws) -> Got {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("the server sends something in time");
        match msg {
            None => return Got::Closed(None),
            Some(Err(_)) => return Got::Closed(None),
            Some(Ok(Message::Text(t))) => {
                return Got::Frame(ServerFrame::decode(&t).expect("a protocol frame"));
            }
            Some(Ok(Message::Close(c))) => return Got::Closed(c),
            Some(Ok(_)) => continue,
        }
    }
}

pub async fn next_frame(ws: &mut Ws) -> ServerFrame {
    match next_msg(ws).await {
        Got::Frame(f) => f,
        Got::Closed(c) => panic!("the socket closed: {c:?}"),
    }
}

/// Reads the hello frame and returns its seq.
pub async fn hello(ws: &mut Ws) -> i64 {
    match next_frame(ws).await {
        ServerFrame::Hello { protocol, seq } => {
            assert_eq!(protocol, maestro_core::protocol::PROTOCOL_VERSION);
            seq
        }
        other => panic!("expected hello, got {other:?}"),
    }
}

/// Reads `n` event frames and returns their seqs.
pub async fn events(ws: &mut Ws, n: usize) -> Vec<maestro_core::Event> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match next_frame(ws).await {
            ServerFrame::Event(e) => out.push(e),
            other => panic!("expected an event, got {other:?}"),
        }
    }
    out
}

pub fn subscribe(since: i64, projects: &[&str]) -> ClientFrame {
    ClientFrame::Subscribe {
        since,
        projects: projects.iter().map(|p| p.to_string()).collect(),
    }
}
