//! The deployment files: the Dockerfile and the compose file name only files that exist
//! (and that `.dockerignore` lets through), `.env.example` documents what they and the
//! server read, and `scripts/deploy.sh` / `scripts/rollback.sh --dry-run` print the plan
//! without running anything.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The Dockerfile's instructions: (keyword, arguments), continuation lines joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if current.is_empty() && (t.is_empty() || t.starts_with('#')) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(t);
                let (word, rest) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((word.to_ascii_uppercase(), rest.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

/// The words of an instruction's arguments: a JSON array or whitespace-separated.
fn words(args: &str) -> Vec<String> {
    if args.starts_with('[') {
        serde_json::from_str(args).unwrap_or_else(|e| panic!("not a JSON array ({e}): {args}"))
    } else {
        args.split_whitespace().map(str::to_string).collect()
    }
}

/// `.dockerignore` patterns (`*` within a path segment, `**` across segments).
fn ignore_patterns() -> Vec<String> {
    read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .collect()
}

fn glob(pattern: &[&str], path: &[&str]) -> bool {
    fn segment(p: &str, s: &str) -> bool {
        match p.split_once('*') {
            None => p == s,
            Some((head, tail)) => {
                s.starts_with(head)
                    && (0..=s.len() - head.len()).any(|i| {
                        s.is_char_boundary(head.len() + i) && segment(tail, &s[head.len() + i..])
                    })
            }
        }
    }
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(&"**"), _) => {
            glob(&pattern[1..], path) || (!path.is_empty() && glob(pattern, &path[1..]))
        }
        (Some(p), Some(s)) => segment(p, s) && glob(&pattern[1..], &path[1..]),
        _ => false,
    }
}

/// Whether `.dockerignore` keeps `path` (or a folder above it) out of the build context.
fn ignored(patterns: &[String], path: &str) -> bool {
    let segs: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    (1..=segs.len()).any(|n| {
        patterns.iter().any(|p| {
            let p: Vec<&str> = p.split('/').collect();
            glob(&p, &segs[..n])
        })
    })
}

#[test]
fn the_dockerignore_matcher_reads_patterns_as_docker_does() {
    let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(ignored(&p(&["target"]), "target/release/maestro"));
    assert!(!ignored(&p(&["target"]), "maestro-cli/target"));
    assert!(ignored(
        &p(&["**/node_modules"]),
        "bindings/node/node_modules/x"
    ));
    assert!(ignored(&p(&["**/*.db"]), "a/b/maestro.db"));
    assert!(!ignored(&p(&["**/*.db"]), "a/maestro.db-wal"));
    assert!(!ignored(&p(&[".git"]), ".gitignore"));
}

