//! The real coding-agent CLIs as workers: `maestro host` launches Claude Code, Codex and
//! Gemini CLI with their built-in profiles against a scripted model endpoint on loopback.
//! The conversation starts the task, writes a file with the agent's own file tool, reports
//! progress and completes the task; no tool call may be refused and nothing may leave the
//! machine. The CLIs come from `scripts/install-agent-clis` (run by `./scripts/test`).

use maestro_tests::agents::{AgentCli, configure, sandbox_outside_tmp, target_dir};
use maestro_tests::endpoint::{ModelEndpoint, Script, Turn, Usage};
use maestro_tests::{Sandbox, Server, id, sandbox, wait};

/// The `maestro` binary cargo built for these tests.
const BIN: &str = env!("CARGO_BIN_EXE_maestro");
use serde_json::Value;
use std::time::{Duration, Instant};

const NOTES: &str = "# Notes\n\nWritten by the agent with its own file tool.\n";

/// The conversation every CLI plays.
fn lifecycle() -> Script {
    Script::new(vec![
        Turn::shell("maestro task start {task} --json")
            .say("I will start the task.")
            .usage(1200, 40, 800),
        Turn::write("NOTES.md", NOTES).usage(1500, 60, 1000),
        Turn::shell("maestro update 'NOTES.md written, completing next' --task {task}")
            .usage(1700, 30, 1200),
        Turn::shell("maestro task complete {task} --json").usage(1800, 25, 1400),
        Turn::finish("The notes are written and the task is complete.").usage(1900, 20, 1500),
    ])
}

fn until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Runs `cli` as a worker launched by `maestro host` with its built-in profile, and checks
/// the whole lifecycle went through without a refusal.
fn run_worker(cli: AgentCli, sb: Sandbox) {
    run_worker_on(cli, sb, false);
}

/// [`run_worker`], with the store behind a `maestro serve` that requires a token when
/// `remote`.
fn run_worker_on(cli: AgentCli, mut sb: Sandbox, remote: bool) {
    let endpoint = ModelEndpoint::start(lifecycle());
    let home = sb.path().join("maestro-home");
    sb.set_env("MAESTRO_HOME", &home.display().to_string());
    // The worker's tree is not the project directory, so the store is outside it; the host
    // (and the server, which checks requests) allow it as a spawn root.
    let tree = sb.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let tree_arg = tree.display().to_string();
    sb.set_env("MAESTRO_SPAWN_ROOTS", &tree_arg);
    let _server = if remote {
        sb.set_env("MAESTRO_TOKEN", "s3cret-token");
        let server = Server::start(&sb, &sb.path().join("server.db"), "127.0.0.1:0", &[]);
        sb.set_env("MAESTRO_API_URL", &server.url);
        sb.fails_with(
            &[("MAESTRO_TOKEN", "wrong")],
            &["status"],
            "unauthorized",
            1,
        );
        sb.ok(&["project", "create", "remote", "--default"]);
        Some(server)
    } else {
        sb.init();
        None
    };
    configure(cli, &mut sb, &endpoint);
    let t = sb.task(
        "Write the notes",
        &["--desc", "Write NOTES.md, then complete."],
    );
    let host = sb.spawn(&["host", "--agent", cli.name(), "--json"], &[]);
    let s = id(&sb.ok(&["session", "spawn", "--task", &t, "--cwd", &tree_arg]));
    let ended = until(Duration::from_secs(180), || {
        let st = sb.ok(&["session", "get", &s]);
        st["exitCode"].is_i64()
    });
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &host.id().to_string()])
        .status();
    let run = wait(host);
    let log = std::fs::read_to_string(home.join(format!("logs/{s}.log"))).unwrap_or_default();
    // Kept after the sandbox is gone, to read after a failure.
    let _ = std::fs::write(
        target_dir().join(format!("agent-e2e/{}-last.log", cli.name())),
        &log,
    );
    let context = format!(
        "host:\n{}\n{}\nagent log:\n{log}\nendpoint:\n{}",
        run.stdout,
        run.stderr,
        endpoint.transcript()
    );
    assert!(ended, "the {} worker did not end\n{context}", cli.name());

    let session = sb.ok(&["session", "get", &s]);
    assert_eq!(session["exitCode"], 0, "{session}\n{context}");
    assert_eq!(session["status"], "completed", "{session}\n{context}");
    let task = sb.ok(&["task", "get", &t]);
    assert_eq!(task["status"], "completed", "{task}\n{context}");
    let timeline = task["timeline"].as_array().unwrap();
    let progress: Vec<&Value> = timeline
        .iter()
        .filter(|e| e["type"] == "progress")
        .collect();
    assert_eq!(progress.len(), 1, "{task}");
    assert_eq!(progress[0]["message"], "NOTES.md written, completing next");
    assert_eq!(progress[0]["actorSessionId"], s.as_str());
    // The agent worked in the task's own worktree (the sandbox is a repository), and the
    // host committed what it left there on the task's branch.
    let worktree = task["worktree"]["path"]
        .as_str()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| panic!("the task records its worktree: {task}\n{context}"));
    assert_eq!(
        std::fs::read_to_string(worktree.join("NOTES.md")).unwrap_or_default(),
        NOTES,
        "{context}"
    );
    let branch = task["worktree"]["branch"].as_str().unwrap();
    let committed = std::process::Command::new("git")
        .args(["show", &format!("{branch}:NOTES.md")])
        .current_dir(&tree)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&committed.stdout),
        NOTES,
        "{context}"
    );

    // Every scripted turn was played, no tool call was refused, nothing else was asked for.
    let refusals = endpoint.refusals();
    assert!(refusals.is_empty(), "refused: {refusals:?}\n{context}");
    assert!(endpoint.escaped().is_empty(), "{context}");
    assert!(endpoint.problems().is_empty(), "{context}");
    let served: Vec<usize> = endpoint.served().iter().map(|(_, i, _)| *i).collect();
    for turn in 0..lifecycle().turns.len() {
        assert!(
            served.contains(&turn),
            "turn {turn} never played\n{context}"
        );
    }
    assert_eq!(endpoint.tool_results().len(), 4, "{context}");

    check_record(&sb, &s, &t, &endpoint, &context);
    let readable = sb.run(&["session", "logs", &s]).stdout;
    assert!(
        readable.contains("assistant:") || readable.contains("▶"),
        "{readable}"
    );
    assert!(readable.contains("── success"), "{readable}");
}

