//! A hostile client against the real `maestro serve` process: stalled bodies under a low
//! descriptor limit, and tokens in `/ws?token=` URLs kept out of its logs; a store on a
//! read-only file system.

use maestro_tests::fs::Tmpfs;
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

/// A page of another origin cannot drive a server on the user's loopback through the
/// visitor's browser: its writes and WebSocket upgrades are refused (403), while reads,
/// the server's own pages, allowed origins and clients that send no `Origin` go through.
#[test]
fn pages_of_other_origins_cannot_change_data_or_open_the_websocket() {
    let mut sb = sandbox!();
    sb.set_env(
        "MAESTRO_ALLOWED_ORIGINS",
        "https://dash.example.com/, http://other.test:8080",
    );
    let server = Server::start(&sb, &sb.path().join("server.db"), "127.0.0.1:0", &[]);
    let addr = server.addr.clone();
    let (status, body) = http(&addr, "POST", "/api/projects", &[], br#"{"name":"p"}"#);
    assert_eq!(status, 201, "{body}");
    let own = format!("http://{addr}");
    let json = ("Content-Type", "application/json");
    let task = br#"{"title":"from a page"}"#;
    let ws = [
        ("Connection", "Upgrade, close"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let created = |origin: Option<&str>| {
        let mut headers = vec![json];
        headers.extend(origin.map(|o| ("Origin", o)));
        http(&addr, "POST", "/api/tasks", &headers, task)
    };
    for evil in [
        "http://evil.example",
        "null",
        "http://127.0.0.1",
        "https://dash.example.com.evil",
    ] {
        let (status, body) = created(Some(evil));
        assert_eq!(status, 403, "{evil}: {body}");
        let e: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(e["error"], "unauthorized", "{body}");
        assert!(
            e["suggestion"]
                .as_str()
                .unwrap()
                .contains("MAESTRO_ALLOWED_ORIGINS")
        );
        let mut upgrade = ws.to_vec();
        upgrade.push(("Origin", evil));
        assert_eq!(http(&addr, "GET", "/ws", &upgrade, b"").0, 403, "{evil}");
        let (status, _) = http(&addr, "GET", "/api/tasks", &[("Origin", evil)], b"");
        assert_eq!(status, 200, "reads stay open to {evil}");
    }
    let (status, body) = http(&addr, "GET", "/api/tasks", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(
        body.matches("from a page").count(),
        0,
        "a refused write landed: {body}"
    );
    for fine in [
        None,
        Some(own.as_str()),
        Some("https://dash.example.com"),
        Some("http://other.test:8080"),
    ] {
        let (status, body) = created(fine);
        assert_eq!(status, 201, "{fine:?}: {body}");
        let mut upgrade = ws.to_vec();
        upgrade[0] = ("Connection", "Upgrade");
        upgrade.extend(fine.map(|o| ("Origin", o)));
        assert_eq!(http(&addr, "GET", "/ws", &upgrade, b"").0, 101, "{fine:?}");
    }
    // A proxy that rewrites Host says where the page was loaded from.
    let proxied = [
        json,
        ("Origin", "https://maestro.corp"),
        ("X-Forwarded-Host", "maestro.corp"),
    ];
    assert_eq!(http(&addr, "POST", "/api/tasks", &proxied, task).0, 201);
}

/// A store on a file system remounted read-only, both cleanly closed and with the WAL a
/// killed server left behind: reads see every commit, `whoami` says it is read-only, and
/// writes are refused with a `storage_error` saying why, the file unchanged.
#[test]
fn a_store_on_a_read_only_file_system_is_read_and_refuses_writes() {
    for killed_writer in [false, true] {
        let fs = Tmpfs::mount("16m");
        let mut sb = sandbox!();
        let db = fs.join("m.db");
        sb.set_env("MAESTRO_DB", &db.display().to_string());
        sb.init();
        let first = sb.task("first", &[]);
        let server = killed_writer.then(|| Server::start(&sb, &db, "127.0.0.1:0", &[]));
        let second = sb.task("second", &["--depends-on", &first]);
        if let Some(server) = server {
            // The server's connection keeps the WAL (and the last commit in it) on disk.
            server.kill();
            assert!(
                fs.join("m.db-wal").exists(),
                "the killed server left no WAL"
            );
        }
        let before = std::fs::read(&db).unwrap();
        fs.set_read_only(true);

        let listed = sb.ok(&["task", "list"]);
        let titles: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap())
            .collect();
        assert_eq!(
            titles,
            ["first", "second"],
            "killed writer: {killed_writer}"
        );
        assert_eq!(
            sb.ok(&["task", "get", &second])["dependencies"][0],
            first.as_str()
        );
        assert_eq!(sb.ok(&["status"])["tasks"]["total"], 2);
        assert_eq!(sb.ok(&["task", "ready"]).as_array().unwrap().len(), 1);
        let me = sb.ok(&["whoami"]);
        assert_eq!(me["readOnly"], true, "{me}");
        assert!(sb.run(&["whoami"]).stdout.contains("(read-only)"));

        let err = sb.fails(&["task", "create", "third"], "storage_error", 1);
        assert_eq!(err["details"]["readOnly"], true, "{err}");
        assert!(
            err["message"].as_str().unwrap().contains("read-only"),
            "{err}"
        );
        assert!(
            err["suggestion"].as_str().unwrap().contains("--db"),
            "{err}"
        );
        sb.fails(&["task", "start", &first], "storage_error", 1);
        assert_eq!(std::fs::read(&db).unwrap(), before, "the file changed");

        fs.set_read_only(false);
        assert_eq!(sb.ok(&["whoami"])["readOnly"], false);
        sb.task("third", &[]);
        assert_eq!(sb.ok(&["task", "list"]).as_array().unwrap().len(), 3);
    }
}
