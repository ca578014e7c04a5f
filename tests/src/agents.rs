//! The real coding-agent CLIs (installed by `scripts/install-agent-clis`) pointed at a
//! [`ModelEndpoint`]: the environment and the user-level config files that make each one talk
//! to the endpoint only.

use crate::Sandbox;
use crate::endpoint::ModelEndpoint;
use std::path::{Path, PathBuf};

/// One of the three CLIs the built-in profiles run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentCli {
    Claude,
    Codex,
    Gemini,
}

impl AgentCli {
    /// The built-in profile's name (and the program's).
    pub fn name(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Codex => "codex",
            Self::Gemini => "gemini",
        }
    }
}

/// The workspace's `target/` directory.
pub fn target_dir() -> PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("target")
}

/// `target/agent-clis/node_modules/.bin`, where `scripts/install-agent-clis` puts the CLIs;
/// fails with what to run when one is missing.
pub fn agent_bin_dir() -> PathBuf {
    let dir = std::env::var_os("AGENT_CLIS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("agent-clis"))
        .join("node_modules/.bin");
    for cli in ["claude", "codex", "gemini"] {
        assert!(
            dir.join(cli).exists(),
            "the agent CLI '{cli}' is not installed in {}: run scripts/install-agent-clis (./scripts/test does)",
            dir.display()
        );
    }
    dir
}

/// A sandbox outside /tmp (under `target/agent-e2e/`): Codex's sandbox lets commands write
/// to the temporary directory, so only a tree elsewhere shows what it refuses.
///
/// The sandbox is a git repository of its own (one commit), so the worktrees its hosts make
/// for tasks belong to it, never to the repository the tests run in.
pub fn sandbox_outside_tmp(bin: &str) -> Sandbox {
    let base = target_dir().join("agent-e2e");
    std::fs::create_dir_all(&base).expect("create target/agent-e2e");
    let sb = Sandbox::with_bin_in(bin, &base);
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=Maestro tests",
                "-c",
                "user.email=tests@maestro.invalid",
            ])
            .args(args)
            .current_dir(sb.path())
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(
        sb.path().join(".gitignore"),
        "home/\nmaestro-home/\nwork/.maestro/\n*.db*\n",
    )
    .unwrap();
    git(&["add", ".gitignore"]);
    git(&["commit", "-q", "-m", "sandbox"]);
    sb
}

/// Sets up `sb` so that `cli`, started with its built-in profile by a host running in `sb`,
/// talks to `endpoint` and nothing else: base URL and key, a user config in the sandbox's
/// HOME that turns off telemetry, update checks and remote features, and proxy variables
/// that send any other request to the endpoint (recorded there as escaped).
pub fn configure(cli: AgentCli, sb: &mut Sandbox, endpoint: &ModelEndpoint) {
    let home = sb.path().join("home");
    let url = endpoint.url.clone();
    let path = format!(
        "{}:{}",
        agent_bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    sb.set_env("PATH", &path);
    for k in [
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
    ] {
        sb.set_env(k, &url);
    }
    for k in ["NO_PROXY", "no_proxy"] {
        sb.set_env(k, "127.0.0.1,localhost");
    }
    match cli {
        AgentCli::Claude => {
            sb.set_env("ANTHROPIC_BASE_URL", &url);
            sb.set_env("ANTHROPIC_API_KEY", "sk-ant-test");
            for k in [
                "DISABLE_TELEMETRY",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
                "DISABLE_AUTOUPDATER",
                "DISABLE_ERROR_REPORTING",
            ] {
                sb.set_env(k, "1");
            }
        }
        AgentCli::Codex => {
            sb.set_env("OPENAI_API_KEY", "sk-test");
            // Under `cargo llvm-cov`, the `maestro` commands Codex runs in its sandbox may not
            // write their profiles beside the report (a read-only file system to them, and an
            // error line in their output): they write them to the temporary folder instead.
            if std::env::var_os("LLVM_PROFILE_FILE").is_some() {
                sb.set_env("LLVM_PROFILE_FILE", "%t/maestro-codex-%p.profraw");
            }
            let dir = home.join(".codex");
            std::fs::create_dir_all(&dir).unwrap();
            // A model Codex knows (its bundled catalog), so it offers its shell and patch
            // tools; the provider is the endpoint; no analytics, plugins, apps or updates.
            let config = format!(
                r#"model = "gpt-5.5"
model_provider = "scripted"
check_for_update_on_startup = false

[analytics]
enabled = false

[features]
plugins = false
remote_plugin = false
apps = false
api_key_model_discovery = false
in_app_updates = false
tool_suggest = false
skill_mcp_dependency_install = false
image_generation = false

[model_providers.scripted]
name = "scripted"
base_url = "{url}/v1"
wire_api = "responses"
env_key = "OPENAI_API_KEY"
request_max_retries = 0
stream_max_retries = 0
"#
            );
            std::fs::write(dir.join("config.toml"), config).unwrap();
        }
        AgentCli::Gemini => {
            sb.set_env("GEMINI_API_KEY", "test-key");
            sb.set_env("GOOGLE_GEMINI_BASE_URL", &url);
            let dir = home.join(".gemini");
            std::fs::create_dir_all(&dir).unwrap();
            let settings = serde_json::json!({
                "security": {"auth": {"selectedType": "gemini-api-key"}},
                "privacy": {"usageStatisticsEnabled": false},
                "telemetry": {"enabled": false},
                "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
                "model": {"name": "gemini-2.5-pro"},
            });
            std::fs::write(dir.join("settings.json"), settings.to_string()).unwrap();
        }
    }
}
