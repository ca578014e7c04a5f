//! A hostile client on loopback against a real server on 127.0.0.1:0: bodies that stall,
//! more connections than the cap, made-up methods and paths in the metrics, WebSocket
//! frames that break the protocol.
#![cfg(feature = "server")]

mod server_support;

use futures_util::StreamExt;
use maestro_core::protocol::{ClientFrame, ServerFrame};
use server_support::*;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn addr(s: &TestServer) -> String {
    s.url.trim_start_matches("http://").to_string()
}

/// One `GET path` on a new connection (`Connection: close`); the whole answer as text.
async fn get(addr: &str, path: &str) -> String {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    String::from_utf8(until_closed(&mut c).await).unwrap()
}

/// A request whose headers promise 1,000 bytes of body, followed by 9 of them.
async fn stalled_post(addr: &str) -> TcpStream {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(
        b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{\"title\":",
    )
    .await
    .unwrap();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_or_trickles_gets_408_and_its_connection_closed() {
    let s = TestServer::start_with(|o| o.body_read_timeout = Duration::from_millis(400)).await;
    s.project("demo").await;
    let addr = addr(&s);

    let mut stalled = stalled_post(&addr).await;
    let got = timeout(WAIT, until_closed(&mut stalled))
        .await
        .expect("the stalled connection is closed");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""error":"timeout""#), "{text}");

    // The deadline covers the whole body, not the gap between two pieces of it.
    let trickle = TcpStream::connect(&addr).await.unwrap();
    let (mut read, mut write) = trickle.into_split();
    write
        .write_all(b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        .await
        .unwrap();
    let drip = tokio::spawn(async move {
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if write.write_all(b" ").await.is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n @ 1..)) = timeout(WAIT, read.read(&mut buf)).await {
        got.extend_from_slice(&buf[..n]);
    }
    drip.abort();
    assert!(
        got.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );

    // A body sent in a few quick pieces is read whole.
    let mut pieces = TcpStream::connect(&addr).await.unwrap();
    let body = br#"{"title":"sent in pieces"}"#;
    pieces
        .write_all(
            format!(
                "POST /api/tasks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    for part in body.chunks(10) {
        pieces.write_all(part).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = timeout(WAIT, until_closed(&mut pieces)).await.unwrap();
    assert!(
        got.starts_with(b"HTTP/1.1 201"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    let tasks = s.maestro.list_tasks(Default::default()).await.unwrap();
    let titles: Vec<_> = tasks.items.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(
        titles,
        ["sent in pieces"],
        "only the complete body made a task"
    );
}

/// Waits until `/metrics` shows `open` open connections (its own included).
async fn wait_open(addr: &str, open: usize) {
    let want = format!("maestro_connections_open {open}");
    for _ in 0..500 {
        if get(addr, "/metrics").await.lines().any(|l| l == want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never saw {want}: {}", get(addr, "/metrics").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_new_connections_wait_for_a_free_place() {
    let mut s = TestServer::start_with(|o| {
        o.max_connections = 3;
        o.body_read_timeout = Duration::from_secs(120);
    })
    .await;
    let addr = addr(&s);
    // The start-up probe's pooled connection holds a place: let it go.
    s.http = reqwest::Client::new();
    wait_open(&addr, 1).await;
    assert!(
        get(&addr, "/metrics")
            .await
            .contains("maestro_connections_max 3")
    );

    for kind in ["stalled HTTP requests", "WebSocket clients"] {
        let mut held = Vec::new();
        let mut sockets = Vec::new();
        for _ in 0..3 {
            if kind.starts_with("stalled") {
                held.push(stalled_post(&addr).await);
            } else {
                // An upgraded socket keeps its connection's place after the HTTP part ends.
                let mut ws = s.ws().await;
                hello(&mut ws).await;
                sockets.push(ws);
            }
            if held.len() + sockets.len() < 3 {
                wait_open(&addr, held.len() + sockets.len() + 1).await;
            }
        }
        // At the cap: a new connection waits in the backlog, unanswered...
        let waiting = tokio::spawn({
            let addr = addr.clone();
            async move { get(&addr, "/health").await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!waiting.is_finished(), "{kind}: answered past the cap");
        // ...until one of those closes.
        held.pop();
        if let Some(mut ws) = sockets.pop() {
            ws.close(None).await.unwrap();
        }
        let health = timeout(WAIT, waiting).await.expect("answered").unwrap();
        assert!(health.starts_with("HTTP/1.1 200"), "{kind}: {health}");
        drop(held);
        for mut ws in sockets {
            ws.close(None).await.unwrap();
        }
        wait_open(&addr, 1).await;
    }
}

/// Sends `requests` pipelined on one connection and reads all their answers.
async fn pipelined(c: &mut TcpStream, requests: &[String]) {
    c.write_all(requests.concat().as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let answers = |got: &[u8]| got.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
    while answers(&got) < requests.len() {
        let n = timeout(WAIT, c.read(&mut buf))
            .await
            .expect("answers in time")
            .unwrap();
        assert!(n > 0, "the server closed after {} answers", answers(&got));
        got.extend_from_slice(&buf[..n]);
    }
}

/// The series of a scrape: every sample line without its value.
fn series(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with("maestro_"))
        .filter_map(|l| l.rsplit_once(' ').map(|(name, _)| name.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_and_paths_do_not_grow_the_metrics() {
    let s = TestServer::start_with(|o| o.token = Some("s3cret".into())).await;
    s.project("demo").await;
    let id = s.task("one").await;
    let addr = addr(&s);
    let auth = "Authorization: Bearer s3cret\r\n";
    let request = |i: usize| match i % 3 {
        // Refused for want of a token, on a known route.
        0 => format!("M{i} /api/tasks HTTP/1.1\r\nHost: x\r\n\r\n"),
        // A known route that has no such method.
        1 => format!("X-{i} /api/tasks/{id} HTTP/1.1\r\nHost: x\r\n{auth}\r\n"),
        // No such route at all.
        _ => format!("Q{i} /nowhere/{i}?q={i} HTTP/1.1\r\nHost: x\r\n{auth}\r\n"),
    };
    let scrape = || async {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        c.write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        String::from_utf8(until_closed(&mut c).await).unwrap()
    };
    let mut c = TcpStream::connect(&addr).await.unwrap();
    let warmup: Vec<String> = (0..300).map(request).collect();
    pipelined(&mut c, &warmup).await;
    scrape().await;
    let before = scrape().await;
    for batch in 0..60 {
        let reqs: Vec<String> = (0..500).map(|i| request(300 + batch * 500 + i)).collect();
        pipelined(&mut c, &reqs).await;
    }
    let after = scrape().await;
    assert_eq!(series(&before), series(&after), "new series appeared");
    assert!(
        after.len() < before.len() + 200,
        "{} → {} bytes",
        before.len(),
        after.len()
    );
    for (route, status) in [
        ("/api/tasks", 401),
        ("/api/tasks/{id}", 405),
        ("unmatched", 404),
    ] {
        let line = format!(
            r#"maestro_http_requests_total{{route="{route}",method="other",status="{status}"}} 10100"#
        );
        assert!(after.lines().any(|l| l == line), "no {line} in\n{after}");
    }
    assert!(!after.contains("/nowhere"), "{after}");
}

/// Opens `/ws` by hand, so that frames the client libraries refuse to send can be sent.
async fn raw_ws(addr: &str) -> TcpStream {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    // Byte by byte up to the end of the headers, so no frame after them is consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(timeout(WAIT, c.read_u8()).await.unwrap().unwrap());
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    c
}

/// One frame: `opcode`, FIN, masked (as clients must) or not.
fn frame(opcode: u8, fin: bool, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_protocol_errors_close_with_their_code() {
    let s = TestServer::start_with(|o| o.max_body_bytes = 1024).await;
    let addr = addr(&s);
    let ping = br#"{"type":"ping"}"#;
    let cases: Vec<(&str, Vec<u8>, CloseCode)> = vec![
        (
            "invalid UTF-8 in a text frame",
            frame(0x1, true, true, b"{\"type\":\"\xff\xfe\"}"),
            CloseCode::Invalid,
        ),
        (
            "invalid UTF-8 across fragments",
            [
                frame(0x1, false, true, b"{\"a\":\"\xe2"),
                frame(0x0, true, true, b"\x28\"}"),
            ]
            .concat(),
            CloseCode::Invalid,
        ),
        (
            "an unmasked frame",
            frame(0x1, true, false, ping),
            CloseCode::Protocol,
        ),
        (
            "a reserved data opcode",
            frame(0x3, true, true, ping),
            CloseCode::Protocol,
        ),
        (
            "a reserved control opcode",
            frame(0xb, true, true, b""),
            CloseCode::Protocol,
        ),
        (
            "a ping of 126 bytes",
            frame(0x9, true, true, &[b'p'; 126]),
            CloseCode::Protocol,
        ),
        (
            "a continuation out of nowhere",
            frame(0x0, true, true, ping),
            CloseCode::Protocol,
        ),
        (
            "a message over the limit",
            frame(0x1, true, true, &[b' '; 4096]),
            CloseCode::Size,
        ),
        (
            "fragments adding up past the limit",
            [
                frame(0x1, false, true, &[b' '; 800]),
                frame(0x0, true, true, &[b' '; 800]),
            ]
            .concat(),
            CloseCode::Size,
        ),
    ];
    for (name, bytes, code) in cases {
        let mut tcp = raw_ws(&addr).await;
        tcp.write_all(&bytes).await.unwrap();
        let mut ws = WebSocketStream::from_raw_socket(tcp, Role::Client, None).await;
        let mut got = Vec::new();
        loop {
            match timeout(WAIT, ws.next()).await.expect("the server answers") {
                Some(Ok(Message::Text(t))) => got.push(t.to_string()),
                Some(Ok(Message::Close(close))) => {
                    let close = close.unwrap_or_else(|| panic!("{name}: a close without a code"));
                    assert_eq!(close.code, code, "{name}: {close:?}");
                    break;
                }
                Some(Ok(_)) => {}
                other => panic!("{name}: no close frame, got {other:?} after {got:?}"),
            }
        }
        assert!(
            got.len() == 1 && got[0].contains("hello"),
            "{name}: {got:?}"
        );
    }
    // A frame within the rules on the same kind of connection is answered.
    let mut tcp = raw_ws(&addr).await;
    tcp.write_all(&frame(
        0x1,
        true,
        true,
        ClientFrame::Ping.encode().as_bytes(),
    ))
    .await
    .unwrap();
    let mut ws = WebSocketStream::from_raw_socket(tcp, Role::Client, None).await;
    let mut frames = Vec::new();
    while frames.len() < 2 {
        match timeout(WAIT, ws.next()).await.expect("the server answers") {
            Some(Ok(Message::Text(t))) => frames.push(ServerFrame::decode(&t).unwrap()),
            Some(Ok(_)) => {}
            other => panic!("the socket ended: {other:?}"),
        }
    }
    assert!(matches!(frames[0], ServerFrame::Hello { .. }), "{frames:?}");
    assert_eq!(frames[1], ServerFrame::Pong);
    assert!(get(&addr, "/health").await.starts_with("HTTP/1.1 200"));
}

/// One frame of any shape a client could send: any opcode, FIN or not, reserved bits,
/// masked or not, any payload of up to 129 bytes (messages past the limit are the example
/// test's: here all frames fit in one read of the server, so that it never closes with
/// bytes unread, which would reset the connection and lose its close frame).
fn any_frame() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let payload = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..130),
        1 => "\\PC{0,40}".prop_map(String::into_bytes),
    ];
    (
        0u8..16,
        any::<bool>(),
        0u8..8,
        prop::bool::weighted(0.9),
        payload,
    )
        .prop_map(|(opcode, fin, rsv, masked, payload)| {
            let mut f = frame(opcode, fin, masked, &payload);
            f[0] |= if rsv == 0 || rsv > 3 { 0 } else { rsv << 4 };
            f
        })
}

/// Whatever frames a client sends, the server's frame decoder either keeps the connection
/// (a ping after them is answered) or closes it with a close frame and a code, never with a
/// bare end of stream; and the server keeps answering everyone else.
#[test]
fn any_frames_get_an_answer_or_a_close_with_a_code() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(TestServer::start_with(|o| o.max_body_bytes = 1024));
    let addr = addr(&s);
    let config = ProptestConfig {
        cases: ProptestConfig::default().cases.min(200),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(frames in prop::collection::vec(any_frame(), 1..5))| {
        let outcome = rt.block_on(async {
            let mut tcp = raw_ws(&addr).await;
            // Up to a close frame of the client (nothing may follow it), then a ping.
            let mut bytes = Vec::new();
            let mut closed = false;
            // A close without a code may be answered by one without a code.
            let mut may_echo_no_code = false;
            for f in &frames {
                bytes.extend_from_slice(f);
                if f[0] & 0x0f == 0x8 {
                    closed = true;
                    may_echo_no_code = f[1] & 0x7f == 0;
                    break;
                }
            }
            if !closed {
                bytes.extend(frame(0x1, true, true, ClientFrame::Ping.encode().as_bytes()));
            }
            tcp.write_all(&bytes).await.unwrap();
            let mut ws = WebSocketStream::from_raw_socket(tcp, Role::Client, None).await;
            loop {
                match timeout(WAIT, ws.next()).await {
                    Err(_) => break Err("no answer and no close".to_string()),
                    Ok(Some(Ok(Message::Text(t)))) => {
                        if ServerFrame::decode(&t).ok() == Some(ServerFrame::Pong) {
                            break Ok(None);
                        }
                    }
                    Ok(Some(Ok(Message::Close(close)))) => {
                        break match close {
                            Some(c) => Ok(Some(c.code)),
                            None if may_echo_no_code => Ok(None),
                            None => Err("a close frame without a code".to_string()),
                        };
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(other) => break Err(format!("the stream ended without a close: {other:?}")),
                }
            }
        });
        prop_assert!(outcome.is_ok(), "{:?} after {:?}", outcome, frames);
        if let Ok(Some(code)) = outcome {
            prop_assert!(code != CloseCode::Policy, "1008 after {:?}", frames);
        }
        let health = rt.block_on(get(&addr, "/health"));
        prop_assert!(health.starts_with("HTTP/1.1 200"), "{}", health);
    });
}
