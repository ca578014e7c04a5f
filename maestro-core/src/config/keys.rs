//! The settings Maestro knows: their config key, environment variable, default and allowed
//! form. `maestro config set` refuses a value that would break a later command, and a key
//! Maestro does not know unless it is the user's own (`x.<name>`); `config get` and `config
//! list` show each effective value with where it comes from.

use super::{Config, ConfigFile};
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::PathBuf;

/// The namespace of keys that are the user's own: never read by Maestro, never refused.
pub const USER_NAMESPACE: &str = "x";

/// What a value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A number above zero (or such a number as text).
    PositiveNumber,
    /// A number of zero or more (or such a number as text).
    NonNegativeNumber,
    /// An http(s) server URL.
    Url,
    /// Non-empty text.
    Text,
    /// true or false.
    Bool,
    /// Text, or a list of texts.
    List,
    /// A JSON object or a value under it, checked by the reader of its section.
    Section,
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The dotted config key; `agents.*` stands for every key under `agents`.
    pub name: &'static str,
    /// The environment variable that wins over the config files.
    pub env: Option<&'static str>,
    /// The value in effect when nothing sets it (JSON).
    pub default: Option<&'static str>,
    pub form: Form,
    /// The allowed form, for people.
    pub allowed: &'static str,
    /// A value to show in examples.
    pub example: &'static str,
}

const fn key(
    name: &'static str,
    env: Option<&'static str>,
    default: Option<&'static str>,
    form: Form,
    allowed: &'static str,
    example: &'static str,
) -> Key {
    Key {
        name,
        env,
        default,
        form,
        allowed,
        example,
    }
}

/// Every setting of the config files (SPEC §4). A new setting is added here.
pub const KEYS: &[Key] = &[
    key(
        "apiUrl",
        Some("MAESTRO_API_URL"),
        None,
        Form::Url,
        "an http:// or https:// server URL",
        "http://127.0.0.1:3000",
    ),
    key(
        "token",
        Some("MAESTRO_TOKEN"),
        None,
        Form::Text,
        "the server's bearer token",
        "s3cret",
    ),
    key(
        "projectId",
        Some("MAESTRO_PROJECT_ID"),
        None,
        Form::Text,
        "a project id",
        "p-4k2m",
    ),
    key(
        "leaseSeconds",
        Some("MAESTRO_LEASE_SECONDS"),
        Some("120"),
        Form::PositiveNumber,
        "a positive number of seconds",
        "120",
    ),
    key(
        "opRetentionHours",
        Some("MAESTRO_OP_RETENTION_HOURS"),
        Some("24"),
        Form::PositiveNumber,
        "a positive number of hours",
        "24",
    ),
    key(
        "spawnRoots",
        Some("MAESTRO_SPAWN_ROOTS"),
        None,
        Form::List,
        "a folder or a list of folders",
        "[\"/srv/repos\"]",
    ),
    key(
        "allowedOrigins",
        Some("MAESTRO_ALLOWED_ORIGINS"),
        None,
        Form::List,
        "a web origin or a list of them",
        "[\"https://maestro.example.com\"]",
    ),
    key(
        "pgPoolSize",
        Some("MAESTRO_PG_POOL_SIZE"),
        Some("16"),
        Form::PositiveNumber,
        "a positive number of connections to PostgreSQL",
        "16",
    ),
    key(
        "pgStatementTimeout",
        Some("MAESTRO_PG_STATEMENT_TIMEOUT"),
        Some("30"),
        Form::NonNegativeNumber,
        "a number of seconds one PostgreSQL statement may take (0 for no limit)",
        "30",
    ),
    key(
        "pgSslmode",
        Some("MAESTRO_PG_SSLMODE"),
        None,
        Form::Text,
        "disable, prefer, require, verify-ca or verify-full",
        "require",
    ),
    key(
        "pgSslrootcert",
        Some("MAESTRO_PG_SSLROOTCERT"),
        None,
        Form::Text,
        "the PEM file of the certificate authority that signed the PostgreSQL server's certificate",
        "/etc/maestro/db-ca.pem",
    ),
    key(
        "defaultAgent",
        None,
        Some("\"claude\""),
        Form::Text,
        "an agent profile name",
        "claude",
    ),
    key(
        "agents.*",
        None,
        None,
        Form::Section,
        "agents.<name>.command as an argv array, or env, heartbeat, allowedCommands, output, resume, storeArgs",
        "[\"bash\",\"worker.sh\",\"{task_id}\"]",
    ),
    key(
        "prices.*",
        None,
        None,
        Form::Section,
        "USD per million tokens by model: {\"input\": …, \"cachedInput\": …, \"output\": …}",
        "{\"input\":1.25,\"output\":10}",
    ),
    key(
        "budget",
        None,
        None,
        Form::Section,
        "{\"maxCostUsd\": <USD>, \"maxTokens\": <N>}",
        "{\"maxCostUsd\": 5}",
    ),
    key(
        "budget.maxCostUsd",
        None,
        None,
        Form::PositiveNumber,
        "a positive number of US dollars",
        "5",
    ),
    key(
        "budget.maxTokens",
        None,
        None,
        Form::PositiveNumber,
        "a positive number of tokens",
        "2000000",
    ),
    key(
        "worktree.enabled",
        None,
        Some("true"),
        Form::Bool,
        "true or false",
        "false",
    ),
    key(
        "worktree.base",
        None,
        None,
        Form::Text,
        "a branch, tag or commit",
        "main",
    ),
    key(
        "worktree.include",
        None,
        None,
        Form::Section,
        "a list of paths relative to the repository root",
        "[\".env\"]",
    ),
    key(
        "merge.strategy",
        None,
        Some("\"rebase\""),
        Form::Section,
        "rebase or squash",
        "squash",
    ),
    key(
        "merge.gate",
        None,
        None,
        Form::Text,
        "a shell command that must pass before a merge",
        "cargo test",
    ),
    key(
        "merge.gateTimeoutSeconds",
        None,
        None,
        Form::PositiveNumber,
        "a positive number of seconds",
        "600",
    ),
    key(
        "merge.auto",
        None,
        Some("false"),
        Form::Bool,
        "true or false",
        "true",
    ),
    key(
        "merge.into",
        None,
        None,
        Form::Text,
        "the branch merges go into",
        "main",
    ),
];