#[test]
fn the_dockerfile_copies_only_files_that_exist_and_reach_the_context() {
    let dockerfile = read("Dockerfile");
    let ins = instructions(&dockerfile);
    let patterns = ignore_patterns();
    let mut installed = BTreeSet::new();
    let mut sources = 0;
    for (word, args) in &ins {
        if word != "COPY" && word != "ADD" {
            continue;
        }
        let w = words(args);
        let from_stage = w.iter().any(|a| a.starts_with("--from="));
        let paths: Vec<&String> = w.iter().filter(|a| !a.starts_with("--")).collect();
        let (dest, srcs) = paths.split_last().expect("COPY has a destination");
        installed.insert(dest.to_string());
        if from_stage {
            continue;
        }
        for src in srcs {
            sources += 1;
            assert!(
                root().join(src).exists(),
                "{word} {src}: no such file in the repository"
            );
            assert!(
                !ignored(&patterns, src),
                "{word} {src}: .dockerignore leaves it out"
            );
        }
    }
    assert!(sources >= 2, "no COPY found in the Dockerfile");
    // `COPY . .` must bring every file the build needs: nothing cargo reads is ignored.
    let tracked = Command::new("git")
        .args([
            "ls-files",
            "Cargo.toml",
            "Cargo.lock",
            "maestro-core",
            "maestro-cli",
            "tests",
            "bindings",
            "skills",
        ])
        .current_dir(root())
        .output()
        .expect("git ls-files");
    let tracked = String::from_utf8(tracked.stdout).unwrap();
    assert!(tracked.lines().count() > 50, "{tracked}");
    for f in tracked.lines() {
        assert!(
            !ignored(&patterns, f),
            "{f} is needed by the build but .dockerignore leaves it out"
        );
    }
    // The programs the image runs are ones it installs.
    for (word, args) in &ins {
        let program = match word.as_str() {
            "ENTRYPOINT" => words(args)[0].clone(),
            "HEALTHCHECK" => {
                let cmd = args.split_once("CMD ").expect("HEALTHCHECK CMD").1;
                words(cmd)[0].clone()
            }
            _ => continue,
        };
        assert!(
            installed.contains(&format!("/usr/local/bin/{program}")),
            "{word} runs {program}, which no COPY installs into /usr/local/bin"
        );
    }
    // Its toolchain is one the workspace builds with.
    let arg = ins
        .iter()
        .find_map(|(w, a)| {
            (w == "ARG")
                .then(|| a.strip_prefix("RUST_VERSION="))
                .flatten()
        })
        .expect("ARG RUST_VERSION");
    let minimum = read("Cargo.toml")
        .lines()
        .find_map(|l| {
            l.strip_prefix("rust-version = ")
                .map(|v| v.trim_matches('"').to_string())
        })
        .expect("rust-version");
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    assert!(
        version(arg) >= version(&minimum),
        "RUST_VERSION {arg} < rust-version {minimum}"
    );
    // The build step is the one scripts/test-deploy runs and checks.
    let build = "cargo build --release -p maestro-cli --locked";
    assert!(dockerfile.contains(build));
    assert!(
        read("scripts/test-deploy")
            .contains("BUILD=(cargo build --release -p maestro-cli --locked)")
    );
}

/// The variables `${NAME…}` a file interpolates.
fn interpolated(text: &str) -> BTreeSet<String> {
    text.split("${")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .collect()
}

/// The settings `.env.example` documents: `NAME=` lines, and `# NAME=` lines of the image.
fn documented() -> BTreeSet<String> {
    read(".env.example")
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_string()))
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect()
}

#[test]
fn the_compose_file_names_files_that_exist_and_settings_that_are_documented() {
    let compose = read("docker-compose.yml");
    let value = |key: &str| -> Vec<String> {
        compose
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix(key)
                    .map(|v| v.trim().trim_matches('"').to_string())
            })
            .collect()
    };
    let contexts = value("context:");
    assert_eq!(contexts, ["."], "{compose}");
    let dockerfiles = value("dockerfile:");
    assert_eq!(dockerfiles.len(), 1, "{compose}");
    assert!(root().join(&contexts[0]).join(&dockerfiles[0]).is_file());
    for env_file in value("env_file:") {
        assert!(
            root().join(&env_file).is_file(),
            "env_file {env_file} does not exist"
        );
    }
    // Volumes: bind mounts must exist, named volumes must be declared.
    let mut in_volumes = false;
    let mut mounts = Vec::new();
    for line in compose.lines() {
        let t = line.trim();
        if t == "volumes:" {
            in_volumes = true;
        } else if in_volumes && t.starts_with("- ") {
            mounts.push(t[2..].trim_matches('"').to_string());
        } else if !t.is_empty() {
            in_volumes = false;
        }
    }
    assert!(!mounts.is_empty(), "no volume for the database: {compose}");
    for m in mounts {
        let (source, target) = m.split_once(':').expect("source:target");
        if source.starts_with('.') || source.starts_with('/') {
            assert!(
                root().join(source).exists(),
                "bind mount {source} does not exist"
            );
        } else {
            assert!(
                compose.contains(&format!("\n  {source}:")),
                "volume {source} is not declared"
            );
        }
        assert_eq!(target, "/data", "the database lives on /data in the image");
    }
    let documented = documented();
    for var in interpolated(&compose) {
        assert!(
            documented.contains(&var),
            "docker-compose.yml reads {var}, which .env.example does not document"
        );
    }
    // What `maestro serve` reads from the environment is documented too.
    // The server's settings: `maestro serve` and the core's server options.
    let settings = read("maestro-core/src/config/settings.rs");
    let server_options = settings
        .split_once("pub fn server_options")
        .map(|(_, rest)| rest.split_once("\n    }\n").map_or(rest, |(f, _)| f))
        .expect("Settings::server_options");
    let serve = read("maestro-cli/src/cmd/serve.rs") + server_options;
    let mut read_by_serve: BTreeSet<String> = serve
        .split('"')
        .filter(|s| {
            s.starts_with("MAESTRO_") && s.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        })
        .map(str::to_string)
        .collect();
    read_by_serve.extend(
        [
            "RUST_LOG",
            "MAESTRO_LEASE_SECONDS",
            "MAESTRO_DB",
            "MAESTRO_HOME",
        ]
        .map(String::from),
    );
    for var in read_by_serve {
        assert!(
            documented.contains(&var),
            "maestro serve reads {var}, which .env.example does not document"
        );
    }
    // And nothing documented is made up: each is read by the server, compose or the scripts.
    let sources = [
        compose,
        read("scripts/deploy.sh"),
        read("scripts/deploy-lib.sh"),
        read("Dockerfile"),
        read("maestro-core/src/config.rs"),
        read("maestro-core/src/config/settings.rs"),
        read("maestro-core/src/skills.rs"),
        read("maestro-core/src/host.rs"),
        serve,
    ]
    .concat();
    for var in documented {
        assert!(
            sources.contains(&var),
            ".env.example documents {var}, which nothing reads"
        );
    }
}

