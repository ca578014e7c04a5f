//! The context of one CLI call: environment, settings, session and task context, the store.

use crate::cli::Global;
use crate::output::Out;
use maestro_core::config::{Config, Env};
use maestro_core::{Error, Maestro, OpContext, Result, TaskStatus};
use std::path::PathBuf;

pub struct Ctx {
    pub env: Env,
    pub global: Global,
    pub out: Out,
    config: Option<Config>,
}

impl Ctx {
    pub fn new(global: Global, out: Out) -> Self {
        Self {
            env: Env::current(),
            global,
            out,
            config: None,
        }
    }

    /// The layered config files, read once.
    pub fn config(&mut self) -> Result<&Config> {
        if self.config.is_none() {
            self.config = Some(self.env.config()?);
        }
        Ok(self.config.as_ref().expect("just loaded"))
    }

    /// The database this call uses in local mode.
    pub fn db_path(&self) -> PathBuf {
        self.env.db_path(self.global.db.as_deref())
    }

    /// The project to act on: `--project` > `MAESTRO_PROJECT_ID` > config `projectId` >
    /// `None` (the store's default project).
    pub fn project(&mut self) -> Result<Option<String>> {
        let flag = self.global.project.clone();
        let env = self.env.clone();
        let config = self.config()?;
        Ok(maestro_core::config::setting(
            flag.as_deref(),
            &env,
            "MAESTRO_PROJECT_ID",
            config,
            "projectId",
        ))
    }

    /// The server URL in remote mode: `--server` > `MAESTRO_API_URL` > config `apiUrl`.
    pub fn server_url(&mut self) -> Result<Option<String>> {
        let flag = self.global.server.clone();
        let env = self.env.clone();
        let config = self.config()?;
        Ok(maestro_core::config::setting(
            flag.as_deref(),
            &env,
            "MAESTRO_API_URL",
            config,
            "apiUrl",
        ))
    }

    /// The bearer token for the server: `MAESTRO_TOKEN` > config `token`.
    pub fn token(&mut self) -> Result<Option<String>> {
        let env = self.env.clone();
        let config = self.config()?;
        Ok(maestro_core::config::setting(
            None,
            &env,
            "MAESTRO_TOKEN",
            config,
            "token",
        ))
    }

    /// `MAESTRO_SESSION_ID`, if set.
    pub fn session_id(&self) -> Option<String> {
        self.env
            .var("MAESTRO_SESSION_ID")
            .map(|s| s.trim().to_string())
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
        self.env
            .var("MAESTRO_TASK_IDS")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Who is acting, for timelines and leases.
    pub fn op(&self) -> OpContext {
        OpContext::session(self.session_id())
    }

    /// Opens the store: the server in remote mode, else the local database. Only `init`
    /// creates a database; other commands on a missing one fail with a hint instead of
    /// leaving an empty database behind.
    pub fn open(&mut self, create: bool) -> Result<Maestro> {
        if let Some(url) = self.server_url()? {
            let token = self.token()?;
            return Ok(Maestro::connect(&url, token)?.with_skills_dir(Some(self.skills_dir())));
        }
        let path = self.db_path();
        if !create && !path.exists() {
            return Err(Error::no_project_context()
                .with_details(serde_json::json!({ "db": path.display().to_string() }))
                .with_suggestion(format!(
                    "No Maestro store at {}: run 'maestro init' here, or point --db / MAESTRO_DB at an existing store",
                    path.display()
                )));
        }
        Ok(Maestro::open(&path)?.with_skills_dir(Some(self.skills_dir())))
    }

    /// `MAESTRO_SKILLS_DIR`, default `~/.agents-ui/maestro-skills`.
    pub fn skills_dir(&self) -> PathBuf {
        maestro_core::skills::skills_dir(&self.env)
    }

    /// The session lease: `MAESTRO_LEASE_SECONDS` > config `leaseSeconds` > 120 s.
    pub fn lease(&mut self) -> Result<std::time::Duration> {
        let env = self.env.clone();
        maestro_core::host::lease_setting(&env, self.config()?)
    }

    /// Lazily declares lost the sessions past their lease (releasing their tasks), so no
    /// daemon is needed for abandoned work to come back to the queue.
    pub async fn reap(&mut self, m: &Maestro) -> Result<()> {
        let lease = self.lease()?;
        m.reap_expired(&OpContext::default(), lease).await?;
        Ok(())
    }

    /// A read by a session still shows it is alive: refresh its lease (best effort: a
    /// read must not fail because the session is unknown or was declared lost).
    pub async fn touch(&self, m: &Maestro) {
        if let Some(id) = self.session_id() {
            let _ = m.heartbeat(&id).await;
        }
    }

    /// The task a command without an explicit id acts on: the first of `MAESTRO_TASK_IDS`,
    /// else the session's single in-progress task.
    pub async fn default_task(&self, m: &Maestro, explicit: Option<&str>) -> Result<String> {
        Ok(self.context_tasks(m, explicit).await?.remove(0))
    }

    /// The tasks `update` reports on: `explicit`, else `MAESTRO_TASK_IDS`, else the session's
    /// in-progress tasks.
    pub async fn context_tasks(&self, m: &Maestro, explicit: Option<&str>) -> Result<Vec<String>> {
        if let Some(id) = explicit {
            return Ok(vec![id.to_string()]);
        }
        let ids = self.task_ids();
        if !ids.is_empty() {
            return Ok(ids);
        }
        if let Some(session) = self.session_id() {
            let s = m.get_session(&session).await?;
            let mut active = Vec::new();
            for id in &s.task_ids {
                if let Ok(d) = m.get_task(id).await
                    && d.task.status == TaskStatus::InProgress
                {
                    active.push(d.task.id);
                }
            }
            if !active.is_empty() {
                return Ok(active);
            }
        }
        Err(Error::no_task_context())
    }
}