/// The setting `key` names: itself, or the section it is under (`agents.x.command` is under
/// `agents.*`, `budget.maxTokens` is its own).
pub fn find(key: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == key).or_else(|| {
        KEYS.iter().find(|k| {
            k.name.strip_suffix(".*").is_some_and(|section| {
                key == section
                    || key
                        .strip_prefix(section)
                        .is_some_and(|r| r.starts_with('.'))
            }) || (k.form == Form::Section
                && key.strip_prefix(k.name).is_some_and(|r| r.starts_with('.')))
        })
    })
}

/// Whether `key` is the user's own (`x.…`).
pub fn is_user_key(key: &str) -> bool {
    key.split('.').next() == Some(USER_NAMESPACE) && key.contains('.')
}

/// The value `config set key text` stores: `text` read as JSON when it is JSON, else as
/// text; a key that takes text keeps the words as typed (`merge.gate true` is the command
/// `true`, not a boolean).
pub fn value_for(key: &str, text: &str) -> Value {
    let parsed = super::parse_value(text);
    match find(key) {
        Some(spec) if matches!(spec.form, Form::Text) && !parsed.is_string() => {
            Value::String(text.to_string())
        }
        _ => parsed,
    }
}

/// Checks that `value` may be stored at `key` of `file`, read with `others` (the other config
/// file): a known key with a value of its form that its reader accepts, or a user key.
pub fn check_set(
    file: &ConfigFile,
    other: Option<&ConfigFile>,
    key: &str,
    value: &Value,
) -> Result<()> {
    super::validate_key(key)?;
    if is_user_key(key) {
        return Ok(());
    }
    let Some(spec) = find(key) else {
        return Err(unknown(key));
    };
    if let Err(why) = check_form(spec, value) {
        return Err(refused(key, spec, value, &why));
    }
    // The section's own reader decides, over the config as it would be.
    let mut changed = file.clone();
    changed.set(key, value.clone())?;
    let config = Config {
        project: Some(changed),
        user: other.cloned().unwrap_or_else(|| ConfigFile {
            path: PathBuf::new(),
            values: Default::default(),
        }),
    };
    check_readers(&config).map_err(|e| {
        let why = e.message().to_string();
        refused(key, spec, value, &why)
    })
}

