//! [`Settings`]: what one client of Maestro (a CLI call, a Python or Node client) resolves
//! from its explicit arguments, the environment and the config files — in one place, so
//! every front end resolves them alike (SPEC §4).

use super::keys::{self, Effective, Source};
use super::{Config, Env, setting};
use crate::error::{Code, Error, Result};
use crate::facade::Maestro;
use crate::host::plan::{Profiles, SpawnRoots};
use crate::store::OpContext;
use serde_json::Value;
use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the caller gave explicitly (command-line flags, function arguments); each wins over
/// the environment and the config files.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub db: Option<PathBuf>,
    pub server: Option<String>,
    pub token: Option<String>,
    pub project: Option<String>,
    pub session: Option<String>,
}

/// The resolved settings of one client. Config files are read once, on first use.
#[derive(Debug)]
pub struct Settings {
    env: Env,
    over: Overrides,
    config: OnceCell<Config>,
}

impl Settings {
    pub fn new(env: Env, over: Overrides) -> Self {
        Self {
            env,
            over,
            config: OnceCell::new(),
        }
    }

    /// The real environment with `over`.
    pub fn current(over: Overrides) -> Self {
        Self::new(Env::current(), over)
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    pub fn overrides(&self) -> &Overrides {
        &self.over
    }

    /// The layered config files (project over user).
    pub fn config(&self) -> Result<&Config> {
        if let Some(c) = self.config.get() {
            return Ok(c);
        }
        let c = self.env.config()?;
        Ok(self.config.get_or_init(|| c))
    }

    fn pick(&self, flag: Option<&str>, env_key: &str, config_key: &str) -> Result<Option<String>> {
        Ok(setting(
            flag,
            &self.env,
            env_key,
            self.config()?,
            config_key,
        ))
    }

    /// The effective value of setting `key` and where it comes from: flag > environment >
    /// project file > user file > default (see [`super::keys::KEYS`]); `None` when nothing
    /// sets it and it has no default.
    pub fn effective(&self, key: &str) -> Result<Option<Effective>> {
        let config = self.config()?;
        let spec = keys::find(key).filter(|k| k.name == key);
        let found = |value: Value, source: Source, from: Option<String>| {
            Some(Effective {
                key: key.to_string(),
                value,
                source,
                from,
            })
        };
        if let Some(spec) = spec {
            let flag = match key {
                "apiUrl" => self.over.server.as_deref(),
                "token" => self.over.token.as_deref(),
                "projectId" => self.over.project.as_deref(),
                _ => None,
            };
            if let Some(v) = flag.filter(|v| !v.trim().is_empty()) {
                return Ok(found(Value::String(v.to_string()), Source::Flag, None));
            }
            if let Some((var, v)) = spec.env.and_then(|var| Some((var, self.env.var(var)?))) {
                let value = super::parse_value(v);
                return Ok(found(value, Source::Env, Some(var.to_string())));
            }
        }
        let files = config
            .project
            .iter()
            .map(|f| (f, Source::Project))
            .chain(std::iter::once((&config.user, Source::User)));
        for (file, source) in files {
            if let Some(v) = file.get(key) {
                let from = Some(file.path.display().to_string());
                return Ok(found(v.clone(), source, from));
            }
        }
        Ok(spec
            .and_then(|s| s.default)
            .and_then(|d| serde_json::from_str(d).ok())
            .and_then(|v| found(v, Source::Default, None)))
    }

    /// Every setting in effect: each known one that something sets (or that has a default),
    /// and every other key of the config files, by key.
    pub fn effective_all(&self) -> Result<Vec<Effective>> {
        let mut out = Vec::new();
        for k in keys::KEYS.iter().filter(|k| !k.name.ends_with(".*")) {
            if self.config()?.get(k.name).is_some_and(Value::is_object) {
                continue;
            }
            if let Some(e) = self.effective(k.name)? {
                out.push(e);
            }
        }
        for (key, _, _) in self.config()?.effective() {
            if !out.iter().any(|e: &Effective| e.key == key)
                && let Some(e) = self.effective(&key)?
            {
                out.push(e);
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The server URL (remote mode): override > `MAESTRO_API_URL` > config `apiUrl`.
    pub fn server_url(&self) -> Result<Option<String>> {
        self.pick(self.over.server.as_deref(), "MAESTRO_API_URL", "apiUrl")
    }

    /// The bearer token: override > `MAESTRO_TOKEN` > config `token`.
    pub fn token(&self) -> Result<Option<String>> {
        self.pick(self.over.token.as_deref(), "MAESTRO_TOKEN", "token")
    }

    /// The project to act on: override > `MAESTRO_PROJECT_ID` > config `projectId` > `None`
    /// (the store's default project).
    pub fn project(&self) -> Result<Option<String>> {
        self.pick(
            self.over.project.as_deref(),
            "MAESTRO_PROJECT_ID",
            "projectId",
        )
    }

    /// The acting session: override > `MAESTRO_SESSION_ID`.
    pub fn session_id(&self) -> Option<String> {
        self.over
            .session
            .clone()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| self.env.var("MAESTRO_SESSION_ID").map(str::to_string))
            .map(|s| s.trim().to_string())
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

    /// The database of local mode: override > `MAESTRO_DB` > nearest `.maestro/maestro.db` >
    /// `$MAESTRO_HOME/maestro.db`.
    pub fn db_path(&self) -> PathBuf {
        self.env.db_path(self.over.db.as_deref())
    }

    /// The session lease: `MAESTRO_LEASE_SECONDS` > config `leaseSeconds` > 120 s.
    pub fn lease(&self) -> Result<Duration> {
        let Some(text) = self.pick(None, "MAESTRO_LEASE_SECONDS", "leaseSeconds")? else {
            return Ok(crate::rules::lease::DEFAULT_LEASE);
        };
        match text.trim().parse::<f64>() {
            Ok(s) if s > 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
            _ => Err(Error::new(
                Code::InvalidArgument,
                format!("'{text}' is not a valid lease (seconds)"),
            )
            .with_details(serde_json::json!({ "field": "leaseSeconds", "value": text }))
            .with_suggestion("Use a positive number of seconds, e.g. MAESTRO_LEASE_SECONDS=120")),
        }
    }

    /// `MAESTRO_SKILLS_DIR`, default `~/.agents-ui/maestro-skills`.
    pub fn skills_dir(&self) -> PathBuf {
        crate::skills::skills_dir(&self.env)
    }

    /// `$MAESTRO_HOME`, default `~/.maestro`.
    pub fn home(&self) -> PathBuf {
        self.env.maestro_home()
    }

    /// The agent profiles: built-ins overridden by config `agents`.
    pub fn agent_profiles(&self) -> Result<Profiles> {
        Profiles::from_config(self.config()?.get("agents"))
    }

    /// The folders agents may be spawned in: `MAESTRO_SPAWN_ROOTS` (a `:`-separated list) >
    /// config `spawnRoots` (a list, or one folder) > the project's directory (the nearest
    /// folder holding `.maestro/`, else the working directory). Relative folders are taken
    /// from the working directory.
    pub fn spawn_roots(&self) -> Result<SpawnRoots> {
        let example = "maestro config set spawnRoots '[\"/srv/repos\"]'";
        let dirs: Vec<PathBuf> = self
            .list("MAESTRO_SPAWN_ROOTS", ':', "spawnRoots", "folders", example)?
            .iter()
            .map(|d| self.env.absolute(Path::new(d)))
            .collect();
        Ok(SpawnRoots::new(if dirs.is_empty() {
            vec![
                self.env
                    .project_root()
                    .unwrap_or_else(|| self.env.cwd().to_path_buf()),
            ]
        } else {
            dirs
        }))
    }

    /// A list setting: `env_key` split on `sep` > config `config_key` (a list of strings,
    /// or one string) > empty. `what` and `example` make the error of a bad config value.
    fn list(
        &self,
        env_key: &str,
        sep: char,
        config_key: &str,
        what: &str,
        example: &str,
    ) -> Result<Vec<String>> {
        let items: Vec<String> = if let Some(text) = self.env.var(env_key) {
            text.split(sep).map(str::to_string).collect()
        } else {
            match self.config()?.get(config_key) {
                None => Vec::new(),
                Some(serde_json::Value::String(one)) => vec![one.clone()],
                Some(v @ serde_json::Value::Array(items)) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad_list(config_key, what, example, v))?,
                Some(v) => return Err(bad_list(config_key, what, example, v)),
            }
        };
        Ok(items
            .into_iter()
            .map(|i| i.trim().to_string())
            .filter(|i| !i.is_empty())
            .collect())
    }

    /// Model prices for agents that report no cost (config `prices`).
    pub fn prices(&self) -> Result<crate::agent::PriceTable> {
        crate::agent::PriceTable::from_config(self.config()?.get("prices"))
    }

    /// The limits of sessions spawned without their own (config `budget`:
    /// `{"maxCostUsd": 5, "maxTokens": 2000000}`).
    pub fn default_budget(&self) -> Result<crate::model::Budget> {
        match self.config()?.get("budget") {
            None => Ok(Default::default()),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                Error::invalid_argument(format!("config 'budget' is invalid: {e}"))
                    .with_details(serde_json::json!({ "field": "budget", "value": v }))
                    .with_suggestion(
                        "Set dollars and tokens, e.g. maestro config set budget '{\"maxCostUsd\": 5, \"maxTokens\": 2000000}'",
                    )
            }),
        }
    }

    /// Who is acting, for timelines and leases.
    pub fn op(&self) -> OpContext {
        OpContext::session(self.session_id())
    }

    /// Opens the store these settings name: the server in remote mode, else the local
    /// database. Without `create`, a local database that does not exist is not created:
    /// the call fails with a hint instead of leaving an empty database behind.
    pub fn open(&self, create: bool) -> Result<Maestro> {
        if let Some(url) = self.server_url()? {
            return self.remote(&url);
        }
        let path = self.db_path();
        if super::is_database_url(&path) {
            return self.local(self.open_store(&path)?);
        }
        if !create && !path.exists() {
            return Err(Error::no_project_context()
                .with_details(serde_json::json!({ "db": path.display().to_string() }))
                .with_suggestion(format!(
                    "No Maestro store at {}: run 'maestro init' here, or point --db / MAESTRO_DB at an existing store",
                    path.display()
                )));
        }
        self.local(self.open_store(&path)?)
    }

    /// The store at `db` (a SQLite file, or a `postgres://…` URL opened with
    /// [`Settings::pg_options`]), without the settings of [`Settings::local`].
    pub fn open_store(&self, db: &Path) -> Result<Maestro> {
        #[cfg(feature = "postgres")]
        if super::is_database_url(db) {
            return Maestro::open_postgres(&db.to_string_lossy(), self.pg_options()?);
        }
        Maestro::open(db)
    }

    /// The options of a PostgreSQL store: connections in the pool
    /// (`MAESTRO_PG_POOL_SIZE` > config `pgPoolSize` > 16), the limit of one statement
    /// (`MAESTRO_PG_STATEMENT_TIMEOUT` > config `pgStatementTimeout`, seconds, 0 for none >
    /// 30 s), TLS (`MAESTRO_PG_SSLMODE` > config `pgSslmode` > the URL's `sslmode`) and the
    /// root certificate the server is verified with (`MAESTRO_PG_SSLROOTCERT` > config
    /// `pgSslrootcert` > the URL's `sslrootcert`).
    #[cfg(feature = "postgres")]
    pub fn pg_options(&self) -> Result<crate::postgres::PgOptions> {
        let mut opts = crate::postgres::PgOptions::default();
        if let Some(text) = self.pick(None, "MAESTRO_PG_POOL_SIZE", "pgPoolSize")? {
            opts.pool_size = text
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "'{text}' is not a valid pool size (connections)"
                    ))
                    .with_details(serde_json::json!({ "field": "pgPoolSize", "value": text }))
                    .with_suggestion("Use a whole number from 1, e.g. MAESTRO_PG_POOL_SIZE=16")
                })?;
        }
        if let Some(text) = self.pick(None, "MAESTRO_PG_STATEMENT_TIMEOUT", "pgStatementTimeout")? {
            opts.statement_timeout = match text.trim().parse::<f64>() {
                Ok(0.0) => None,
                Ok(s) if s > 0.0 && s.is_finite() => Some(Duration::from_secs_f64(s)),
                _ => {
                    return Err(Error::invalid_argument(format!(
                        "'{text}' is not a valid statement timeout (seconds)"
                    ))
                    .with_details(
                        serde_json::json!({ "field": "pgStatementTimeout", "value": text }),
                    )
                    .with_suggestion(
                        "Use a number of seconds (0 for none), e.g. MAESTRO_PG_STATEMENT_TIMEOUT=30",
                    ));
                }
            };
        }
        opts.ssl_mode = self.pick(None, "MAESTRO_PG_SSLMODE", "pgSslmode")?;
        opts.ssl_root_cert = self
            .pick(None, "MAESTRO_PG_SSLROOTCERT", "pgSslrootcert")?
            .filter(|p| !p.trim().is_empty())
            .map(|p| self.env.absolute(Path::new(p.trim())));
        Ok(opts)
    }

    /// A client of the server at `url`, with these settings' token and skills.
    #[cfg(feature = "remote")]
    pub fn remote(&self, url: &str) -> Result<Maestro> {
        Ok(Maestro::connect(url, self.token()?)?.with_skills_dir(Some(self.skills_dir())))
    }

    #[cfg(not(feature = "remote"))]
    pub fn remote(&self, url: &str) -> Result<Maestro> {
        Err(Error::invalid_argument(format!(
            "This build cannot talk to a server ({url})"
        )))
    }

    /// A facade on a local store with these settings: the lease it keeps, the skills it
    /// reads, the agent profiles spawn requests may name and the folders they may work in.
    pub fn local(&self, m: Maestro) -> Result<Maestro> {
        Ok(m.with_skills_dir(Some(self.skills_dir()))
            .with_lease(self.lease()?)
            .with_agent_profiles(self.agent_profiles()?)
            .with_spawn_roots(self.spawn_roots()?))
    }
}