/// The host read the run from the agent's structured output into the session: its own
/// session id, the usage the endpoint reported, the final message; the task's timeline has
/// the run, and `status` totals it.
fn check_record(sb: &Sandbox, s: &str, t: &str, endpoint: &ModelEndpoint, context: &str) {
    let session = sb.ok(&["session", "get", s]);
    assert!(
        session["agentSessionId"].is_string(),
        "{session}\n{context}"
    );
    let mut served = Usage::default();
    for (_, _, u) in endpoint.served() {
        served += u;
    }
    let usage = &session["usage"];
    assert_eq!(usage["inputTokens"], served.input, "{session}");
    assert_eq!(usage["outputTokens"], served.output, "{session}");
    assert_eq!(usage["cachedInputTokens"], served.cached, "{session}");
    let result = &session["result"];
    assert!(result["error"].is_null(), "{session}");
    assert_eq!(
        result["message"],
        "The notes are written and the task is complete."
    );
    let task = sb.ok(&["task", "get", t]);
    let run = task["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "agent_result")
        .unwrap_or_else(|| panic!("an agent_result entry: {task}"));
    assert_eq!(run["outcome"], "success");
    assert_eq!(run["sessionId"], s);
    assert_eq!(run["usage"]["outputTokens"], served.output);
    let status = sb.ok(&["status"]);
    assert_eq!(status["usage"]["inputTokens"], served.input, "{status}");
    assert_eq!(status["usage"]["sessions"], 1, "{status}");
}

#[test]
fn claude_code_runs_a_task_to_completion_with_its_builtin_profile() {
    run_worker(AgentCli::Claude, sandbox_outside_tmp(BIN));
}

#[test]
fn codex_runs_a_task_to_completion_with_its_builtin_profile() {
    run_worker(AgentCli::Codex, sandbox_outside_tmp(BIN));
}

#[test]
fn gemini_cli_runs_a_task_to_completion_with_its_builtin_profile() {
    run_worker(AgentCli::Gemini, sandbox_outside_tmp(BIN));
}

/// In its sandbox Codex reaches a server that requires a token: the remote store's
/// arguments turn the sandbox's network on (without them every call fails to connect).
#[test]
fn codex_works_on_a_remote_store_from_its_sandbox() {
    run_worker_on(AgentCli::Codex, sandbox_outside_tmp(BIN), true);
}

/// Runs a CLI directly (no host) in the sandbox's directory, with the sandbox's `maestro`
/// on PATH: returns whether it succeeded and its stdout.
fn run_direct(sb: &Sandbox, argv: &[String], env: &[(&str, &str)]) -> (bool, String) {
    let maestro_dir = sb.bin().parent().unwrap().display().to_string();
    let path = format!("{maestro_dir}:{}", sb.env_var("PATH").unwrap_or_default());
    let mut envs = env.to_vec();
    envs.push(("PATH", &path));
    let mut c = sb.shell("cd \"$0\" && exec \"$@\"", &envs);
    c.arg(sb.path()).args(argv);
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let all = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    (
        out.status.success(),
        if out.status.success() { stdout } else { all },
    )
}

/// A built-in profile's argv (or resume argv) for a local store in `sb`, with `prompt`.
fn builtin_argv(sb: &Sandbox, cli: AgentCli, resume: Option<&str>, prompt: &str) -> Vec<String> {
    let profiles = maestro_core::host::plan::Profiles::default();
    profile_argv(sb, profiles.get(cli.name()).unwrap(), resume, prompt)
}

/// A profile's argv (or resume argv) for a local store in `sb`, with `prompt`.
fn profile_argv(
    sb: &Sandbox,
    profile: &maestro_core::host::plan::AgentProfile,
    resume: Option<&str>,
    prompt: &str,
) -> Vec<String> {
    use maestro_core::host::plan::{StoreContext, profile_view};
    let store = StoreContext::Local {
        db: sb.path().join("m.db"),
    };
    let view = profile_view(profile, &store);
    let argv = match resume {
        None => view.argv,
        Some(_) => view.resume_argv.expect("a resume template"),
    };
    argv.into_iter()
        .map(|a| {
            a.replace("{prompt}", prompt)
                .replace("{agent_session_id}", resume.unwrap_or_default())
        })
        .collect()
}

/// The hooks of the built-in settings run before and after every tool call (checked with a
/// command that leaves a trace instead of `maestro session heartbeat`).
#[test]
fn claude_and_gemini_run_the_heartbeat_hooks_on_every_tool_call() {
    use maestro_core::host::plan::{self, HEARTBEAT_HOOK, Profiles};
    let profiles = Profiles::default();
    for cli in [AgentCli::Claude, AgentCli::Gemini] {
        let endpoint = ModelEndpoint::start(Script::new(vec![
            Turn::shell("maestro --version"),
            Turn::finish("done"),
        ]));
        let mut sb = sandbox_outside_tmp(BIN);
        configure(cli, &mut sb, &endpoint);
        let trace = sb.path().join("hooks.log");
        let traced = |v: serde_json::Value| {
            v.to_string()
                .replace(HEARTBEAT_HOOK, &format!("echo hook >> {}", trace.display()))
        };
        let profile = profiles.get(cli.name()).unwrap();
        let mut argv = builtin_argv(&sb, cli, None, "go");
        let settings = sb.path().join("settings.json");
        let settings_env = settings.display().to_string();
        let env: Vec<(&str, &str)> = match cli {
            AgentCli::Claude => {
                let i = argv.iter().position(|x| x == "--settings").unwrap() + 1;
                argv[i] = traced(plan::claude_settings(profile));
                vec![]
            }
            _ => {
                std::fs::write(&settings, traced(plan::gemini_settings(profile))).unwrap();
                let policy = sb.path().join("policy.toml");
                std::fs::write(&policy, plan::gemini_policy(profile)).unwrap();
                for a in &mut argv {
                    *a = a.replace("{policy_file}", &policy.display().to_string());
                }
                vec![("GEMINI_CLI_SYSTEM_DEFAULTS_PATH", settings_env.as_str())]
            }
        };
        let (ok, out) = run_direct(&sb, &argv, &env);
        let context = format!("{out}\n{}", endpoint.transcript());
        assert!(ok, "{context}");
        let hooks = std::fs::read_to_string(&trace).unwrap_or_default();
        assert_eq!(
            hooks.lines().count(),
            2,
            "{cli:?}: before and after the call\n{context}"
        );
        assert!(endpoint.refusals().is_empty(), "{context}");
    }
}

/// The resume templates continue the agent's own conversation: the resumed run's first
/// request carries the first run's history and the new prompt.
#[test]
fn the_three_clis_resume_a_conversation_with_their_resume_templates() {
    for cli in [AgentCli::Claude, AgentCli::Codex, AgentCli::Gemini] {
        let endpoint = ModelEndpoint::start(Script::new(vec![
            Turn::shell("maestro --version").say("first-run-marker"),
            Turn::finish("Stopping here for now."),
            Turn::finish("Resumed and finished."),
        ]));
        let mut sb = sandbox_outside_tmp(BIN);
        configure(cli, &mut sb, &endpoint);
        let kind = maestro_core::host::plan::OutputKind::from_name(cli.name()).unwrap();
        let policy = sb.path().join("policy.toml");
        let profiles = maestro_core::host::plan::Profiles::default();
        let profile = profiles.get(cli.name()).unwrap();
        std::fs::write(&policy, maestro_core::host::plan::gemini_policy(profile)).unwrap();
        let first = builtin_argv(&sb, cli, None, "Your task is t-1");
        let with_policy = |argv: Vec<String>| -> Vec<String> {
            argv.into_iter()
                .map(|a| a.replace("{policy_file}", &policy.display().to_string()))
                .collect()
        };
        let (ok, out) = run_direct(&sb, &with_policy(first), &[]);
        assert!(ok, "{out}\n{}", endpoint.transcript());
        let first = maestro_core::agent::parse_log(kind, &out);
        let id = first
            .agent_session_id
            .clone()
            .expect("the agent's session id");
        let before = endpoint.requests().len();
        let argv = builtin_argv(&sb, cli, Some(&id), "Continue where you stopped");
        let (ok, out) = run_direct(&sb, &with_policy(argv), &[]);
        let context = format!("{out}\n{}", endpoint.transcript());
        assert!(ok, "{context}");
        let resumed = maestro_core::agent::parse_log(kind, &out);
        assert_eq!(
            resumed.agent_session_id.as_deref(),
            Some(id.as_str()),
            "{context}"
        );
        let request = endpoint.requests()[before..]
            .iter()
            .find(|r| r.main)
            .cloned()
            .expect("a request from the resumed run");
        let body = request.body.to_string();
        assert!(
            body.contains("first-run-marker"),
            "{cli:?}: history lost\n{context}"
        );
        assert!(body.contains("Continue where you stopped"), "{context}");
        assert_eq!(request.turn, Some(2), "{context}");
        assert_eq!(
            resumed.result.and_then(|r| r.message).as_deref(),
            Some("Resumed and finished."),
            "{context}"
        );
    }
}

/// A command outside the profile's list is refused by Claude Code and Gemini CLI; listed in
/// `allowedCommands`, it runs.
#[test]
fn allowed_commands_are_what_claude_and_gemini_may_run() {
    use maestro_core::host::plan::{Profiles, gemini_policy};
    for cli in [AgentCli::Claude, AgentCli::Gemini] {
        for allowed in [false, true] {
            let endpoint = ModelEndpoint::start(Script::new(vec![
                // Not a file-edit command (acceptEdits lets those run, e.g. touch, mkdir).
                Turn::shell("python3 -c \"open('made-by-shell.txt', 'w').close()\""),
                Turn::finish("done"),
            ]));
            let mut sb = sandbox_outside_tmp(BIN);
            configure(cli, &mut sb, &endpoint);
            let cfg = if allowed {
                serde_json::json!({ cli.name(): {"allowedCommands": ["python3"]} })
            } else {
                serde_json::json!({})
            };
            let profiles = Profiles::from_config(Some(&cfg)).unwrap();
            let profile = profiles.get(cli.name()).unwrap();
            let policy = sb.path().join("policy.toml");
            std::fs::write(&policy, gemini_policy(profile)).unwrap();
            let argv: Vec<String> = profile_argv(&sb, profile, None, "go")
                .into_iter()
                .map(|a| a.replace("{policy_file}", &policy.display().to_string()))
                .collect();
            let (_, out) = run_direct(&sb, &argv, &[]);
            let context = format!(
                "{cli:?} allowed={allowed}\n{out}\n{}",
                endpoint.transcript()
            );
            let made = sb.path().join("made-by-shell.txt").exists();
            assert_eq!(made, allowed, "{context}");
            assert_eq!(endpoint.tool_results().len(), 1, "{context}");
            assert_eq!(endpoint.refusals().is_empty(), allowed, "{context}");
        }
    }
}

#[test]
fn agent_list_and_show_print_the_effective_profiles() {
    let sb = sandbox!();
    sb.init();
    sb.ok(&[
        "config",
        "set",
        "agents.claude.allowedCommands",
        "[\"git\",\"cargo test\"]",
    ]);
    sb.ok(&[
        "config",
        "set",
        "agents.scripted.command",
        "[\"sh\",\"w.sh\"]",
    ]);
    let list = sb.ok(&["agent", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["claude", "codex", "gemini", "scripted"]);
    let claude = sb.ok(&["agent", "show", "claude"]);
    assert_eq!(claude["heartbeat"], "agent");
    assert_eq!(claude["output"], "claude");
    assert_eq!(
        claude["allowedCommands"],
        serde_json::json!(["maestro", "git", "cargo test"])
    );
    let argv = claude["launch"]["argv"].as_array().unwrap();
    assert_eq!(argv[0], "claude");
    assert_eq!(argv[2], "{prompt}");
    let settings: Value = serde_json::from_str(argv.last().unwrap().as_str().unwrap()).unwrap();
    assert_eq!(
        settings["permissions"]["allow"],
        serde_json::json!(["Bash(maestro:*)", "Bash(git:*)", "Bash(cargo test:*)"])
    );
    // Codex in local mode may write the store's directory.
    let codex = sb.ok(&["agent", "show", "codex"]);
    assert_eq!(codex["store"], "local");
    let db_dir = sb.cwd().join(".maestro").display().to_string();
    assert!(
        codex["launch"]["argv"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().contains(&db_dir)),
        "{codex}"
    );
    let gemini = sb.ok(&["agent", "show", "gemini"]);
    assert!(
        gemini["launch"]["files"]["{policy_file}"]
            .as_str()
            .unwrap()
            .contains("run_shell_command")
    );
    let scripted = sb.ok(&["agent", "show", "scripted"]);
    assert_eq!(scripted["heartbeat"], "process");
    assert_eq!(
        scripted["launch"]["argv"],
        serde_json::json!(["sh", "w.sh"])
    );
    sb.fails(&["agent", "show", "nope"], "invalid_argument", 2);
    let text = sb.run(&["agent", "show", "codex"]);
    assert!(text.stdout.contains("codex exec --json"), "{}", text.stdout);
}

/// Starts a host for `cli` in `sb` (already configured), spawns a worker for a new task
/// with `spawn_args`, and waits until the session reaches `status`; returns (task,
/// session, host output).
fn host_run(
    sb: &mut Sandbox,
    cli: &str,
    spawn_args: &[&str],
    status: &str,
) -> (String, String, String) {
    let t = sb.task("Spend a lot", &[]);
    let host = sb.spawn(&["host", "--agent", cli, "--json"], &[]);
    let mut args = vec!["session", "spawn", "--task", t.as_str()];
    args.extend_from_slice(spawn_args);
    let s = id(&sb.ok(&args));
    let reached = until(Duration::from_secs(90), || {
        sb.ok(&["session", "get", &s])["status"] == status
    });
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &host.id().to_string()])
        .status();
    let run = wait(host);
    let out = format!("{}\n{}", run.stdout, run.stderr);
    assert!(
        reached,
        "session {s} never {status}: {}\n{out}",
        sb.ok(&["session", "get", &s])
    );
    (t, s, out)
}

