//! Spawn planning as plain data: agent profiles, argv template expansion, the agent's
//! environment and the tmux command line. No I/O here.

use crate::error::{Error, Result};
use crate::model::Session;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The placeholders an argv template may use.
///
/// `{settings}` is the JSON the agent's CLI takes as settings (Claude Code's `--settings`:
/// the allowed commands and the heartbeat hooks), `{settings_file}` the same written to a
/// file (Gemini CLI reads settings from files), `{policy_file}` a Gemini CLI policy file
/// allowing the profile's commands, `{store_dir}` the directory of a local store's database
/// (empty in remote mode), `{agent_session_id}` the agent's own session id when resuming.
/// An argument that is exactly `{store_args}` becomes the profile's `storeArgs` for the
/// store's mode (zero or more arguments).
pub const PLACEHOLDERS: &[&str] = &[
    "{prompt}",
    "{prompt_file}",
    "{session_id}",
    "{task_id}",
    "{skill}",
    "{settings}",
    "{settings_file}",
    "{policy_file}",
    "{store_dir}",
    "{agent_session_id}",
    "{store_args}",
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

/// The command every worker may run: `maestro` itself.
pub const MAESTRO_COMMAND: &str = "maestro";

/// What keeps a session's lease alive while its agent runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Heartbeat {
    /// The agent's own calls: its `maestro` commands and, where the CLI has hooks, a
    /// `maestro session heartbeat` on every tool use. A hung agent whose process lives on
    /// loses its lease like any silent worker.
    Agent,
    /// The host, as long as the process is alive (plain scripts).
    #[default]
    Process,
}

/// Which structured output an agent prints, so the host can read its run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// Claude Code `--output-format stream-json --verbose`.
    Claude,
    /// Codex `exec --json` (JSONL events).
    Codex,
    /// Gemini CLI `--output-format stream-json`.
    Gemini,
    /// Plain text: nothing to parse.
    #[default]
    None,
}

impl OutputKind {
    /// `claude`, `codex`, `gemini` or `none`.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Claude, Self::Codex, Self::Gemini, Self::None]
            .into_iter()
            .find(|k| k.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Codex => "codex",
            Self::Gemini => "gemini",
            Self::None => "none",
        }
    }
}

/// The shell commands an agent may run without asking: command prefixes (`"git"` allows
/// `git status`, `"cargo test"` allows `cargo test --lib`), or everything. `maestro` is always
/// allowed. "everything" lets the agent run any command as the host's user: only sane when
/// the worker runs inside an isolated worktree or container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedCommands {
    Prefixes(Vec<String>),
    Everything,
}

impl Default for AllowedCommands {
    fn default() -> Self {
        Self::Prefixes(vec![MAESTRO_COMMAND.to_string()])
    }
}

impl AllowedCommands {
    /// The prefixes, `maestro` first and no duplicates; `None` for everything.
    pub fn prefixes(&self) -> Option<Vec<String>> {
        match self {
            Self::Everything => None,
            Self::Prefixes(list) => {
                let mut out = vec![MAESTRO_COMMAND.to_string()];
                for p in list {
                    let p = p.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !p.is_empty() && !out.contains(&p) {
                        out.push(p);
                    }
                }
                Some(out)
            }
        }
    }
}

impl Serialize for AllowedCommands {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.prefixes() {
            None => s.serialize_str("everything"),
            Some(list) => list.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for AllowedCommands {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if s == "everything" => Ok(Self::Everything),
            Value::Array(a) => a
                .into_iter()
                .map(|v| match v {
                    Value::String(s) if !s.trim().is_empty() => Ok(s),
                    _ => Err(serde::de::Error::custom(
                        "a command prefix must be a non-empty string",
                    )),
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Self::Prefixes),
            _ => Err(serde::de::Error::custom(
                "expected a list of command prefixes or \"everything\"",
            )),
        }
    }
}

/// Arguments a profile adds for each way of reaching the store (`{store_args}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreArgs {
    /// With a local SQLite store (e.g. a sandbox's extra writable directory `{store_dir}`).
    #[serde(default)]
    pub local: Vec<String>,
    /// With a server (e.g. network access for the sandbox).
    #[serde(default)]
    pub remote: Vec<String>,
}

