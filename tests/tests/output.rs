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
