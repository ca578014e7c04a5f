//! Store resolution and configuration precedence (SPEC §4).

use maestro_tests::sandbox;

#[test]
fn the_nearest_project_store_is_found_from_subfolders() {
    let mut sb = sandbox!();
    let project = sb.init();
    let root = sb.cwd().to_path_buf();
    sb.set_cwd(root.join("src/deep/inside"));
    assert_eq!(sb.ok(&["status"])["projectId"], project.as_str());
    // MAESTRO_DB wins over the project store; --db over MAESTRO_DB.
    let other = sb.path().join("other.db");
    let other = other.to_str().unwrap();
    let p2 = sb.ok(&["--db", other, "init", "--name", "other"])["project"]["id"].clone();
    assert_eq!(
        sb.ok_with(&[("MAESTRO_DB", other)], &["status"])["projectId"],
        p2
    );
    let whoami = sb.ok_with(
        &[("MAESTRO_DB", "/nonexistent/x.db")],
        &["--db", other, "whoami"],
    );
    assert_eq!(whoami["db"], other);
}

#[test]
fn the_user_store_lives_in_maestro_home() {
    let mut sb = sandbox!();
    let home = sb.path().join("mhome");
    sb.set_env("MAESTRO_HOME", home.to_str().unwrap());
    // Outside any project, with MAESTRO_DB naming nothing, commands use $MAESTRO_HOME/maestro.db.
    let db = home.join("maestro.db");
    sb.set_env("MAESTRO_DB", db.to_str().unwrap());
    sb.ok(&["init", "--name", "global"]);
    sb.remove_env("MAESTRO_DB");
    assert!(db.exists());
    let whoami = sb.ok(&["whoami"]);
    assert_eq!(whoami["db"], db.to_str().unwrap());
    assert!(whoami["projectId"].is_string());
}

