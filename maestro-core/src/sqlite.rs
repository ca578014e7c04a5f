//! The embedded store: SQLite in WAL mode, safe for many processes at once.
//!
//! Every operation is one transaction; mutations take `BEGIN IMMEDIATE` so concurrent
//! writers (threads or processes) serialize instead of losing updates, and they append their
//! events to the durable event log in the same transaction.

mod migrate;
mod ops;
mod rows;

pub use migrate::{LATEST_VERSION, MIGRATIONS};

use crate::error::{Error, Result};
use crate::model::*;
use crate::store::*;
use async_trait::async_trait;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use serde::{Serialize, de::DeserializeOwned};
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
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            max_connections: 4,
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
    pool: Mutex<Pool>,
    available: Condvar,
    /// In-process writers queue here rather than spinning on SQLite's busy handler.
    write_lock: Mutex<()>,
    /// The latest seq committed by this process.
    commits: watch::Sender<i64>,
    /// A checkpoint is running (one at a time).
    checkpointing: AtomicBool,
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
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, opts: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::storage(format!("cannot create directory {}: {e}", dir.display()))
                    .with_suggestion("Check the path given with --db or MAESTRO_DB")
            })?;
        }
        Self::with_first_connection(Some(path), opts)
    }

    /// A private in-memory store (one connection), for tests and experiments.
    pub fn open_in_memory() -> Result<Self> {
        Self::with_first_connection(
            None,
            SqliteOptions {
                max_connections: 1,
                ..Default::default()
            },
        )
    }

    fn with_first_connection(path: Option<PathBuf>, opts: SqliteOptions) -> Result<Self> {
        let mut conn = connect(path.as_deref(), opts.busy_timeout)?;
        migrate::migrate(&mut conn)?;
        let latest: i64 =
            conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
        let (commits, _) = watch::channel(latest);
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                opts,
                pool: Mutex::new(Pool {
                    idle: vec![conn],
                    open: 1,
                }),
                available: Condvar::new(),
                write_lock: Mutex::new(()),
                commits,
                checkpointing: AtomicBool::new(false),
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
                return match connect(inner.path.as_deref(), inner.opts.busy_timeout) {
                    Ok(conn) => Ok(PooledConn {
                        store: inner,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        inner.pool.lock().unwrap_or_else(|p| p.into_inner()).open -= 1;
                        inner.available.notify_one();
                        Err(e)
                    }
                };
            }
            pool = inner
                .available
                .wait(pool)
                .unwrap_or_else(|p| p.into_inner());
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
    pub(crate) fn read_sync<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        read_in(self.checkout()?.get(), f)
    }

    /// Runs mutation `f` in one `BEGIN IMMEDIATE` transaction. With an op id, a repeated
    /// call returns the first call's result without applying again.
    pub(crate) fn write_sync<T, F>(&self, op: &OpContext, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(&Transaction<'_>, i64) -> Result<T>,
    {
        let out = {
            let _writer = self.inner.writer();
            let mut conn = self.checkout()?;
            let tx = conn
                .get()
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            self.write_in(tx, op, f)
        };
        self.checkpoint_if_due();
        out
    }

    /// Runs mutation `f` in place when nothing would make it wait: no other writer of this
    /// process holds the write lock, a pooled connection is idle and `BEGIN IMMEDIATE`
    /// gets SQLite's write lock at once (busy timeout zero for that statement only, so a
    /// writer in another process sends this call to [`Self::write_sync`], which waits).
    /// Gives `f` back when it did not run. The caller then runs
    /// [`Self::checkpoint_if_due`].
    fn try_write_in_place<T, F>(&self, op: &OpContext, f: F) -> std::result::Result<Result<T>, F>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(&Transaction<'_>, i64) -> Result<T>,
    {
        let _writer = match self.inner.write_lock.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Err(f),
        };
        let Some(mut conn) = self.try_checkout_idle() else {
            return Err(f);
        };
        let timeout = self.inner.opts.busy_timeout;
        if let Err(e) = conn.get().busy_timeout(Duration::ZERO) {
            return Ok(Err(e.into()));
        }
        let e = match conn
            .get()
            .transaction_with_behavior(TransactionBehavior::Immediate)
        {
            Ok(tx) => {
                return match tx.busy_timeout(timeout) {
                    Ok(()) => Ok(self.write_in(tx, op, f)),
                    Err(e) => Ok(Err(e.into())),
                };
            }
            Err(e) => e,
        };
        match conn.get().busy_timeout(timeout) {
            Ok(()) if is_busy(&e) => Err(f),
            Ok(()) => Ok(Err(e.into())),
            Err(restore) => {
                // Never hand back a connection without its busy timeout.
                conn.discard();
                Ok(Err(restore.into()))
            }
        }
    }

    /// The body of a mutation, in the `BEGIN IMMEDIATE` transaction `tx`.
    fn write_in<T, F>(&self, tx: Transaction<'_>, op: &OpContext, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(&Transaction<'_>, i64) -> Result<T>,
    {
        if let Some(op_id) = &op.op_id
            && let Some(prev) = ops::recorded_op(&tx, op_id)?
        {
            return Ok(serde_json::from_str(&prev)?);
        }
        let now = ops::now_ms();
        if let Some(session) = &op.session_id {
            ops::touch_session(&tx, session, now)?;
        }
        let out = f(&tx, now)?;
        if let Some(op_id) = &op.op_id {
            ops::record_op(&tx, op_id, &serde_json::to_string(&out)?, now)?;
        }
        let latest = ops::latest_seq(&tx)?;
        WAL_FRAMES.set(0);
        tx.commit()?;
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
    /// is copied. So past twice the size the checkpoint holds the process's write lock:
    /// this process's writers wait for it, as they did for SQLite's auto-checkpoint, and
    /// the WAL stays bounded under any sustained load.
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
            Ok(rt) if rt.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread => {
                drop(rt.spawn_blocking(run));
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

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let store = self.clone();
        blocking(move || store.read_sync(f)).await
    }

    /// A short, bounded read (one task's detail, a single row, at most a page of events):
    /// run in place on the calling thread when a pooled connection is idle, which spares
    /// the two thread hand-offs of [`blocking`] that cost more than the query itself. It
    /// never waits there: in WAL mode a reader does not wait for writers, and in the rare
    /// cases where SQLite still answers busy (another process holds the database
    /// exclusively, or is recovering its WAL) the attempt stops at once, with a busy timeout
    /// of zero, and the read is retried with [`Self::read`], where waiting is harmless. With
    /// no idle connection it goes there directly. So the first poll of the returned future
    /// either completes the read or hands it off without blocking.
    async fn read_short<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Clone + Send + 'static,
    {
        if let Some(conn) = self.try_checkout_idle() {
            match self.read_now(conn, f.clone()) {
                Err(e) if e.is_busy() => {}
                done => return done,
            }
        }
        self.read(f).await
    }

    /// [`read_in`] with SQLite's busy handler off for the duration.
    fn read_now<T>(
        &self,
        mut conn: PooledConn<'_>,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        conn.get().busy_timeout(Duration::ZERO)?;
        let out = read_in(conn.get(), f);
        if let Err(e) = conn.get().busy_timeout(self.inner.opts.busy_timeout) {
            // Never hand back a connection without its busy timeout.
            conn.discard();
            return Err(e.into());
        }
        out
    }

    async fn write<T, F>(&self, op: &OpContext, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce(&Transaction<'_>, i64) -> Result<T> + Send + 'static,
    {
        // In place when it cannot wait (see try_write_in_place): a write costs less than the
        // two thread hand-offs of the blocking pool.
        let f = match self.try_write_in_place(op, f) {
            Ok(out) => {
                self.checkpoint_if_due();
                return out;
            }
            Err(f) => f,
        };
        self.write_blocking(op, f).await
    }

    /// A mutation of unbounded size (a batch, a prune), always on the blocking pool.
    async fn write_blocking<T, F>(&self, op: &OpContext, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce(&Transaction<'_>, i64) -> Result<T> + Send + 'static,
    {
        let store = self.clone();
        let op = op.clone();
        blocking(move || store.write_sync(&op, f)).await
    }
}

/// Runs `f` in a read transaction (a consistent snapshot) on `conn`.
fn read_in<T>(conn: &mut Connection, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let out = f(&tx)?;
    tx.finish()?;
    Ok(out)
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
            self.store
                .pool
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .open -= 1;
            self.store.available.notify_one();
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
            drop(pool);
            self.store.available.notify_one();
        }
    }
}

fn connect(path: Option<&Path>, busy_timeout: Duration) -> Result<Connection> {
    let conn = match path {
        Some(p) => Connection::open_with_flags(
            p,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
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
    if path.is_some() {
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

#[async_trait]
impl Store for SqliteStore {
    fn location(&self) -> String {
        match &self.inner.path {
            Some(p) => p.display().to_string(),
            None => ":memory:".into(),
        }
    }

    async fn create_project(
        &self,
        op: &OpContext,
        name: &str,
        make_default: bool,
    ) -> Result<Project> {
        let name = name.to_string();
        self.write(op, move |tx, now| {
            ops::create_project(tx, &name, make_default, now)
        })
        .await
    }
    async fn list_projects(&self) -> Result<Vec<Project>> {
        self.read(ops::list_projects).await
    }
    async fn get_project(&self, id: &str) -> Result<Project> {
        let id = id.to_string();
        self.read_short(move |tx| ops::get_project(tx, &id)).await
    }
    async fn resolve_project(&self, project_id: Option<&str>) -> Result<Project> {
        let id = project_id.map(str::to_string);
        self.read_short(move |tx| ops::resolve_project(tx, id.as_deref()))
            .await
    }

    async fn create_task(&self, op: &OpContext, new: NewTask) -> Result<Task> {
        let op2 = op.clone();
        self.write(op, move |tx, now| ops::create_task(tx, &op2, &new, now))
            .await
    }
    async fn create_tasks(&self, op: &OpContext, new: Vec<NewTask>) -> Result<Vec<Task>> {
        let op2 = op.clone();
        self.write_blocking(op, move |tx, now| {
            new.iter()
                .map(|n| ops::create_task(tx, &op2, n, now))
                .collect()
        })
        .await
    }
    async fn get_task(&self, id: &str) -> Result<TaskDetail> {
        let id = id.to_string();
        self.read_short(move |tx| ops::get_task_detail(tx, &id))
            .await
    }
    async fn list_tasks(&self, filter: TaskFilter) -> Result<Page<Task>> {
        self.read(move |tx| ops::list_tasks(tx, &filter)).await
    }
    async fn update_task(&self, op: &OpContext, id: &str, patch: TaskPatch) -> Result<Task> {
        let (op2, id) = (op.clone(), id.to_string());
        self.write(op, move |tx, now| {
            ops::update_task(tx, &op2, &id, &patch, now)
        })
        .await
    }
    async fn change_status(&self, op: &OpContext, id: &str, change: StatusChange) -> Result<Task> {
        let (op2, id) = (op.clone(), id.to_string());
        self.write(op, move |tx, now| {
            ops::change_status(tx, &op2, &id, &change, now)
        })
        .await
    }
    async fn delete_task(&self, op: &OpContext, id: &str) -> Result<Task> {
        let id = id.to_string();
        self.write(op, move |tx, now| ops::delete_task(tx, &id, now))
            .await
    }
    async fn ready_tasks(
        &self,
        project_id: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<Task>> {
        let id = project_id.map(str::to_string);
        self.read(move |tx| {
            let project = ops::resolve_project(tx, id.as_deref())?;
            ops::ready_tasks(
                tx,
                &project.id,
                limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
            )
        })
        .await
    }
    async fn claim_task(&self, op: &OpContext, id: &str, session_id: &str) -> Result<Task> {
        let (op2, id, session) = (op.clone(), id.to_string(), session_id.to_string());
        self.write(op, move |tx, now| {
            ops::claim_task(tx, &op2, Some(&id), None, &session, now)
        })
        .await
    }
    async fn claim_next(
        &self,
        op: &OpContext,
        project_id: Option<&str>,
        session_id: &str,
    ) -> Result<Task> {
        let (op2, project, session) = (
            op.clone(),
            project_id.map(str::to_string),
            session_id.to_string(),
        );
        self.write(op, move |tx, now| {
            ops::claim_task(tx, &op2, None, Some(project.as_deref()), &session, now)
        })
        .await
    }

    async fn add_timeline(
        &self,
        op: &OpContext,
        task_id: &str,
        kind: TimelineKind,
    ) -> Result<TimelineEntry> {
        let (op2, id) = (op.clone(), task_id.to_string());
        self.write(op, move |tx, now| {
            ops::add_timeline(tx, &op2, &id, kind, now)
        })
        .await
    }
    async fn timeline(&self, task_id: &str, limit: Option<usize>) -> Result<Vec<TimelineEntry>> {
        let id = task_id.to_string();
        self.read(move |tx| {
            let id = ops::resolve_task(tx, &id)?;
            ops::timeline(tx, &id, limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT))
        })
        .await
    }

    async fn create_subtask(
        &self,
        op: &OpContext,
        task_id: &str,
        title: &str,
        description: Option<&str>,
    ) -> Result<Subtask> {
        let (op2, id, title, desc) = (
            op.clone(),
            task_id.to_string(),
            title.to_string(),
            description.map(str::to_string),
        );
        self.write(op, move |tx, now| {
            ops::create_subtask(tx, &op2, &id, &title, desc.as_deref(), now)
        })
        .await
    }
    async fn list_subtasks(&self, task_id: &str) -> Result<Vec<Subtask>> {
        let id = task_id.to_string();
        self.read(move |tx| {
            let id = ops::resolve_task(tx, &id)?;
            ops::subtasks_of(tx, &id)
        })
        .await
    }
    async fn update_subtask(
        &self,
        op: &OpContext,
        task_id: Option<&str>,
        subtask_id: &str,
        patch: SubtaskPatch,
    ) -> Result<Subtask> {
        let (op2, task, id) = (
            op.clone(),
            task_id.map(str::to_string),
            subtask_id.to_string(),
        );
        self.write(op, move |tx, now| {
            ops::update_subtask(tx, &op2, task.as_deref(), &id, &patch, now)
        })
        .await
    }
    async fn delete_subtask(
        &self,
        op: &OpContext,
        task_id: Option<&str>,
        subtask_id: &str,
    ) -> Result<Subtask> {
        let (task, id) = (task_id.map(str::to_string), subtask_id.to_string());
        self.write(op, move |tx, now| {
            ops::delete_subtask(tx, task.as_deref(), &id, now)
        })
        .await
    }

    async fn create_session(&self, op: &OpContext, new: NewSession) -> Result<Session> {
        let op2 = op.clone();
        self.write(op, move |tx, now| ops::create_session(tx, &op2, &new, now))
            .await
    }
    async fn list_sessions(&self, filter: SessionFilter) -> Result<Page<Session>> {
        self.read(move |tx| ops::list_sessions(tx, &filter)).await
    }
    async fn get_session(&self, id: &str) -> Result<Session> {
        let id = id.to_string();
        self.read_short(move |tx| {
            let id = ops::resolve_session(tx, &id)?;
            ops::load_session(tx, &id)
        })
        .await
    }
    async fn update_session(
        &self,
        op: &OpContext,
        id: &str,
        patch: SessionPatch,
    ) -> Result<Session> {
        let id = id.to_string();
        self.write(op, move |tx, now| ops::update_session(tx, &id, &patch, now))
            .await
    }
    async fn heartbeat(&self, id: &str) -> Result<Session> {
        let id = id.to_string();
        self.write(&OpContext::default(), move |tx, now| {
            ops::heartbeat(tx, &id, now)
        })
        .await
    }

    async fn events_since(
        &self,
        since: i64,
        limit: usize,
        projects: &[String],
    ) -> Result<Vec<Event>> {
        let projects_is_empty = projects.is_empty();
        let projects = projects.to_vec();
        let read = move |tx: &Transaction<'_>| ops::events_since(tx, since, limit, &projects);
        // Unfiltered, at most a thousand rows of one range: the live tail's read.
        if limit <= MAX_LIMIT && projects_is_empty {
            self.read_short(read).await
        } else {
            self.read(read).await
        }
    }
    async fn latest_seq(&self) -> Result<i64> {
        self.read_short(ops::latest_seq).await
    }
    async fn status(&self, project_id: Option<&str>) -> Result<StatusReport> {
        let id = project_id.map(str::to_string);
        self.read(move |tx| ops::status(tx, id.as_deref())).await
    }

    async fn claim_spawn(&self, op: &OpContext, id: &str, host: &str) -> Result<Option<Session>> {
        let (id, host) = (id.to_string(), host.to_string());
        self.write(op, move |tx, now| ops::claim_spawn(tx, &id, &host, now))
            .await
    }
    async fn reap_expired(&self, op: &OpContext, lease: Duration) -> Result<Vec<Session>> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        // The common case, nothing expired, takes no write lock.
        let any = self
            .read(move |tx| ops::any_expired(tx, lease_ms, ops::now_ms()))
            .await?;
        if !any {
            return Ok(Vec::new());
        }
        self.write(op, move |tx, now| ops::reap_expired(tx, lease_ms, now))
            .await
    }
    async fn oldest_seq(&self) -> Result<i64> {
        self.read_short(ops::oldest_seq).await
    }
    async fn prune_events(&self, keep: usize) -> Result<u64> {
        self.write_blocking(&OpContext::default(), move |tx, _| {
            ops::prune_events(tx, keep)
        })
        .await
    }
    fn commit_notifications(&self) -> Option<watch::Receiver<i64>> {
        Some(self.watch_commits())
    }
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
        store.create_project(&op, "p", true).await.unwrap();
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
            .read_sync(|tx| Ok(tx.query_row("SELECT COUNT(*) FROM tasks", [], |r| r.get(0))?))
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
            s.create_project(&op, "p", true).await.unwrap();
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
            assert!(s.commit_notifications().is_some());
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

    /// A cached statement whose `LIMIT ?` is bound again must run without being re-parsed.
    #[test]
    fn rebinding_a_limit_does_not_reprepare_the_statement() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path().join("m.db")).unwrap();
        s.read_sync(|tx| {
            for limit in [200_i64, 10, 200, 1] {
                let mut stmt = tx.prepare_cached(
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

    /// A short read that SQLite answers busy in place is handed off (the first poll
    /// returns pending instead of retrying on the calling thread) and completes on the
    /// blocking pool.
    #[test]
    fn a_busy_short_read_is_handed_off_rather_than_retried_in_place() {
        let (_dir, s, rt) = store_and_runtime();
        let _in_runtime = rt.enter();
        let caller = std::thread::current().id();
        let attempts = Arc::new(AtomicUsize::new(0));
        let seen = attempts.clone();
        let mut read = Box::pin(s.read_short(move |tx| {
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                assert_eq!(std::thread::current().id(), caller);
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    None,
                )
                .into());
            }
            assert_ne!(std::thread::current().id(), caller);
            ops::latest_seq(tx)
        }));
        let first = first_poll(read.as_mut());
        assert!(matches!(first, Poll::Pending), "{first:?}");
        assert_eq!(rt.block_on(read).unwrap(), 0);
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }

    /// Other errors of a short read are answered by the first poll, not retried.
    #[test]
    fn a_short_read_that_fails_otherwise_is_answered_in_place() {
        let (_dir, s, rt) = store_and_runtime();
        let _in_runtime = rt.enter();
        let attempts = Arc::new(AtomicUsize::new(0));
        let seen = attempts.clone();
        let mut read = Box::pin(s.read_short(move |tx| {
            seen.fetch_add(1, Ordering::SeqCst);
            ops::get_task_detail(tx, "T-nope")
        }));
        match first_poll(read.as_mut()) {
            Poll::Ready(Err(e)) => assert_eq!(e.code(), crate::error::Code::TaskNotFound),
            other => panic!("{other:?}"),
        }
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }
}
