//! Spawn planning as plain data: agent profiles, argv template expansion, the agent's
//! environment and the tmux command line. No I/O here.

use crate::error::{Error, Result};
use crate::model::Session;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The placeholders an argv template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "{prompt}",
    "{prompt_file}",
    "{session_id}",
    "{task_id}",
    "{skill}",
];

/// Context variables that the host sets for the agent; inherited values are removed first.
pub const CONTEXT_VARS: &[&str] = &[
    "MAESTRO_SESSION_ID",
    "MAESTRO_TASK_IDS",
    "MAESTRO_PROJECT_ID",
    "MAESTRO_DB",
    "MAESTRO_API_URL",
    "MAESTRO_TOKEN",
    "MAESTRO_SKILL",
];

/// A named way to start an agent: an argv template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    pub name: String,
    pub command: Vec<String>,
    /// Extra environment variables for the agent.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

fn builtin(name: &str, command: &[&str]) -> AgentProfile {
    AgentProfile {
        name: name.to_string(),
        command: command.iter().map(|s| s.to_string()).collect(),
        env: BTreeMap::new(),
    }
}

/// The built-in profiles: each agent's non-interactive mode with the prompt as argument.
pub fn builtin_profiles() -> Vec<AgentProfile> {
    vec![
        builtin("claude", &["claude", "-p", "{prompt}"]),
        builtin("codex", &["codex", "exec", "{prompt}"]),
        builtin("gemini", &["gemini", "-p", "{prompt}"]),
    ]
}

/// The profiles a host can launch: built-ins overridden or extended by the host's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profiles {
    by_name: BTreeMap<String, AgentProfile>,
}

impl Default for Profiles {
    fn default() -> Self {
        Self {
            by_name: builtin_profiles()
                .into_iter()
                .map(|p| (p.name.clone(), p))
                .collect(),
        }
    }
}

impl Profiles {
    /// Built-ins plus config `agents`: `{"<name>": {"command": ["argv", ...], "env": {...}}}`
    /// (a bare argv array is accepted too).
    pub fn from_config(agents: Option<&Value>) -> Result<Self> {
        let mut profiles = Self::default();
        let Some(agents) = agents else {
            return Ok(profiles);
        };
        let bad = |name: &str, why: &str| {
            Error::invalid_argument(format!("Agent profile '{name}' is invalid: {why}"))
                .with_details(json!({ "profile": name }))
                .with_suggestion(format!(
                    "Set it as an argv array, e.g. maestro config set agents.{name}.command '[\"bash\",\"worker.sh\",\"{{task_id}}\"]'"
                ))
        };
        let map = agents
            .as_object()
            .ok_or_else(|| bad("agents", "not an object"))?;
        for (name, v) in map {
            let (command, env) = match v {
                Value::Array(_) => (v, None),
                Value::Object(o) => (
                    o.get("command").ok_or_else(|| bad(name, "no 'command'"))?,
                    o.get("env"),
                ),
                _ => return Err(bad(name, "not an object")),
            };
            let command: Vec<String> = serde_json::from_value(command.clone())
                .map_err(|_| bad(name, "'command' is not an array of strings"))?;
            if command.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(bad(name, "'command' is empty"));
            }
            let env: BTreeMap<String, String> = match env {
                Some(e) => serde_json::from_value(e.clone())
                    .map_err(|_| bad(name, "'env' is not an object of strings"))?,
                None => BTreeMap::new(),
            };
            profiles.insert(AgentProfile {
                name: name.clone(),
                command,
                env,
            });
        }
        Ok(profiles)
    }

    pub fn insert(&mut self, profile: AgentProfile) {
        self.by_name.insert(profile.name.clone(), profile);
    }

    pub fn names(&self) -> Vec<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }

    /// The profile `name`; unknown names fail with the list of known ones.
    pub fn get(&self, name: &str) -> Result<&AgentProfile> {
        self.by_name.get(name).ok_or_else(|| {
            Error::invalid_argument(format!("Unknown agent profile '{name}'"))
                .with_details(json!({ "profile": name, "available": self.names() }))
                .with_suggestion(format!(
                    "Use one of: {}, or define it on the host: maestro config set agents.{name}.command '[\"...\"]'",
                    self.names().join(", ")
                ))
        })
    }
}

