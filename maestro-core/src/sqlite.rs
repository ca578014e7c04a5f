//! The embedded store: SQLite in WAL mode, safe for many processes at once.
//!
//! A [`Backend`] of the engine: its row primitives are in `rows.rs`, and every operation of
//! [`crate::engine`] runs in one transaction here; mutations take `BEGIN IMMEDIATE` so
//! concurrent writers (threads or processes) serialize instead of losing updates, and they
//! append their events to the durable event log in the same transaction.

mod map;
mod migrate;
mod rows;

pub use migrate::{LATEST_VERSION, MIGRATIONS};

use crate::clock::Clock;
use crate::engine::{Backend, ReadOp, Rows, WriteOp};
use crate::error::{Error, Result};
use crate::store::*;
use rows::SqliteRows;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How long a writer waits for another process's transaction before giving up.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// WAL pages written before a checkpoint copies them into the database (SQLite's default
/// is 1,000). A checkpoint syncs the disk twice and rewrites the hot pages every commit
/// touches, so rarer is cheaper for a long-lived writer such as the server. It runs after
/// the commit that crossed this size, once the writer has let go of the write lock and its
/// connection, and off the async runtime when there is one (see
/// [`SqliteStore::checkpoint_if_due`]): SQLite's own auto-checkpoint runs inside the commit,
/// so every other writer of the process queued behind its disk syncs. The last
/// connection to close checkpoints and removes the WAL, so a one-shot CLI process starts on
/// an empty WAL. (Skipping that close-time checkpoint saved the CLI its fsyncs but let the
/// WAL grow without bound: a process that writes once cannot tell which frames an earlier
/// process already checkpointed, so it never restarts the WAL, and every later process
/// rebuilt its index by reading all of it.)
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 4000;

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub busy_timeout: Duration,
    /// Connections kept for concurrent readers in this process.
    pub max_connections: usize,
    /// The clock rows are stamped with and leases are judged by.
    pub clock: Arc<dyn Clock>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            max_connections: 4,
            clock: crate::clock::system(),
        }
    }
}

/// The SQLite store. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: Option<PathBuf>,
    opts: SqliteOptions,
    access: Access,
    pool: Mutex<Pool>,
    available: Condvar,
    /// In-process writers queue here rather than spinning on SQLite's busy handler.
    write_lock: Mutex<()>,
    /// The latest seq committed by this process.
    commits: watch::Sender<i64>,
    /// A checkpoint is running (one at a time).
    checkpointing: AtomicBool,
    /// The storage error of the last write, until a write succeeds again (the disk is
    /// full, say): what `/health` reports while writes fail.
    write_failure: Mutex<Option<Error>>,
}

