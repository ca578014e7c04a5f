//! A real PostgreSQL server for tests: a cluster of its own in a temporary directory, on a
//! free loopback port, stopped and removed when dropped.
//!
//! The server binaries are Debian's (`apt-get install postgresql`): `MAESTRO_PG_BIN` names
//! their folder, else the newest `/usr/lib/postgresql/*/bin`. PostgreSQL refuses to run as
//! root, so under root every server command runs as the `postgres` user (`runuser`), in a
//! folder that user owns. `initdb` runs once per machine and version into a template
//! cluster that each server copies.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running PostgreSQL cluster.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// With [`Tls::On`]: the certificate of the CA that signed the server's.
    root_cert: Option<PathBuf>,
}

/// Whether the server speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    Off,
    /// `ssl=on` with a certificate for `localhost` (not for `127.0.0.1`), signed by a CA made
    /// for this server ([`Postgres::root_cert`]); plain connections are still accepted.
    On,
}

/// How a server of the tests runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync off: a test's data need not survive a crash of the machine.
    Tests,
    /// As durable as the embedded store's WAL with `synchronous = NORMAL`, for benchmarks
    /// against it: the data files and the WAL are flushed (fsync on), but a commit does not
    /// wait for its WAL flush (`synchronous_commit = off`), so a power cut may lose the last
    /// commits, never corrupt the database.
    AsSqlite,
}

impl Postgres {
    /// A fresh cluster for tests (panics, saying what to install, when PostgreSQL is
    /// missing).
    pub fn start() -> Postgres {
        Self::start_with(Durability::Tests)
    }

    pub fn start_with(durability: Durability) -> Postgres {
        Self::launch(durability, Tls::Off)
    }

    /// A fresh cluster for tests that speaks TLS too (see [`Tls::On`]).
    pub fn start_tls() -> Postgres {
        Self::launch(Durability::Tests, Tls::On)
    }

    fn launch(durability: Durability, tls: Tls) -> Postgres {
        let bin = bin_dir();
        let template = template(&bin);
        let dir = tempfile::Builder::new()
            .prefix("maestro-pg-")
            .tempdir()
            .expect("tempdir");
        let data = dir.path().join("data");
        run(Command::new("cp").arg("-a").arg(&template).arg(&data));
        let root_cert = (tls == Tls::On).then(|| {
            let certs = dir.path().join("certs");
            std::fs::create_dir_all(&certs).expect("certs folder");
            let (ca, ca_key) = certificate_authority(&certs, "ca");
            server_certificate(&certs, &ca, &ca_key);
            ca
        });
        give_to_server_user(dir.path());
        let mut last = String::new();
        for _ in 0..5 {
            let port = crate::free_port();
            let mut opts = format!(
                "-c listen_addresses=127.0.0.1 -p {port} -k {} -c max_connections=200",
                dir.path().display()
            );
            opts.push_str(match durability {
                Durability::Tests => {
                    " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                }
                Durability::AsSqlite => " -c synchronous_commit=off",
            });
            if tls == Tls::On {
                let certs = dir.path().join("certs");
                opts.push_str(&format!(
                    " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                    certs.join("server.crt").display(),
                    certs.join("server.key").display()
                ));
            }
            let log = dir.path().join("server.log");
            let out = as_server_user(&bin.join("pg_ctl"))
                .arg("start")
                .arg("-w")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(&log)
                .arg("-o")
                .arg(&opts)
                .stdout(Stdio::null())
                .output()
                .expect("run pg_ctl");
            if out.status.success() {
                return Postgres {
                    dir,
                    bin,
                    port,
                    root_cert,
                };
            }
            last = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("PostgreSQL did not start:\n{last}");
    }

    /// The URL of database `db` (created by [`Postgres::create_database`], or `postgres`).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// Runs `sql` in database `db` with `psql` and returns what it printed (unaligned,
    /// tuples only): a count reads as its number.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", db, "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `SELECT COUNT(*) …` as a number.
    pub fn count(&self, db: &str, sql: &str) -> i64 {
        let out = self.psql(db, sql);
        out.parse()
            .unwrap_or_else(|e| panic!("{sql} printed {out:?}: {e}"))
    }

    /// The cluster's folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The certificate of the CA that signed the server's, when it speaks TLS.
    pub fn root_cert(&self) -> Option<&Path> {
        self.root_cert.as_deref()
    }
}

/// A new self-signed CA in `dir`: its certificate and key files (`{name}.crt`,
/// `{name}.key`), made with the `openssl` command.
pub fn certificate_authority(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    run(openssl()
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "30", "-subj"])
        .arg(format!("/CN=maestro test {name}"))
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt));
    (crt, key)
}

/// `server.crt` and `server.key` in `dir`: a certificate for `localhost`, signed by the CA.
fn server_certificate(dir: &Path, ca: &Path, ca_key: &Path) {
    let (crt, key, csr, ext) = (
        dir.join("server.crt"),
        dir.join("server.key"),
        dir.join("server.csr"),
        dir.join("server.ext"),
    );
    run(openssl()
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the extensions");
    run(openssl()
        .args(["x509", "-req", "-days", "30", "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(ca)
        .arg("-CAkey")
        .arg(ca_key)
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&crt));
    // PostgreSQL refuses a key others may read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
}

fn openssl() -> Command {
    let mut c = Command::new("openssl");
    c.stdin(Stdio::null());
    c
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_server_user(&self.bin.join("pg_ctl"))
            .arg("stop")
            .args(["-m", "immediate", "-w", "-D"])
            .arg(self.dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// The folder of the server binaries.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MAESTRO_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL's server binaries are missing: install them (apt-get install postgresql) or point MAESTRO_PG_BIN at the folder that holds initdb and pg_ctl"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program`, run as the `postgres` user under root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Under root, hands `dir` (and what it holds) to the `postgres` user.
fn give_to_server_user(dir: &Path) {
    if is_root() {
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir));
    }
}

fn run(c: &mut Command) {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The template cluster of this machine and version, made by `initdb` on first use
/// (into a temporary folder renamed into place, so concurrent tests make it at most once
/// each and never see half of one).
fn template(bin: &Path) -> PathBuf {
    let version = bin
        .parent()
        .and_then(|p| p.file_name())
        .map(|v| v.to_string_lossy().into_owned())
        .unwrap_or_default();
    let root = std::env::temp_dir().join(format!("maestro-pg-template-{version}"));
    let data = root.join("data");
    if data.join("PG_VERSION").exists() {
        return data;
    }
    std::fs::create_dir_all(&root).expect("template folder");
    let work = tempfile::Builder::new()
        .prefix("initdb-")
        .tempdir_in(&root)
        .expect("tempdir");
    give_to_server_user(&root);
    let fresh = work.path().join("data");
    let out = as_server_user(&bin.join("initdb"))
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&fresh)
        .output()
        .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Another test may have won the race; its template is as good.
    let _ = std::fs::rename(&fresh, &data);
    data
}
