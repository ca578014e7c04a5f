//! The PostgreSQL store: several `maestro serve` replicas (and CLIs) on one database.
//!
//! A [`Backend`] of the engine over a pool of connections (`deadpool-postgres` on
//! `tokio-postgres`; it links no SQLite): the same operations, and so the same rules, as the
//! embedded store. Its row primitives are in `rows.rs`; this file runs each operation in one
//! transaction:
//!
//! * **Writes** take the lock of the event counter row first (`SELECT … FOR UPDATE` in READ
//!   COMMITTED), so writes run one at a time across every replica, each seeing everything
//!   committed before it, as `BEGIN IMMEDIATE` does for SQLite. Events get the counter's next
//!   seqs under that lock and commit with it: the log is gap-free and commit order is seq
//!   order, so no reader can pass an event that commits later with a smaller seq. A
//!   `pg_notify` in the same transaction is delivered at commit and wakes the other replicas'
//!   tailers at once (see [`PgStore::commit_notifications`]).
//! * **Reads** run in one REPEATABLE READ, read-only snapshot.
//! * **Time** comes from the database (`clock_timestamp()` once the write holds the lock), so
//!   replicas with skewed clocks agree on leases; lease reaping is a write like any other, so
//!   replicas reaping at once run one after the other, and the second finds nothing to reap.
//! * Serialization failures and deadlocks (which roll the transaction back) are retried here.

pub mod copy;
mod migrate;
mod rows;
mod tls;

pub use migrate::{LATEST_VERSION, MIGRATIONS};

use crate::engine::{Backend, ReadOp, WriteOp};
use crate::error::{Error, Result};
use crate::store::OpContext;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rows::PgRows;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio_postgres::IsolationLevel;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The channel commits are announced on (payload: the latest seq).
pub const CHANNEL: &str = "maestro_events";

/// Attempts of a write that hits a serialization failure or a deadlock.
const WRITE_ATTEMPTS: u32 = 8;

/// The time of the database, in milliseconds since the Unix epoch.
const DB_NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::int8";

/// Options of a PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections in the pool.
    pub pool_size: usize,
    /// The server-side limit of one statement (`statement_timeout`); `None` for none.
    pub statement_timeout: Option<Duration>,
    /// How long a call waits for a free connection or for a new one to open.
    pub connect_timeout: Duration,
    /// Overrides the URL's `sslmode`: `disable`, `prefer` (the default), `require`,
    /// `verify-ca` or `verify-full` (see `tls.rs`).
    pub ssl_mode: Option<String>,
    /// Overrides the URL's `sslrootcert`: the PEM file of the CA the server's certificate
    /// must chain to; given, every mode but `disable` verifies the server.
    pub ssl_root_cert: Option<std::path::PathBuf>,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            statement_timeout: Some(Duration::from_secs(30)),
            connect_timeout: Duration::from_secs(10),
            ssl_mode: None,
            ssl_root_cert: None,
        }
    }
}

/// Whether `db` names a PostgreSQL database (`postgres://…`, `postgresql://…`) rather than a
/// SQLite file.
pub fn is_url(db: &str) -> bool {
    crate::config::is_database_url(std::path::Path::new(db))
}

/// `url` with its password hidden, for `whoami`, logs and `/health`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match auth.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{scheme}://{name}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The PostgreSQL store. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    config: tokio_postgres::Config,
    /// TLS as `sslmode` and the root certificate ask (unused with `disable`).
    tls: MakeRustlsConnect,
    pool: Pool,
    /// The schema is migrated once per process, before the first operation.
    migrated: tokio::sync::OnceCell<()>,
    /// The latest seq known committed: by this process's writes, and by every replica's
    /// through the LISTEN connection.
    commits: watch::Sender<i64>,
    /// The LISTEN task runs (started by the first watcher).
    listening: Mutex<bool>,
}

impl PgStore {
    /// A store on the database at `url` with default options. No I/O happens here: the
    /// first operation connects and migrates.
    pub fn open(url: &str) -> Result<Self> {
        Self::open_with(url, PgOptions::default())
    }