/// An agent past its budget is stopped by its host: the session ends `stopped` with
/// `budget_exceeded`, the task goes back to the queue with a timeline entry, and the usage
/// that broke the budget is on the session.
#[test]
fn a_run_past_its_budget_is_stopped_and_its_task_released() {
    let endpoint = ModelEndpoint::start(Script::new(vec![
        Turn::shell("maestro task start {task} --json").usage(1_000, 20, 0),
        Turn::shell("maestro update 'thinking hard' --task {task}").usage(400_000, 2_000, 0),
        // Never reached in time: the host stops the agent first.
        Turn::shell("maestro task complete {task} --json").after(Duration::from_secs(30)),
        Turn::finish("done"),
    ]));
    let mut sb = sandbox_outside_tmp(BIN);
    sb.set_env(
        "MAESTRO_HOME",
        &sb.path().join("maestro-home").display().to_string(),
    );
    sb.init();
    configure(AgentCli::Claude, &mut sb, &endpoint);
    let (t, s, out) = host_run(&mut sb, "claude", &["--max-tokens", "50000"], "stopped");
    let session = sb.ok(&["session", "get", &s]);
    let reason = session["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("budget_exceeded"), "{session}\n{out}");
    assert!(
        session["usage"]["inputTokens"].as_u64().unwrap() >= 400_000,
        "{session}"
    );
    let task = sb.ok(&["task", "get", &t]);
    assert_eq!(task["status"], "pending", "{task}");
    let released = task["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "released" && e["sessionId"] == s.as_str())
        .unwrap_or_else(|| panic!("a released entry: {task}"));
    assert!(
        released["reason"]
            .as_str()
            .unwrap()
            .contains("budget_exceeded"),
        "{released}"
    );
}

/// An agent that keeps its own lease (`heartbeat: agent`) and hangs loses it like any
/// silent worker, although its process lives on: the session is lost, the task released,
/// and the host stops the process.
#[test]
fn a_hung_agent_loses_its_lease_and_is_stopped() {
    let mut sb = sandbox!();
    sb.set_env(
        "MAESTRO_HOME",
        &sb.path().join("maestro-home").display().to_string(),
    );
    sb.set_env("MAESTRO_LEASE_SECONDS", "1");
    sb.init();
    let marker = sb.path().join("hung.pid");
    let profile = serde_json::json!({
        "command": ["sh", "-c", format!(
            "maestro task claim \"$MAESTRO_TASK_IDS\" -q >/dev/null; echo $$ > {}; sleep 120",
            marker.display()
        )],
        "heartbeat": "agent",
    });
    sb.ok(&["config", "set", "agents.hung", &profile.to_string()]);
    let (t, s, out) = host_run(&mut sb, "hung", &[], "lost");
    assert_eq!(sb.ok(&["task", "get", &t])["status"], "pending", "{out}");
    let pid = std::fs::read_to_string(&marker).unwrap_or_default();
    let pid = pid.trim();
    let gone = until(Duration::from_secs(15), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    assert!(gone, "the hung agent {pid} of {s} was stopped\n{out}");
}

/// `session spawn --resume` starts the new worker on the earlier agent's conversation: the
/// resumed run's first request carries the first run's history.
#[test]
fn a_spawn_can_resume_an_earlier_agents_conversation() {
    let endpoint = ModelEndpoint::start(Script::new(vec![
        Turn::shell("maestro task start {task} --json").say("first-run-marker"),
        Turn::finish("Stopping here for now."),
        // The first session ended, so the task went back to the queue: claim it again.
        Turn::shell("maestro task claim {task} --json"),
        Turn::shell("maestro task complete {task} --json"),
        Turn::finish("Resumed and finished."),
    ]));
    let mut sb = sandbox_outside_tmp(BIN);
    sb.set_env(
        "MAESTRO_HOME",
        &sb.path().join("maestro-home").display().to_string(),
    );
    sb.init();
    configure(AgentCli::Claude, &mut sb, &endpoint);
    let (t, first, out) = host_run(&mut sb, "claude", &[], "completed");
    assert_eq!(
        sb.ok(&["task", "get", &t])["status"],
        "pending",
        "released at its end\n{out}"
    );
    let agent_id = sb.ok(&["session", "get", &first])["agentSessionId"].clone();
    assert!(agent_id.is_string(), "{out}");
    let before = endpoint.requests().len();
    let host = sb.spawn(&["host", "--agent", "claude", "--json"], &[]);
    let second = id(&sb.ok(&["session", "spawn", "--task", &t, "--resume", &first]));
    let done = until(Duration::from_secs(90), || {
        sb.ok(&["task", "get", &t])["status"] == "completed"
    });
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &host.id().to_string()])
        .status();
    let run = wait(host);
    assert!(
        done,
        "{}\n{}\n{}",
        run.stdout,
        run.stderr,
        endpoint.transcript()
    );
    let resumed = &endpoint.requests()[before..];
    assert!(
        resumed
            .iter()
            .any(|r| r.body.to_string().contains("first-run-marker")),
        "the resumed run carries the first run's history"
    );
    assert_eq!(
        sb.ok(&["session", "get", &second])["resumeOf"],
        first.as_str()
    );
    // A session without an agent conversation cannot be resumed.
    let plain = id(&sb.ok(&["session", "register"]));
    sb.fails(
        &[
            "session", "spawn", "--task", &t, "--resume", &plain, "--force",
        ],
        "invalid_argument",
        2,
    );
}