fn bad_list(key: &str, what: &str, example: &str, value: &serde_json::Value) -> Error {
    Error::invalid_argument(format!("config '{key}' must be a list of {what}"))
        .with_details(serde_json::json!({ "field": key, "value": value }))
        .with_suggestion(format!("Set it to a list, e.g. {example}"))
}

/// What a server's caller gave explicitly (command-line flags, function arguments).
#[cfg(feature = "server")]
#[derive(Debug, Clone, Default)]
pub struct ServerFlags {
    pub token: Option<String>,
    pub max_connections: Option<usize>,
    /// Seconds.
    pub body_timeout: Option<f64>,
}

#[cfg(feature = "server")]
impl Settings {
    /// The options of a server over `m`: the token (flag > `MAESTRO_TOKEN`), how long
    /// idempotency records are kept (`MAESTRO_OP_RETENTION_HOURS` > config
    /// `opRetentionHours` > 24 h), the connection cap (flag > `MAESTRO_MAX_CONNECTIONS`) and
    /// the body deadline (flag > `MAESTRO_BODY_TIMEOUT`, seconds), the web origins allowed
    /// besides its own (`MAESTRO_ALLOWED_ORIGINS`, comma-separated > config
    /// `allowedOrigins`). `maestro serve` and the
    /// bindings' embedded servers both take their options from here.
    pub fn server_options(
        &self,
        m: Maestro,
        flags: ServerFlags,
    ) -> Result<crate::server::ServerOptions> {
        let mut opts = crate::server::ServerOptions::new(m);
        opts.token = flags
            .token
            .filter(|t| !t.trim().is_empty())
            .or_else(|| self.env.var("MAESTRO_TOKEN").map(str::to_string));
        if let Some(text) = self.pick(None, "MAESTRO_OP_RETENTION_HOURS", "opRetentionHours")? {
            opts.op_retention = match text.trim().parse::<f64>() {
                Ok(h) if h > 0.0 && h.is_finite() => Duration::from_secs_f64(h * 3600.0),
                _ => {
                    return Err(Error::invalid_argument(format!(
                        "'{text}' is not a valid retention (hours)"
                    ))
                    .with_details(serde_json::json!({ "field": "opRetentionHours", "value": text }))
                    .with_suggestion(
                        "Use a positive number of hours, e.g. MAESTRO_OP_RETENTION_HOURS=24",
                    ));
                }
            };
        }
        // The value and where it came from, for the error message.
        let given = |flag: Option<String>, name: &'static str, var: &'static str| match flag {
            Some(v) => Some((v, name)),
            None => self.env.var(var).map(|v| (v.to_string(), var)),
        };
        if let Some((v, var)) = given(
            flags.max_connections.map(|n| n.to_string()),
            "--max-connections",
            "MAESTRO_MAX_CONNECTIONS",
        ) {
            let most = tokio::sync::Semaphore::MAX_PERMITS;
            let parsed = v.trim().parse().ok().filter(|n| (1..=most).contains(n));
            opts.max_connections = parsed.ok_or_else(|| {
                Error::invalid_argument(format!(
                    "{var} must be a whole number of connections from 1 to {most}, got '{v}'"
                ))
                .with_suggestion(
                    "Pass e.g. --max-connections 2000, or unset MAESTRO_MAX_CONNECTIONS for the default",
                )
            })?;
        }
        if let Some((v, var)) = given(
            flags.body_timeout.map(|s| s.to_string()),
            "--body-timeout",
            "MAESTRO_BODY_TIMEOUT",
        ) {
            opts.body_read_timeout = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "{var} must be a number of seconds, got '{v}'"
                    ))
                    .with_suggestion(
                        "Pass e.g. --body-timeout 30, or unset MAESTRO_BODY_TIMEOUT for the default",
                    )
                })?;
        }
        opts.allowed_origins = self
            .list(
                "MAESTRO_ALLOWED_ORIGINS",
                ',',
                "allowedOrigins",
                "web origins",
                "maestro config set allowedOrigins '[\"https://maestro.example.com\"]'",
            )?
            .into_iter()
            .map(|o| o.trim_end_matches('/').to_string())
            .collect();
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_beat_the_environment_which_beats_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".maestro")).unwrap();
        std::fs::write(
            dir.path().join(".maestro/config.json"),
            r#"{"projectId": "p-config", "leaseSeconds": 30, "apiUrl": "http://127.0.0.1:1"}"#,
        )
        .unwrap();
        let home = dir.path().join("home").display().to_string();
        let env = Env::from_parts(
            [
                ("MAESTRO_HOME".to_string(), home),
                ("MAESTRO_PROJECT_ID".to_string(), "p-env".to_string()),
                ("MAESTRO_SESSION_ID".to_string(), " s-env ".to_string()),
                ("MAESTRO_TASK_IDS".to_string(), "t-1, ,t-2".to_string()),
            ],
            dir.path(),
        );
        let s = Settings::new(env.clone(), Overrides::default());
        assert_eq!(s.project().unwrap().as_deref(), Some("p-env"));
        assert_eq!(s.session_id().as_deref(), Some("s-env"));
        assert_eq!(s.task_ids(), vec!["t-1", "t-2"]);
        assert_eq!(s.lease().unwrap(), Duration::from_secs(30));
        assert_eq!(
            s.server_url().unwrap().as_deref(),
            Some("http://127.0.0.1:1")
        );
        let over = Overrides {
            project: Some("p-flag".into()),
            session: Some("s-flag".into()),
            ..Default::default()
        };
        let s = Settings::new(env.clone(), over);
        assert_eq!(s.project().unwrap().as_deref(), Some("p-flag"));
        assert_eq!(s.op().session_id.as_deref(), Some("s-flag"));
        for bad in ["0", "-5", "abc"] {
            let mut vars: Vec<(String, String)> =
                vec![("MAESTRO_LEASE_SECONDS".to_string(), bad.to_string())];
            vars.push((
                "MAESTRO_HOME".into(),
                env.maestro_home().display().to_string(),
            ));
            let s = Settings::new(Env::from_parts(vars, env.cwd()), Overrides::default());
            assert_eq!(
                s.lease().unwrap_err().code(),
                Code::InvalidArgument,
                "{bad}"
            );
        }
        let vars = [("MAESTRO_LEASE_SECONDS".to_string(), "1.5".to_string())];
        let s = Settings::new(Env::from_parts(vars, env.cwd()), Overrides::default());
        assert_eq!(s.lease().unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn spawn_roots_come_from_the_environment_then_config_then_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("proj");
        std::fs::create_dir_all(project.join(".maestro")).unwrap();
        std::fs::create_dir_all(project.join("sub")).unwrap();
        let home = (
            "MAESTRO_HOME".to_string(),
            dir.path().join("h").display().to_string(),
        );
        let at = |vars: Vec<(String, String)>| {
            let mut vars = vars;
            vars.push(home.clone());
            Settings::new(
                Env::from_parts(vars, project.join("sub")),
                Overrides::default(),
            )
        };
        assert_eq!(
            at(vec![]).spawn_roots().unwrap().dirs(),
            std::slice::from_ref(&project)
        );
        let config = project.join(".maestro/config.json");
        std::fs::write(&config, r#"{"spawnRoots": ["/srv/a", "rel"]}"#).unwrap();
        assert_eq!(
            at(vec![]).spawn_roots().unwrap().dirs(),
            [PathBuf::from("/srv/a"), project.join("sub/rel")]
        );
        let env = vec![("MAESTRO_SPAWN_ROOTS".to_string(), "/x: /y :".to_string())];
        assert_eq!(
            at(env).spawn_roots().unwrap().dirs(),
            [PathBuf::from("/x"), PathBuf::from("/y")]
        );
        std::fs::write(&config, r#"{"spawnRoots": [1]}"#).unwrap();
        let e = at(vec![]).spawn_roots().unwrap_err();
        assert!(e.message().contains("spawnRoots"), "{}", e.message());
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_options_come_from_the_environment_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let at = |vars: &[(&str, &str)]| {
            let mut vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            vars.push(("MAESTRO_HOME".into(), dir.path().display().to_string()));
            Settings::new(Env::from_parts(vars, dir.path()), Overrides::default())
        };
        let d = at(&[]).pg_options().unwrap();
        assert_eq!(d.pool_size, 16);
        assert_eq!(d.statement_timeout, Some(Duration::from_secs(30)));
        assert_eq!(d.ssl_mode, None);
        // `config list` shows the defaults the store uses.
        let shown = |k: &str| keys::find(k).unwrap().default.unwrap();
        assert_eq!(shown("pgPoolSize"), d.pool_size.to_string());
        assert_eq!(
            shown("pgStatementTimeout"),
            d.statement_timeout.unwrap().as_secs().to_string()
        );
        let o = at(&[
            ("MAESTRO_PG_POOL_SIZE", "4"),
            ("MAESTRO_PG_STATEMENT_TIMEOUT", "0"),
            ("MAESTRO_PG_SSLMODE", "disable"),
            ("MAESTRO_PG_SSLROOTCERT", "/etc/maestro/root.crt"),
        ])
        .pg_options()
        .unwrap();
        assert_eq!(
            o.ssl_root_cert.as_deref(),
            Some(std::path::Path::new("/etc/maestro/root.crt"))
        );
        assert_eq!(o.pool_size, 4);
        assert_eq!(o.statement_timeout, None);
        assert_eq!(o.ssl_mode.as_deref(), Some("disable"));
        for (var, bad) in [
            ("MAESTRO_PG_POOL_SIZE", "0"),
            ("MAESTRO_PG_POOL_SIZE", "many"),
            ("MAESTRO_PG_STATEMENT_TIMEOUT", "-1"),
        ] {
            let e = at(&[(var, bad)]).pg_options().unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{var}={bad}");
        }
        // A URL is kept as it is, not taken for a relative path.
        let url = "postgres://u@h/db";
        let s = at(&[("MAESTRO_DB", url)]);
        assert_eq!(s.db_path(), PathBuf::from(url));
    }
}
