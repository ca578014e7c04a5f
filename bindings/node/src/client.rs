//! The one client class: every method converts its arguments, calls the core facade on the
//! tokio runtime and resolves its Promise with the JSON shape of the result.
//!
//! Short reads (one task, project or session, the latest seq, a page of the event log) are
//! first tried on the calling thread: the core's store completes them in place when that
//! needs no waiting (an idle pooled connection, and SQLite not busy; it never sleeps there)
//! and otherwise hands them to its runtime. See [`now_or_later`].

use crate::error::{OrNapi, js};
use crate::options::*;
use crate::subscription::Subscription;
use maestro_core::{ClaimRequest, Error, Maestro, OpContext};
use napi::Env;
use napi::bindgen_prelude::{Either, PromiseRaw, ToNapiValue, within_runtime_if_available};
use napi_derive::napi;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// The result of a short read: the value itself when it was ready at once, else a Promise.
/// (Spelled `napi::Result<Now<..>>` in signatures: napi-derive throws the error of a
/// `Result` it can see, and would return an alias's error as a value.)
type Now<'env, T> = Either<T, PromiseRaw<'env, T>>;

/// Polls `call` once on this (the JavaScript) thread, within the runtime's context. The
/// core's short reads finish in that first poll when they need not wait (they never block
/// in it); anything still pending, e.g. a read gone to the blocking pool or a request to a
/// server, continues on the runtime and settles a Promise. This spares the two thread
/// hand-offs of a Promise round trip, which cost several times the read itself. `index.js`
/// delivers a ready value on a later turn of the event loop, so a loop of awaited reads
/// still lets timers and I/O run between calls.
fn now_or_later<T, F>(env: &Env, call: F) -> napi::Result<Now<'_, T>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = napi::Result<T>> + Send + 'static,
{
    let mut call = Box::pin(call);
    // A panic must not unwind into Node (it would abort the process): report it as the
    // call's error, as the runtime does for calls that panic on its threads.
    let first = catch_unwind(AssertUnwindSafe(|| {
        within_runtime_if_available(|| call.as_mut().poll(&mut Context::from_waker(Waker::noop())))
    }));
    match first {
        Ok(Poll::Ready(out)) => out.map(Either::A),
        Ok(Poll::Pending) => env.spawn_future(call).map(Either::B),
        Err(_) => Err(crate::error::to_napi(Error::internal(
            "the call panicked (the message is on stderr)",
        ))),
    }
}

/// A Maestro client over a local store (`open`) or a server (`connect`).
#[napi(js_name = "NativeClient")]
pub struct Client {
    maestro: Maestro,
    session_id: Mutex<Option<String>>,
    project_id: Mutex<Option<String>>,
}

impl Client {
    /// A client acting as `session_id` on `project_id` (both already resolved by the caller).
    pub fn new(maestro: Maestro, session_id: Option<String>, project_id: Option<String>) -> Self {
        Self {
            maestro,
            session_id: Mutex::new(session_id),
            project_id: Mutex::new(project_id),
        }
    }