/// A named way to start an agent: an argv template and how to run it unattended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentProfile {
    pub name: String,
    pub command: Vec<String>,
    /// Extra environment variables for the agent (values may use placeholders).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub heartbeat: Heartbeat,
    /// Shell commands the agent may run besides `maestro`.
    #[serde(default)]
    pub allowed_commands: AllowedCommands,
    /// Which parser reads the agent's output.
    #[serde(default)]
    pub output: OutputKind,
    /// The argv template that continues a previous agent conversation
    /// (`{agent_session_id}`), when the CLI can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Vec<String>>,
    #[serde(default)]
    pub store_args: StoreArgs,
}

impl AgentProfile {
    /// A plain command: no structured output, lease kept while the process lives.
    pub fn process(name: &str, command: Vec<String>) -> Self {
        Self {
            name: name.to_string(),
            command,
            env: BTreeMap::new(),
            heartbeat: Heartbeat::Process,
            allowed_commands: AllowedCommands::default(),
            output: OutputKind::None,
            resume: None,
            store_args: StoreArgs::default(),
        }
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Claude Code's print mode: stream-json output, edits accepted, the profile's commands
/// allowed and a heartbeat hook through `--settings`.
fn claude() -> AgentProfile {
    let flags = [
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
        "acceptEdits",
        "--settings",
        "{settings}",
    ];
    let mut command = strings(&["claude", "-p", "{prompt}"]);
    command.extend(strings(&flags));
    let mut resume = strings(&["claude", "-p", "{prompt}", "--resume", "{agent_session_id}"]);
    resume.extend(strings(&flags));
    AgentProfile {
        heartbeat: Heartbeat::Agent,
        output: OutputKind::Claude,
        resume: Some(resume),
        ..AgentProfile::process("claude", command)
    }
}

/// Codex's `exec --json` in a workspace-write sandbox of the worker's directory, no approval
/// prompts; a local store's directory is writable too, a remote store reachable.
fn codex() -> AgentProfile {
    let flags = [
        "--json",
        "--skip-git-repo-check",
        "--sandbox",
        "workspace-write",
        "-c",
        "approval_policy=\"never\"",
        // A login shell would reset PATH from /etc/profile and lose the host's `maestro`.
        "-c",
        "allow_login_shell=false",
        "{store_args}",
    ];
    let mut command = strings(&["codex", "exec"]);
    command.extend(strings(&flags));
    command.push("{prompt}".into());
    // `exec resume` takes the same options but not --sandbox: the sandbox is a config value.
    let mut resume = strings(&["codex", "exec", "resume", "{agent_session_id}"]);
    resume.extend(strings(&[
        "--json",
        "--skip-git-repo-check",
        "-c",
        "sandbox_mode=\"workspace-write\"",
        "-c",
        "approval_policy=\"never\"",
        "-c",
        "allow_login_shell=false",
        "{store_args}",
        "{prompt}",
    ]));
    AgentProfile {
        // Codex runs no hooks without trusting the repository's own (see the profile docs),
        // so nothing refreshes its lease during a long tool call: the host keeps it while
        // the process lives.
        heartbeat: Heartbeat::Process,
        output: OutputKind::Codex,
        resume: Some(resume),
        store_args: StoreArgs {
            // The config form of --add-dir, which `exec resume` does not take.
            local: strings(&[
                "-c",
                "sandbox_workspace_write.writable_roots=['{store_dir}']",
            ]),
            remote: strings(&["-c", "sandbox_workspace_write.network_access=true"]),
        },
        ..AgentProfile::process("codex", command)
    }
}

/// Gemini CLI headless: stream-json output, edits auto-approved, the profile's commands
/// allowed by a policy file, a heartbeat hook in a settings file, the worker's directory
/// trusted.
fn gemini() -> AgentProfile {
    let flags = [
        "--output-format",
        "stream-json",
        "--skip-trust",
        "--approval-mode",
        "auto_edit",
        "--policy",
        "{policy_file}",
    ];
    let mut command = strings(&["gemini", "-p", "{prompt}"]);
    command.extend(strings(&flags));
    let mut resume = strings(&["gemini", "-p", "{prompt}", "--resume", "{agent_session_id}"]);
    resume.extend(strings(&flags));
    AgentProfile {
        resume: Some(resume),
        env: [(
            "GEMINI_CLI_SYSTEM_DEFAULTS_PATH".to_string(),
            "{settings_file}".to_string(),
        )]
        .into(),
        heartbeat: Heartbeat::Agent,
        output: OutputKind::Gemini,
        ..AgentProfile::process("gemini", command)
    }
}

/// The built-in profiles: each agent's non-interactive mode, set up to work unattended.
pub fn builtin_profiles() -> Vec<AgentProfile> {
    vec![claude(), codex(), gemini()]
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

/// The fields of a profile in config, all optional so a built-in can be changed in part.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProfileConfig {
    command: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    heartbeat: Option<Heartbeat>,
    allowed_commands: Option<AllowedCommands>,
    output: Option<OutputKind>,
    resume: Option<Vec<String>>,
    store_args: Option<StoreArgs>,
}

impl Profiles {
    /// Built-ins plus config `agents`: `{"<name>": {"command": ["argv", ...], "env": {...},
    /// "heartbeat": "agent|process", "allowedCommands": ["git", ...] | "everything",
    /// "output": "claude|codex|gemini|none", "resume": ["argv", ...], "storeArgs":
    /// {"local": [...], "remote": [...]}}}` (a bare argv array is accepted too). An entry
    /// named like a built-in changes only the fields it gives; a new one needs a `command`
    /// and defaults to `heartbeat: process`, `output: none`.
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
            let cfg: ProfileConfig = match v {
                Value::Array(_) => ProfileConfig {
                    command: Some(
                        serde_json::from_value(v.clone())
                            .map_err(|_| bad(name, "'command' is not an array of strings"))?,
                    ),
                    env: None,
                    heartbeat: None,
                    allowed_commands: None,
                    output: None,
                    resume: None,
                    store_args: None,
                },
                Value::Object(_) => serde_json::from_value(v.clone()).map_err(|e| {
                    let why = e.to_string();
                    if why.contains("command") {
                        bad(name, "'command' is not an array of strings")
                    } else {
                        bad(name, &why)
                    }
                })?,
                _ => return Err(bad(name, "not an object")),
            };
            let base = profiles.by_name.get(name).cloned();
            let mut p = match (base, cfg.command) {
                (Some(mut b), Some(c)) => {
                    b.command = c;
                    b
                }
                (Some(b), None) => b,
                (None, Some(c)) => AgentProfile::process(name, c),
                (None, None) => return Err(bad(name, "no 'command'")),
            };
            if p.command.first().is_none_or(|a| a.trim().is_empty()) {
                return Err(bad(name, "'command' is empty"));
            }
            if let Some(env) = cfg.env {
                p.env = env;
            }
            if let Some(h) = cfg.heartbeat {
                p.heartbeat = h;
            }
            if let Some(a) = cfg.allowed_commands {
                p.allowed_commands = a;
            }
            if let Some(o) = cfg.output {
                p.output = o;
            }
            if let Some(r) = cfg.resume {
                p.resume = Some(r).filter(|r| !r.is_empty());
            }
            if let Some(s) = cfg.store_args {
                p.store_args = s;
            }
            profiles.insert(p);
        }
        Ok(profiles)
    }

