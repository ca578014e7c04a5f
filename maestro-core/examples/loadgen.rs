//! Load generator for `maestro serve` (loopback only, bounded in time and counts).
//!
//! ```text
//! cargo run --release -p maestro-core --example loadgen                 # spawn a server, run all
//! cargo run --release -p maestro-core --example loadgen -- --secs 3     # shorter phases
//! cargo run --release -p maestro-core --example loadgen -- --url http://127.0.0.1:7420 [--token T] [--pid N]
//! ```
//!
//! By default it starts the server as a child process (this same binary, `serve` mode) on a
//! temporary database, so the server's memory (VmRSS of /proc/<pid>/status) is measured
//! apart from the load generator's. It measures:
//! - `GET /api/tasks/:id` with 1 sequential keep-alive connection and with 32 connections;
//! - `GET /health` the same ways: the round-trip floor of the machine (a one-row read);
//! - `POST /api/tasks` and `PATCH /api/tasks/:id`, sequential and with 8 connections;
//! - mutation → WebSocket delivery latency (p50/p99) with 100 subscribers;
//! - server RSS idle, and with 1,000 connected and subscribed WebSocket clients.
//!
//! HTTP requests go through a minimal HTTP/1.1 keep-alive client so that the load generator
//! spends as little of the shared CPU as possible. `LOADGEN_POOL=<n>` sets the spawned
//! server's SQLite connection pool (default 4).

use futures_util::{SinkExt, StreamExt};
use maestro_core::sqlite::SqliteOptions;
use maestro_core::{Maestro, SqliteStore, server};
use serde_json::{Value, json};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Args {
    url: Option<String>,
    token: Option<String>,
    pid: Option<u32>,
    secs: f64,
    subscribers: usize,
    ws_clients: usize,
    mutations: usize,
    /// Comma-separated phases to run: get, health, post, patch, ws, rss (default: all).
    only: Option<String>,
}

fn parse_args() -> Res<(bool, Args)> {
    let mut it = std::env::args().skip(1);
    let mut serve = false;
    let mut a = Args {
        url: None,
        token: None,
        pid: None,
        secs: 5.0,
        subscribers: 100,
        ws_clients: 1000,
        mutations: 300,
        only: None,
    };
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "serve" => serve = true,
            "--url" => a.url = Some(val()?),
            "--token" => a.token = Some(val()?),
            "--pid" => a.pid = Some(val()?.parse()?),
            "--secs" => a.secs = val()?.parse::<f64>()?.clamp(0.5, 60.0),
            "--subscribers" => a.subscribers = val()?.parse::<usize>()?.clamp(1, 1000),
            "--ws-clients" => a.ws_clients = val()?.parse::<usize>()?.clamp(1, 5000),
            "--mutations" => a.mutations = val()?.parse::<usize>()?.clamp(10, 10_000),
            "--only" => a.only = Some(val()?),
            "-h" | "--help" => {
                println!(
                    "loadgen [--url http://127.0.0.1:PORT] [--token T] [--pid N] [--secs S] \
                     [--subscribers N] [--ws-clients N] [--mutations N] [--only get,health,post,patch,ws,rss]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok((serve, a))
}

fn main() -> Res<()> {
    let (serve, args) = parse_args()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if serve {
        rt.block_on(serve_child())
    } else {
        rt.block_on(run(args))
    }
}

// ---- the server child --------------------------------------------------------------

/// `loadgen serve <db>`: serves on 127.0.0.1:0, prints the address, stops when stdin closes.
async fn serve_child() -> Res<()> {
    let db = std::env::var("LOADGEN_DB")?;
    let store = SqliteStore::open_with(
        &db,
        SqliteOptions {
            max_connections: std::env::var("LOADGEN_POOL")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(4),
            ..Default::default()
        },
    )?;
    let mut opts = server::ServerOptions::new(Maestro::new(Arc::new(store)));
    opts.token = std::env::var("LOADGEN_TOKEN").ok();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        let _ = closed_tx.send(());
    });
    let stdin_closed = async move {
        let _ = closed_rx.await;
    };
    server::launch_with_listener(opts, listener, stdin_closed).await?;
    Ok(())
}

// ---- a minimal HTTP/1.1 keep-alive client ------------------------------------------

struct Http {
    stream: tokio::io::BufReader<TcpStream>,
    host: String,
    auth: String,
    line: String,
}

