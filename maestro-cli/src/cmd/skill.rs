//! `skill list | show | install | prompt`.

use crate::cli::SkillCmd;
use crate::context::Ctx;
use crate::output::{Style, table};
use maestro_core::skills::{self, InstallAction, InstallReport, Skill, SkillSet, SkillSource};
use maestro_core::{Result, TaskStatus};
use serde_json::{Value, json};

pub async fn run(ctx: &mut Ctx, cmd: SkillCmd) -> Result<()> {
    match cmd {
        SkillCmd::List => {
            let set = SkillSet::load(Some(&ctx.skills_dir()))?;
            let list = set.list();
            let data: Vec<Value> = list.iter().map(|s| summary(s)).collect();
            ctx.out.success(&data, |st| skill_table(st, &list));
        }
        SkillCmd::Show { name } => {
            let set = SkillSet::load(Some(&ctx.skills_dir()))?;
            let skill = set.get(&name)?;
            ctx.out.success(skill, |st| {
                let m = &skill.manifest;
                let deps = if m.dependencies.is_empty() {
                    "none".to_string()
                } else {
                    m.dependencies.join(", ")
                };
                format!(
                    "{} {}  {}\n{}\n{} {}  {} {}  {} {}\n\n{}",
                    st.bold(&m.name),
                    m.version,
                    st.dim(&source(skill)),
                    m.description,
                    st.dim("type:"),
                    kind(skill),
                    st.dim("priority:"),
                    m.priority,
                    st.dim("depends on:"),
                    deps,
                    skill.skill_md.trim_end()
                )
            });
        }
        SkillCmd::Install { dir, claude, force } => {
            let mut dirs = vec![match dir {
                Some(d) => ctx.env.cwd().join(d),
                None => ctx.skills_dir(),
            }];
            if claude {
                dirs.push(skills::claude_skills_dir(&ctx.env));
            }
            let mut reports = Vec::new();
            for d in &dirs {
                reports.push(skills::install(skills::BUNDLED, d, force)?);
            }
            ctx.out
                .success(&reports, |st| install_text(st, &reports, force));
        }
        SkillCmd::Prompt { task, skill } => {
            let project = ctx.project()?;
            let m = ctx.open(false)?;
            let task = task.or_else(|| ctx.task_ids().into_iter().next());
            let session = ctx.session_id();
            let prompt = m
                .skill_prompt(
                    task.as_deref(),
                    skill.as_deref(),
                    session.as_deref(),
                    project.as_deref(),
                )
                .await?;
            // Tell a worker when its task cannot start yet.
            let blocked_by = match &task {
                Some(t) => m
                    .get_task(t)
                    .await?
                    .dependency_details
                    .into_iter()
                    .filter(|d| d.status != TaskStatus::Completed)
                    .map(|d| d.id)
                    .collect(),
                None => Vec::new(),
            };
            let data = json!({
                "taskId": task,
                "skill": skill,
                "sessionId": session,
                "waitingFor": blocked_by,
                "prompt": prompt,
            });
            ctx.out.success(&data, |_| prompt.clone());
        }
    }
    Ok(())
}

fn source(s: &Skill) -> String {
    match &s.source {
        SkillSource::Bundled => "bundled".into(),
        SkillSource::Dir(p) => p.display().to_string(),
    }
}

fn kind(s: &Skill) -> &'static str {
    match s.manifest.kind {
        skills::SkillType::System => "system",
        skills::SkillType::Role => "role",
    }
}

/// A skill without its instructions, for listings.
fn summary(s: &Skill) -> Value {
    let m = &s.manifest;
    json!({
        "name": m.name,
        "version": m.version,
        "description": m.description,
        "type": kind(s),
        "assignTo": m.assign_to,
        "priority": m.priority,
        "capabilities": m.capabilities,
        "dependencies": m.dependencies,
        "source": match &s.source { SkillSource::Bundled => "bundled", SkillSource::Dir(_) => "dir" },
        "path": match &s.source { SkillSource::Bundled => None, SkillSource::Dir(p) => Some(p.display().to_string()) },
    })
}

fn skill_table(st: &Style, list: &[&Skill]) -> String {
    if st.quiet {
        return list.iter().map(|s| s.name()).collect::<Vec<_>>().join("\n");
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            let roles: Vec<&str> = s.manifest.assign_to.iter().map(|r| r.as_str()).collect();
            vec![
                st.cyan(s.name()),
                s.manifest.version.clone(),
                kind(s).to_string(),
                roles.join(","),
                s.manifest.priority.to_string(),
                st.dim(&source(s)),
            ]
        })
        .collect();
    table(
        st,
        &["name", "version", "type", "for", "priority", "source"],
        &rows,
    )
}