    fn session(&self) -> Option<String> {
        self.session_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn project(&self) -> Option<String> {
        self.project_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn op(&self) -> OpContext {
        OpContext::session(self.session())
    }

    /// The given session id, else the client's, else `no_session_context`.
    fn session_or(&self, given: Option<String>) -> napi::Result<String> {
        given
            .or_else(|| self.session())
            .ok_or_else(Error::no_session_context)
            .or_napi()
    }

    /// Claims for `session_id` (default: the client's session), acting as that session.
    async fn claim(&self, session_id: Option<String>, claim: ClaimRequest) -> napi::Result<String> {
        let session = self.session_or(session_id)?;
        let op = OpContext::session(Some(session.clone()));
        let claim = ClaimRequest {
            session_id: Some(session),
            ..claim
        };
        js(self.maestro.claim(&op, claim).await)
    }
}

#[napi]
impl Client {
    /// `local` (a SQLite file) or `remote` (a server).
    #[napi(getter, ts_return_type = "'local' | 'remote'")]
    pub fn mode(&self) -> &'static str {
        if self.maestro.store().is_remote() {
            "remote"
        } else {
            "local"
        }
    }

    /// The database path or the server URL.
    #[napi(getter)]
    pub fn location(&self) -> String {
        self.maestro.location()
    }

    /// The acting session, recorded in timelines and used by `claimNext` and friends.
    #[napi(getter)]
    pub fn session_id(&self) -> Option<String> {
        self.session()
    }

    #[napi(setter)]
    pub fn set_session_id(&self, id: Option<String>) {
        *self.session_id.lock().unwrap_or_else(|p| p.into_inner()) = id;
    }

    /// The project acted on (`undefined`: the store's default project).
    #[napi(getter)]
    pub fn project_id(&self) -> Option<String> {
        self.project()
    }

    #[napi(setter)]
    pub fn set_project_id(&self, id: Option<String>) {
        *self.project_id.lock().unwrap_or_else(|p| p.into_inner()) = id;
    }

    // ---- projects ----

    #[napi(ts_return_type = "Promise<Json<Project>>")]
    pub async fn create_project(
        &self,
        name: String,
        options: Option<CreateProjectOptions>,
    ) -> napi::Result<String> {
        let make_default = options.and_then(|o| o.make_default).unwrap_or(false);
        js(self
            .maestro
            .create_project(&self.op(), &name, make_default)
            .await)
    }

    /// `maestro init`: the project called `name` if the store has one, else a new one (the
    /// default project only when the store had none); never switches the default project.
    #[napi(ts_return_type = "Promise<Json<ProjectInit>>")]
    pub async fn init_project(&self, name: String) -> napi::Result<String> {
        js(self.maestro.init_project(&self.op(), &name).await)
    }

    /// Makes the project `id` (or a unique prefix) names the store's default project.
    #[napi(ts_return_type = "Promise<Json<Project>>")]
    pub async fn use_project(&self, id: String) -> napi::Result<String> {
        js(self.maestro.use_project(&self.op(), &id).await)
    }

    /// Every project, oldest first; `default` marks the store's default project.
    #[napi(ts_return_type = "Promise<Json<Project[]>>")]
    pub async fn list_projects(&self) -> napi::Result<String> {
        js(self.maestro.list_projects().await)
    }

    /// The project `id` names, else the client's project, else the store's default.
    #[napi(ts_return_type = "Json<Project> | Promise<Json<Project>>")]
    pub fn get_project<'env>(
        &self,
        env: &'env Env,
        id: Option<String>,
    ) -> napi::Result<Now<'env, String>> {
        let (m, id) = (self.maestro.clone(), id.or_else(|| self.project()));
        now_or_later(env, async move { js(m.project(id.as_deref()).await) })
    }

    // ---- tasks ----

    #[napi(ts_return_type = "Promise<Json<Task>>")]
    pub async fn create_task(
        &self,
        title: String,
        options: Option<CreateTaskOptions>,
    ) -> napi::Result<String> {
        let new = options
            .unwrap_or_default()
            .into_new_task(title, self.project())?;
        js(self.maestro.create_task(&self.op(), new).await)
    }

    /// The task with its subtasks, dependency details, dependents and newest 50 timeline
    /// entries (`timelineTotal` counts them all; `timeline()` pages the whole history).
    #[napi(ts_return_type = "Json<TaskDetail> | Promise<Json<TaskDetail>>")]
    pub fn get_task<'env>(&self, env: &'env Env, id: String) -> napi::Result<Now<'env, String>> {
        let (m, op) = (self.maestro.clone(), self.op());
        now_or_later(env, async move { js(m.get_task_as(&op, &id).await) })
    }

    /// A page of tasks: `{ items, nextCursor }`.
    #[napi(ts_return_type = "Promise<Json<Page<Task>>>")]
    pub async fn list_tasks(&self, options: Option<ListTasksOptions>) -> napi::Result<String> {
        let filter = options.unwrap_or_default().into_filter(self.project())?;
        js(self.maestro.list_tasks_as(&self.op(), filter).await)
    }

    #[napi(ts_return_type = "Promise<Json<Task>>")]
    pub async fn update_task(
        &self,
        id: String,
        changes: UpdateTaskOptions,
    ) -> napi::Result<String> {
        let patch = changes.into_patch()?;
        js(self.maestro.update_task(&self.op(), &id, patch).await)
    }

    #[napi(ts_return_type = "Promise<Json<Task>>")]
    pub async fn start_task(
        &self,
        id: String,
        options: Option<ForceOptions>,
    ) -> napi::Result<String> {
        let force = options.and_then(|o| o.force).unwrap_or(false);
        js(self.maestro.start_task(&self.op(), &id, force).await)
    }

    #[napi(ts_return_type = "Promise<Json<Task>>")]
    pub async fn complete_task(
        &self,
        id: String,
        options: Option<ForceOptions>,
    ) -> napi::Result<String> {
        let force = options.and_then(|o| o.force).unwrap_or(false);
        js(self.maestro.complete_task(&self.op(), &id, force).await)
    }

    #[napi(ts_return_type = "Promise<Json<Task>>")]
    pub async fn block_task(&self, id: String, reason: String) -> napi::Result<String> {
        js(self.maestro.block_task(&self.op(), &id, &reason).await)
    }

    #[napi(ts_return_type = "Promise<Json<Task>>")]
    pub async fn reopen_task(&self, id: String) -> napi::Result<String> {
        js(self.maestro.reopen_task(&self.op(), &id).await)
    }

    #[napi(ts_return_type = "Promise<Json<Task>>")]
    pub async fn cancel_task(&self, id: String) -> napi::Result<String> {
        js(self.maestro.cancel_task(&self.op(), &id).await)
    }

    /// Deletes the task; resolves with the deleted task.
    #[napi(ts_return_type = "Promise<Json<Task>>")]
    pub async fn delete_task(&self, id: String) -> napi::Result<String> {
        js(self.maestro.delete_task(&self.op(), &id).await)
    }

    /// The ready queue: pending tasks whose dependencies are completed, by priority then age.
    #[napi(ts_return_type = "Promise<Json<Task[]>>")]
    pub async fn ready_tasks(&self, options: Option<ReadyOptions>) -> napi::Result<String> {
        let o = options.unwrap_or_default();
        let project = o.project_id.or_else(|| self.project());
        let limit = o.limit.map(|n| n as usize);
        js(self
            .maestro
            .ready_tasks_as(&self.op(), project.as_deref(), limit)
            .await)
    }

    /// Assigns a pending task to a session (default: the client's) and starts it,
    /// atomically. A task other sessions hold rejects with `task_claimed`, unless `force`
    /// takes it over (its owners then get `claim_released`).
    #[napi(ts_return_type = "Promise<Json<Task>>")]
    pub async fn claim_task(
        &self,
        id: String,
        session_id: Option<String>,
        options: Option<ForceOptions>,
    ) -> napi::Result<String> {
        let claim = ClaimRequest {
            task_id: Some(id),
            force: options.and_then(|o| o.force).unwrap_or(false),
            ..Default::default()
        };
        self.claim(session_id, claim).await
    }

    /// Claims the first ready task; rejects with `nothing_ready` when the queue is empty.
    #[napi(ts_return_type = "Promise<Json<Task>>")]
    pub async fn claim_next(&self, session_id: Option<String>) -> napi::Result<String> {
        let claim = ClaimRequest {
            project_id: self.project(),
            ..Default::default()
        };
        self.claim(session_id, claim).await
    }

    // ---- timeline ----

    #[napi(ts_return_type = "Promise<Json<TimelineEntry>>")]
    pub async fn add_progress(&self, task_id: String, message: String) -> napi::Result<String> {
        js(self
            .maestro
            .add_progress(&self.op(), &task_id, &message)
            .await)
    }

    #[napi(ts_return_type = "Promise<Json<TimelineEntry>>")]
    pub async fn add_comment(
        &self,
        task_id: String,
        message: String,
        options: Option<CommentOptions>,
    ) -> napi::Result<String> {
        let author = options
            .and_then(|o| o.author)
            .or_else(|| self.session())
            .unwrap_or_else(|| "user".to_string());
        js(self
            .maestro
            .add_comment(&self.op(), &task_id, &author, &message)
            .await)
    }

    /// A page of the task's whole timeline, oldest first: `{ items, nextCursor }` (pass
    /// `nextCursor` as `cursor` for the next page).
    #[napi(ts_return_type = "Promise<Json<Page<TimelineEntry>>>")]
    pub async fn timeline(
        &self,
        task_id: String,
        options: Option<TimelineOptions>,
    ) -> napi::Result<String> {
        let query = options.unwrap_or_default().into_query()?;
        js(self.maestro.timeline(&task_id, query).await)
    }

    // ---- subtasks ----

    #[napi(ts_return_type = "Promise<Json<Subtask>>")]
    pub async fn create_subtask(
        &self,
        task_id: String,
        title: String,
        options: Option<CreateSubtaskOptions>,
    ) -> napi::Result<String> {
        let description = options.and_then(|o| o.description);
        js(self
            .maestro
            .create_subtask(&self.op(), &task_id, &title, description.as_deref())
            .await)
    }

    #[napi(ts_return_type = "Promise<Json<Subtask[]>>")]
    pub async fn list_subtasks(&self, task_id: String) -> napi::Result<String> {
        js(self.maestro.list_subtasks(&task_id).await)
    }

    #[napi(ts_return_type = "Promise<Json<Subtask>>")]
    pub async fn update_subtask(
        &self,
        task_id: String,
        subtask_id: String,
        changes: UpdateSubtaskOptions,
    ) -> napi::Result<String> {
        js(self
            .maestro
            .update_subtask(
                &self.op(),
                Some(&task_id),
                &subtask_id,
                changes.into_patch()?,
            )
            .await)
    }

    #[napi(ts_return_type = "Promise<Json<Subtask>>")]
    pub async fn complete_subtask(
        &self,
        task_id: String,
        subtask_id: String,
    ) -> napi::Result<String> {
        js(self
            .maestro
            .complete_subtask(&self.op(), Some(&task_id), &subtask_id)
            .await)
    }

    #[napi(ts_return_type = "Promise<Json<Subtask>>")]
    pub async fn delete_subtask(
        &self,
        task_id: String,
        subtask_id: String,
    ) -> napi::Result<String> {
        js(self
            .maestro
            .delete_subtask(&self.op(), Some(&task_id), &subtask_id)
            .await)
    }

    // ---- sessions ----

    /// Registers a running agent (status `active`). Does not change the client's `sessionId`.
    #[napi(ts_return_type = "Promise<Json<Session>>")]
    pub async fn register_session(
        &self,
        options: Option<RegisterSessionOptions>,
    ) -> napi::Result<String> {
        let new = options
            .unwrap_or_default()
            .into_new_session(self.project())?;
        js(self.maestro.register_session(&self.op(), new).await)
    }

    /// A page of sessions: `{ items, nextCursor }`.
    #[napi(ts_return_type = "Promise<Json<Page<Session>>>")]
    pub async fn list_sessions(
        &self,
        options: Option<ListSessionsOptions>,
    ) -> napi::Result<String> {
        let filter = options.unwrap_or_default().into_filter(self.project())?;
        js(self.maestro.list_sessions_as(&self.op(), filter).await)
    }

    /// The session `id` names (default: the client's session).
    #[napi(ts_return_type = "Json<Session> | Promise<Json<Session>>")]
    pub fn get_session<'env>(
        &self,
        env: &'env Env,
        id: Option<String>,
    ) -> napi::Result<Now<'env, String>> {
        let (m, id) = (self.maestro.clone(), self.session_or(id)?);
        now_or_later(env, async move { js(m.get_session(&id).await) })
    }

    /// Asks a host to launch an agent on the task; resolves with the session, `spawning` (or
    /// `waiting` while the task's dependencies are open). A finished task, or one that
    /// already has a live worker, is refused unless `force`; an unknown skill or agent
    /// profile, or a missing `cwd`, at once.
    #[napi(ts_return_type = "Promise<Json<Session>>")]
    pub async fn spawn_session(
        &self,
        task_id: String,
        options: Option<SpawnSessionOptions>,
    ) -> napi::Result<String> {
        let new = options
            .unwrap_or_default()
            .into_new_session(task_id, self.project())?;
        js(self.maestro.spawn_session(&self.op(), new).await)
    }

    /// Refreshes the session's lease (default: the client's session); rejects with
    /// `session_lost` or `session_ended` when the session can no longer act.
    #[napi(ts_return_type = "Promise<Json<Session>>")]
    pub async fn heartbeat(&self, id: Option<String>) -> napi::Result<String> {
        let id = self.session_or(id)?;
        js(self.maestro.heartbeat(&self.op(), &id).await)
    }

    /// Ends a session (default: the client's) with `completed` (default), `failed` or `stopped`.
    #[napi(ts_return_type = "Promise<Json<Session>>")]
    pub async fn end_session(
        &self,
        id: Option<String>,
        #[napi(ts_arg_type = "'completed' | 'failed' | 'stopped'")] status: Option<String>,
    ) -> napi::Result<String> {
        let id = self.session_or(id)?;
        let status = session_status(status)?;
        js(self.maestro.end_session(&self.op(), &id, status).await)
    }

    // ---- skills ----

    /// Every skill (the skills directory's overriding the bundled ones by name), highest
    /// priority first.
    #[napi(ts_return_type = "Promise<Json<Skill[]>>")]
    pub async fn list_skills(&self) -> napi::Result<String> {
        let maestro = self.maestro.clone();
        js(Ok(crate::blocking(move || maestro.list_skills()).await?))
    }

    /// The skill `name` names; rejects with `skill_not_found` listing the available ones.
    #[napi(ts_return_type = "Promise<Json<Skill>>")]
    pub async fn get_skill(&self, name: String) -> napi::Result<String> {
        let maestro = self.maestro.clone();
        js(Ok(crate::blocking(move || maestro.get_skill(&name)).await?))
    }

    /// The initial prompt of an agent (what `maestro skill prompt --task` prints): the skill
    /// with its dependencies, then the task's context (or, for an orchestrator skill, the
    /// project's), for the client's session and project.
    #[napi(ts_return_type = "Promise<Json<string>>")]
    pub async fn skill_prompt(
        &self,
        task_id: Option<String>,
        options: Option<SkillPromptOptions>,
    ) -> napi::Result<String> {
        let skill = options.and_then(|o| o.skill);
        let session = self.session();
        let project = self.project();
        js(self
            .maestro
            .skill_prompt(
                task_id.as_deref(),
                skill.as_deref(),
                session.as_deref(),
                project.as_deref(),
            )
            .await)
    }

    // ---- status and events ----

    /// Counts by status and priority, the ready count and active sessions.
    #[napi(ts_return_type = "Promise<Json<StatusReport>>")]
    pub async fn status(&self, options: Option<StatusOptions>) -> napi::Result<String> {
        let project = options
            .and_then(|o| o.project_id)
            .or_else(|| self.project());
        js(self.maestro.status_as(&self.op(), project.as_deref()).await)
    }

    /// Events of the log after `since`, oldest first.
    #[napi(ts_return_type = "Json<MaestroEvent[]> | Promise<Json<MaestroEvent[]>>")]
    pub fn events<'env>(
        &self,
        env: &'env Env,
        options: Option<EventsOptions>,
    ) -> napi::Result<Now<'env, String>> {
        let o = options.unwrap_or_default();
        let projects: Vec<String> = o.project.into_iter().collect();
        let limit = o
            .limit
            .map_or(maestro_core::DEFAULT_LIMIT, |n| n as usize)
            .min(maestro_core::MAX_LIMIT);
        let (m, since) = (self.maestro.clone(), o.since.unwrap_or(0));
        now_or_later(env, async move {
            js(m.events_since(since, limit, &projects).await)
        })
    }

    /// The seq of the latest event (0 when the log is empty).
    #[napi(ts_return_type = "number | Promise<number>")]
    pub fn latest_seq<'env>(&self, env: &'env Env) -> napi::Result<Now<'env, i64>> {
        let m = self.maestro.clone();
        now_or_later(env, async move { m.latest_seq().await.or_napi() })
    }

    /// Starts an event subscription (from now on unless `since` is given); `index.js` wraps
    /// it as an async iterator.
    #[napi(ts_return_type = "Promise<NativeSubscription>")]
    pub async fn subscribe(&self, options: Option<SubscribeOptions>) -> napi::Result<Subscription> {
        let o = options.unwrap_or_default();
        let opts = maestro_core::facade::subscribe::SubscribeOptions {
            since: o.since,
            projects: o.project.into_iter().collect(),
            session_id: self.session(),
            poll: o
                .poll_interval_ms
                .map(|ms| Duration::from_millis(u64::from(ms.max(1)))),
        };
        Ok(Subscription::new(
            self.maestro.subscribe(opts).await.or_napi()?,
        ))
    }
}