impl Inner {
    /// This process's write lock, waited for.
    fn writer(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Pool {
    idle: Vec<Connection>,
    open: usize,
    /// Callers of `checkout` waiting for a connection. A returned connection wakes one only
    /// when there is one: a condvar's notify is a futex call even with nobody waiting, and
    /// every short read of the server returned a connection.
    waiting: usize,
}

impl Inner {
    /// Wakes a caller waiting for a connection, if any; `pool` has just changed.
    fn returned(&self, pool: std::sync::MutexGuard<'_, Pool>) {
        let wake = pool.waiting > 0;
        drop(pool);
        if wake {
            self.available.notify_one();
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// A store this process cannot write (a read-only file system, say) opens read-only:
    /// reads work, and every write is refused with a `storage_error` that says so.
    pub fn open_with(path: impl AsRef<Path>, opts: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::storage(format!("cannot create directory {}: {e}", dir.display()))
                    .with_suggestion("Check the path given with --db or MAESTRO_DB")
            })?;
        }
        if !path.exists() || writable(&path) {
            return Self::with_first_connection(Some(path.clone()), opts, Access::ReadWrite)
                .map_err(|e| explain_full_disk(&path, e));
        }
        let read_only = Access::ReadOnly { immutable: false };
        Self::with_first_connection(Some(path.clone()), opts.clone(), read_only).or_else(|e| {
            // Read as it is only when everything is in the file itself: an immutable read
            // would not see what a WAL left behind holds.
            if !wal_is_empty(&path) {
                return Err(e);
            }
            let immutable = Access::ReadOnly { immutable: true };
            Self::with_first_connection(Some(path), opts, immutable)
        })
    }

    /// Whether this store refuses writes (see [`SqliteStore::open_with`]).
    pub fn is_read_only(&self) -> bool {
        self.inner.access != Access::ReadWrite
    }

    fn read_only_error(&self) -> Error {
        let path = self.inner.path.as_deref().unwrap_or(Path::new(":memory:"));
        Error::storage(format!(
            "The store {} is read-only here (a read-only file system, or no permission to write it or its folder): it can be read, not changed",
            path.display()
        ))
        .with_details(serde_json::json!({ "db": path.display().to_string(), "readOnly": true }))
        .with_suggestion("Write through a store this process can change: a writable copy of the file (cp it elsewhere and pass --db), or the server that owns it (--server)")
    }

    /// A private in-memory store (one connection), for tests and experiments.
    pub fn open_in_memory() -> Result<Self> {
        Self::open_in_memory_with(SqliteOptions::default())
    }

    /// A private in-memory store with `opts` (a test clock, say); always one connection.
    pub fn open_in_memory_with(opts: SqliteOptions) -> Result<Self> {
        Self::with_first_connection(
            None,
            SqliteOptions {
                max_connections: 1,
                ..opts
            },
            Access::ReadWrite,
        )
    }

    fn with_first_connection(
        path: Option<PathBuf>,
        opts: SqliteOptions,
        access: Access,
    ) -> Result<Self> {
        let mut conn = connect(path.as_deref(), opts.busy_timeout, access)?;
        if access == Access::ReadWrite {
            migrate::migrate(&mut conn)?;
        } else {
            migrate::check_current(&conn)?;
        }
        let latest: i64 =
            conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
        let (commits, _) = watch::channel(latest);
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                opts,
                access,
                pool: Mutex::new(Pool {
                    idle: vec![conn],
                    open: 1,
                    waiting: 0,
                }),
                available: Condvar::new(),
                write_lock: Mutex::new(()),
                commits,
                checkpointing: AtomicBool::new(false),
                write_failure: Mutex::new(None),
            }),
        })
    }

    /// The database file (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// Watches the latest seq committed through this store (in this process). Events
    /// written by other processes are found by polling [`Store::latest_seq`].
    pub fn watch_commits(&self) -> watch::Receiver<i64> {
        self.inner.commits.subscribe()
    }

    fn checkout(&self) -> Result<PooledConn<'_>> {
        let inner = &self.inner;
        let mut pool = inner.pool.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(conn) = pool.idle.pop() {
                return Ok(PooledConn {
                    store: inner,
                    conn: Some(conn),
                });
            }
            if pool.open < inner.opts.max_connections.max(1) {
                pool.open += 1;
                drop(pool);
                return match connect(inner.path.as_deref(), inner.opts.busy_timeout, inner.access) {
                    Ok(conn) => Ok(PooledConn {
                        store: inner,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        let mut pool = inner.pool.lock().unwrap_or_else(|p| p.into_inner());
                        pool.open -= 1;
                        inner.returned(pool);
                        Err(e)
                    }
                };
            }
            pool.waiting += 1;
            pool = inner
                .available
                .wait(pool)
                .unwrap_or_else(|p| p.into_inner());
            pool.waiting -= 1;
        }
    }

    /// An idle pooled connection, if one is available right now (never waits, never opens).
    fn try_checkout_idle(&self) -> Option<PooledConn<'_>> {
        let conn = self
            .inner
            .pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .idle
            .pop()?;
        Some(PooledConn {
            store: &self.inner,
            conn: Some(conn),
        })
    }

    /// Runs `f` in a read transaction (a consistent snapshot).
    pub(crate) fn read_sync<T>(
        &self,
        f: impl FnOnce(&mut SqliteRows<'_>) -> Result<T>,
    ) -> Result<T> {
        let now = self.inner.opts.clock.now_ms();
        read_in(self.checkout()?.get(), now, f)
    }

    /// Remembers whether writes fail for want of storage (not a refused or conflicting
    /// operation, not a busy database): set by such a failure, cleared by the next success.
    fn note_write<T>(&self, out: Result<T>) -> Result<T> {
        let failure = match &out {
            Ok(_) => None,
            Err(e) if e.code() == crate::error::Code::StorageError && !e.is_busy() => {
                Some(e.clone())
            }
            Err(_) => return out,
        };
        *self
            .inner
            .write_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = failure;
        out
    }

    /// Runs mutation `w` in one `BEGIN IMMEDIATE` transaction, after the writers of this
    /// process that came first.
    fn write_sync<W: WriteOp>(&self, op: &OpContext, w: &W) -> Result<W::Output> {
        let out = {
            let _writer = self.inner.writer();
            let mut conn = self.checkout()?;
            conn.get().execute_batch("BEGIN IMMEDIATE")?;
            self.write_in(conn.get(), op, w)
        };
        self.checkpoint_if_due();
        out
    }

    /// Runs mutation `w` in place when nothing would make it wait: no other writer of this
    /// process holds the write lock, a pooled connection is idle and `BEGIN IMMEDIATE`
    /// gets SQLite's write lock at once (busy timeout zero for that statement only, so a
    /// writer in another process sends this call to [`Self::write_sync`], which waits).
    /// `None` when it did not run. The caller then runs [`Self::checkpoint_if_due`].
    fn try_write_in_place<W: WriteOp>(&self, op: &OpContext, w: &W) -> Option<Result<W::Output>> {
        let _writer = match self.inner.write_lock.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        let mut conn = self.try_checkout_idle()?;
        let timeout = self.inner.opts.busy_timeout;
        if let Err(e) = conn.get().busy_timeout(Duration::ZERO) {
            return Some(Err(e.into()));
        }
        let begun = conn.get().execute_batch("BEGIN IMMEDIATE");
        if let Err(restore) = conn.get().busy_timeout(timeout) {
            // Never hand back a connection without its busy timeout.
            if begun.is_ok() {
                let _ = conn.get().execute_batch("ROLLBACK");
            }
            conn.discard();
            return Some(Err(restore.into()));
        }
        match begun {
            Ok(()) => Some(self.write_in(conn.get(), op, w)),
            Err(e) if is_busy(&e) => None,
            Err(e) => Some(Err(e.into())),
        }
    }

    /// The body of a mutation, in the `BEGIN IMMEDIATE` transaction open on `conn`:
    /// committed when the operation succeeds, rolled back otherwise.
    fn write_in<W: WriteOp>(
        &self,
        conn: &mut Connection,
        op: &OpContext,
        w: &W,
    ) -> Result<W::Output> {
        let now = self.inner.opts.clock.now_ms();
        let mut rows = SqliteRows { conn, now };
        let done = run_now(crate::engine::write(&mut rows, op, w))
            .and_then(|out| Ok((out, run_now(rows.latest_seq())?)));
        let (out, latest) = match done {
            Ok(v) => v,
            Err(e) => {
                let _ = rows.conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        WAL_FRAMES.set(0);
        if let Err(e) = rows.conn.execute_batch("COMMIT") {
            let _ = rows.conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        self.inner.commits.send_if_modified(|seq| {
            let changed = *seq != latest;
            *seq = latest;
            changed
        });
        Ok(out)
    }

    /// Checkpoints the WAL when the commit this thread just made left it at
    /// [`WAL_AUTOCHECKPOINT_PAGES`] or more, unless a checkpoint is already running: on the
    /// blocking pool under a multi-threaded runtime (the commit's caller does not wait for
    /// it), in place otherwise. Called with no lock held, so writers go on meanwhile.
    ///
    /// A passive checkpoint that runs while this process keeps writing may never catch up
    /// with the end of the WAL, and SQLite starts the WAL over only once everything in it
    /// is copied. So past twice the size the checkpoint runs in the committing thread and
    /// holds the process's write lock: this process's writers wait for it, as they did for
    /// SQLite's auto-checkpoint, and the WAL stays bounded under any sustained load.
    fn checkpoint_if_due(&self) {
        let frames = WAL_FRAMES.replace(0);
        if frames < WAL_AUTOCHECKPOINT_PAGES as i32
            || self.inner.checkpointing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let exclusive = frames >= 2 * WAL_AUTOCHECKPOINT_PAGES as i32;
        // Lets the next checkpoint start once this one ran, panicked, or was dropped unrun
        // by a runtime shutting down.
        struct Running(SqliteStore);
        impl Drop for Running {
            fn drop(&mut self) {
                self.0.inner.checkpointing.store(false, Ordering::Release);
            }
        }
        let job = Running(self.clone());
        let run = move || {
            let store = &job.0;
            let _writers = exclusive.then(|| store.inner.writer());
            // A failure (another process checkpointing, say) leaves the frames for the next
            // commit past the size to try again, as SQLite's auto-checkpoint does.
            let _ = store.checkpoint();
        };
        match tokio::runtime::Handle::try_current() {
            // Past twice the size the committing caller waits, however busy the blocking
            // pool is: a checkpoint left queued behind other work would let the WAL grow
            // with every commit meanwhile.
            Ok(rt) if rt.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread => {
                if exclusive {
                    tokio::task::block_in_place(run);
                } else {
                    drop(rt.spawn_blocking(run));
                }
            }
            _ => run(),
        }
    }

    /// A passive checkpoint: copies what it can of the WAL into the database without
    /// waiting for readers or writers.
    fn checkpoint(&self) -> Result<()> {
        let mut conn = self.checkout()?;
        conn.get()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// [`read_in`] with SQLite's busy handler off for the duration.
    fn read_now<Q: ReadOp>(&self, mut conn: PooledConn<'_>, q: &Q) -> Result<Q::Output> {
        conn.get().busy_timeout(Duration::ZERO)?;
        let now = self.inner.opts.clock.now_ms();
        let out = read_in(conn.get(), now, |rows| run_now(q.run(rows)));
        if let Err(e) = conn.get().busy_timeout(self.inner.opts.busy_timeout) {
            // Never hand back a connection without its busy timeout.
            conn.discard();
            return Err(e.into());
        }
        out
    }
}

/// Runs `f` in a read transaction (a consistent snapshot) on `conn`.
fn read_in<T>(
    conn: &mut Connection,
    now: i64,
    f: impl FnOnce(&mut SqliteRows<'_>) -> Result<T>,
) -> Result<T> {
    // Cached statements: parsing BEGIN and COMMIT again was a visible share of a short read.
    conn.prepare_cached("BEGIN DEFERRED")?.execute([])?;
    let mut rows = SqliteRows { conn, now };
    let out = f(&mut rows);
    let end = rows
        .conn
        .prepare_cached(if out.is_ok() { "COMMIT" } else { "ROLLBACK" })
        .and_then(|mut end| end.execute([]));
    let out = out?;
    end?;
    Ok(out)
}

/// Drives an operation over SQLite rows to its end. Every row primitive of the SQLite store
/// completes at once, so the operation never waits on anything: its first poll finishes it.
fn run_now<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let mut f = std::pin::pin!(f);
    match f
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => Err(Error::internal(
            "a SQLite operation waited on something that never completes",
        )),
    }
}

/// Runs blocking SQLite work off the async runtime (inline when there is no runtime).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread => {
            tokio::task::spawn_blocking(f)
                .await
                .map_err(|e| Error::internal(format!("storage task failed: {e}")))?
        }
        // A current-thread runtime (the CLI) has nothing else to run meanwhile.
        _ => f(),
    }
}

