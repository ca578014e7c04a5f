//! Helpers for end-to-end tests: run the real `maestro` binary in an isolated sandbox.
//!
//! The end-to-end tests in `tests/tests/` are test targets of the `maestro-cli` package, so
//! cargo builds the binary for them and hands its path over in `CARGO_BIN_EXE_maestro`
//! ([`sandbox!`]).

pub mod agents;
pub mod endpoint;
pub mod fs;
pub mod mcp;
pub mod postgres;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A [`Sandbox`] running the `maestro` binary cargo built for the calling test crate
/// (`CARGO_BIN_EXE_maestro`), so `cargo test` builds it and never runs a stale one.
#[macro_export]
macro_rules! sandbox {
    () => {
        $crate::Sandbox::with_bin(env!("CARGO_BIN_EXE_maestro"))
    };
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
    /// Processes started with [`Sandbox::spawn`], killed when the sandbox goes (so a failed
    /// test leaves no host or server running).
    spawned: std::cell::RefCell<Vec<u32>>,
    bin: PathBuf,
    env: Vec<(String, String)>,
    cwd: PathBuf,
}

impl Sandbox {
    /// A sandbox running the binary at `bin` (see [`sandbox!`]).
    pub fn with_bin(bin: impl Into<PathBuf>) -> Self {
        Self::with_dir(bin.into(), tempfile::tempdir().expect("tempdir"))
    }

    /// A sandbox running `bin` in a new directory under `parent`.
    pub fn with_bin_in(bin: impl Into<PathBuf>, parent: &Path) -> Self {
        Self::with_dir(bin.into(), tempfile::tempdir_in(parent).expect("tempdir"))
    }

    fn with_dir(bin: PathBuf, dir: tempfile::TempDir) -> Self {
        assert!(bin.exists(), "{} does not exist", bin.display());
        let home = dir.path().join("home");
        let cwd = dir.path().join("work");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&cwd).unwrap();
        let mut env = vec![
            ("HOME".to_string(), home.display().to_string()),
            (
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_default(),
            ),
            ("NO_COLOR".to_string(), "1".to_string()),
        ];
        // Under `cargo llvm-cov` the binary is instrumented: it must write its profile where
        // the coverage report looks, not into the sandbox.
        if let Ok(profile) = std::env::var("LLVM_PROFILE_FILE") {
            env.push(("LLVM_PROFILE_FILE".to_string(), profile));
        }
        Self {
            dir,
            spawned: Default::default(),
            bin,
            env,
            cwd,
        }
    }

    /// The `maestro` binary this sandbox runs.
    pub fn bin(&self) -> &Path {
        &self.bin
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
        let mut c = Command::new(&self.bin);
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
        c.env("MAESTRO_BIN", &self.bin);
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
        let child = c.spawn().expect("spawn maestro");
        self.spawned.borrow_mut().push(child.id());
        child
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

impl Drop for Sandbox {
    fn drop(&mut self) {
        for pid in self.spawned.borrow().iter() {
            // Only our own children: a pid still in /proc whose parent is this process.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if parent == Some(std::process::id()) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

/// Polls `check` every 100 ms, at most `tries` times; whether it ever held.
pub fn until(tries: usize, mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..tries {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

/// Collects the output of a finished child.
pub fn wait(child: Child) -> Run {
    Run::from(child.wait_with_output().expect("wait for maestro"))
}

/// The `id` field of a JSON value.
pub fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

/// The binary a benchmark measures: `MAESTRO_BIN` (e.g. an older build), else the
/// workspace's release build.
pub fn bench_bin() -> PathBuf {
    std::env::var_os("MAESTRO_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/maestro"))
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
        let mut c = sb.command(&Self::args(db, addr, extra));
        c.env("RUST_LOG", "warn").stderr(Stdio::null());
        Self::start_command(c)
    }

    /// The arguments of `maestro --db db serve --addr addr --json extra…`.
    pub fn args<'a>(db: &'a Path, addr: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "--db",
            db.to_str().unwrap(),
            "serve",
            "--addr",
            addr,
            "--json",
        ];
        args.extend_from_slice(extra);
        args
    }

    /// Starts `c` (a `maestro … serve --json`, possibly behind a wrapper such as
    /// `prlimit`) with its stdout piped, and waits for the URL it prints.
    pub fn start_command(mut c: Command) -> Server {
        use std::io::BufRead;
        c.stdout(Stdio::piped());
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