    pub fn insert(&mut self, profile: AgentProfile) {
        self.by_name.insert(profile.name.clone(), profile);
    }

    pub fn names(&self) -> Vec<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }

    /// Every profile, by name.
    pub fn all(&self) -> impl Iterator<Item = &AgentProfile> {
        self.by_name.values()
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

/// The heartbeat command the hooks run: never fails, so it cannot block a tool call.
pub const HEARTBEAT_HOOK: &str = "maestro session heartbeat -q >/dev/null 2>&1 || true";

/// Claude Code `--settings` JSON: the allowed commands as permission rules, and with
/// `heartbeat: agent` a heartbeat hook before and after every tool use.
pub fn claude_settings(profile: &AgentProfile) -> Value {
    let allow: Vec<String> = match profile.allowed_commands.prefixes() {
        None => vec!["Bash".into()],
        Some(list) => list.iter().map(|p| format!("Bash({p}:*)")).collect(),
    };
    let mut settings = json!({ "permissions": { "allow": allow } });
    if profile.heartbeat == Heartbeat::Agent {
        let hook = json!([{ "matcher": "*", "hooks": [{ "type": "command", "command": HEARTBEAT_HOOK }] }]);
        settings["hooks"] = json!({ "PreToolUse": hook, "PostToolUse": hook });
    }
    settings
}

/// Gemini CLI settings (loaded as system defaults): with `heartbeat: agent` a heartbeat hook
/// before and after every tool call.
pub fn gemini_settings(profile: &AgentProfile) -> Value {
    if profile.heartbeat != Heartbeat::Agent {
        return json!({});
    }
    let hook =
        json!([{ "matcher": "*", "hooks": [{ "type": "command", "command": HEARTBEAT_HOOK }] }]);
    json!({ "hooks": { "BeforeTool": hook, "AfterTool": hook } })
}

/// A Gemini CLI policy (TOML) allowing the shell commands of the profile.
pub fn gemini_policy(profile: &AgentProfile) -> String {
    let mut out =
        String::from("# Written by the Maestro host: the commands this worker may run.\n");
    match profile.allowed_commands.prefixes() {
        None => out.push_str(
            "\n[[rule]]\ntoolName = \"run_shell_command\"\ndecision = \"allow\"\npriority = 500\n",
        ),
        Some(list) => {
            let quoted: Vec<String> = list.iter().map(|p| toml_string(p)).collect();
            out.push_str(&format!(
                "\n[[rule]]\ntoolName = \"run_shell_command\"\ncommandPrefix = [{}]\ndecision = \"allow\"\npriority = 500\n",
                quoted.join(", ")
            ));
        }
    }
    out
}

fn toml_string(s: &str) -> String {
    // A JSON string is a valid TOML basic string.
    Value::String(s.to_string()).to_string()
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
    /// The prompt written to `prompt_file`: the session's, plus the commands the profile
    /// allows.
    pub prompt: String,
    pub log_file: PathBuf,
    /// Files to write before the start (settings, policy), with their contents.
    pub files: Vec<(PathBuf, String)>,
    pub heartbeat: Heartbeat,
    /// The parser for the agent's output.
    pub output: OutputKind,
}

/// Values of the placeholders for one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    pub prompt: String,
    pub prompt_file: String,
    pub session_id: String,
    pub task_id: String,
    pub skill: String,
    pub settings: String,
    pub settings_file: String,
    pub policy_file: String,
    pub store_dir: String,
    pub agent_session_id: String,
    /// What an argument that is exactly `{store_args}` becomes (itself expanded).
    pub store_args: Vec<String>,
}

