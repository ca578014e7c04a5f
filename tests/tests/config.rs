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
    sb.ok(&["config", "--set", "retries=5"]);
    assert_eq!(sb.ok(&["config", "--get", "retries"])["value"], 5);
    // The user file is overridden by the project file.
    sb.ok(&["config", "set", "leaseSeconds", "60", "--global"]);
    sb.ok(&["config", "set", "leaseSeconds", "30"]);
    assert_eq!(sb.ok(&["config", "get", "leaseSeconds"])["value"], 30);
    let list = sb.ok(&["config", "--list"]);
    assert_eq!(list["retries"], 5);
    assert_eq!(list["agents.scripted.command"][0], "bash");
    sb.fails(&["config", "get", "nope"], "not_found", 3);
    sb.fails(&["config", "--set", "novalue"], "invalid_argument", 2);
    sb.fails(&["config", "set", "bad..key", "1"], "invalid_argument", 2);
    let unset = sb.ok(&["config", "unset", "retries"]);
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
