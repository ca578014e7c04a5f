//! Helpers for end-to-end tests: run the real `maestro` binary in an isolated sandbox.
//!
//! The binary is the one cargo built next to the test executable (`target/<profile>/maestro`);
//! `./scripts/test` builds it before running the tests.

pub mod agents;
pub mod endpoint;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Path of the `maestro` binary of this build.
pub fn maestro_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MAESTRO_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/maestro
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let bin = dir.join("maestro");
    assert!(
        bin.exists(),
        "{} does not exist: build it first with `cargo build -p maestro-cli` (./scripts/test does)",
        bin.display()
    );
    static FRESH: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    FRESH.get_or_init(|| assert_fresh(&bin));
    bin
}

/// Fails loudly when the binary is older than the sources it is built from, so a test never
/// passes or fails against a stale build.
fn assert_fresh(bin: &Path) {
    fn newest(dir: &Path, best: &mut std::time::SystemTime) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                newest(&path, best);
            } else if let Ok(m) = entry.metadata().and_then(|m| m.modified()) {
                *best = (*best).max(m);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let mut src = std::time::SystemTime::UNIX_EPOCH;
    for dir in [
        "maestro-cli/src",
        "maestro-core/src",
        "maestro-core/migrations",
        "skills",
    ] {
        newest(&root.join(dir), &mut src);
    }
    let built = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .expect("binary mtime");
    assert!(
        built >= src,
        "{} is older than its sources: rebuild it with `cargo build -p maestro-cli` (./scripts/test does)",
        bin.display()
    );
}

/// A result of one `maestro` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// stdout parsed as one JSON document (the envelope).
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// An isolated home, working directory and environment for `maestro` runs.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    cwd: PathBuf,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        Self::with_dir(tempfile::tempdir().expect("tempdir"))
    }

    /// A sandbox in a new directory under `parent`.
    pub fn new_in(parent: &Path) -> Self {
        Self::with_dir(tempfile::tempdir_in(parent).expect("tempdir"))
    }

    fn with_dir(dir: tempfile::TempDir) -> Self {
        let home = dir.path().join("home");
        let cwd = dir.path().join("work");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&cwd).unwrap();
        let env = vec![
            ("HOME".to_string(), home.display().to_string()),
            (
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_default(),
            ),
            ("NO_COLOR".to_string(), "1".to_string()),
        ];
        Self { dir, env, cwd }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// Sets (or replaces) an environment variable for later runs.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// A variable of this sandbox's environment.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn remove_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    pub fn set_cwd(&mut self, cwd: impl Into<PathBuf>) {
        self.cwd = cwd.into();
        std::fs::create_dir_all(&self.cwd).unwrap();
    }

    /// A `maestro` command with this sandbox's environment (nothing inherited but PATH).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(maestro_bin());
        c.args(args)
            .env_clear()
            .envs(self.env.iter().cloned())
            .current_dir(&self.cwd);
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run maestro"))
    }

    /// Runs with extra environment variables.
    pub fn run_with(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut c = self.command(args);
        c.envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Run::from(c.output().expect("run maestro"))
    }

    /// Runs `args --json`, asserts success and returns `data`.
    pub fn ok(&self, args: &[&str]) -> Value {
        self.ok_with(&[], args)
    }

    pub fn ok_with(&self, env: &[(&str, &str)], args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let r = self.run_with(env, &all);
        let v = r.json();
        assert_eq!(
            r.code, 0,
            "maestro {args:?} failed: {v}\nstderr: {}",
            r.stderr
        );
        assert_eq!(v["success"], true, "{v}");
        v["data"].clone()
    }

    /// Runs `args --json`, asserts failure with `code` and `exit`, and returns the error object.
    pub fn fails(&self, args: &[&str], code: &str, exit: i32) -> Value {
        self.fails_with(&[], args, code, exit)
    }

    pub fn fails_with(&self, env: &[(&str, &str)], args: &[&str], code: &str, exit: i32) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let r = self.run_with(env, &all);
        let v = r.json();
        assert_eq!(v["success"], false, "maestro {args:?} should fail: {v}");
        assert_eq!(v["error"], code, "maestro {args:?}: {v}");
        assert_eq!(r.code, exit, "maestro {args:?} exit code: {v}");
        v
    }

    /// A `bash -c script` with this sandbox's environment and `$MAESTRO_BIN` set, piped.
    pub fn shell(&self, script: &str, env: &[(&str, &str)]) -> Command {
        let mut c = Command::new("bash");
        c.arg("-c")
            .arg(script)
            .env_clear()
            .envs(self.env.iter().cloned())
            .current_dir(&self.cwd);
        c.env("MAESTRO_BIN", maestro_bin());
        c.envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Starts `maestro` without waiting.
    pub fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> Child {
        let mut c = self.command(args);
        c.envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c.spawn().expect("spawn maestro")
    }

    /// `maestro init` in the sandbox's working directory; returns the project id.
    pub fn init(&self) -> String {
        let d = self.ok(&["init", "--name", "test"]);
        d["project"]["id"].as_str().unwrap().to_string()
    }

    /// Creates a task and returns its id.
    pub fn task(&self, title: &str, extra: &[&str]) -> String {
        let mut args = vec!["task", "create", title];
        args.extend_from_slice(extra);
        self.ok(&args)["id"].as_str().unwrap().to_string()
    }
}

/// Collects the output of a finished child.
pub fn wait(child: Child) -> Run {
    Run::from(child.wait_with_output().expect("wait for maestro"))
}

/// The `id` field of a JSON value.
pub fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

/// A real `maestro serve` process on a loopback port; killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub addr: String,
}

impl Server {
    /// Starts `maestro serve --addr <addr> --json` with `--db db` and waits for its URL.
    pub fn start(sb: &Sandbox, db: &Path, addr: &str, extra: &[&str]) -> Server {
        use std::io::BufRead;
        let mut args = vec![
            "--db",
            db.to_str().unwrap(),
            "serve",
            "--addr",
            addr,
            "--json",
        ];
        args.extend_from_slice(extra);
        let mut c = sb.command(&args);
        c.env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = c.spawn().expect("spawn maestro serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .expect("read serve output");
        let v: Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("serve printed {line:?}: {e}"));
        assert_eq!(v["success"], true, "{v}");
        Server {
            child,
            url: v["data"]["url"].as_str().unwrap().to_string(),
            addr: v["data"]["addr"].as_str().unwrap().to_string(),
        }
    }

    /// SIGKILL: no graceful shutdown.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("wait for serve")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One raw HTTP/1.1 request over loopback; returns (status, body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("connection"))
    {
        req.push_str("Connection: close\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // The server may answer (e.g. 413) before reading the whole body.
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        resp.extend_from_slice(&buf[..n]);
        if resp.starts_with(b"HTTP/1.1 101") && resp.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