fn check_form(spec: &Key, value: &Value) -> std::result::Result<(), String> {
    let number = value
        .as_f64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse::<f64>().ok()));
    match spec.form {
        Form::PositiveNumber => match number {
            Some(n) if n > 0.0 && n.is_finite() => Ok(()),
            Some(n) => Err(format!("{n} is not above zero")),
            None => Err(format!("{} is not a number", shown(value))),
        },
        Form::NonNegativeNumber => match number {
            Some(n) if n >= 0.0 && n.is_finite() => Ok(()),
            Some(n) => Err(format!("{n} is below zero")),
            None => Err(format!("{} is not a number", shown(value))),
        },
        Form::Url => match value.as_str() {
            Some(s) => check_url(s),
            None => Err(format!("{} is not text", shown(value))),
        },
        Form::Text => match value.as_str() {
            Some(s) if !s.trim().is_empty() => Ok(()),
            _ => Err(format!("{} is not non-empty text", shown(value))),
        },
        Form::Bool => match value {
            Value::Bool(_) => Ok(()),
            _ => Err(format!("{} is not true or false", shown(value))),
        },
        Form::List => match value {
            Value::String(s) if !s.trim().is_empty() => Ok(()),
            Value::Array(items) if items.iter().all(Value::is_string) => Ok(()),
            _ => Err(format!("{} is not text or a list of texts", shown(value))),
        },
        Form::Section => Ok(()),
    }
}

/// A server URL names its scheme (the client would read `host:port` alone, but a setting
/// that stays in a file is better explicit), then the remote client's own rule applies.
fn check_url(s: &str) -> std::result::Result<(), String> {
    match s.trim().split_once("://") {
        Some((scheme, rest))
            if ["http", "https"].contains(&scheme.to_ascii_lowercase().as_str())
                && !rest.is_empty() => {}
        _ => return Err(format!("'{s}' is not an http:// or https:// URL")),
    }
    #[cfg(feature = "remote")]
    crate::remote::http_base(s).map_err(|e| e.message().to_string())?;
    Ok(())
}

/// Runs the readers of the sections a file may hold (agents, prices, budget, worktree and
/// merge), so a value they would refuse later is refused when it is set.
fn check_readers(config: &Config) -> Result<()> {
    crate::host::plan::Profiles::from_config(config.get("agents"))?;
    crate::agent::PriceTable::from_config(config.get("prices"))?;
    if let Some(b) = config.get("budget") {
        serde_json::from_value::<crate::model::Budget>(b.clone())
            .map_err(|e| Error::invalid_argument(format!("config 'budget' is invalid: {e}")))?;
    }
    crate::worktree::plan::Settings::from_config(config)?;
    Ok(())
}

/// A value as a person wrote it: text without JSON quotes.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        v => v.to_string(),
    }
}

fn refused(key: &str, spec: &Key, value: &Value, why: &str) -> Error {
    Error::invalid_argument(format!(
        "{} cannot be set as {key}: {why}; it takes {}",
        shown(value),
        spec.allowed
    ))
    .with_details(json!({ "key": key, "value": value, "reason": why, "allowed": spec.allowed }))
    .with_suggestion(format!(
        "Set it to {}, e.g. maestro config set {key} '{}'",
        spec.allowed,
        example_for(key, spec)
    ))
}

/// The example value of `key`: its own, or for a key under a section, the section's.
fn example_for(key: &str, spec: &Key) -> String {
    match spec.name {
        "agents.*" if !key.ends_with(".command") => {
            "{\"command\": [\"bash\",\"worker.sh\"]}".into()
        }
        _ => spec.example.to_string(),
    }
}