/// Replaces the placeholders in every argument of `template` (also inside a longer
/// argument, e.g. `--file={prompt_file}`); an argument that is exactly `{store_args}` is
/// replaced by those arguments. Other braces are left as they are.
pub fn expand(template: &[String], v: &Placeholders) -> Vec<String> {
    let mut out = Vec::with_capacity(template.len());
    for arg in template {
        if arg == "{store_args}" {
            out.extend(v.store_args.iter().map(|a| expand_one(a, v)));
        } else {
            out.push(expand_one(arg, v));
        }
    }
    out
}

/// One argument, in one pass, so a value that itself contains "{skill}" is not expanded again.
fn expand_one(arg: &str, v: &Placeholders) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    'scan: while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        for (name, value) in [
            ("{prompt}", &v.prompt),
            ("{prompt_file}", &v.prompt_file),
            ("{session_id}", &v.session_id),
            ("{task_id}", &v.task_id),
            ("{skill}", &v.skill),
            ("{settings}", &v.settings),
            ("{settings_file}", &v.settings_file),
            ("{policy_file}", &v.policy_file),
            ("{store_dir}", &v.store_dir),
            ("{agent_session_id}", &v.agent_session_id),
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

/// The directory of a local store's database (where SQLite also writes its journal).
pub fn store_dir(store: &StoreContext) -> Option<PathBuf> {
    match store {
        StoreContext::Local { db } => Some(
            db.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
        ),
        StoreContext::Remote { .. } => None,
    }
}

/// Everything a launch is planned from.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub session: &'a Session,
    pub profile: &'a AgentProfile,
    pub prompt: &'a str,
    pub dirs: &'a HostDirs,
    pub store: &'a StoreContext,
    /// Put first on the agent's PATH (the folder of the running `maestro`).
    pub path_prefix: Option<&'a Path>,
    pub inherited_path: Option<&'a str>,
    /// Continue this agent conversation (the agent's own session id) with the profile's
    /// `resume` template.
    pub resume: Option<&'a str>,
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
    let input = PlanInput {
        session,
        profile,
        prompt,
        dirs,
        store,
        path_prefix,
        inherited_path,
        resume: None,
    };
    build(&input, &profile.command)
}

/// Plans a launch; fails only when a resume is asked of a profile that cannot resume.
pub fn plan_launch(input: &PlanInput<'_>) -> Result<LaunchPlan> {
    let profile = input.profile;
    let template = match input.resume {
        None => &profile.command,
        Some(_) => profile.resume.as_ref().ok_or_else(|| {
            Error::invalid_argument(format!(
                "Agent profile '{}' cannot resume a conversation",
                profile.name
            ))
            .with_details(json!({ "profile": profile.name }))
            .with_suggestion(format!(
                "Spawn without --resume, or give the profile a resume template: maestro config set agents.{}.resume '[\"...\", \"{{agent_session_id}}\"]'",
                profile.name
            ))
        })?,
    };
    Ok(build(input, template))
}