#[test]
fn config_set_get_list_and_precedence() {
    let sb = sandbox!();
    sb.init();
    // Inside a project, set writes .maestro/config.json.
    let set = sb.ok(&[
        "config",
        "set",
        "agents.scripted.command",
        r#"["bash","worker.sh"]"#,
    ]);
    assert!(
        set["file"]
            .as_str()
            .unwrap()
            .ends_with(".maestro/config.json")
    );
    assert_eq!(
        sb.ok(&["config", "get", "agents.scripted.command"])["value"][1],
        "worker.sh"
    );
    sb.ok(&["config", "--set", "x.retries=5"]);
    assert_eq!(sb.ok(&["config", "--get", "x.retries"])["value"], 5);
    // The user file is overridden by the project file.
    sb.ok(&["config", "set", "leaseSeconds", "60", "--global"]);
    sb.ok(&["config", "set", "leaseSeconds", "30"]);
    assert_eq!(sb.ok(&["config", "get", "leaseSeconds"])["value"], 30);
    let list = sb.ok(&["config", "--list"]);
    assert_eq!(list["x.retries"]["value"], 5);
    assert_eq!(list["agents.scripted.command"]["value"][0], "bash");
    sb.fails(&["config", "get", "nope"], "not_found", 3);
    sb.fails(&["config", "--set", "novalue"], "invalid_argument", 2);
    sb.fails(&["config", "set", "bad..key", "1"], "invalid_argument", 2);
    let unset = sb.ok(&["config", "unset", "x.retries"]);
    assert_eq!(unset["removed"], true);
    // projectId in config selects the project; the flag wins over the environment.
    let p2 = sb.ok(&["project", "create", "second"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    sb.ok(&["config", "set", "projectId", &p2]);
    assert_eq!(sb.ok(&["status"])["projectId"], p2.as_str());
    let p1 = sb.ok(&["project", "list"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        sb.ok_with(&[("MAESTRO_PROJECT_ID", &p1)], &["status"])["projectId"],
        p1.as_str()
    );
    assert_eq!(
        sb.ok_with(
            &[("MAESTRO_PROJECT_ID", &p1)],
            &["--project", &p2, "status"]
        )["projectId"],
        p2.as_str()
    );
}

#[test]
fn config_set_refuses_what_would_break_later_commands() {
    let sb = sandbox!();
    sb.init();
    for (key, value) in [
        ("leaseSeconds", "abc"),
        ("leaseSeconds", "-5"),
        ("apiUrl", "nope"),
        ("apiUrl", "javascript:alert(1)"),
        ("agents.x.command", "rm -rf /"),
        ("merge.strategy", "octopus"),
        ("worktree.enabled", "maybe"),
    ] {
        let e = sb.fails(&["config", "set", key, value], "invalid_argument", 2);
        assert!(e["details"]["reason"].is_string(), "{key}={value}: {e}");
        assert!(e["details"]["allowed"].is_string(), "{key}={value}: {e}");
        assert!(
            e["suggestion"]
                .as_str()
                .unwrap()
                .contains(&format!("maestro config set {key}")),
            "{e}"
        );
    }
    // Nothing was stored, so every command still works.
    sb.ok(&["task", "ready"]);
    sb.ok(&["status"]);
    // Typos are refused with the nearest key; the user's own keys live under x.
    let e = sb.fails(
        &["config", "set", "leaseSecond", "30"],
        "invalid_argument",
        2,
    );
    assert_eq!(e["details"]["didYouMean"], "leaseSeconds");
    sb.ok(&["config", "set", "x.team", "backend"]);
    // A negative number is a value, not a flag (and refused as a lease for being negative).
    let e = sb.fails(
        &["config", "set", "leaseSeconds", "-5"],
        "invalid_argument",
        2,
    );
    assert_eq!(e["details"]["value"], -5);
    sb.ok(&["config", "set", "x.offset", "-5"]);
    assert_eq!(sb.ok(&["config", "get", "x.offset"])["value"], -5);
}

#[test]
fn config_get_and_list_show_effective_values_and_their_source() {
    let sb = sandbox!();
    sb.init();
    let get = |env: &[(&str, &str)], args: &[&str], key: &str| {
        let mut all = vec!["config", "get", key];
        all.extend_from_slice(args);
        sb.ok_with(env, &all)
    };
    let v = get(&[], &[], "leaseSeconds");
    assert_eq!(
        (v["value"].clone(), v["source"].clone()),
        (serde_json::json!(120), serde_json::json!("default"))
    );
    sb.ok(&["config", "set", "leaseSeconds", "60", "--global"]);
    assert_eq!(get(&[], &[], "leaseSeconds")["source"], "user");
    sb.ok(&["config", "set", "leaseSeconds", "30"]);
    let v = get(&[], &[], "leaseSeconds");
    assert_eq!(v["source"], "project");
    assert!(
        v["from"]
            .as_str()
            .unwrap()
            .ends_with(".maestro/config.json")
    );
    let v = get(&[("MAESTRO_LEASE_SECONDS", "15")], &[], "leaseSeconds");
    assert_eq!(
        (v["value"].clone(), v["source"].clone()),
        (serde_json::json!(15), serde_json::json!("env"))
    );
    assert_eq!(v["from"], "MAESTRO_LEASE_SECONDS");
    let v = get(&[], &["--server", "http://127.0.0.1:9"], "apiUrl");
    assert_eq!(v["source"], "flag");
    let list = sb.ok(&["config", "list"]);
    assert_eq!(list["leaseSeconds"]["source"], "project");
    assert_eq!(list["opRetentionHours"]["source"], "default");
    // Quiet: key=value lines.
    let r = sb.run(&["config", "list", "-q"]);
    assert!(
        r.stdout.lines().any(|l| l == "leaseSeconds=30"),
        "{}",
        r.stdout
    );
    // Unset removes the objects it leaves empty.
    sb.ok(&["config", "set", "x.a.b", "1"]);
    sb.ok(&["config", "unset", "x.a.b"]);
    let file = std::fs::read_to_string(sb.cwd().join(".maestro/config.json")).unwrap();
    assert!(!file.contains("\"x\""), "{file}");
    sb.fails(&["config", "get", "x.nothing"], "not_found", 3);
}