/// How the agent reaches the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreContext {
    /// The SQLite file.
    Local { db: PathBuf },
    /// A Maestro server.
    Remote { url: String, token: Option<String> },
}

/// Everything needed to start one agent process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchPlan {
    pub session_id: String,
    pub profile: String,
    /// The expanded argv; `argv[0]` is the program.
    pub argv: Vec<String>,
    /// Variables set for the agent (on top of the host's environment minus [`CONTEXT_VARS`]).
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub prompt_file: PathBuf,
    pub log_file: PathBuf,
}

/// Values of the placeholders for one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    pub prompt: String,
    pub prompt_file: String,
    pub session_id: String,
    pub task_id: String,
    pub skill: String,
}

/// Replaces the placeholders in every argument of `template` (also inside a longer
/// argument, e.g. `--file={prompt_file}`). Other braces are left as they are.
pub fn expand(template: &[String], v: &Placeholders) -> Vec<String> {
    template
        .iter()
        .map(|arg| {
            // One pass, so a value that itself contains "{skill}" is not expanded again.
            let mut out = String::with_capacity(arg.len());
            let mut rest = arg.as_str();
            'scan: while let Some(start) = rest.find('{') {
                out.push_str(&rest[..start]);
                let tail = &rest[start..];
                for (name, value) in [
                    ("{prompt}", &v.prompt),
                    ("{prompt_file}", &v.prompt_file),
                    ("{session_id}", &v.session_id),
                    ("{task_id}", &v.task_id),
                    ("{skill}", &v.skill),
                ] {
                    if let Some(after) = tail.strip_prefix(name) {
                        out.push_str(value);
                        rest = after;
                        continue 'scan;
                    }
                }
                out.push('{');
                rest = &tail[1..];
            }
            out.push_str(rest);
            out
        })
        .collect()
}

/// The context environment of an agent (SPEC §4).
pub fn agent_env(session: &Session, skill: &str, store: &StoreContext) -> Vec<(String, String)> {
    let mut env = vec![
        ("MAESTRO_SESSION_ID".to_string(), session.id.clone()),
        ("MAESTRO_TASK_IDS".to_string(), session.task_ids.join(",")),
        ("MAESTRO_PROJECT_ID".to_string(), session.project_id.clone()),
        ("MAESTRO_SKILL".to_string(), skill.to_string()),
    ];
    match store {
        StoreContext::Local { db } => env.push(("MAESTRO_DB".into(), db.display().to_string())),
        StoreContext::Remote { url, token } => {
            env.push(("MAESTRO_API_URL".into(), url.clone()));
            if let Some(t) = token {
                env.push(("MAESTRO_TOKEN".into(), t.clone()));
            }
        }
    }
    env
}

/// The skill a session runs with: its own, else its role's default.
pub fn session_skill(session: &Session) -> String {
    session.skill.clone().unwrap_or_else(|| {
        match session.role {
            crate::Role::Orchestrator => crate::skills::ORCHESTRATOR_SKILL,
            crate::Role::Worker => crate::skills::WORKER_SKILL,
        }
        .to_string()
    })
}