impl Http {
    async fn connect(addr: SocketAddr, token: Option<&str>) -> Res<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: tokio::io::BufReader::with_capacity(64 * 1024, stream),
            host: addr.to_string(),
            auth: token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n")),
            line: String::new(),
        })
    }

    /// One request; returns the status and the body.
    async fn call(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> Res<(u16, Vec<u8>)> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{}",
            self.host, self.auth
        );
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        if let Some(b) = body {
            bytes.extend_from_slice(b);
        }
        self.stream.get_mut().write_all(&bytes).await?;
        // Status line and headers.
        self.line.clear();
        self.stream.read_line(&mut self.line).await?;
        let status: u16 = self
            .line
            .split_whitespace()
            .nth(1)
            .ok_or("bad status line")?
            .parse()?;
        let mut len = None;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await? == 0 {
                return Err("connection closed".into());
            }
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = Some(v.trim().parse::<usize>()?);
            }
        }
        let mut body = vec![0u8; len.ok_or("no content-length")?];
        self.stream.read_exact(&mut body).await?;
        Ok((status, body))
    }

    async fn json(&mut self, method: &str, path: &str, body: Option<Value>) -> Res<Value> {
        let b = body.map(|b| serde_json::to_vec(&b)).transpose()?;
        let (status, resp) = self.call(method, path, b.as_deref()).await?;
        if !(200..300).contains(&status) {
            return Err(format!(
                "{method} {path}: {status} {}",
                String::from_utf8_lossy(&resp)
            )
            .into());
        }
        Ok(serde_json::from_slice(&resp)?)
    }
}

// ---- measurements --------------------------------------------------------------------