fn build(input: &PlanInput<'_>, template: &[String]) -> LaunchPlan {
    let (session, profile, dirs, store) = (input.session, input.profile, input.dirs, input.store);
    let skill = session_skill(session);
    let prompt_file = dirs.prompt_file(&session.id);
    let settings_file = dirs.launch_file(&session.id, "settings.json");
    let policy_file = dirs.launch_file(&session.id, "policy.toml");
    let uses = |needle: &str| {
        template.iter().any(|a| a.contains(needle))
            || profile.env.values().any(|a| a.contains(needle))
    };
    let settings = match profile.output {
        OutputKind::Gemini => gemini_settings(profile),
        _ => claude_settings(profile),
    }
    .to_string();
    let mut files = Vec::new();
    if uses("{settings_file}") {
        files.push((settings_file.clone(), settings.clone()));
    }
    if uses("{policy_file}") {
        files.push((policy_file.clone(), gemini_policy(profile)));
    }
    // A known agent CLI enforces the allowed commands (Codex through its sandbox): say which.
    let prompt = match profile.output {
        OutputKind::None => input.prompt.to_string(),
        kind => format!(
            "{}{}",
            input.prompt,
            crate::prompt::commands_section(
                profile.allowed_commands.prefixes().as_deref(),
                kind == OutputKind::Codex,
            )
        ),
    };
    let vars = Placeholders {
        prompt: prompt.clone(),
        prompt_file: prompt_file.display().to_string(),
        session_id: session.id.clone(),
        task_id: session.task_ids.first().cloned().unwrap_or_default(),
        skill: skill.clone(),
        settings,
        settings_file: settings_file.display().to_string(),
        policy_file: policy_file.display().to_string(),
        store_dir: store_dir(store)
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        agent_session_id: input.resume.unwrap_or_default().to_string(),
        store_args: match store {
            StoreContext::Local { .. } => profile.store_args.local.clone(),
            StoreContext::Remote { .. } => profile.store_args.remote.clone(),
        },
    };
    let mut env: Vec<(String, String)> = profile
        .env
        .iter()
        .map(|(k, v)| (k.clone(), expand_one(v, &vars)))
        .collect();
    env.extend(agent_env(session, &skill, store));
    if let Some(dir) = input.path_prefix {
        let path = match input.inherited_path.filter(|p| !p.is_empty()) {
            Some(p) => format!("{}:{p}", dir.display()),
            None => dir.display().to_string(),
        };
        env.push(("PATH".into(), path));
    }
    LaunchPlan {
        session_id: session.id.clone(),
        profile: profile.name.clone(),
        argv: expand(template, &vars),
        env,
        cwd: session.cwd.as_ref().map(PathBuf::from),
        prompt_file,
        prompt,
        log_file: dirs.log_file(&session.id),
        files,
        heartbeat: profile.heartbeat,
        output: profile.output,
    }
}

/// A profile as a host with `store` runs it, for display: the argv and env with the
/// store's arguments and the profile's settings filled in, the per-session placeholders
/// (`{prompt}`, `{session_id}` …) left as they are, and the files a launch writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    pub argv: Vec<String>,
    pub resume_argv: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    /// File placeholder → the contents written there at launch.
    pub files: BTreeMap<String, String>,
}