/// Plans the launch of `session` with `profile`.
pub fn plan(
    session: &Session,
    profile: &AgentProfile,
    prompt: &str,
    dirs: &HostDirs,
    store: &StoreContext,
    path_prefix: Option<&Path>,
    inherited_path: Option<&str>,
) -> LaunchPlan {
    let skill = session_skill(session);
    let prompt_file = dirs.prompt_file(&session.id);
    let vars = Placeholders {
        prompt: prompt.to_string(),
        prompt_file: prompt_file.display().to_string(),
        session_id: session.id.clone(),
        task_id: session.task_ids.first().cloned().unwrap_or_default(),
        skill: skill.clone(),
    };
    let mut env: Vec<(String, String)> = profile
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend(agent_env(session, &skill, store));
    if let Some(dir) = path_prefix {
        let path = match inherited_path.filter(|p| !p.is_empty()) {
            Some(p) => format!("{}:{p}", dir.display()),
            None => dir.display().to_string(),
        };
        env.push(("PATH".into(), path));
    }
    LaunchPlan {
        session_id: session.id.clone(),
        profile: profile.name.clone(),
        argv: expand(&profile.command, &vars),
        env,
        cwd: session.cwd.as_ref().map(PathBuf::from),
        prompt_file,
        log_file: dirs.log_file(&session.id),
    }
}

/// Where a host writes prompts and logs: `$MAESTRO_HOME/prompts` and `$MAESTRO_HOME/logs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDirs {
    pub home: PathBuf,
}

impl HostDirs {
    pub fn prompt_file(&self, session_id: &str) -> PathBuf {
        self.home.join("prompts").join(format!("{session_id}.md"))
    }
    pub fn log_file(&self, session_id: &str) -> PathBuf {
        self.home.join("logs").join(format!("{session_id}.log"))
    }
    /// Where a tmux-launched agent's exit code is written.
    pub fn exit_file(&self, session_id: &str) -> PathBuf {
        self.home.join("logs").join(format!("{session_id}.exit"))
    }
    /// Created by the host once a tmux window's output is piped to the log: the agent starts
    /// then, so none of its output is lost.
    pub fn go_file(&self, session_id: &str) -> PathBuf {
        self.home.join("logs").join(format!("{session_id}.go"))
    }
}

/// The shell script a tmux window runs: wait (at most 10 s) until the host pipes the window
/// to the log, run the agent, write its exit code to a file.
const TMUX_SCRIPT: &str = r#"i=0; while [ ! -e "$MAESTRO_GO_FILE" ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done; rm -f "$MAESTRO_GO_FILE"; "$@"; echo $? > "$MAESTRO_EXIT_FILE""#;

/// What `tmux new-window -P` prints: the pane's pid and id.
pub const TMUX_FORMAT: &str = "#{pane_pid} #{pane_id}";

/// Reads the pid and pane id printed with [`TMUX_FORMAT`].
pub fn parse_tmux_pane(out: &str) -> Option<(i64, String)> {
    let mut parts = out.split_whitespace();
    let pid = parts.next()?.parse().ok()?;
    let pane = parts.next().filter(|p| p.starts_with('%'))?;
    Some((pid, pane.to_string()))
}

/// `tmux new-window …` starting `plan` in a detached window of `target` (a tmux session),
/// printing the pane's pid.
pub fn tmux_new_window(
    plan: &LaunchPlan,
    target: &str,
    window: &str,
    exit_file: &Path,
    go_file: &Path,
) -> Vec<String> {
    let mut argv: Vec<String> = ["tmux", "new-window", "-d", "-P", "-F", TMUX_FORMAT, "-t"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    argv.push(format!("{target}:"));
    argv.push("-n".into());
    argv.push(window.to_string());
    if let Some(cwd) = &plan.cwd {
        argv.push("-c".into());
        argv.push(cwd.display().to_string());
    }
    let files = [
        (
            "MAESTRO_EXIT_FILE".to_string(),
            exit_file.display().to_string(),
        ),
        ("MAESTRO_GO_FILE".to_string(), go_file.display().to_string()),
    ];
    for (k, v) in plan.env.iter().chain(files.iter()) {
        argv.push("-e".into());
        argv.push(format!("{k}={v}"));
    }
    argv.extend(["--", "sh", "-c", TMUX_SCRIPT, "sh"].map(String::from));
    argv.extend(plan.argv.iter().cloned());
    argv
}

/// How an agent process ended, for the session record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitOutcome {
    pub exit_code: i64,
    pub success: bool,
    pub reason: Option<String>,
}

