//! Configuration and store resolution shared by the CLI and the bindings (SPEC §4).
//!
//! Store: `--db` > `MAESTRO_DB` > the nearest `.maestro/maestro.db` upward from the working
//! directory > `$MAESTRO_HOME/maestro.db`. Remote mode when `--server`, `MAESTRO_API_URL` or
//! config `apiUrl` is set. Settings: flag > environment > project `.maestro/config.json` >
//! user `$MAESTRO_HOME/config.json` > default.

pub mod keys;
pub mod settings;

#[cfg(feature = "server")]
pub use settings::ServerFlags;
pub use settings::{Overrides, Settings};

use crate::error::{Error, Result};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The folder marking a project and holding its store and config.
pub const PROJECT_DIR: &str = ".maestro";
/// The database file name.
pub const DB_FILE: &str = "maestro.db";
/// The config file name.
pub const CONFIG_FILE: &str = "config.json";

/// A snapshot of the process environment, so resolution is testable.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
    cwd: PathBuf,
}

impl Env {
    /// The real environment and working directory.
    pub fn current() -> Self {
        Self {
            vars: std::env::vars().collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        }
    }

    /// An explicit environment (tests, embedding).
    pub fn from_parts(
        vars: impl IntoIterator<Item = (String, String)>,
        cwd: impl Into<PathBuf>,
    ) -> Self {
        Self {
            vars: vars.into_iter().collect(),
            cwd: cwd.into(),
        }
    }

    /// A variable, with empty values treated as unset.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// `$MAESTRO_HOME`, default `~/.maestro`.
    pub fn maestro_home(&self) -> PathBuf {
        if let Some(h) = self.var("MAESTRO_HOME") {
            return self.absolute(Path::new(h));
        }
        let home = self
            .var("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.cwd.clone());
        home.join(PROJECT_DIR)
    }

    /// `p` against the working directory when relative.
    pub fn absolute(&self, p: &Path) -> PathBuf {
        if p.is_absolute() || is_database_url(p) {
            p.to_path_buf()
        } else {
            self.cwd.join(p)
        }
    }

    /// The nearest folder at or above the working directory that holds `.maestro/`
    /// (the user's `$MAESTRO_HOME` itself does not count as a project).
    pub fn project_root(&self) -> Option<PathBuf> {
        let home = self.maestro_home();
        self.cwd
            .ancestors()
            .find(|dir| {
                let candidate = dir.join(PROJECT_DIR);
                candidate.is_dir() && candidate != home
            })
            .map(Path::to_path_buf)
    }

    /// The database path: `explicit` > `MAESTRO_DB` > nearest `.maestro/maestro.db` >
    /// `$MAESTRO_HOME/maestro.db`.
    /// A `postgres://…` URL is kept as it is.
    pub fn db_path(&self, explicit: Option<&Path>) -> PathBuf {
        if let Some(p) = explicit {
            return self.absolute(p);
        }
        if let Some(p) = self.var("MAESTRO_DB") {
            return self.absolute(Path::new(p));
        }
        if let Some(root) = self.project_root() {
            let db = root.join(PROJECT_DIR).join(DB_FILE);
            if db.exists() {
                return db;
            }
        }
        self.maestro_home().join(DB_FILE)
    }

    /// The project config file (`.maestro/config.json` of the nearest project), if any.
    pub fn project_config_path(&self) -> Option<PathBuf> {
        self.project_root()
            .map(|r| r.join(PROJECT_DIR).join(CONFIG_FILE))
    }

    /// The user config file, `$MAESTRO_HOME/config.json`.
    pub fn user_config_path(&self) -> PathBuf {
        self.maestro_home().join(CONFIG_FILE)
    }

    /// The layered config files (project over user).
    pub fn config(&self) -> Result<Config> {
        let user = ConfigFile::load(&self.user_config_path())?;
        let project = match self.project_config_path() {
            Some(p) => Some(ConfigFile::load(&p)?),
            None => None,
        };
        Ok(Config { project, user })
    }
}

/// One config file: a JSON object, with dotted keys addressing nested objects.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub values: Map<String, Value>,
}