struct PooledConn<'a> {
    store: &'a Inner,
    conn: Option<Connection>,
}

impl PooledConn<'_> {
    fn get(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until drop")
    }

    /// Closes the connection instead of returning it to the pool.
    fn discard(mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn);
            let mut pool = self.store.pool.lock().unwrap_or_else(|p| p.into_inner());
            pool.open -= 1;
            self.store.returned(pool);
        }
    }
}

impl Drop for PooledConn<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut pool = self.store.pool.lock().unwrap_or_else(|p| p.into_inner());
            if conn.is_autocommit() {
                pool.idle.push(conn);
            } else {
                // A transaction was left open by a panic: do not reuse the connection.
                pool.open -= 1;
            }
            self.store.returned(pool);
        }
    }
}

/// How the store's connections open the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadWrite,
    /// A store this process cannot write (a read-only file system, no permission): reads
    /// only. `immutable` when not even SQLite's shared-memory file can be created, so the
    /// file is read as it is, without locks (nobody can write it either).
    ReadOnly {
        immutable: bool,
    },
}

fn connect(path: Option<&Path>, busy_timeout: Duration, access: Access) -> Result<Connection> {
    let conn = match path {
        Some(p) => match access {
            Access::ReadWrite => Connection::open_with_flags(
                p,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            ),
            Access::ReadOnly { immutable } => {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI;
                if immutable {
                    let uri = format!(
                        "file:{}?immutable=1",
                        p.display()
                            .to_string()
                            .replace('?', "%3f")
                            .replace('#', "%23")
                    );
                    Connection::open_with_flags(uri, flags)
                } else {
                    Connection::open_with_flags(p, flags)
                }
            }
        }
        .map_err(|e| {
            Error::storage(format!("cannot open database {}: {e}", p.display()))
                .with_details(serde_json::json!({ "db": p.display().to_string() }))
                .with_suggestion("Check the path given with --db or MAESTRO_DB and its permissions")
        })?,
        None => Connection::open_in_memory()?,
    };
    conn.busy_timeout(busy_timeout)?;
    // Room for every statement the operations use, so none is parsed twice.
    conn.set_prepared_statement_cache_capacity(256);
    // Plans that never depend on bound values: otherwise SQLite marks a statement expired
    // whenever a parameter it peeked at while planning (a `LIMIT ?`, a `LIKE ?`) is bound
    // again, and re-parses it on every execution despite the statement cache.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    if path.is_some() && access == Access::ReadWrite {
        // Switching a new database to WAL takes an exclusive lock, and SQLite answers
        // SQLITE_BUSY at once (without calling the busy handler) when several connections
        // race to do it; retry within the busy timeout. WAL is persistent, so every later
        // connection finds it set and skips the switch.
        let mode = retry_busy(busy_timeout, || {
            let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
            if mode.eq_ignore_ascii_case("wal") {
                return Ok(mode);
            }
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        })?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::storage(format!(
                "cannot enable WAL mode (got '{mode}')"
            )));
        }
    }
    // Replaces SQLite's auto-checkpoint: commits note the WAL's size, and the store
    // checkpoints after the write (see WAL_AUTOCHECKPOINT_PAGES).
    conn.wal_hook(Some(note_wal_frames));
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA synchronous = NORMAL;
         PRAGMA temp_store = MEMORY;",
    )?;
    Ok(conn)
}