pub fn profile_view(profile: &AgentProfile, store: &StoreContext) -> ProfileView {
    let settings = match profile.output {
        OutputKind::Gemini => gemini_settings(profile),
        _ => claude_settings(profile),
    }
    .to_string();
    let vars = Placeholders {
        prompt: "{prompt}".into(),
        prompt_file: "{prompt_file}".into(),
        session_id: "{session_id}".into(),
        task_id: "{task_id}".into(),
        skill: "{skill}".into(),
        settings: settings.clone(),
        settings_file: "{settings_file}".into(),
        policy_file: "{policy_file}".into(),
        store_dir: store_dir(store)
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        agent_session_id: "{agent_session_id}".into(),
        store_args: match store {
            StoreContext::Local { .. } => profile.store_args.local.clone(),
            StoreContext::Remote { .. } => profile.store_args.remote.clone(),
        },
    };
    let uses = |needle: &str| {
        profile
            .command
            .iter()
            .chain(profile.resume.iter().flatten())
            .chain(profile.env.values())
            .any(|a| a.contains(needle))
    };
    let mut files = BTreeMap::new();
    if uses("{settings_file}") {
        files.insert("{settings_file}".to_string(), settings);
    }
    if uses("{policy_file}") {
        files.insert("{policy_file}".to_string(), gemini_policy(profile));
    }
    ProfileView {
        argv: expand(&profile.command, &vars),
        resume_argv: profile.resume.as_ref().map(|r| expand(r, &vars)),
        env: profile
            .env
            .iter()
            .map(|(k, v)| (k.clone(), expand_one(v, &vars)))
            .collect(),
        files,
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
    /// Another file a launch needs beside the prompt (`<session>.<name>`, e.g. the agent's
    /// settings).
    pub fn launch_file(&self, session_id: &str, name: &str) -> PathBuf {
        self.home
            .join("prompts")
            .join(format!("{session_id}.{name}"))
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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExitOutcome {
    pub exit_code: i64,
    pub success: bool,
    pub reason: Option<String>,
    /// Why the host stopped it (its budget), when it did.
    pub stopped: Option<String>,
    /// What its structured output said of the run.
    pub record: Option<Box<crate::agent::RunRecord>>,
}

/// Maps an exit code or a terminating signal to the session's outcome.
pub fn exit_outcome(code: Option<i32>, signal: Option<i32>) -> ExitOutcome {
    match (code, signal) {
        (Some(0), _) => ExitOutcome {
            exit_code: 0,
            success: true,
            reason: None,
            ..Default::default()
        },
        (Some(c), _) => ExitOutcome {
            exit_code: i64::from(c),
            success: false,
            reason: Some(format!("exited with code {c}")),
            ..Default::default()
        },
        (None, Some(s)) => ExitOutcome {
            exit_code: 128 + i64::from(s),
            success: false,
            reason: Some(format!("killed by signal {s}")),
            ..Default::default()
        },
        (None, None) => ExitOutcome {
            exit_code: -1,
            success: false,
            reason: Some("ended without an exit code".into()),
            ..Default::default()
        },
    }
}

/// A spawn request's `cwd` that is not an existing directory.
pub(crate) fn no_such_cwd(cwd: &str) -> Error {
    Error::invalid_argument(format!("The working directory {cwd} does not exist"))
        .with_details(json!({ "field": "cwd", "value": cwd }))
        .with_suggestion("Pass --cwd with an existing directory")
}

/// The folders a host lets agents work in, as its operator configured them (config
/// `spawnRoots`, `MAESTRO_SPAWN_ROOTS`; default: the project's directory). A spawn request
/// naming a `cwd` elsewhere is refused (see [`crate::rules::spawn::check_cwd`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnRoots {
    dirs: Vec<PathBuf>,
}

impl SpawnRoots {
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        Self { dirs }
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The resolved `cwd` (symlinks and `..` followed) when it is an existing directory
    /// under one of the roots. Roots that do not exist hold nothing.
    pub fn resolve(&self, cwd: &str) -> Result<PathBuf> {
        let resolved = Path::new(cwd)
            .canonicalize()
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| no_such_cwd(cwd))?;
        let roots: Vec<PathBuf> = self
            .dirs
            .iter()
            .filter_map(|d| d.canonicalize().ok())
            .collect();
        crate::rules::spawn::check_cwd(&resolved, cwd, &roots)?;
        Ok(resolved)
    }
}

/// Whether `session_host` (a session's `host`: `<hostname>:<pid>`, see
/// [`super::default_host_name`]) names another host process on this machine than
/// `this_host` that no longer runs (`alive` says which pids do): its agents run unwatched.
/// Hosts on other machines, and names of another form, are never judged here.
pub fn host_is_gone(session_host: &str, this_host: &str, alive: impl Fn(i64) -> bool) -> bool {
    let (Some((machine, pid)), Some((this_machine, this_pid))) =
        (session_host.rsplit_once(':'), this_host.rsplit_once(':'))
    else {
        return false;
    };
    match pid.parse::<i64>() {
        Ok(pid) if pid > 0 => machine == this_machine && pid.to_string() != this_pid && !alive(pid),
        _ => false,
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
            agent_session_id: None,
            usage: None,
            result: None,
            budget: None,
            resume_of: None,
            no_worktree: false,
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
            ..Default::default()
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
            let e = expand(&[p.to_string()], &v);
            assert!(e.first().is_none_or(|a| !a.contains(p)), "{p}");
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
            env: [("STEP".to_string(), "1".to_string())].into(),
            ..AgentProfile::process(
                "scripted",
                vec!["bash".into(), "w.sh".into(), "{task_id}".into()],
            )
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
        assert_eq!(p.prompt, "PROMPT", "a plain script is told nothing more");
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
            prompt: "P".into(),
            log_file: "/h/logs/s-1.log".into(),
            files: vec![],
            heartbeat: Heartbeat::Process,
            output: OutputKind::None,
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
    fn builtin_profiles_run_unattended_in_both_store_modes() {
        let dirs = HostDirs { home: "/h".into() };
        let local = StoreContext::Local {
            db: "/d/store/m.db".into(),
        };
        let remote = StoreContext::Remote {
            url: "http://127.0.0.1:3000".into(),
            token: Some("tok".into()),
        };
        let p = Profiles::default();
        let s = session();
        let input = |profile, store, resume| PlanInput {
            session: &s,
            profile,
            prompt: "PROMPT",
            dirs: &dirs,
            store,
            path_prefix: None,
            inherited_path: None,
            resume,
        };

        // Claude: print mode, stream-json, edits accepted, maestro allowed, heartbeat hooks.
        let claude = p.get("claude").unwrap();
        let plan = plan_launch(&input(claude, &local, None)).unwrap();
        assert_eq!(&plan.argv[..2], ["claude", "-p"]);
        assert_eq!(plan.argv[2], plan.prompt);
        assert!(plan.prompt.starts_with("PROMPT\n## Commands you may run\n"));
        assert!(plan.prompt.contains("`maestro …` and nothing else"));
        for flag in ["stream-json", "--verbose", "acceptEdits"] {
            assert!(plan.argv.iter().any(|a| a == flag), "{flag}");
        }
        let settings: Value = serde_json::from_str(plan.argv.last().unwrap()).unwrap();
        assert_eq!(settings["permissions"]["allow"], json!(["Bash(maestro:*)"]));
        assert_eq!(
            settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"],
            HEARTBEAT_HOOK
        );
        assert_eq!(
            (plan.heartbeat, plan.output),
            (Heartbeat::Agent, OutputKind::Claude)
        );
        assert!(plan.files.is_empty());
        let resumed = plan_launch(&input(claude, &local, Some("uuid-1"))).unwrap();
        assert_eq!(&resumed.argv[3..5], ["--resume", "uuid-1"]);

        // Codex: workspace-write sandbox; the store's directory writable, or the network on.
        let codex = p.get("codex").unwrap();
        let plan = plan_launch(&input(codex, &local, None)).unwrap();
        assert_eq!(&plan.argv[..3], ["codex", "exec", "--json"]);
        assert!(
            plan.argv
                .windows(2)
                .any(|w| w == ["--sandbox", "workspace-write"])
        );
        assert!(
            plan.argv
                .contains(&"sandbox_workspace_write.writable_roots=['/d/store']".to_string())
        );
        assert_eq!(plan.argv.last().unwrap(), &plan.prompt);
        assert!(plan.prompt.contains("sandbox"));
        let plan = plan_launch(&input(codex, &remote, None)).unwrap();
        assert!(
            plan.argv
                .contains(&"sandbox_workspace_write.network_access=true".to_string())
        );
        assert!(!plan.argv.iter().any(|a| a.contains("writable_roots")));
        let resumed = plan_launch(&input(codex, &local, Some("th-1"))).unwrap();
        assert_eq!(&resumed.argv[..4], ["codex", "exec", "resume", "th-1"]);

        // Gemini: auto_edit plus a policy allowing maestro; hooks in a settings file.
        let gemini = p.get("gemini").unwrap();
        let plan = plan_launch(&input(gemini, &local, None)).unwrap();
        assert!(
            plan.argv
                .windows(2)
                .any(|w| w == ["--approval-mode", "auto_edit"])
        );
        assert!(plan.argv.contains(&"--skip-trust".to_string()));
        let policy = PathBuf::from("/h/prompts/s-abc123.policy.toml");
        let settings = PathBuf::from("/h/prompts/s-abc123.settings.json");
        assert!(plan.argv.contains(&policy.display().to_string()));
        let files: BTreeMap<_, _> = plan.files.iter().cloned().collect();
        assert!(files[&policy].contains("commandPrefix = [\"maestro\"]"));
        assert!(files[&settings].contains("BeforeTool"));
        let env: BTreeMap<_, _> = plan.env.iter().cloned().collect();
        assert_eq!(
            env["GEMINI_CLI_SYSTEM_DEFAULTS_PATH"],
            settings.display().to_string()
        );
        let resumed = plan_launch(&input(gemini, &local, Some("uuid-2"))).unwrap();
        assert_eq!(&resumed.argv[3..5], ["--resume", "uuid-2"]);
        let script = AgentProfile::process("script", vec!["sh".into()]);
        let e = plan_launch(&input(&script, &local, Some("x"))).unwrap_err();
        assert_eq!(e.code(), crate::Code::InvalidArgument);
    }

    #[test]
    fn allowed_commands_become_each_clis_rules() {
        let cfg = json!({
            "claude": {"allowedCommands": ["git", "cargo  test", "maestro"]},
            "gemini": {"allowedCommands": "everything", "heartbeat": "process"},
            "script": {"command": ["sh", "w.sh"], "output": "codex", "heartbeat": "agent"},
        });
        let p = Profiles::from_config(Some(&cfg)).unwrap();
        let claude = p.get("claude").unwrap();
        // Only the given field changed.
        assert_eq!(
            claude.command,
            Profiles::default().get("claude").unwrap().command
        );
        assert_eq!(
            claude_settings(claude)["permissions"]["allow"],
            json!(["Bash(maestro:*)", "Bash(git:*)", "Bash(cargo test:*)"])
        );
        let gemini = p.get("gemini").unwrap();
        assert_eq!(gemini.allowed_commands, AllowedCommands::Everything);
        assert!(!gemini_policy(gemini).contains("commandPrefix"));
        assert_eq!(gemini_settings(gemini), json!({}));
        let script = p.get("script").unwrap();
        assert_eq!(
            (script.heartbeat, script.output),
            (Heartbeat::Agent, OutputKind::Codex)
        );
        assert_eq!(script.allowed_commands, AllowedCommands::default());
        assert_eq!(
            serde_json::to_value(&script.allowed_commands).unwrap(),
            json!(["maestro"])
        );
        for bad in [
            json!({"x": {"command": ["a"], "allowedCommands": "some"}}),
            json!({"x": {"command": ["a"], "allowedCommands": [""]}}),
            json!({"x": {"command": ["a"], "heartbeat": "sometimes"}}),
            json!({"x": {"command": ["a"], "colour": "red"}}),
        ] {
            assert!(Profiles::from_config(Some(&bad)).is_err(), "{bad}");
        }
        let view = profile_view(
            Profiles::default().get("codex").unwrap(),
            &StoreContext::Local { db: "m.db".into() },
        );
        assert!(
            view.argv
                .contains(&"sandbox_workspace_write.writable_roots=['.']".to_string())
        );
        assert_eq!(view.argv.last().unwrap(), "{prompt}");
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

    #[test]
    fn spawn_roots_resolve_links_and_dot_dots_before_checking() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("project");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(d.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(d.path().join("elsewhere"), root.join("link")).unwrap();
        let roots = SpawnRoots::new(vec![root.clone(), d.path().join("missing")]);
        let inside = root.join("src").display().to_string();
        assert_eq!(
            roots.resolve(&inside).unwrap(),
            root.canonicalize().unwrap().join("src")
        );
        for escape in [root.join("src/../.."), root.join("link")] {
            let e = roots.resolve(&escape.display().to_string()).unwrap_err();
            assert!(e.message().contains("outside"), "{}", e.message());
        }
        let e = roots
            .resolve(&root.join("nope").display().to_string())
            .unwrap_err();
        assert!(e.message().contains("does not exist"), "{}", e.message());
        assert!(roots.resolve("/etc").is_err());
    }

    #[test]
    fn a_host_is_gone_when_it_ran_here_under_another_pid_that_no_longer_runs() {
        let dead = |_: i64| false;
        assert!(host_is_gone("box:41", "box:77", dead));
        // Still running, this very host, another machine, or a name of another form.
        assert!(!host_is_gone("box:41", "box:77", |pid| pid == 41));
        assert!(!host_is_gone("box:77", "box:77", dead));
        assert!(!host_is_gone("other:41", "box:77", dead));
        for odd in ["box", "box:", "box:x", "box:0", "box:-3", ""] {
            assert!(!host_is_gone(odd, "box:77", dead), "{odd}");
        }
        assert!(!host_is_gone("box:41", "box", dead));
    }
}