fn install_text(st: &Style, reports: &[InstallReport], force: bool) -> String {
    if st.quiet {
        // The files written, one a line.
        return reports
            .iter()
            .flat_map(|r| &r.files)
            .filter(|f| matches!(f.action, InstallAction::Created | InstallAction::Updated))
            .map(|f| f.path.display().to_string())
            .collect::<Vec<_>>()
            .join("\n");
    }
    let mut out = Vec::new();
    for r in reports {
        out.push(st.ok(&format!("Skills in {}", r.dir.display())));
        for f in &r.files {
            let what = match f.action {
                InstallAction::Created => st.green("created"),
                InstallAction::Updated => st.green("updated"),
                InstallAction::Unchanged => st.dim("unchanged"),
                InstallAction::Kept => st.yellow("kept (edited; --force replaces it)"),
            };
            out.push(format!("  {:<10} {}", what, f.path.display()));
        }
    }
    let kept = reports.iter().flat_map(|r| r.kept()).count();
    if kept > 0 && !force {
        out.push(format!(
            "\n{kept} edited file(s) kept. Run with --force to replace them with the bundled version."
        ));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use crate::cli::Cli;
    use clap::Parser;
    use clap::error::ErrorKind;

    /// Splits a shell command line into words: quotes, backslashes, a trailing `# comment`
    /// and a pipe to another program are handled; no expansions are made.
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\'' => {
                    in_word = true;
                    for q in chars.by_ref() {
                        if q == '\'' {
                            break;
                        }
                        cur.push(q);
                    }
                }
                '"' => {
                    in_word = true;
                    while let Some(q) = chars.next() {
                        match q {
                            '"' => break,
                            '\\' => cur.extend(chars.next()),
                            _ => cur.push(q),
                        }
                    }
                }
                '\\' => {
                    in_word = true;
                    cur.extend(chars.next());
                }
                '#' | '|' | '&' | ';' | '>' if !in_word => break,
                c if c.is_whitespace() => {
                    if in_word {
                        out.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                }
                c => {
                    in_word = true;
                    cur.push(c);
                }
            }
        }
        if in_word {
            out.push(cur);
        }
        out
    }

    /// Every `maestro …` line in the fenced code blocks of a SKILL.md.
    fn commands(md: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut in_code = false;
        for line in md.lines() {
            let t = line.trim();
            if t.starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if in_code && t.starts_with("maestro ") {
                out.push(t.to_string());
            }
        }
        out
    }

    #[test]
    fn the_word_splitter_follows_shell_quoting() {
        assert_eq!(
            words(r#"maestro task create "Add \"tests\"" --metadata '{"a": 1}'   # note"#),
            vec![
                "maestro",
                "task",
                "create",
                "Add \"tests\"",
                "--metadata",
                r#"{"a": 1}"#
            ]
        );
        assert_eq!(
            words("maestro task ready --json | jq ."),
            vec!["maestro", "task", "ready", "--json"]
        );
        assert_eq!(words("maestro host &"), vec!["maestro", "host"]);
    }

    #[test]
    fn every_command_in_the_cli_skill_parses_with_the_real_parser() {
        let skill = maestro_core::skills::BUNDLED
            .iter()
            .find(|s| s.name == maestro_core::skills::CLI_SKILL)
            .unwrap();
        let cmds = commands(skill.skill_md);
        assert!(
            cmds.len() > 80,
            "the reference shows every command ({})",
            cmds.len()
        );
        let mut failures = Vec::new();
        for line in &cmds {
            match Cli::try_parse_from(words(line)) {
                Ok(_) => {}
                Err(e)
                    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {}
                Err(e) => failures.push(format!(
                    "{line}\n    {}",
                    e.render().to_string().lines().next().unwrap_or("")
                )),
            }
        }
        assert!(
            failures.is_empty(),
            "commands that do not parse:\n{}",
            failures.join("\n")
        );
    }

    #[test]
    fn the_cli_skill_shows_every_subcommand() {
        use clap::CommandFactory;
        let skill = maestro_core::skills::BUNDLED
            .iter()
            .find(|s| s.name == maestro_core::skills::CLI_SKILL)
            .unwrap();
        let cmds = commands(skill.skill_md);
        let root = Cli::command();
        let mut missing = Vec::new();
        for sub in root.get_subcommands().filter(|c| !c.is_hide_set()) {
            let name = sub.get_name();
            if name == "help" {
                continue;
            }
            let leaves: Vec<String> = if sub.has_subcommands() {
                sub.get_subcommands()
                    .filter(|c| c.get_name() != "help")
                    .map(|c| format!("maestro {name} {}", c.get_name()))
                    .collect()
            } else {
                vec![format!("maestro {name}")]
            };
            for leaf in leaves {
                let shown = cmds
                    .iter()
                    .any(|c| *c == leaf || c.starts_with(&format!("{leaf} ")));
                if !shown {
                    missing.push(leaf);
                }
            }
        }
        assert!(
            missing.is_empty(),
            "not in the maestro-cli skill: {missing:?}"
        );
    }
}
