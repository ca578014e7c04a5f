//! Human output: quiet mode prints only what a script needs, and text from the store can
//! neither drive the terminal nor break the layout.

use maestro_tests::sandbox;

#[test]
fn quiet_mode_prints_only_ids_and_values_on_stdout() {
    let sb = sandbox!();
    sb.init();
    let ids: Vec<String> = (0..3).map(|i| sb.task(&format!("t{i}"), &[])).collect();
    let r = sb.run(&["task", "list", "-q", "--limit", "2"]);
    assert_eq!(
        r.stdout.lines().collect::<Vec<_>>(),
        ids[..2].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(
        r.stderr.contains("More results"),
        "the hint goes to stderr: {}",
        r.stderr
    );
    for (args, line) in [
        (&["status", "-q"][..], "total=3"),
        (&["whoami", "-q"][..], "mode=local"),
        (&["config", "list", "-q"][..], "leaseSeconds=120"),
    ] {
        let r = sb.run(args);
        assert_eq!(r.code, 0, "{args:?}");
        assert!(
            r.stdout.lines().any(|l| l == line),
            "{args:?}: {}",
            r.stdout
        );
        assert!(
            r.stdout.lines().all(|l| l.contains('=')),
            "{args:?}: {}",
            r.stdout
        );
    }
    let r = sb.run(&["events", "--since", "0", "-q"]);
    assert!(
        !r.stdout.contains("SEQ") && !r.stdout.contains("ago"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.lines().next().unwrap().starts_with("1 "),
        "{}",
        r.stdout
    );
    let dir = sb.path().join("skills");
    let r = sb.run(&["skill", "install", "--dir", dir.to_str().unwrap(), "-q"]);
    assert!(
        r.stdout
            .lines()
            .all(|l| l.starts_with(dir.to_str().unwrap())),
        "{}",
        r.stdout
    );
    let again = sb.run(&["skill", "install", "--dir", dir.to_str().unwrap(), "-q"]);
    assert_eq!(again.stdout, "", "nothing written, nothing printed");
}

#[test]
fn titles_cannot_colour_or_break_the_terminal() {
    let sb = sandbox!();
    sb.init();
    let evil = "red \u{1b}[31mtext\u{1b}[2J\nsecond line\r\u{202e}";
    let id = sb.task(evil, &[]);
    // JSON keeps the exact text.
    assert_eq!(sb.ok(&["task", "get", &id])["title"], evil);
    for args in [
        &["task", "list"][..],
        &["task", "get", &id][..],
        &["events", "--since", "0"][..],
    ] {
        let r = sb.run(args);
        assert!(!r.stdout.contains('\u{1b}'), "{args:?}: {:?}", r.stdout);
        assert!(
            !r.stdout.contains('\r') && !r.stdout.contains('\u{202e}'),
            "{args:?}"
        );
    }
    let list = sb.run(&["task", "list"]).stdout;
    assert_eq!(list.lines().count(), 2, "one header, one row: {list}");
    assert!(list.contains("\\e[31m") && list.contains("\\n"), "{list}");
}

#[test]
fn wide_titles_keep_the_columns_aligned_and_long_ones_end_in_an_ellipsis() {
    let sb = sandbox!();
    sb.init();
    sb.task("数据库迁移", &[]);
    sb.task("🚀 launch", &[]);
    sb.task("plain", &[]);
    sb.task(&"long ".repeat(30), &[]);
    let list = sb.run(&["task", "list"]).stdout;
    // The column after the title starts at the same display column on every row.
    let col = |line: &str| {
        use unicode_width::UnicodeWidthStr;
        let at = line.rfind("just now").unwrap();
        line[..at].width()
    };
    let cols: Vec<usize> = list.lines().skip(1).map(col).collect();
    assert!(cols.iter().all(|c| *c == cols[0]), "{list}");
    assert!(list.contains('…'), "{list}");
}

/// The same list rules in local and remote mode: the default project, limits, cursors,
/// labels and session prefixes.
#[test]
fn every_list_follows_the_same_rules_local_and_remote() {
    let sb = sandbox!();
    let db = sb.path().join("server.db");
    let db = db.to_str().unwrap().to_string();
    sb.ok(&["--db", &db, "init", "--name", "main"]);
    let server = maestro_tests::Server::start(&sb, std::path::Path::new(&db), "127.0.0.1:0", &[]);
    let local = sb.path().join("local.db");
    let local = local.to_str().unwrap().to_string();
    sb.ok(&["--db", &local, "init", "--name", "main"]);
    for mode in [
        vec!["--db", local.as_str()],
        vec!["--server", server.url.as_str()],
    ] {
        let run = |args: &[&str]| {
            let mut all = mode.clone();
            all.extend_from_slice(args);
            sb.ok(&all)
        };
        let other = run(&["project", "create", "other"])["id"]
            .as_str()
            .unwrap()
            .to_string();
        run(&["--project", &other, "task", "create", "elsewhere"]);
        let ab = run(&["task", "create", "both", "--label", "a,b"])["id"].clone();
        run(&["task", "create", "only a", "--label", "a"]);
        // Labels: every one given must be on the task, however they are written.
        for args in [
            &["--label", "a,b"][..],
            &["--label", "a", "--label", "b"][..],
        ] {
            let mut all = vec!["task", "list"];
            all.extend_from_slice(args);
            let list = run(&all);
            assert_eq!(
                list.as_array().unwrap().len(),
                1,
                "{mode:?} {args:?}: {list}"
            );
            assert_eq!(list[0]["id"], ab);
        }
        // Events are the current project's, paged with nextCursor like every list.
        let mut all = mode.clone();
        all.extend_from_slice(&["events", "--limit", "1", "--json"]);
        let page = sb.run(&all).json();
        assert_eq!(page["data"].as_array().unwrap().len(), 1);
        let next = page["nextCursor"].as_str().expect("nextCursor").to_string();
        let rest = run(&["events", "--cursor", &next]);
        assert!(
            rest.as_array()
                .unwrap()
                .iter()
                .all(|e| e["projectId"] != other.as_str()),
            "{rest}"
        );
        // Limits: the same bounds everywhere.
        for args in [
            &["task", "list", "--limit", "0"][..],
            &["task", "ready", "--limit", "0"][..],
            &["events", "--limit", "100000"][..],
        ] {
            let mut all = mode.clone();
            all.extend_from_slice(args);
            sb.fails(&all, "invalid_argument", 2);
        }
        // A session prefix is enough; an unknown session is an error, not [].
        let s = run(&["session", "register", "--name", "w"])["id"]
            .as_str()
            .unwrap()
            .to_string();
        let prefix = &s[..s.len() - 2];
        run(&["task", "list", "--session", prefix]);
        let mut all = mode.clone();
        all.extend_from_slice(&["task", "list", "--session", "s-nosuchsession"]);
        sb.fails(&all, "session_not_found", 3);
        run(&["project", "use", &other]);
        let back = run(&["project", "list"]);
        let main = back
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "main")
            .unwrap()["id"]
            .clone();
        run(&["project", "use", main.as_str().unwrap()]);
    }
}

#[test]
fn descriptions_come_from_files_or_stdin_and_completing_with_open_subtasks_warns() {
    let sb = sandbox!();
    sb.init();
    let notes = sb.cwd().join("notes.md");
    std::fs::write(&notes, "line one\nline two\n").unwrap();
    let t = sb.ok(&["task", "create", "From a file", "--desc-file", "notes.md"]);
    assert_eq!(t["description"], "line one\nline two");
    let id = t["id"].as_str().unwrap().to_string();
    let out = sb
        .shell(
            &format!(
                "printf 'piped text' | \"$MAESTRO_BIN\" task update {id} --desc-file - --json"
            ),
            &[],
        )
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"]["description"], "piped text", "{v}");
    sb.fails(
        &["task", "create", "X", "--desc-file", "missing.md"],
        "invalid_argument",
        2,
    );
    // Reports leave the version an orchestrator guards with --if-version.
    let version = sb.ok(&["task", "get", &id])["version"].clone();
    sb.ok(&["update", "halfway", "--task", &id]);
    let st = sb.ok(&["subtask", "create", &id, "check"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sb.ok(&["task", "get", &id])["version"], version);
    sb.ok(&[
        "task",
        "update",
        &id,
        "--priority",
        "high",
        "--if-version",
        &version.to_string(),
    ]);
    // Completing with an open subtask works, with a warning.
    sb.ok(&["task", "start", &id]);
    let r = sb.run(&["task", "complete", &id, "--json"]);
    let v = r.json();
    assert_eq!(v["data"]["status"], "completed");
    assert!(v["warnings"][0].as_str().unwrap().contains(&st), "{v}");
    let id2 = sb.task("other", &[]);
    sb.ok(&["subtask", "create", &id2, "open one"]);
    sb.ok(&["task", "start", &id2]);
    let r = sb.run(&["task", "complete", &id2]);
    assert!(
        r.stderr.contains("warning: 1 subtask is still open"),
        "{}",
        r.stderr
    );
    // Metadata shows in human task get.
    let id3 = sb.task("meta", &["--metadata", r#"{"ticket": "ABC-1"}"#]);
    assert!(
        sb.run(&["task", "get", &id3])
            .stdout
            .contains("ticket=\"ABC-1\"")
    );
}