impl ConfigFile {
    /// Loads a config file; a missing file is empty, a malformed one is an error.
    pub fn load(path: &Path) -> Result<Self> {
        let values = match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => Map::new(),
            Ok(text) => {
                match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(m)) => m,
                    _ => {
                        return Err(Error::invalid_argument(format!(
                        "{} is not a JSON object",
                        path.display()
                    ))
                    .with_details(json!({ "path": path.display().to_string() }))
                    .with_suggestion("Fix or delete the file; 'maestro config set <key> <value>' rewrites it"));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => {
                return Err(Error::storage(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            values,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        let mut parts = key.split('.');
        let mut cur = self.values.get(parts.next()?)?;
        for p in parts {
            cur = cur.as_object()?.get(p)?;
        }
        Some(cur)
    }

    /// Sets a dotted key, creating nested objects as needed.
    pub fn set(&mut self, key: &str, value: Value) -> Result<()> {
        validate_key(key)?;
        let parts: Vec<&str> = key.split('.').collect();
        let mut cur = &mut self.values;
        for p in &parts[..parts.len() - 1] {
            let entry = cur
                .entry(p.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            cur = entry.as_object_mut().expect("just made an object");
        }
        cur.insert(parts[parts.len() - 1].to_string(), value);
        Ok(())
    }

    /// Removes a dotted key, and the objects it leaves empty; returns whether it was there.
    pub fn unset(&mut self, key: &str) -> bool {
        fn remove(m: &mut Map<String, Value>, parts: &[&str]) -> bool {
            match parts {
                [] => false,
                [last] => m.remove(*last).is_some(),
                [first, rest @ ..] => {
                    let Some(inner) = m.get_mut(*first).and_then(Value::as_object_mut) else {
                        return false;
                    };
                    let removed = remove(inner, rest);
                    if removed && inner.is_empty() {
                        m.remove(*first);
                    }
                    removed
                }
            }
        }
        let parts: Vec<&str> = key.split('.').collect();
        remove(&mut self.values, &parts)
    }

    /// Writes the file atomically (temp file + rename), creating its folder.
    pub fn save(&self) -> Result<()> {
        let io = |e: std::io::Error| {
            Error::storage(format!("cannot write {}: {e}", self.path.display()))
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(&Value::Object(self.values.clone()))? + "\n";
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }

    /// Every leaf as `(dotted key, value)`.
    pub fn flatten(&self) -> Vec<(String, Value)> {
        fn walk(prefix: &str, m: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    Value::Object(inner) if !inner.is_empty() => walk(&key, inner, out),
                    _ => out.push((key, v.clone())),
                }
            }
        }
        let mut out = Vec::new();
        walk("", &self.values, &mut out);
        out
    }
}

pub(crate) fn validate_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.split('.').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(
            Error::invalid_argument(format!("'{key}' is not a valid config key"))
                .with_details(json!({ "key": key }))
                .with_suggestion(
                    "Keys are words joined by dots, e.g. apiUrl or agents.scripted.command",
                ),
        )
    }
}

/// Parses a value given on the command line: JSON when it parses, else a string.
pub fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The project and user config files, project first.
#[derive(Debug, Clone)]
pub struct Config {
    pub project: Option<ConfigFile>,
    pub user: ConfigFile,
}

impl Config {
    /// A value from the project file, else the user file.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.project
            .as_ref()
            .and_then(|p| p.get(key))
            .or_else(|| self.user.get(key))
    }

    /// A string value (numbers and booleans are rendered).
    pub fn get_string(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Every key with its effective value and the file it comes from.
    pub fn effective(&self) -> Vec<(String, Value, PathBuf)> {
        let mut out: Vec<(String, Value, PathBuf)> = Vec::new();
        for file in self.project.iter().chain(std::iter::once(&self.user)) {
            for (k, v) in file.flatten() {
                if !out.iter().any(|(ok, _, _)| *ok == k) {
                    out.push((k, v, file.path.clone()));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// A setting resolved by precedence: flag > environment > config files > default.
pub fn setting(
    flag: Option<&str>,
    env: &Env,
    env_key: &str,
    config: &Config,
    config_key: &str,
) -> Option<String> {
    flag.map(str::to_string)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| env.var(env_key).map(str::to_string))
        .or_else(|| config.get_string(config_key))
}

/// Whether `db` (a `--db` / `MAESTRO_DB` value) is a PostgreSQL URL rather than a SQLite file.
pub fn is_database_url(db: &Path) -> bool {
    db.to_str().is_some_and(|s| {
        let s = s.trim_start().to_ascii_lowercase();
        s.starts_with("postgres://") || s.starts_with("postgresql://")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(dir: &Path, vars: &[(&str, &str)]) -> Env {
        let mut v: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        v.push(("HOME".into(), dir.join("home").display().to_string()));
        Env::from_parts(v, dir.join("work/sub"))
    }

    #[test]
    fn db_resolution_follows_precedence() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("work/sub")).unwrap();
        let e = env(d, &[]);
        assert_eq!(e.db_path(None), d.join("home/.maestro/maestro.db"));
        // A project store upward from the cwd wins over the user store.
        std::fs::create_dir_all(d.join("work/.maestro")).unwrap();
        std::fs::write(d.join("work/.maestro/maestro.db"), b"").unwrap();
        assert_eq!(e.db_path(None), d.join("work/.maestro/maestro.db"));
        // MAESTRO_DB wins over that, and an explicit path over everything.
        let e = env(d, &[("MAESTRO_DB", "rel.db")]);
        assert_eq!(e.db_path(None), d.join("work/sub/rel.db"));
        assert_eq!(
            e.db_path(Some(Path::new("/x/y.db"))),
            PathBuf::from("/x/y.db")
        );
        // MAESTRO_HOME moves the user store.
        let e = env(d, &[("MAESTRO_HOME", "/opt/m")]);
        assert_eq!(e.maestro_home(), PathBuf::from("/opt/m"));
    }

    #[test]
    fn config_files_layer_and_nest() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("work/sub")).unwrap();
        std::fs::create_dir_all(d.join("work/.maestro")).unwrap();
        let e = env(d, &[("MAESTRO_API_URL", "http://env")]);
        let mut user = ConfigFile::load(&e.user_config_path()).unwrap();
        user.set("apiUrl", json!("http://user")).unwrap();
        user.set("retries", json!(5)).unwrap();
        user.save().unwrap();
        let mut project = ConfigFile::load(&e.project_config_path().unwrap()).unwrap();
        project.set("retries", json!(7)).unwrap();
        project
            .set("agents.scripted.command", json!(["bash", "w.sh"]))
            .unwrap();
        project.save().unwrap();
        let c = e.config().unwrap();
        assert_eq!(c.get_string("retries").as_deref(), Some("7"));
        assert_eq!(
            c.get("agents.scripted.command"),
            Some(&json!(["bash", "w.sh"]))
        );
        assert_eq!(
            setting(None, &e, "MAESTRO_API_URL", &c, "apiUrl").as_deref(),
            Some("http://env")
        );
        assert_eq!(
            setting(Some("http://flag"), &e, "MAESTRO_API_URL", &c, "apiUrl").as_deref(),
            Some("http://flag")
        );
        let e2 = env(d, &[]);
        assert_eq!(
            setting(None, &e2, "MAESTRO_API_URL", &c, "apiUrl").as_deref(),
            Some("http://user")
        );
        let keys: Vec<String> = c.effective().into_iter().map(|(k, _, _)| k).collect();
        assert_eq!(keys, vec!["agents.scripted.command", "apiUrl", "retries"]);
        project.unset("agents.scripted.command");
        assert!(project.get("agents.scripted.command").is_none());
        // Objects left empty go too.
        assert!(project.get("agents").is_none());
    }

    #[test]
    fn bad_keys_and_files_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("c.json");
        std::fs::write(&p, "[1,2]").unwrap();
        assert!(ConfigFile::load(&p).is_err());
        let mut f = ConfigFile::load(&tmp.path().join("none.json")).unwrap();
        assert!(f.set("a..b", json!(1)).is_err());
        assert!(f.set("", json!(1)).is_err());
        assert_eq!(parse_value("3"), json!(3));
        assert_eq!(parse_value("[\"a\"]"), json!(["a"]));
        assert_eq!(parse_value("hello"), json!("hello"));
    }
}
