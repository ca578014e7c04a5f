//! The context of one CLI call: the core's [`Settings`] resolved from the flags, and the
//! output.

use crate::cli::Global;
use crate::output::Out;
use maestro_core::config::{Config, Env, Overrides, Settings};
use maestro_core::{Code, Error, Maestro, OpContext, Result};
use std::path::PathBuf;

pub struct Ctx {
    pub env: Env,
    pub global: Global,
    pub out: Out,
    settings: Settings,
}

impl Ctx {
    pub fn new(global: Global, out: Out) -> Self {
        let env = Env::current();
        let over = Overrides {
            db: global.db.clone(),
            server: global.server.clone(),
            token: None,
            project: global.project.clone(),
            session: None,
        };
        Self {
            settings: Settings::new(env.clone(), over),
            env,
            global,
            out,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The layered config files, read once.
    pub fn config(&mut self) -> Result<&Config> {
        self.settings.config()
    }

    /// The database this call uses in local mode.
    pub fn db_path(&self) -> PathBuf {
        self.settings.db_path()
    }

    /// The project to act on (see [`Settings::project`]).
    pub fn project(&mut self) -> Result<Option<String>> {
        self.settings.project()
    }

    /// The server URL in remote mode (see [`Settings::server_url`]).
    pub fn server_url(&mut self) -> Result<Option<String>> {
        self.settings.server_url()
    }

    /// The bearer token for the server (see [`Settings::token`]).
    pub fn token(&mut self) -> Result<Option<String>> {
        self.settings.token()
    }

    /// `MAESTRO_SESSION_ID`, if set.
    pub fn session_id(&self) -> Option<String> {
        self.settings.session_id()
    }

    /// The session, or `no_session_context`.
    pub fn require_session(&self, explicit: Option<&str>) -> Result<String> {
        explicit
            .map(str::to_string)
            .or_else(|| self.session_id())
            .ok_or_else(Error::no_session_context)
    }

    /// `MAESTRO_TASK_IDS`, split on commas.
    pub fn task_ids(&self) -> Vec<String> {
        self.settings.task_ids()
    }

    /// Who is acting, for timelines and leases.
    pub fn op(&self) -> OpContext {
        self.settings.op()
    }

    /// Opens the store (see [`Settings::open`]).
    pub fn open(&mut self, create: bool) -> Result<Maestro> {
        self.settings.open(create)
    }

    /// A facade on a local store with this call's settings (see [`Settings::local`]).
    pub fn local(&mut self, m: Maestro) -> Result<Maestro> {
        self.settings.local(m)
    }

    /// `MAESTRO_SKILLS_DIR`, default `~/.agents-ui/maestro-skills`.
    pub fn skills_dir(&self) -> PathBuf {
        self.settings.skills_dir()
    }

    /// The session lease: `MAESTRO_LEASE_SECONDS` > config `leaseSeconds` > 120 s.
    pub fn lease(&mut self) -> Result<std::time::Duration> {
        self.settings.lease()
    }

    /// The task a command without an explicit id acts on: the first of
    /// [`Ctx::context_tasks`].
    pub async fn default_task(
        &self,
        m: &Maestro,
        explicit: Option<&str>,
        example: &str,
    ) -> Result<String> {
        Ok(self.context_tasks(m, explicit, example).await?.remove(0))
    }

    /// The tasks `update` reports on: `explicit`, else `MAESTRO_TASK_IDS`, else the session's
    /// in-progress tasks (a lost or ended session is told so first). Without any, the error
    /// suggests `example`: this command with the task given.
    pub async fn context_tasks(
        &self,
        m: &Maestro,
        explicit: Option<&str>,
        example: &str,
    ) -> Result<Vec<String>> {
        m.context_tasks(&self.op(), explicit, &self.task_ids())
            .await
            .map_err(|e| match e.code() {
                Code::NoTaskContext => {
                    let why = if e.details().get("sessionId").is_some() {
                        "Your session has no task in progress: claim one with 'maestro task claim --next', or pass"
                    } else {
                        "Pass"
                    };
                    e.with_suggestion(format!(
                        "{why} the task, e.g. '{example}' ('maestro task list' shows ids), or set MAESTRO_TASK_IDS"
                    ))
                }
                _ => e,
            })
    }
}