thread_local! {
    /// Frames in the WAL after this thread's latest commit, set by [`note_wal_frames`].
    static WAL_FRAMES: Cell<i32> = const { Cell::new(0) };
}

/// The WAL hook: called by SQLite on the committing thread after each commit.
fn note_wal_frames(_: &rusqlite::hooks::Wal, frames: std::os::raw::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.set(frames);
    Ok(())
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Runs `f` again while it fails with SQLITE_BUSY, for at most `timeout`: for the few
/// statements where SQLite reports contention without consulting the busy handler.
fn retry_busy<T>(
    timeout: Duration,
    mut f: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match f() {
            Err(e) if is_busy(&e) && start.elapsed() + pause < timeout => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

impl Backend for SqliteStore {
    fn location(&self) -> String {
        match &self.inner.path {
            Some(p) => p.display().to_string(),
            None => ":memory:".into(),
        }
    }

    /// A short read runs in place on the calling thread when a pooled connection is idle,
    /// which spares the two thread hand-offs of `blocking` that cost more than the query
    /// itself. It never waits there: in WAL mode a reader does not wait for writers, and in
    /// the rare cases where SQLite still answers busy (another process holds the database
    /// exclusively, or is recovering its WAL) the attempt stops at once, with a busy timeout
    /// of zero, and the read goes to the blocking pool, where waiting is harmless. So the
    /// first poll either completes the read or hands it off without blocking.
    async fn read<Q: ReadOp>(&self, q: Q) -> Result<Q::Output> {
        if q.is_short()
            && let Some(conn) = self.try_checkout_idle()
        {
            match self.read_now(conn, &q) {
                Err(e) if e.is_busy() => {}
                done => return done.map_err(|e| self.explain(e)),
            }
        }
        let store = self.clone();
        blocking(move || store.read_sync(|rows| run_now(q.run(rows))))
            .await
            .map_err(|e| self.explain(e))
    }

    /// In place when it cannot wait (see `try_write_in_place`): a write costs less than the
    /// two thread hand-offs of the blocking pool. Mutations of unbounded size (batches,
    /// prunes, reaps) always go to the blocking pool.
    async fn write<W: WriteOp>(&self, op: &OpContext, w: W) -> Result<W::Output> {
        if self.is_read_only() {
            return Err(self.read_only_error());
        }
        if !W::LONG
            && let Some(out) = self.try_write_in_place(op, &w)
        {
            self.checkpoint_if_due();
            return self.note_write(out.map_err(|e| self.explain(e)));
        }
        let store = self.clone();
        let op = op.clone();
        let out = blocking(move || store.write_sync(&op, &w)).await;
        self.note_write(out.map_err(|e| self.explain(e)))
    }

    /// The reader/writer connections of this process (the process's writes take one of
    /// them too, one at a time).
    fn pool_status(&self) -> Option<PoolStatus> {
        let pool = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
        Some(PoolStatus {
            max: self.inner.opts.max_connections.max(1),
            size: pool.open,
            available: pool.idle.len(),
            waiting: pool.waiting,
        })
    }

    /// A full disk, seen now; else the storage error the last write failed with, until a
    /// write succeeds.
    fn write_failure(&self) -> Option<Error> {
        if let Some(path) = self.inner.path.as_deref()
            && disk_is_full(path)
        {
            return Some(full_disk_error(path, None));
        }
        self.inner
            .write_failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn commit_notifications(&self) -> Option<watch::Receiver<i64>> {
        Some(self.watch_commits())
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.inner.opts.clock.clone()
    }

    fn read_only(&self) -> bool {
        self.is_read_only()
    }
}

impl SqliteStore {
    /// `e`, explained when it happened because the disk holding the store is full.
    fn explain(&self, e: Error) -> Error {
        match self.inner.path.as_deref() {
            Some(path) => explain_full_disk(path, e),
            None => e,
        }
    }
}

/// Below this much free space, a storage error is put down to a full disk.
const FULL_BELOW_BYTES: u64 = 1 << 20;

/// Whether the file system holding `path` has (almost) no space left for this process.
#[cfg(unix)]
fn disk_is_full(path: &Path) -> bool {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    rustix::fs::statvfs(dir).is_ok_and(|s| {
        // Root may also write the blocks the file system reserves for it.
        let blocks = if rustix::process::geteuid().is_root() {
            s.f_bfree
        } else {
            s.f_bavail
        };
        blocks.saturating_mul(s.f_frsize) < FULL_BELOW_BYTES
    })
}

#[cfg(not(unix))]
fn disk_is_full(_: &Path) -> bool {
    false
}

/// A storage error `e` (SQLite says "database or disk is full", or only "disk I/O error"
/// when it cannot grow its WAL index) as what it is when the disk holding `path` is full.
fn explain_full_disk(path: &Path, e: Error) -> Error {
    if e.code() != crate::Code::StorageError || e.is_busy() || e.details().get("diskFull").is_some()
    {
        return e;
    }
    let said_full = e.message().contains("database or disk is full");
    if said_full || disk_is_full(path) {
        full_disk_error(path, Some(e.message()))
    } else {
        e
    }
}

fn full_disk_error(path: &Path, cause: Option<&str>) -> Error {
    let mut details = serde_json::json!({
        "db": path.display().to_string(),
        "diskFull": true,
        "reason": "disk_full",
    });
    if let Some(cause) = cause {
        details["cause"] = cause.into();
    }
    Error::storage(format!(
        "The disk holding the store {} is full: it cannot be changed (and a new process may not even read it) until there is space",
        path.display()
    ))
    .with_details(details)
    .with_retryable(true)
    .with_suggestion("Free space on that disk (df shows it); what was written before is kept, and writes work again once there is room")
}

/// Whether the WAL beside `path` is missing or empty (every commit is in the file).
fn wal_is_empty(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(&wal).map_or(true, |m| m.len() == 0)
}

/// Whether this process may write `path` and create files beside it (SQLite's WAL and
/// shared-memory files): false on a read-only file system, even for root.
fn writable(path: &Path) -> bool {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    may_write(path) && may_write(dir)
}

#[cfg(unix)]
fn may_write(path: &Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok()
}

#[cfg(not(unix))]
fn may_write(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.permissions().readonly())
}

#[cfg(test)]
mod checkpoint_tests {
    use super::*;

    fn wal_bytes(db: &Path) -> u64 {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(&wal).map_or(0, |m| m.len())
    }

    /// Writers that never pause, from several threads: the WAL is checkpointed and started
    /// over rather than growing with every commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_sustained_writes() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let store = SqliteStore::open(&db).unwrap();
        let op = OpContext::default();
        store
            .create_project(
                &op,
                NewProject {
                    name: "p".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    let op = OpContext::default();
                    for i in 0..700 {
                        let new = NewTask {
                            title: format!("task {w}-{i}"),
                            description: Some("d".repeat(400)),
                            ..Default::default()
                        };
                        store.create_task(&op, new).await.unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        // About nine pages per task: without checkpoints the WAL would hold over 25,000
        // frames (100 MB); a checkpoint starts it over every 4,000 to 8,000.
        let frame = 4096 + 24;
        let cap = 3 * u64::from(WAL_AUTOCHECKPOINT_PAGES) * frame;
        let size = wal_bytes(&db);
        assert!(size > 0, "the store runs in WAL mode");
        assert!(size <= cap, "WAL of {size} bytes, over {cap}");
        let tasks: i64 = store
            .read_sync(|rows| {
                Ok(rows
                    .conn
                    .query_row("SELECT COUNT(*) FROM tasks", [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(tasks, 2800);
    }
}

#[cfg(test)]
mod retention_tests {
    use super::*;

    #[test]
    fn pruning_keeps_the_newest_events_and_never_reuses_a_seq() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let s = SqliteStore::open_in_memory().unwrap();
            let op = OpContext::default();
            assert_eq!(s.oldest_seq().await.unwrap(), 1);
            s.create_project(
                &op,
                NewProject {
                    name: "p".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            for i in 0..9 {
                let t = NewTask {
                    title: format!("t{i}"),
                    ..Default::default()
                };
                s.create_task(&op, t).await.unwrap();
            }
            let latest = s.latest_seq().await.unwrap();
            assert!(latest >= 10, "{latest}");
            assert_eq!(s.prune_events(3).await.unwrap(), (latest - 3) as u64);
            assert_eq!(s.oldest_seq().await.unwrap(), latest - 2);
            let left: Vec<i64> = s
                .events_since(0, 100, &[])
                .await
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect();
            assert_eq!(left, vec![latest - 2, latest - 1, latest]);
            // keep 0 still keeps the newest event, so the latest seq survives.
            assert_eq!(s.prune_events(0).await.unwrap(), 2);
            assert_eq!(s.latest_seq().await.unwrap(), latest);
            assert_eq!(s.oldest_seq().await.unwrap(), latest);
            let t = NewTask {
                title: "after".into(),
                ..Default::default()
            };
            s.create_task(&op, t).await.unwrap();
            let after = s.latest_seq().await.unwrap();
            assert!(after > latest);
            assert_eq!(
                s.events_since(latest, 100, &[]).await.unwrap()[0].seq,
                latest + 1
            );
            assert!(Backend::commit_notifications(&s).is_some());
            assert_eq!(*s.watch_commits().borrow(), after);
        });
    }
}

#[cfg(test)]
mod statement_tests {
    use super::*;
    use rusqlite::{StatementStatus, params};
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Waker};

    /// A file store and a multi-threaded runtime (where reads can be handed off).
    fn store_and_runtime() -> (tempfile::TempDir, SqliteStore, tokio::runtime::Runtime) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path().join("m.db")).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        (dir, s, rt)
    }

    fn first_poll<F: Future + ?Sized>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// A short read that answers busy on its first attempt, on the calling thread, and
    /// fails with `then` (or reads the latest seq) afterwards, counting its attempts.
    struct Probe {
        attempts: Arc<AtomicUsize>,
        caller: std::thread::ThreadId,
        busy_first: bool,
    }

    impl ReadOp for Probe {
        type Output = i64;
        fn is_short(&self) -> bool {
            true
        }
        async fn run<R: Rows>(&self, rows: &mut R) -> Result<i64> {
            let first = self.attempts.fetch_add(1, Ordering::SeqCst) == 0;
            if !self.busy_first {
                return Err(Error::task_not_found("t-nope"));
            }
            if first {
                assert_eq!(std::thread::current().id(), self.caller);
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    None,
                )
                .into());
            }
            assert_ne!(std::thread::current().id(), self.caller);
            rows.latest_seq().await
        }
    }

    /// A cached statement whose `LIMIT ?` is bound again must run without being re-parsed.
    #[test]
    fn rebinding_a_limit_does_not_reprepare_the_statement() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path().join("m.db")).unwrap();
        s.read_sync(|rows| {
            for limit in [200_i64, 10, 200, 1] {
                let mut stmt = rows.conn.prepare_cached(
                    "SELECT id FROM timeline WHERE task_id = ?1 ORDER BY id DESC LIMIT ?2",
                )?;
                stmt.query_map(params!["T-1", limit], |r| r.get::<_, i64>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
            }
            Ok(())
        })
        .unwrap();
    }

    /// A short read that SQLite answers busy in place is handed off instead of retried on
    /// the calling thread, and completes on the blocking pool (the probe checks the thread
    /// of each attempt).
    #[test]
    fn a_busy_short_read_is_handed_off_rather_than_retried_in_place() {
        let (_dir, s, rt) = store_and_runtime();
        let _in_runtime = rt.enter();
        let attempts = Arc::new(AtomicUsize::new(0));
        let probe = Probe {
            attempts: attempts.clone(),
            caller: std::thread::current().id(),
            busy_first: true,
        };
        let mut read = Box::pin(Backend::read(&s, probe));
        // The hand-off may already have finished by the time the first poll looks.
        let seq = match first_poll(read.as_mut()) {
            Poll::Ready(out) => out.unwrap(),
            Poll::Pending => rt.block_on(read).unwrap(),
        };
        assert_eq!(seq, 0);
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }

    /// Other errors of a short read are answered by the first poll, not retried.
    #[test]
    fn a_short_read_that_fails_otherwise_is_answered_in_place() {
        let (_dir, s, rt) = store_and_runtime();
        let _in_runtime = rt.enter();
        let attempts = Arc::new(AtomicUsize::new(0));
        let probe = Probe {
            attempts: attempts.clone(),
            caller: std::thread::current().id(),
            busy_first: false,
        };
        let mut read = Box::pin(Backend::read(&s, probe));
        match first_poll(read.as_mut()) {
            Poll::Ready(Err(e)) => assert_eq!(e.code(), crate::error::Code::TaskNotFound),
            other => panic!("{other:?}"),
        }
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }
}

#[cfg(test)]
mod status_count_tests {
    use super::*;
    use crate::Maestro;
    use crate::model::*;

    /// Counts by status, by priority, and the ready count.
    type Counted = (Vec<(String, i64)>, Vec<(String, i64)>, i64);

    /// What `status` reported before the counts were kept: the tasks themselves, grouped.
    fn counted(store: &SqliteStore, project: &str) -> Counted {
        store
            .read_sync(|rows| {
                let group = |col: &str| -> Result<Vec<(String, i64)>> {
                    let mut stmt = rows.conn.prepare(&format!(
                        "SELECT {col}, COUNT(*) FROM tasks WHERE project_id = ?1 GROUP BY 1 ORDER BY 1"
                    ))?;
                    let v = stmt
                        .query_map([project], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<_>>()?;
                    Ok(v)
                };
                let ready = rows.conn.query_row(
                    "SELECT COUNT(*) FROM tasks WHERE project_id = ?1 AND status = 'pending' AND open_deps = 0",
                    [project],
                    |r| r.get(0),
                )?;
                Ok((group("status")?, group("priority")?, ready))
            })
            .unwrap()
    }

    fn nonzero(m: &serde_json::Map<String, serde_json::Value>) -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = m
            .iter()
            .map(|(k, n)| (k.clone(), n.as_i64().unwrap()))
            .filter(|(_, n)| *n != 0)
            .collect();
        v.sort();
        v
    }

    /// Returns the ready count.
    async fn check(m: &Maestro, store: &SqliteStore, project: &str, step: &str) -> i64 {
        let report = m.status(Some(project)).await.unwrap();
        let (by_status, by_priority, ready) = counted(store, project);
        let t = &report.tasks;
        assert_eq!(nonzero(&t.by_status), by_status, "by status after {step}");
        assert_eq!(
            nonzero(&t.by_priority),
            by_priority,
            "by priority after {step}"
        );
        assert_eq!(t.ready, ready, "ready after {step}");
        assert_eq!(
            t.total,
            by_status.iter().map(|(_, n)| n).sum::<i64>(),
            "total after {step}"
        );
        assert_eq!(
            t.by_status.len(),
            TaskStatus::ALL.len(),
            "every status is reported"
        );
        ready
    }

    /// Creates (with dependencies), status changes through every path, priority changes,
    /// dependency edits, claims and deletes in two projects, in a fixed pseudo-random order:
    /// after every step `status` reports what a count over the tasks gives.
    #[tokio::test]
    async fn status_counts_follow_every_kind_of_write() {
        let store = SqliteStore::open_in_memory().unwrap();
        let m = Maestro::new(Arc::new(store.clone()));
        let op = OpContext::default();
        let projects = [
            m.create_project(&op, "a", true).await.unwrap().id,
            m.create_project(&op, "b", false).await.unwrap().id,
        ];
        let session = m
            .register_session(
                &op,
                NewSession {
                    project_id: Some(projects[0].clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .id;
        let mut tasks: Vec<(usize, String)> = Vec::new();
        let mut deleted = 0;
        let mut most_ready = 0;
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for step in 0..400 {
            let kind = if tasks.len() < 5 { 0 } else { next(11) };
            let pick = |r: usize| tasks[r % tasks.len()].clone();
            let (p, what) = match kind {
                0..=3 => {
                    let p = next(2);
                    let deps: Vec<String> = tasks
                        .iter()
                        .filter(|(tp, _)| *tp == p)
                        .map(|(_, id)| id.clone())
                        .filter(|_| next(4) == 0)
                        .take(3)
                        .collect();
                    let t = m
                        .create_task(
                            &op,
                            NewTask {
                                project_id: Some(projects[p].clone()),
                                title: format!("t{step}"),
                                priority: Some(Priority::ALL[next(3)]),
                                depends_on: deps,
                                ..Default::default()
                            },
                        )
                        .await
                        .unwrap();
                    tasks.push((p, t.id));
                    (p, "create")
                }
                4 | 5 => {
                    let (p, id) = pick(next(1000));
                    let action = match next(6) {
                        0 => StatusAction::Start,
                        1 => StatusAction::Complete,
                        2 => StatusAction::Block { reason: "r".into() },
                        3 => StatusAction::Reopen,
                        4 => StatusAction::Cancel,
                        _ => StatusAction::Release {
                            reason: String::new(),
                        },
                    };
                    let change = StatusChange {
                        force: next(2) == 0,
                        ..StatusChange::new(action)
                    };
                    let _ = m.change_status(&op, &id, change).await;
                    (p, "a status change")
                }
                6 => {
                    let (p, id) = pick(next(1000));
                    let priority = TaskPatch {
                        priority: Some(Priority::ALL[next(3)]),
                        ..Default::default()
                    };
                    m.update_task(&op, &id, priority).await.unwrap();
                    // Some transitions are refused even forced: the counts must not move then.
                    let status = TaskPatch {
                        status: Some(TaskStatus::ALL[next(TaskStatus::ALL.len())]),
                        force: true,
                        ..Default::default()
                    };
                    let _ = m.update_task(&op, &id, status).await;
                    (p, "a patch of priority, then of status")
                }
                7 => {
                    let (p, id) = pick(next(1000));
                    let (q, dep) = pick(next(1000));
                    if p == q && id != dep {
                        let patch = if next(2) == 0 {
                            TaskPatch {
                                add_dependencies: vec![dep],
                                ..Default::default()
                            }
                        } else {
                            TaskPatch {
                                remove_dependencies: vec![dep],
                                ..Default::default()
                            }
                        };
                        let _ = m.update_task(&op, &id, patch).await;
                    }
                    (p, "a dependency edit")
                }
                8 => {
                    let _ = m.claim_next(&op, Some(&projects[0]), &session).await;
                    (0, "a claim")
                }
                9 => {
                    let (p, id) = pick(next(1000));
                    let patch = TaskPatch {
                        title: Some(format!("renamed {step}")),
                        ..Default::default()
                    };
                    m.update_task(&op, &id, patch).await.unwrap();
                    (p, "a rename")
                }
                _ => {
                    let i = next(tasks.len());
                    let (p, id) = tasks[i].clone();
                    if m.delete_task(&op, &id).await.is_ok() {
                        tasks.remove(i);
                        deleted += 1;
                    }
                    (p, "a delete")
                }
            };
            let ready = check(&m, &store, &projects[p], &format!("step {step}, {what}")).await;
            most_ready = most_ready.max(ready);
        }
        for p in &projects {
            check(&m, &store, p, "the end").await;
        }
        let (by_status, _, _) = counted(&store, &projects[0]);
        assert!(
            by_status.len() >= 4,
            "the walk reached several statuses: {by_status:?}"
        );
        assert!(
            most_ready > 3,
            "tasks were ready along the way: {most_ready}"
        );
        assert!(deleted > 10, "the walk deleted tasks: {deleted}");
    }
}

#[cfg(test)]
mod full_disk_tests {
    use super::*;
    use crate::Code;

    #[test]
    fn only_storage_errors_of_a_full_disk_are_explained_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        // SQLite saying so is believed, whatever the free space.
        let full = explain_full_disk(
            &db,
            Error::storage("storage error: database or disk is full"),
        );
        assert_eq!(full.code(), Code::StorageError);
        assert_eq!(full.details()["diskFull"], true, "{full:?}");
        assert_eq!(
            full.details()["cause"],
            "storage error: database or disk is full"
        );
        assert!(full.message().contains("is full"), "{}", full.message());
        assert!(full.suggestion().unwrap().contains("Free space"));
        // Explained once only.
        assert_eq!(
            explain_full_disk(&db, full.clone()).to_json(),
            full.to_json()
        );
        // With room on the disk, an I/O error stays what it is; so do busy and other errors.
        assert!(!disk_is_full(&db));
        let io = Error::storage("storage error: disk I/O error");
        assert_eq!(explain_full_disk(&db, io.clone()).to_json(), io.to_json());
        let busy = Error::storage("storage error: database or disk is full")
            .with_retryable(true)
            .with_details(serde_json::json!({ "reason": "busy" }));
        assert_eq!(
            explain_full_disk(&db, busy.clone()).to_json(),
            busy.to_json()
        );
        let other = Error::invalid_argument("database or disk is full");
        assert_eq!(
            explain_full_disk(&db, other.clone()).to_json(),
            other.to_json()
        );
        // A store with room has no trouble to report.
        let store = SqliteStore::open(&db).unwrap();
        assert!(Backend::write_failure(&store).is_none());
        assert!(Backend::write_failure(&SqliteStore::open_in_memory().unwrap()).is_none());
    }
}

#[cfg(test)]
mod write_failure_tests {
    use super::*;

    /// A database that cannot grow (SQLite's page cap stands in for a full disk): the write
    /// fails retryable with the reason, the store says writes fail until one succeeds.
    #[tokio::test]
    async fn a_full_database_fails_writes_retryably_until_there_is_room() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SqliteOptions {
            max_connections: 1,
            ..Default::default()
        };
        let store = SqliteStore::open_with(dir.path().join("m.db"), opts).unwrap();
        let op = OpContext::default();
        let project = NewProject {
            name: "p".into(),
            ..Default::default()
        };
        store.create_project(&op, project).await.unwrap();
        assert!(Store::write_failure(&store).is_none());
        let cap = |extra: i64| {
            store
                .read_sync(|rows| {
                    let pages: i64 = rows.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
                    rows.conn.query_row(
                        &format!("PRAGMA max_page_count = {}", pages + extra),
                        [],
                        |_| Ok(()),
                    )?;
                    Ok(())
                })
                .unwrap()
        };
        cap(0);
        let big = || NewTask {
            title: "big".into(),
            description: Some("d".repeat(60_000)),
            ..Default::default()
        };
        let e = store.create_task(&op, big()).await.unwrap_err();
        assert_eq!(e.details()["reason"], "disk_full", "{e:?}");
        assert!(e.retryable());
        assert_eq!(
            Store::write_failure(&store).unwrap().details()["reason"],
            "disk_full"
        );
        // A refused operation is not a storage failure and changes nothing.
        let missing = store.delete_task(&op, "t-zzzzzzzz").await.unwrap_err();
        assert_eq!(missing.code(), crate::error::Code::TaskNotFound);
        assert!(Store::write_failure(&store).is_some());
        cap(10_000);
        store.create_task(&op, big()).await.unwrap();
        assert!(Store::write_failure(&store).is_none());
    }
}

#[cfg(test)]
mod pool_tests {
    use super::*;

    /// With every connection checked out, a caller waits; returning one wakes it, each
    /// time, although a return notifies only when someone waits.
    #[test]
    fn a_returned_connection_wakes_a_waiting_caller() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_with(
            dir.path().join("m.db"),
            SqliteOptions {
                max_connections: 1,
                ..Default::default()
            },
        )
        .unwrap();
        for _ in 0..20 {
            let held = store.checkout().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            let waiter = {
                let store = store.clone();
                std::thread::spawn(move || {
                    let conn = store.checkout().map(|_| ());
                    tx.send(conn).unwrap();
                })
            };
            // Until the waiter is counted, it has not reached the condvar yet.
            while store.inner.pool.lock().unwrap().waiting == 0 {
                std::thread::yield_now();
            }
            assert!(rx.try_recv().is_err(), "the only connection is held");
            drop(held);
            let got = rx.recv_timeout(Duration::from_secs(30));
            assert!(matches!(got, Ok(Ok(()))), "the waiter got the connection");
            waiter.join().unwrap();
            assert_eq!(store.inner.pool.lock().unwrap().waiting, 0);
        }
    }
}