    pub fn open_with(url: &str, opts: PgOptions) -> Result<Self> {
        let (bare, url_mode, url_root) = tls::split_url(url.trim());
        let mut config: tokio_postgres::Config = bare.parse().map_err(|e| {
            Error::invalid_argument(format!(
                "'{}' is not a valid PostgreSQL URL: {e}",
                redacted(url)
            ))
            .with_suggestion("Use e.g. postgres://maestro:secret@db.internal:5432/maestro")
        })?;
        let mode = match opts.ssl_mode.as_deref().or(url_mode.as_deref()) {
            Some(mode) => tls::Mode::parse(mode)?,
            None => tls::Mode::Prefer,
        };
        config.ssl_mode(mode.negotiation());
        let root_cert = opts.ssl_root_cert.clone().or(url_root);
        let tls = tls::connector(mode, root_cert.as_deref())?;
        if let Some(t) = opts.statement_timeout {
            let options = config.get_options().unwrap_or("").to_string();
            config.options(format!("{options} -c statement_timeout={}", t.as_millis()).trim());
        }
        config.connect_timeout(opts.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("maestro");
        }
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(opts.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(opts.connect_timeout))
            .create_timeout(Some(opts.connect_timeout))
            .build()
            .map_err(|e| Error::internal(format!("cannot build the connection pool: {e}")))?;
        let (commits, _) = watch::channel(0);
        Ok(Self {
            inner: Arc::new(Inner {
                url: url.trim().to_string(),
                config,
                tls,
                pool,
                migrated: tokio::sync::OnceCell::new(),
                commits,
                listening: Mutex::new(false),
            }),
        })
    }

    /// The URL, password hidden.
    pub fn url(&self) -> String {
        redacted(&self.inner.url)
    }

    /// A pooled connection to a migrated database.
    async fn client(&self) -> Result<deadpool_postgres::Object> {
        let client = self
            .inner
            .pool
            .get()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !self.inner.migrated.initialized() {
            let mut first = client;
            self.inner
                .migrated
                .get_or_try_init(|| async { migrate::migrate(&mut first).await })
                .await?;
            return Ok(first);
        }
        Ok(client)
    }

    fn unreachable(&self, e: deadpool_postgres::PoolError) -> Error {
        let cause = match &e {
            deadpool_postgres::PoolError::Backend(pg) => pg_message(pg),
            other => other.to_string(),
        };
        let suggestion = if cause.contains("TLS") {
            "Check the TLS settings: the server must offer TLS for sslmode=require (ssl=on), and its certificate must chain to the root certificate given (sslrootcert= or MAESTRO_PG_SSLROOTCERT) and, for verify-full, name the host"
        } else {
            "Check that PostgreSQL runs and that the URL given with --db or MAESTRO_DB is right (host, port, user, password, database)"
        };
        Error::storage(format!("cannot reach the database {}: {cause}", self.url()))
            .with_retryable(true)
            .with_details(serde_json::json!({ "db": self.url() }))
            .with_suggestion(suggestion)
    }

    /// One attempt of mutation `w`, in one transaction that holds the event counter's lock.
    async fn write_once<W: WriteOp>(&self, op: &OpContext, w: &W) -> Result<(W::Output, i64)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let lock = tx
            .prepare_cached(&format!(
                "SELECT seq, {DB_NOW_MS} FROM event_counter WHERE id = 1 FOR UPDATE"
            ))
            .await?;
        let row = tx.query_one(&lock, &[]).await?;
        let mut rows = PgRows {
            tx: &tx,
            now: row.try_get(1)?,
            seq: row.try_get(0)?,
            appended: 0,
        };
        let out = crate::engine::write(&mut rows, op, w).await?;
        let (seq, appended) = (rows.seq, rows.appended);
        if appended > 0 {
            let bump = tx
                .prepare_cached(
                    "WITH c AS (UPDATE event_counter SET seq = $1 WHERE id = 1)
                     SELECT pg_notify($2, $1::text)",
                )
                .await?;
            tx.execute(&bump, &[&seq, &CHANNEL]).await?;
        }
        tx.commit().await?;
        Ok((out, seq))
    }

    /// Runs `q` in one read-only snapshot.
    async fn read_once<Q: ReadOp>(&self, q: &Q) -> Result<Q::Output> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let now = tx.prepare_cached(&format!("SELECT {DB_NOW_MS}")).await?;
        let now: i64 = tx.query_one(&now, &[]).await?.try_get(0)?;
        let mut rows = PgRows {
            tx: &tx,
            now,
            seq: 0,
            appended: 0,
        };
        let out = q.run(&mut rows).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Notes `seq` as committed (never goes back).
    fn note_commit(&self, seq: i64) {
        note(&self.inner.commits, seq);
    }

    /// Watches the latest seq committed by any replica: this process's writes at once, the
    /// others' through LISTEN on [`CHANNEL`] (a task started on first use, reconnecting when
    /// the connection drops). A missed notification is caught by the caller's polling of
    /// `latest_seq`, as the server's tailer does.
    pub fn watch_commits(&self) -> watch::Receiver<i64> {
        let rx = self.inner.commits.subscribe();
        let mut listening = self
            .inner
            .listening
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !*listening && let Ok(rt) = tokio::runtime::Handle::try_current() {
            *listening = true;
            rt.spawn(listen(Arc::downgrade(&self.inner)));
        }
        rx
    }
}

fn note(commits: &watch::Sender<i64>, seq: i64) {
    commits.send_if_modified(|known| {
        let newer = seq > *known;
        if newer {
            *known = seq;
        }
        newer
    });
}