/// Runs a deploy script with only the tools a dry run needs on PATH: were it to call
/// docker, cargo or anything else, it would fail.
fn dry_run(script: &str, args: &[&str]) -> (i32, String, String) {
    let bin = tempfile::tempdir().unwrap();
    for tool in ["bash", "sed", "git", "date", "dirname", "tail", "head"] {
        let found = Command::new("bash")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .unwrap();
        let path = String::from_utf8(found.stdout).unwrap();
        std::os::unix::fs::symlink(path.trim(), bin.path().join(tool)).unwrap();
    }
    let out = Command::new(bin.path().join("bash"))
        .arg(root().join(script))
        .args(args)
        .env_clear()
        .env("PATH", bin.path())
        .env("HOME", bin.path())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn deploy_dry_run_prints_the_plan_and_runs_nothing() {
    let (code, out, err) = dry_run(
        "scripts/deploy.sh",
        &["--dry-run", "--tag", "v9", "--timeout", "45"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let plan = [
        "Plan (--dry-run: nothing is run):",
        "1. build maestro:v9",
        "$ docker build --pull -t maestro:v9 .",
        "$ docker compose stop maestro   # if maestro:current exists",
        "/data/backups/pre-deploy",
        "$ docker tag maestro:current maestro:previous   # if maestro:current exists",
        "$ docker tag maestro:v9 maestro:current",
        "$ docker compose up -d --no-build maestro",
        "(wait up to 45 s for the container to report healthy)",
        "If it does not become healthy in time:",
        "roll back: maestro:previous on the database as it was before this deploy",
        "$ docker tag maestro:previous maestro:current",
        "back to /data",
    ];
    let mut at = 0;
    for line in plan {
        let found = out[at..]
            .find(line)
            .unwrap_or_else(|| panic!("no {line:?} (in order) in:\n{out}"));
        at += found + line.len();
    }
    let (code, _, err) = dry_run("scripts/deploy.sh", &["--dry-run", "--timeout", "soon"]);
    assert_eq!(code, 1);
    assert!(err.contains("--timeout must be a whole number"), "{err}");
    let (code, _, err) = dry_run("scripts/deploy.sh", &["--bogus"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown argument: --bogus"), "{err}");
}

#[test]
fn rollback_dry_run_prints_the_plan_and_runs_nothing() {
    let (code, out, err) = dry_run("scripts/rollback.sh", &["--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("$ docker tag maestro:current maestro:rolled-back"),
        "{out}"
    );
    assert!(
        out.contains("$ docker tag maestro:previous maestro:current"),
        "{out}"
    );
    assert!(
        out.contains("$ docker compose up -d --no-build maestro"),
        "{out}"
    );
    assert!(
        !out.contains("restore"),
        "the database stays unless asked: {out}"
    );
    let (code, out, err) = dry_run("scripts/rollback.sh", &["--dry-run", "--restore-backup"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("restore the database backed up by the last deploy"),
        "{out}"
    );
}