fn unknown(key: &str) -> Error {
    let names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
    let near = names
        .iter()
        .min_by_key(|n| distance(&n.to_lowercase(), &key.to_lowercase()))
        .filter(|n| distance(&n.to_lowercase(), &key.to_lowercase()) <= 3)
        .copied();
    let hint = match near.filter(|n| !n.ends_with(".*")) {
        Some(n) => format!("Did you mean {n} ('maestro config set {n} <value>')? "),
        None => String::new(),
    };
    Error::invalid_argument(format!("'{key}' is not a setting Maestro knows"))
        .with_details(json!({ "key": key, "known": names, "didYouMean": near }))
        .with_suggestion(format!(
            "{hint}See the settings with 'maestro config list'; keep a value of your own under {USER_NAMESPACE}., e.g. 'maestro config set {USER_NAMESPACE}.{} <value>'",
            key.replace('.', "-")
        ))
}

/// Edit distance, for did-you-mean.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Where an effective value comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// A command-line flag (or a function argument of a binding).
    Flag,
    /// An environment variable.
    Env,
    /// The project's `.maestro/config.json`.
    Project,
    /// The user's `$MAESTRO_HOME/config.json`.
    User,
    /// Nothing sets it: Maestro's default.
    Default,
}

/// A setting's effective value and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effective {
    pub key: String,
    pub value: Value,
    pub source: Source,
    /// The variable or file it was read from, when there is one.
    pub from: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keys_keep_the_words_as_typed() {
        assert_eq!(
            value_for("merge.gate", "true"),
            Value::String("true".into())
        );
        assert_eq!(
            value_for("merge.gate", "cargo test"),
            Value::String("cargo test".into())
        );
        assert_eq!(value_for("merge.auto", "true"), Value::Bool(true));
        assert_eq!(value_for("leaseSeconds", "-5"), serde_json::json!(-5));
    }

    fn empty() -> ConfigFile {
        ConfigFile {
            path: PathBuf::from("c.json"),
            values: Default::default(),
        }
    }

    fn set(key: &str, v: Value) -> Result<()> {
        check_set(&empty(), None, key, &v)
    }

    #[test]
    fn known_keys_take_only_values_of_their_form() {
        set("leaseSeconds", json!(30)).unwrap();
        set("leaseSeconds", json!("1.5")).unwrap();
        for bad in [json!("abc"), json!(-5), json!(0)] {
            let e = set("leaseSeconds", bad.clone()).unwrap_err();
            assert!(e.details()["reason"].is_string(), "{bad}");
            assert!(
                e.suggestion()
                    .unwrap()
                    .contains("maestro config set leaseSeconds")
            );
        }
        set("apiUrl", json!("http://127.0.0.1:3000")).unwrap();
        set("apiUrl", json!("nope")).unwrap_err();
        set("apiUrl", json!("javascript:alert(1)")).unwrap_err();
        set("agents.x.command", json!(["bash", "w.sh"])).unwrap();
        set("agents.x.command", json!("rm -rf /")).unwrap_err();
        set("merge.strategy", json!("octopus")).unwrap_err();
        set("worktree.enabled", json!(false)).unwrap();
        set("budget.maxTokens", json!(-1)).unwrap_err();
        // The PostgreSQL store's settings: a statement timeout of 0 means none.
        set("pgPoolSize", json!(8)).unwrap();
        set("pgPoolSize", json!(0)).unwrap_err();
        set("pgStatementTimeout", json!(0)).unwrap();
        set("pgStatementTimeout", json!("2.5")).unwrap();
        set("pgStatementTimeout", json!(-1)).unwrap_err();
        set("pgSslmode", json!("require")).unwrap();
        set("pgSslrootcert", json!("")).unwrap_err();
    }

    #[test]
    fn unknown_keys_are_refused_unless_they_are_the_users() {
        let e = set("leaseSecond", json!(5)).unwrap_err();
        assert_eq!(e.details()["didYouMean"], "leaseSeconds");
        set("retries", json!(5)).unwrap_err();
        set("x.retries", json!(5)).unwrap();
        set("x", json!(5)).unwrap_err();
        assert_eq!(find("agents.claude.env.FOO").unwrap().name, "agents.*");
        assert_eq!(find("budget.maxTokens").unwrap().name, "budget.maxTokens");
    }
}