/// Maps an exit code or a terminating signal to the session's outcome.
pub fn exit_outcome(code: Option<i32>, signal: Option<i32>) -> ExitOutcome {
    match (code, signal) {
        (Some(0), _) => ExitOutcome {
            exit_code: 0,
            success: true,
            reason: None,
        },
        (Some(c), _) => ExitOutcome {
            exit_code: i64::from(c),
            success: false,
            reason: Some(format!("exited with code {c}")),
        },
        (None, Some(s)) => ExitOutcome {
            exit_code: 128 + i64::from(s),
            success: false,
            reason: Some(format!("killed by signal {s}")),
        },
        (None, None) => ExitOutcome {
            exit_code: -1,
            success: false,
            reason: Some("ended without an exit code".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Role, SessionStatus};

    fn session() -> Session {
        let t = "2026-01-01T00:00:00Z".parse().unwrap();
        Session {
            id: "s-abc123".into(),
            project_id: "p-1".into(),
            name: "w".into(),
            role: Role::Worker,
            skill: None,
            agent: Some("scripted".into()),
            task_ids: vec!["t-1".into(), "t-2".into()],
            status: SessionStatus::Starting,
            spawned_by: None,
            pid: None,
            host: None,
            cwd: Some("/work".into()),
            exit_code: None,
            reason: None,
            created_at: t,
            started_at: None,
            ended_at: None,
            last_seen: t,
        }
    }

    #[test]
    fn templates_expand_every_placeholder_once() {
        let v = Placeholders {
            prompt: "do {skill} now".into(),
            prompt_file: "/h/p.md".into(),
            session_id: "s-1".into(),
            task_id: "t-1".into(),
            skill: "maestro-worker".into(),
        };
        let t: Vec<String> = [
            "agent",
            "{prompt}",
            "--file={prompt_file}",
            "{session_id}/{task_id}",
            "{skill}",
            "{\"json\": {unknown}}",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            expand(&t, &v),
            vec![
                "agent",
                "do {skill} now",
                "--file=/h/p.md",
                "s-1/t-1",
                "maestro-worker",
                "{\"json\": {unknown}}"
            ]
        );
        for p in PLACEHOLDERS {
            assert!(!expand(&[p.to_string()], &v)[0].contains(p) || *p == "{skill}");
        }
    }

    #[test]
    fn profiles_come_from_builtins_and_the_hosts_config() {
        let p = Profiles::default();
        assert_eq!(p.names(), vec!["claude", "codex", "gemini"]);
        assert_eq!(p.get("claude").unwrap().command[0], "claude");
        let e = p.get("scripted").unwrap_err();
        assert_eq!(e.code(), crate::Code::InvalidArgument);
        assert_eq!(
            e.details()["available"],
            json!(["claude", "codex", "gemini"])
        );

        let cfg = json!({
            "scripted": {"command": ["bash", "w.sh", "{task_id}"], "env": {"STEP": "1"}},
            "claude": ["claude", "{prompt}"],
        });
        let p = Profiles::from_config(Some(&cfg)).unwrap();
        assert_eq!(p.get("scripted").unwrap().env["STEP"], "1");
        assert_eq!(p.get("claude").unwrap().command, vec!["claude", "{prompt}"]);
        for bad in [
            json!({"x": {"command": []}}),
            json!({"x": {"command": "bash w.sh"}}),
            json!({"x": 3}),
            json!({"x": {"env": {}}}),
            json!([1]),
        ] {
            let e = Profiles::from_config(Some(&bad)).unwrap_err();
            assert_eq!(e.code(), crate::Code::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn a_plan_has_the_context_environment() {
        let profile = AgentProfile {
            name: "scripted".into(),
            command: vec!["bash".into(), "w.sh".into(), "{task_id}".into()],
            env: [("STEP".to_string(), "1".to_string())].into(),
        };
        let dirs = HostDirs { home: "/h".into() };
        let local = StoreContext::Local {
            db: "/d/m.db".into(),
        };
        let p = plan(
            &session(),
            &profile,
            "PROMPT",
            &dirs,
            &local,
            Some(Path::new("/bin/maestro-dir")),
            Some("/usr/bin"),
        );
        assert_eq!(p.argv, vec!["bash", "w.sh", "t-1"]);
        assert_eq!(p.prompt_file, PathBuf::from("/h/prompts/s-abc123.md"));
        assert_eq!(p.log_file, PathBuf::from("/h/logs/s-abc123.log"));
        assert_eq!(p.cwd, Some(PathBuf::from("/work")));
        let env: BTreeMap<_, _> = p.env.iter().cloned().collect();
        assert_eq!(env["MAESTRO_SESSION_ID"], "s-abc123");
        assert_eq!(env["MAESTRO_TASK_IDS"], "t-1,t-2");
        assert_eq!(env["MAESTRO_PROJECT_ID"], "p-1");
        assert_eq!(env["MAESTRO_DB"], "/d/m.db");
        assert_eq!(env["MAESTRO_SKILL"], "maestro-worker");
        assert_eq!(env["STEP"], "1");
        assert_eq!(env["PATH"], "/bin/maestro-dir:/usr/bin");
        assert!(!env.contains_key("MAESTRO_API_URL"));

        let remote = StoreContext::Remote {
            url: "http://127.0.0.1:3000".into(),
            token: Some("tok".into()),
        };
        let env: BTreeMap<_, _> = agent_env(&session(), "maestro-worker", &remote)
            .into_iter()
            .collect();
        assert_eq!(env["MAESTRO_API_URL"], "http://127.0.0.1:3000");
        assert_eq!(env["MAESTRO_TOKEN"], "tok");
        assert!(!env.contains_key("MAESTRO_DB"));
        for k in env.keys() {
            assert!(CONTEXT_VARS.contains(&k.as_str()), "{k}");
        }
    }

    #[test]
    fn tmux_windows_run_the_agent_and_record_its_exit() {
        let p = LaunchPlan {
            session_id: "s-1".into(),
            profile: "x".into(),
            argv: vec!["bash".into(), "w.sh".into()],
            env: vec![("MAESTRO_SESSION_ID".into(), "s-1".into())],
            cwd: Some("/work".into()),
            prompt_file: "/h/prompts/s-1.md".into(),
            log_file: "/h/logs/s-1.log".into(),
        };
        let argv = tmux_new_window(
            &p,
            "maestro",
            "w-1",
            Path::new("/h/logs/s-1.exit"),
            Path::new("/h/logs/s-1.go"),
        );
        let expected: Vec<&str> = vec![
            "tmux",
            "new-window",
            "-d",
            "-P",
            "-F",
            TMUX_FORMAT,
            "-t",
            "maestro:",
            "-n",
            "w-1",
            "-c",
            "/work",
            "-e",
            "MAESTRO_SESSION_ID=s-1",
            "-e",
            "MAESTRO_EXIT_FILE=/h/logs/s-1.exit",
            "-e",
            "MAESTRO_GO_FILE=/h/logs/s-1.go",
            "--",
            "sh",
            "-c",
            TMUX_SCRIPT,
            "sh",
            "bash",
            "w.sh",
        ];
        assert_eq!(argv, expected);
        assert_eq!(parse_tmux_pane("4242 %7\n"), Some((4242, "%7".to_string())));
        assert_eq!(parse_tmux_pane("oops"), None);
    }

    #[test]
    fn exits_map_to_outcomes() {
        assert!(exit_outcome(Some(0), None).success);
        let o = exit_outcome(Some(3), None);
        assert_eq!((o.exit_code, o.success), (3, false));
        let o = exit_outcome(None, Some(9));
        assert_eq!(o.exit_code, 137);
        assert_eq!(o.reason.as_deref(), Some("killed by signal 9"));
    }
}