/// Keeps a LISTEN connection open while the store lives, and notes every announced seq.
async fn listen(store: Weak<Inner>) {
    use futures_util::StreamExt;
    let mut pause = Duration::from_millis(100);
    loop {
        let Some((config, tls)) = store.upgrade().map(|s| (s.config.clone(), s.tls.clone())) else {
            return;
        };
        match config.connect(tls).await {
            Ok((client, mut conn)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<i64>>();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
                    while let Some(Ok(m)) = messages.next().await {
                        if let tokio_postgres::AsyncMessage::Notification(n) = m {
                            let _ = tx.send(n.payload().parse().ok());
                        }
                    }
                });
                let ready = async {
                    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
                    client
                        .query_one("SELECT COALESCE(MAX(seq), 0)::int8 FROM events", &[])
                        .await?
                        .try_get::<_, i64>(0)
                };
                match ready.await {
                    Ok(latest) => {
                        pause = Duration::from_millis(100);
                        if let Some(s) = store.upgrade() {
                            note(&s.commits, latest);
                        }
                        loop {
                            tokio::select! {
                                got = rx.recv() => match got {
                                    Some(seq) => match store.upgrade() {
                                        Some(s) => if let Some(seq) = seq { note(&s.commits, seq) },
                                        None => break,
                                    },
                                    None => break,
                                },
                                _ = tokio::time::sleep(Duration::from_secs(5)) => {
                                    if store.strong_count() == 0 { break; }
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %pg_message(&e), "cannot LISTEN for commits; retrying")
                    }
                }
                driver.abort();
            }
            Err(e) => {
                tracing::warn!(error = %pg_message(&e), "cannot open the LISTEN connection; retrying")
            }
        }
        if store.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// The database's own message of an error, when it sent one.
pub(crate) fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            // The cause (why a TLS handshake failed, say) is in the source chain.
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                let more = c.to_string();
                if !text.contains(&more) {
                    text = format!("{text}: {more}");
                }
                cause = c.source();
            }
            text
        }
    }
}

/// Serialization failures and deadlocks: the database rolled the transaction back, and a
/// new attempt may succeed.
pub(crate) fn is_transient(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

impl Backend for PgStore {
    fn location(&self) -> String {
        self.url()
    }

    fn pool_status(&self) -> Option<crate::store::PoolStatus> {
        let s = self.inner.pool.status();
        Some(crate::store::PoolStatus {
            max: s.max_size,
            size: s.size,
            available: s.available,
            waiting: s.waiting,
        })
    }

    async fn read<Q: ReadOp>(&self, q: Q) -> Result<Q::Output> {
        let mut attempt = 1;
        loop {
            match self.read_once(&q).await {
                Err(e) if e.is_transient_storage() && attempt < WRITE_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                done => return done,
            }
        }
    }

    async fn write<W: WriteOp>(&self, op: &OpContext, w: W) -> Result<W::Output> {
        let mut attempt = 1;
        loop {
            match self.write_once(op, &w).await {
                Ok((out, seq)) => {
                    self.note_commit(seq);
                    return Ok(out);
                }
                Err(e) if e.is_transient_storage() && attempt < WRITE_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn commit_notifications(&self) -> Option<watch::Receiver<i64>> {
        Some(self.watch_commits())
    }
}

/// A short, growing pause between attempts.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(2u64 << attempt.min(6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths_and_their_passwords_hidden() {
        assert!(is_url("postgres://u@h/db"));
        assert!(is_url("PostgreSQL://u@h/db"));
        assert!(!is_url("/tmp/maestro.db"));
        assert!(!is_url("postgres.db"));
        assert_eq!(
            redacted("postgres://u:secret@h:5432/db?sslmode=disable"),
            "postgres://u:***@h:5432/db?sslmode=disable"
        );
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redacted("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn a_bad_url_or_sslmode_is_refused_before_any_io() {
        let e = PgStore::open("postgres://u@h:notaport/db").err().unwrap();
        assert_eq!(e.code(), crate::Code::InvalidArgument);
        let opts = PgOptions {
            ssl_mode: Some("sometimes".into()),
            ..Default::default()
        };
        let e = PgStore::open_with("postgres://u@h/db", opts).err().unwrap();
        assert!(e.message().contains("sometimes"), "{}", e.message());
        assert!(PgStore::open("postgres://u@h/db?sslmode=require").is_ok());
        let e = PgStore::open("postgres://u@h/db?sslmode=verify-full")
            .err()
            .unwrap();
        assert!(e.message().contains("root certificate"), "{}", e.message());
        let e = PgStore::open("postgres://u@h/db?sslrootcert=/nonexistent/root.crt")
            .err()
            .unwrap();
        assert!(
            e.message().contains("/nonexistent/root.crt"),
            "{}",
            e.message()
        );
        assert!(PgStore::open("postgres://u:pw@h/db").is_ok());
    }
}