struct Rate {
    requests: u64,
    secs: f64,
    /// CPU seconds used by the server and by this load generator during the phase.
    server_cpu: f64,
    client_cpu: f64,
    p50_us: f64,
    p99_us: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Runs `conns` connections for `secs`, each calling `make(conn_index, i)` → (method,
/// path, body) in a loop; every answer must be 2xx.
async fn load<F>(
    addr: SocketAddr,
    token: Option<&str>,
    pid: Option<u32>,
    conns: usize,
    secs: f64,
    make: F,
) -> Res<Rate>
where
    F: Fn(usize, u64) -> (&'static str, String, Option<Vec<u8>>) + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    let server = pid.map_or_else(|| "0".to_string(), |p| p.to_string());
    let (s0, c0) = (cpu_secs(&server), cpu_secs("self"));
    let start = Instant::now();
    for c in 0..conns {
        let mut http = Http::connect(addr, token).await?;
        let (make, stop, count) = (make.clone(), stop.clone(), count.clone());
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (method, path, body) = make(c, i);
                let t = Instant::now();
                let (status, resp) = http.call(method, &path, body.as_deref()).await?;
                if !(200..300).contains(&status) {
                    return Err(format!(
                        "{method} {path}: {status} {}",
                        String::from_utf8_lossy(&resp)
                    )
                    .into());
                }
                lat.push(t.elapsed().as_secs_f64() * 1e6);
                count.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            Res::Ok(lat)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    Ok(Rate {
        requests: count.load(Ordering::Relaxed),
        secs: elapsed,
        server_cpu: cpu_secs(&server) - s0,
        client_cpu: cpu_secs("self") - c0,
        p50_us: percentile(&all, 0.5),
        p99_us: percentile(&all, 0.99),
    })
}

/// How this machine's idle CPUs wait for work, which sets the cost of every wake-up (and a
/// sequential client wakes the server and itself once per request): the cpuidle driver, and
/// with `haltpoll` (a VM guest) how long an idle vCPU polls before halting. With a poll
/// window of zero each wake-up of an idle vCPU is an interrupt and an exit to the host.
fn idle_path() -> String {
    let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string());
    let driver =
        read("/sys/devices/system/cpu/cpuidle/current_driver").unwrap_or_else(|_| "unknown".into());
    match read("/sys/module/haltpoll/parameters/guest_halt_poll_ns") {
        Ok(ns) if driver == "haltpoll" => format!("cpuidle {driver}, guest_halt_poll_ns={ns}"),
        _ => format!("cpuidle {driver}"),
    }
}

/// CPU time (user + system) of a process so far, in seconds.
fn cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn report(name: &str, r: &Rate) {
    let per_req = |cpu: f64| cpu / r.requests.max(1) as f64 * 1e6;
    println!(
        "| {name} | {:.0} req/s | {} in {:.1} s | p50 {:.0} µs, p99 {:.0} µs | {:.0} µs | {:.0} µs |",
        r.requests as f64 / r.secs,
        r.requests,
        r.secs,
        r.p50_us,
        r.p99_us,
        per_req(r.server_cpu),
        per_req(r.client_cpu),
    );
}

async fn ws_connect(
    addr: SocketAddr,
    token: Option<&str>,
) -> Res<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>> {
    let url = match token {
        Some(t) => format!("ws://{addr}/ws?token={t}"),
        None => format!("ws://{addr}/ws"),
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    // hello
    let seq = match ws.next().await {
        Some(Ok(Message::Text(t))) => serde_json::from_str::<Value>(&t)?["seq"]
            .as_i64()
            .ok_or("hello without seq")?,
        other => return Err(format!("expected hello, got {other:?}").into()),
    };
    ws.send(Message::text(
        json!({"type": "subscribe", "since": seq}).to_string(),
    ))
    .await?;
    // A ping round trip proves the subscription is live.
    ws.send(Message::text(r#"{"type":"ping"}"#)).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str() == r#"{"type":"pong"}"# => return Ok(ws),
            Some(Ok(_)) => continue,
            other => return Err(format!("subscribe failed: {other:?}").into()),
        }
    }
}

async fn run(args: Args) -> Res<()> {
    let token = args.token.clone();
    let mut child = None;
    let _dir;
    let (addr, pid) = match &args.url {
        Some(url) => {
            let hostport = url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string();
            let addr: SocketAddr = tokio::net::lookup_host(&hostport)
                .await?
                .next()
                .ok_or("cannot resolve --url")?;
            if !addr.ip().is_loopback() {
                return Err("loadgen only targets loopback addresses".into());
            }
            (addr, args.pid)
        }
        None => {
            let dir = tempfile::tempdir()?;
            let db = dir.path().join("bench.db");
            _dir = dir;
            let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
            cmd.arg("serve")
                .env("LOADGEN_DB", &db)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true);
            if let Some(t) = &token {
                cmd.env("LOADGEN_TOKEN", t);
            }
            let mut c = cmd.spawn()?;
            let mut out = tokio::io::BufReader::new(c.stdout.take().ok_or("no stdout")?);
            let mut line = String::new();
            tokio::time::timeout(Duration::from_secs(30), out.read_line(&mut line)).await??;
            let addr: SocketAddr = line.trim().parse()?;
            let pid = c.id();
            child = Some(c);
            (addr, pid)
        }
    };
    let tok = token.as_deref();
    let secs = args.secs;
    let want = |phase: &str| {
        args.only
            .as_deref()
            .is_none_or(|o| o.split(',').any(|x| x.trim() == phase))
    };
    println!("# maestro server load test against {addr} ({secs} s per phase)\n");
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: {cpus} cores; {}; server pid {pid:?}\n",
        idle_path()
    );
    if let Some(pid) = pid {
        tokio::time::sleep(Duration::from_millis(300)).await;
        println!(
            "| server RSS at start (idle) | {} kB |",
            rss_kb(pid).unwrap_or(0)
        );
    }

    // Setup: a project and 1,000 tasks.
    let mut http = Http::connect(addr, tok).await?;
    http.json(
        "POST",
        "/api/projects",
        Some(json!({"name": "bench", "makeDefault": true})),
    )
    .await?;
    let mut ids = Vec::new();
    for i in 0..1000 {
        let t = http
            .json(
                "POST",
                "/api/tasks",
                Some(json!({"title": format!("task {i}"), "description": "a task used by the load test", "labels": ["bench"]})),
            )
            .await?;
        ids.push(t["id"].as_str().ok_or("no id")?.to_string());
    }
    let ids = Arc::new(ids);
    println!(
        "\n| phase | throughput | requests | latency | server CPU/request | loadgen CPU/request |\n|---|---|---|---|---|---|"
    );

    if want("get") {
        let g = ids.clone();
        let r = load(addr, tok, pid, 1, secs, move |_, i| {
            ("GET", format!("/api/tasks/{}", g[(i % 100) as usize]), None)
        })
        .await?;
        report("GET /api/tasks/:id, 1 connection", &r);
        let g = ids.clone();
        let r = load(addr, tok, pid, 32, secs, move |c, i| {
            (
                "GET",
                format!("/api/tasks/{}", g[((c as u64 * 31 + i) % 1000) as usize]),
                None,
            )
        })
        .await?;
        report("GET /api/tasks/:id, 32 connections", &r);
    }
    if want("health") {
        // The floor of this machine: the same round trip with a one-row read behind it.
        for (conns, label) in [(1, "1 connection"), (32, "32 connections")] {
            let r = load(addr, tok, pid, conns, secs, |_, _| {
                ("GET", "/health".to_string(), None)
            })
            .await?;
            report(&format!("GET /health, {label}"), &r);
        }
    }
    if want("post") {
        let body = |c: usize, i: u64| {
            Some(
                serde_json::to_vec(&json!({"title": format!("new {c}-{i}"), "labels": ["bench"]}))
                    .unwrap(),
            )
        };
        let r = load(addr, tok, pid, 1, secs, move |c, i| {
            ("POST", "/api/tasks".into(), body(c, i))
        })
        .await?;
        report("POST /api/tasks, 1 connection", &r);
        let r = load(addr, tok, pid, 8, secs, move |c, i| {
            ("POST", "/api/tasks".into(), body(c, i))
        })
        .await?;
        report("POST /api/tasks, 8 connections", &r);
    }
    if want("patch") {
        let g = ids.clone();
        let r = load(addr, tok, pid, 1, secs, move |_, i| {
            (
                "PATCH",
                format!("/api/tasks/{}", g[(i % 1000) as usize]),
                Some(serde_json::to_vec(&json!({"title": format!("patched {i}")})).unwrap()),
            )
        })
        .await?;
        report("PATCH /api/tasks/:id, 1 connection", &r);
        let g = ids.clone();
        let r = load(addr, tok, pid, 8, secs, move |c, i| {
            (
                "PATCH",
                format!("/api/tasks/{}", g[((c as u64 * 125 + i) % 1000) as usize]),
                Some(serde_json::to_vec(&json!({"title": format!("patched {c}-{i}")})).unwrap()),
            )
        })
        .await?;
        report("PATCH /api/tasks/:id, 8 connections", &r);
    }
    if let Some(pid) = pid {
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!(
            "| server RSS after the HTTP phases (idle) | {} kB | | | | |",
            rss_kb(pid).unwrap_or(0)
        );
    }

    if want("ws") {
        // Delivery latency: one PATCH at a time, paced, while N subscribers listen.
        let n = args.subscribers;
        let sent: Arc<std::sync::Mutex<Vec<Option<Instant>>>> =
            Arc::new(std::sync::Mutex::new(vec![None; args.mutations]));
        let mut subs = Vec::new();
        for _ in 0..n {
            subs.push(ws_connect(addr, tok).await?);
        }
        let mutations = args.mutations;
        let mut readers = Vec::new();
        for mut ws in subs {
            readers.push(tokio::spawn(async move {
                let mut got = Vec::with_capacity(mutations);
                while got.len() < mutations {
                    let msg = tokio::time::timeout(Duration::from_secs(30), ws.next()).await;
                    let Ok(Some(Ok(Message::Text(t)))) = msg else {
                        match msg {
                            Ok(Some(Ok(_))) => continue,
                            other => return Err(format!("subscriber failed: {other:?}")),
                        }
                    };
                    let now = Instant::now();
                    // Find the marker without parsing the whole frame (the client shares the CPU).
                    if let Some(k) = t
                        .as_str()
                        .split_once("\"title\":\"lat ")
                        .and_then(|(_, rest)| rest.split('"').next())
                        .and_then(|k| k.parse::<usize>().ok())
                        && t.as_str().starts_with("{\"type\":\"task:updated\"")
                    {
                        got.push((k, now));
                    }
                }
                Ok(got)
            }));
        }
        let target = ids[0].clone();
        for k in 0..mutations {
            let body = serde_json::to_vec(&json!({"title": format!("lat {k}")}))?;
            sent.lock().unwrap()[k] = Some(Instant::now());
            let (st, _) = http
                .call("PATCH", &format!("/api/tasks/{target}"), Some(&body))
                .await?;
            if st != 200 {
                return Err(format!("PATCH failed with {st}").into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut lat = Vec::new();
        for r in readers {
            for (k, at) in r.await?? {
                if let Some(t0) = sent.lock().unwrap()[k] {
                    lat.push(at.duration_since(t0).as_secs_f64() * 1e3);
                }
            }
        }
        lat.sort_by(|a, b| a.total_cmp(b));
        println!(
            "| PATCH → WebSocket delivery, {n} subscribers | | {} deliveries | p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms | | |",
            lat.len(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or(f64::NAN),
        );
    }
    if want("rss") {
        // Memory with many connected, subscribed WebSocket clients.
        if let Some(pid) = pid {
            let mut clients = Vec::with_capacity(args.ws_clients);
            for _ in 0..args.ws_clients {
                clients.push(ws_connect(addr, tok).await?);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            println!(
                "| server RSS with {} subscribed WebSocket clients | {} kB | | | | |",
                clients.len(),
                rss_kb(pid).unwrap_or(0)
            );
            drop(clients);
        }
    }
    if let Some(mut c) = child {
        drop(c.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(15), c.wait()).await;
    }
    Ok(())
}
