//! A hostile client against the real `maestro serve` process: stalled bodies under a low
//! descriptor limit, and tokens in `/ws?token=` URLs kept out of its logs.

use maestro_tests::{Sandbox, Server, http, sandbox};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// `maestro serve` started by bash after `prelude` (e.g. `ulimit -n 256`), its log in `log`.
fn serve_via_shell(
    sb: &Sandbox,
    prelude: &str,
    log: &Path,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Server {
    let db = sb.path().join("server.db");
    let args = Server::args(&db, "127.0.0.1:0", extra);
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "{prelude}\nexec \"$MAESTRO_BIN\" {} 2>'{}'",
        quoted.join(" "),
        log.display()
    );
    Server::start_command(sb.shell(&script, env))
}

#[test]
fn with_256_descriptors_300_stalled_bodies_leave_the_server_answering() {
    let sb = sandbox!();
    let log = sb.path().join("serve.log");
    let server = serve_via_shell(
        &sb,
        "ulimit -n 256 || exit 1",
        &log,
        &[("RUST_LOG", "warn")],
        &["--body-timeout", "2"],
    );
    let addr = server.addr.clone();
    let (status, _) = http(&addr, "GET", "/health", &[], b"");
    assert_eq!(status, 200);

    // Headers promising 1,000 bytes of body, then 9 of them, 300 times over.
    let stalled: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut c = TcpStream::connect(&addr).expect("connect");
            c.write_all(
                b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                  Content-Length: 1000\r\n\r\n{\"title\":",
            )
            .unwrap();
            c
        })
        .collect();
    let started = Instant::now();
    let (status, body) = http(&addr, "GET", "/health", &[], b"");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""db":"ok""#), "{body}");
    let waited = started.elapsed();

    // Every stalled request was answered 408 and closed, none left hanging.
    let mut answers = std::collections::BTreeMap::new();
    for mut c in stalled {
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        let status = String::from_utf8_lossy(&got)
            .split_whitespace()
            .nth(1)
            .unwrap_or("none")
            .to_string();
        *answers.entry(status).or_insert(0) += 1;
    }
    assert_eq!(answers.get("408"), Some(&300), "{answers:?}");
    let _ = server.terminate();
    let log = std::fs::read_to_string(&log).unwrap();
    // The cap kept the server from running out of descriptors: it waited instead.
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(log.contains("at the connection limit"), "{log}");
    eprintln!("/health answered after {waited:?} behind 300 stalled connections");
}

#[test]
fn tokens_in_ws_urls_never_reach_the_log() {
    let sb = sandbox!();
    let log = sb.path().join("serve.log");
    let server = serve_via_shell(
        &sb,
        "",
        &log,
        &[("RUST_LOG", "trace")],
        &["--token", "right-Secret-1", "--log-format", "json"],
    );
    let addr = server.addr.clone();
    let ws = [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    // Refused upgrades end their connection at once rather than at the read timeout.
    let mut refused = ws;
    refused[0] = ("Connection", "Upgrade, close");
    let cases = [
        ("/ws?token=right-Secret-1", &ws[..], 101),
        ("/ws?token=wrong-Secret-2", &refused[..], 401),
        ("/ws?token=right-Secret-1&x=wrong-Secret-3", &[][..], 400),
        ("/ws?token=%zz-wrong-Secret-4", &refused[..], 401),
        ("/api/tasks?token=wrong-Secret-5", &[][..], 401),
        ("/nowhere?token=wrong-Secret-6", &[][..], 404),
    ];
    for (path, headers, want) in cases {
        let (status, body) = http(&addr, "GET", path, headers, b"");
        assert_eq!(status, want, "{path}: {body}");
    }
    let _ = server.terminate();
    let log = std::fs::read_to_string(&log).unwrap();
    // Logging was on: every request left its line, by route template.
    assert!(log.contains(r#""route":"/ws""#), "{log}");
    assert!(log.lines().count() >= cases.len(), "{log}");
    assert!(!log.contains("Secret-"), "a token reached the log:\n{log}");
    assert!(
        !log.contains("token="),
        "a query string reached the log:\n{log}"
    );
}
