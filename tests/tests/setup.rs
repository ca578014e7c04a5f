//! `maestro setup`: golden files of what it merges into existing agent configs, running it
//! twice, `--dry-run`, `--force`, files that do not parse, and `--remove`.

use maestro_tests::{Sandbox, sandbox};
use serde_json::{Value, json};
use std::path::Path;

const HOOK: &str = "maestro session heartbeat -q >/dev/null 2>&1 || true";

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn json_file(p: &Path) -> Value {
    serde_json::from_str(&read(p)).unwrap()
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn hook() -> Value {
    json!({"matcher": "*", "hooks": [{"type": "command", "command": HOOK}]})
}

fn project() -> Sandbox {
    let sb = sandbox!();
    sb.init();
    sb
}

#[test]
fn claude_setup_keeps_the_users_entries_and_remove_restores_the_files() {
    let sb = project();
    let mcp = sb.cwd().join(".mcp.json");
    let settings = sb.cwd().join(".claude/settings.json");
    let mcp_before = "{\n  \"mcpServers\": {\n    \"db\": {\"command\": \"pg-mcp\", \"args\": [\"--ro\"]}\n  }\n}\n";
    let settings_before = r#"{"model": "opus", "permissions": {"allow": ["Bash(ls:*)"]},
        "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "audit"}]}]}}"#;
    write(&mcp, mcp_before);
    write(&settings, settings_before);

    let d = sb.ok(&["setup", "claude"]);
    assert_eq!(d["files"][0]["changed"], json!(["mcpServers.maestro"]));

    // Golden: the user's entries first and unchanged, Maestro's added.
    assert_eq!(
        json_file(&mcp),
        json!({"mcpServers": {
            "db": {"command": "pg-mcp", "args": ["--ro"]},
            "maestro": {"command": "maestro", "args": ["mcp"]}
        }})
    );
    let s = json_file(&settings);
    assert_eq!(
        s,
        json!({
            "model": "opus",
            "permissions": {"allow": ["Bash(ls:*)", "mcp__maestro"]},
            "hooks": {
                "PreToolUse": [
                    {"matcher": "Bash", "hooks": [{"type": "command", "command": "audit"}]},
                    hook()
                ],
                "PostToolUse": [hook()]
            },
            "enabledMcpjsonServers": ["maestro"]
        })
    );
    let keys: Vec<&String> = s.as_object().unwrap().keys().collect();
    assert_eq!(keys[0], "model", "the user's order is kept: {keys:?}");
    // The skills where Claude Code loads a project's skills.
    for skill in ["maestro-cli", "maestro-worker", "maestro-orchestrator"] {
        assert!(
            sb.cwd()
                .join(".claude/skills")
                .join(skill)
                .join("SKILL.md")
                .exists()
        );
    }

    // Twice: nothing changes.
    let (m1, s1) = (read(&mcp), read(&settings));
    let d = sb.ok(&["setup", "claude"]);
    assert!(
        d["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["changed"] == json!([])),
        "{d}"
    );
    assert_eq!((read(&mcp), read(&settings)), (m1, s1));

    // Remove: the user's files as they were (same JSON), the skills gone.
    let d = sb.ok(&["setup", "claude", "--remove"]);
    assert_eq!(d["removed"], true);
    assert_eq!(
        json_file(&mcp),
        serde_json::from_str::<Value>(mcp_before).unwrap()
    );
    assert_eq!(
        json_file(&settings),
        serde_json::from_str::<Value>(settings_before).unwrap()
    );
    assert!(!sb.cwd().join(".claude/skills/maestro-worker").exists());
    assert!(!sb.cwd().join(".maestro/setup.json").exists());
    // Nothing left to remove.
    let r = sb.run(&["setup", "claude", "--remove"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Nothing to remove"), "{}", r.stdout);
}

#[test]
fn files_setup_created_are_removed_and_an_entry_changed_since_is_kept() {
    let sb = project();
    sb.ok(&["setup", "claude"]);
    let mcp = sb.cwd().join(".mcp.json");
    let settings = sb.cwd().join(".claude/settings.json");
    assert!(mcp.exists() && settings.exists());
    // The user edits Maestro's server entry afterwards: remove leaves it.
    let mut v = json_file(&mcp);
    v["mcpServers"]["maestro"]["args"] = json!(["mcp", "--tools", "worker"]);
    write(&mcp, &v.to_string());
    let d = sb.ok(&["setup", "claude", "--remove"]);
    let kept = &d["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(".mcp.json"))
        .unwrap()["kept"];
    assert_eq!(kept[0]["entry"], "mcpServers.maestro", "{d}");
    assert_eq!(json_file(&mcp), v);
    // The settings file setup created is gone whole.
    assert!(!settings.exists());
}

#[test]
fn a_users_value_is_kept_unless_forced_and_restored_on_remove() {
    let sb = project();
    let mcp = sb.cwd().join(".mcp.json");
    let mine = json!({"mcpServers": {"maestro": {"command": "/opt/maestro/bin/maestro", "args": ["mcp"]}}});
    write(&mcp, &mine.to_string());
    let d = sb.ok(&["setup", "claude"]);
    assert_eq!(d["files"][0]["changed"], json!([]));
    assert_eq!(
        d["files"][0]["kept"][0]["yours"]["command"],
        "/opt/maestro/bin/maestro"
    );
    assert_eq!(json_file(&mcp), mine);
    let r = sb.run(&["setup", "claude"]);
    assert!(r.stdout.contains("--force replaces it"), "{}", r.stdout);

    sb.ok(&["setup", "claude", "--force"]);
    assert_eq!(
        json_file(&mcp)["mcpServers"]["maestro"]["command"],
        "maestro"
    );
    sb.ok(&["setup", "claude", "--remove"]);
    assert_eq!(json_file(&mcp), mine);
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let sb = project();
    let mcp = sb.cwd().join(".mcp.json");
    write(&mcp, "{\"mcpServers\": {}}\n");
    let r = sb.run(&["setup", "gemini", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("+++ ") && r.stdout.contains("+       \"command\": \"maestro\","),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("dry run"), "{}", r.stdout);
    assert!(!sb.cwd().join(".gemini").exists());
    assert!(!sb.cwd().join(".maestro/setup.json").exists());
    let d = sb.ok(&["setup", "claude", "--dry-run"]);
    assert!(
        d["files"][0]["diff"]
            .as_str()
            .unwrap()
            .contains("+     \"maestro\": {"),
        "{d}"
    );
    assert_eq!(read(&mcp), "{\"mcpServers\": {}}\n");
}

#[test]
fn invalid_config_files_are_refused_with_file_and_line_and_nothing_changes() {
    let sb = project();
    let mcp = sb.cwd().join(".mcp.json");
    let settings = sb.cwd().join(".claude/settings.json");
    write(&mcp, "{\"mcpServers\": {}}\n");
    write(&settings, "{\n  \"model\": \"opus\",\n  // a comment\n}\n");
    let e = sb.fails(&["setup", "claude"], "invalid_argument", 2);
    assert!(
        e["message"].as_str().unwrap().contains("settings.json"),
        "{e}"
    );
    assert_eq!(e["details"]["line"], 3, "{e}");
    // The valid .mcp.json was not touched either, and no skills were written.
    assert_eq!(read(&mcp), "{\"mcpServers\": {}}\n");
    assert!(!sb.cwd().join(".claude/skills").exists());

    let codex = sb.cwd().join(".codex/config.toml");
    write(&codex, "model = \"o3\"\n[mcp_servers\n");
    let e = sb.fails(&["setup", "codex"], "invalid_argument", 2);
    assert_eq!(e["details"]["line"], 2, "{e}");
    assert_eq!(read(&codex), "model = \"o3\"\n[mcp_servers\n");
}

#[test]
fn codex_toml_keeps_comments_and_gemini_gets_hooks() {
    let sb = project();
    let codex = sb.cwd().join(".codex/config.toml");
    let before = "# team settings\nmodel = \"gpt-5.5\" # pinned\n\n[mcp_servers.docs]\ncommand = \"docs-mcp\"\n";
    write(&codex, before);
    sb.ok(&["setup", "codex"]);
    assert_eq!(
        read(&codex),
        format!("{before}\n[mcp_servers.maestro]\ncommand = \"maestro\"\nargs = [\"mcp\"]\n")
    );
    assert!(
        sb.cwd()
            .join(".codex/skills/maestro-worker/SKILL.md")
            .exists()
    );
    sb.ok(&["setup", "codex"]);
    assert!(read(&codex).matches("[mcp_servers.maestro]").count() == 1);

    let gemini = sb.cwd().join(".gemini/settings.json");
    write(&gemini, r#"{"theme": "dark"}"#);
    sb.ok(&["setup", "gemini"]);
    assert_eq!(
        json_file(&gemini),
        json!({"theme": "dark",
               "mcpServers": {"maestro": {"command": "maestro", "args": ["mcp"]}},
               "hooks": {"BeforeTool": [hook()], "AfterTool": [hook()]}})
    );
    // Both are recorded apart: removing one leaves the other.
    sb.ok(&["setup", "codex", "--remove"]);
    assert_eq!(read(&codex), before);
    assert!(json_file(&gemini)["mcpServers"]["maestro"].is_object());
    sb.ok(&["setup", "gemini", "--remove"]);
    assert_eq!(json_file(&gemini), json!({"theme": "dark"}));
}

#[test]
fn user_scope_writes_the_users_files() {
    let sb = project();
    let home = sb.path().join("home");
    write(
        &home.join(".claude.json"),
        r#"{"numStartups": 7, "projects": {}}"#,
    );
    sb.ok(&["setup", "claude", "--scope", "user"]);
    let user = json_file(&home.join(".claude.json"));
    assert_eq!(user["numStartups"], 7);
    assert_eq!(user["mcpServers"]["maestro"]["command"], "maestro");
    let s = json_file(&home.join(".claude/settings.json"));
    assert_eq!(s["permissions"]["allow"], json!(["mcp__maestro"]));
    assert!(s.get("enabledMcpjsonServers").is_none());
    assert!(home.join(".claude/skills/maestro-cli/SKILL.md").exists());
    assert!(!sb.cwd().join(".mcp.json").exists());
    sb.ok(&["setup", "claude", "--scope", "user", "--remove"]);
    assert_eq!(
        json_file(&home.join(".claude.json")),
        json!({"numStartups": 7, "projects": {}})
    );
}
