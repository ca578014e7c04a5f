//! Initial prompts of spawned agents: composed skills plus context plus the next commands.
//!
//! Pure functions over model values, so what an agent is told can be unit-tested and
//! rendered identically by the CLI (`maestro skill prompt`), the host and the bindings.

use crate::model::*;
use crate::skills::Skill;
use std::fmt::Write;

/// How many timeline entries a worker's prompt shows.
pub const RECENT_TIMELINE: usize = 12;
/// How many tasks an orchestrator's prompt lists in full.
pub const MAX_TASKS_LISTED: usize = 200;

fn skills_section(out: &mut String, skills: &[&Skill]) {
    for s in skills {
        let _ = writeln!(
            out,
            "<!-- skill: {} {} -->\n{}\n",
            s.name(),
            s.manifest.version,
            s.instructions()
        );
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An argument as the shell reads it back: as it is when plain, else single-quoted.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:,=@+{}".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn timeline_line(e: &TimelineEntry) -> String {
    let what = match &e.kind {
        TimelineKind::StatusChanged { .. } => format!("status {}", e.kind.summary()),
        TimelineKind::Progress { .. } => format!("progress: {}", one_line(&e.kind.summary())),
        TimelineKind::Comment { author, message } => {
            format!("comment by {author}: {}", one_line(message))
        }
        other => one_line(&other.summary()),
    };
    let who = e
        .session_id
        .as_deref()
        .map(|s| format!(" (by {s})"))
        .unwrap_or_default();
    format!("- {} {what}{who}", e.timestamp.format("%Y-%m-%d %H:%M:%SZ"))
}

/// The exact commands a worker runs next on `task`, given its current state.
pub fn next_commands(task: &TaskDetail, session_id: Option<&str>) -> Vec<String> {
    let t = &task.task;
    let id = &t.id;
    let mine = session_id.is_some_and(|s| t.session_ids.iter().any(|x| x == s));
    let mut cmds = Vec::new();
    match t.status {
        TaskStatus::Completed => {
            cmds.push(format!("maestro task get {id} --json"));
            return cmds;
        }
        TaskStatus::Cancelled => {
            cmds.push(format!("maestro task get {id} --json"));
            return cmds;
        }
        TaskStatus::Pending => cmds.push(format!("maestro task claim {id} --json")),
        TaskStatus::InProgress if mine => {}
        TaskStatus::InProgress => cmds.push(format!("maestro task get {id} --json")),
        TaskStatus::Blocked => cmds.push(format!("maestro task start {id} --json")),
    }
    cmds.push(format!(
        "maestro update {} --task {id}",
        quote("<what you did, what is next>")
    ));
    if task.subtasks.is_empty() {
        cmds.push(format!(
            "maestro subtask create {id} {} --json",
            quote("<step>")
        ));
    }
    for st in task.subtasks.iter().filter(|s| !s.completed) {
        cmds.push(format!(
            "maestro subtask complete {id} {}   # {}",
            st.id,
            one_line(&st.title)
        ));
    }
    cmds.push(format!("maestro task complete {id} --json"));
    cmds.push(format!(
        "maestro task block {id} --reason {}",
        quote("<what is missing>")
    ));
    cmds
}

/// The initial prompt of a worker: its skills, its task in context, the next commands.
pub fn worker_prompt(skills: &[&Skill], task: &TaskDetail, session_id: Option<&str>) -> String {
    let t = &task.task;
    let mut out = String::new();
    skills_section(&mut out, skills);
    let _ = writeln!(out, "---\n\n# Your assignment\n");
    let who = session_id
        .map(|s| format!(" (session {s})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "You are a Maestro worker{who}. Your task is {} \"{}\": status {}, priority {}, version {}.",
        t.id,
        one_line(&t.title),
        t.status,
        t.priority,
        t.version
    );
    if !t.labels.is_empty() {
        let _ = writeln!(out, "Labels: {}.", t.labels.join(", "));
    }
    if let Some(wt) = &t.worktree {
        let _ = writeln!(out, "\n## Your worktree\n");
        let _ = writeln!(
            out,
            "You work in the git worktree {} on branch {} (started from {}); it is your working \
             directory and no other worker touches it. Commit there as you like: when your session \
             ends, however it ends, Maestro commits whatever is left uncommitted on {}, so nothing \
             is lost. Do not switch branches or touch the repository's own checkout ({}): when the \
             task is completed, the merge queue brings the branch onto its target.",
            wt.path, wt.branch, wt.base, wt.branch, wt.repo
        );
        if let Some(reason @ ("merge_conflict" | "gate_failed")) = t.blocked_reason.as_deref() {
            let _ = writeln!(
                out,
                "\nThe last merge of this branch was refused ({reason}): see the blocked entry and \
                 the subtask below. Rebase on {} in your worktree (git rebase {}), fix it, then \
                 complete the task so it joins the merge queue again.",
                wt.base, wt.base
            );
        }
    }
    let _ = writeln!(out, "\n## Description\n");
    if t.description.trim().is_empty() {
        let _ = writeln!(
            out,
            "(none: the title is the whole brief; ask by blocking the task if it is unclear)"
        );
    } else {
        let _ = writeln!(out, "{}", t.description.trim());
    }
    let _ = writeln!(out, "\n## Dependencies\n");
    if task.dependency_details.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for d in &task.dependency_details {
        let _ = writeln!(out, "- {} \"{}\": {}", d.id, one_line(&d.title), d.status);
    }
    let unfinished = task
        .dependency_details
        .iter()
        .filter(|d| d.status != TaskStatus::Completed)
        .count();
    if unfinished > 0 {
        let _ = writeln!(
            out,
            "\n{unfinished} dependency(ies) not completed yet: the task cannot start until they are. Block it with the reason if you cannot proceed."
        );
    }
    let _ = writeln!(out, "\n## Subtasks\n");
    if task.subtasks.is_empty() {
        let _ = writeln!(out, "None yet: create a few concrete steps.");
    }
    for st in &task.subtasks {
        let mark = if st.completed { "x" } else { " " };
        let _ = writeln!(
            out,
            "{}. [{mark}] {} ({})",
            st.order,
            one_line(&st.title),
            st.id
        );
    }
    let recent = task
        .timeline
        .len()
        .saturating_sub(RECENT_TIMELINE)
        .min(task.timeline.len());
    let _ = writeln!(out, "\n## Recent timeline\n");
    for e in &task.timeline[recent..] {
        let _ = writeln!(out, "{}", timeline_line(e));
    }
    if !task.dependents.is_empty() {
        let names: Vec<String> = task
            .dependents
            .iter()
            .map(|d| format!("{} \"{}\"", d.id, one_line(&d.title)))
            .collect();
        let _ = writeln!(
            out,
            "\nWaiting for this task: {}. Finish cleanly so they can start.",
            names.join(", ")
        );
    }
    let _ = writeln!(out, "\n## Next commands\n\n```sh");
    for c in next_commands(task, session_id) {
        let _ = writeln!(out, "{c}");
    }
    let _ = writeln!(
        out,
        "```\n\nWhen the task is completed or blocked, exit. Begin now."
    );
    out
}

/// What an agent is told about the shell commands its host's profile lets it run
/// (`prefixes` from [`crate::host::plan::AllowedCommands::prefixes`]; `None` for
/// everything). `sandboxed` agents (Codex) run every command in a sandbox that writes only
/// to their working directory, so for them the list is the rule they must keep.
pub fn commands_section(prefixes: Option<&[String]>, sandboxed: bool) -> String {
    let mut out = String::from("\n## Commands you may run\n\n");
    match prefixes {
        None => {
            let _ = writeln!(
                out,
                "You may run any shell command. You work in an isolated tree: keep every change inside your working directory."
            );
        }
        Some(list) => {
            let others: Vec<String> = list
                .iter()
                .filter(|p| p.as_str() != "maestro")
                .map(|p| format!("`{p} …`"))
                .collect();
            let _ = writeln!(
                out,
                "Shell commands you may run: `maestro …`{}. Edit files with your own file tools, inside your working directory.",
                if others.is_empty() {
                    " and nothing else".to_string()
                } else {
                    format!(", {}", others.join(", "))
                }
            );
            let _ = writeln!(
                out,
                "Any other command is refused: do not try another way. If the task needs one, block it with the command you need: `maestro task block <task-id> --reason \"needs to run <command>\"`."
            );
        }
    }
    if sandboxed {
        let _ = writeln!(
            out,
            "Your commands run in a sandbox that can write only to your working directory and the Maestro store."
        );
    }
    out
}

/// The initial prompt of an orchestrator: its skills, the project and every task.
pub fn orchestrator_prompt(
    skills: &[&Skill],
    project: &Project,
    status: &StatusReport,
    tasks: &[Task],
    session_id: Option<&str>,
) -> String {
    let mut out = String::new();
    skills_section(&mut out, skills);
    let _ = writeln!(out, "---\n\n# Your assignment\n");
    let who = session_id
        .map(|s| format!(" (session {s})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "You are the Maestro orchestrator{who} of project {} \"{}\".",
        project.id,
        one_line(&project.name)
    );
    let count = |k: &str| {
        status
            .tasks
            .by_status
            .get(k)
            .and_then(|v| v.as_i64())
            .unwrap_or(0)
    };
    let _ = writeln!(
        out,
        "\n## Overview\n\n{} tasks: {} pending ({} ready), {} in progress, {} blocked, {} completed, {} cancelled. {} active sessions.",
        status.tasks.total,
        count("pending"),
        status.tasks.ready,
        count("in_progress"),
        count("blocked"),
        count("completed"),
        count("cancelled"),
        status.sessions.active
    );
    let _ = writeln!(out, "\n## Tasks\n");
    if tasks.is_empty() {
        let _ = writeln!(
            out,
            "No tasks yet: plan the work with 'maestro task create'."
        );
    }
    for t in tasks.iter().take(MAX_TASKS_LISTED) {
        let deps = if t.dependencies.is_empty() {
            String::new()
        } else {
            format!(" depends on {}", t.dependencies.join(", "))
        };
        let sessions = if t.session_ids.is_empty() {
            String::new()
        } else {
            format!(" [{}]", t.session_ids.join(", "))
        };
        let _ = writeln!(
            out,
            "- {} {} {} \"{}\"{deps}{sessions}",
            t.id,
            t.status,
            t.priority,
            one_line(&t.title)
        );
    }
    if tasks.len() > MAX_TASKS_LISTED {
        let _ = writeln!(
            out,
            "- … and {} more: maestro task list --json --cursor",
            tasks.len() - MAX_TASKS_LISTED
        );
    }
    let _ = writeln!(
        out,
        "\n## Next commands\n\n```sh\nmaestro status --json\nmaestro task ready --json\nmaestro session spawn --task <ready task id> --skill maestro-worker --json\nmaestro session list --active --json\n```\n\nBegin now."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::skills::{ORCHESTRATOR_SKILL, SkillSet, WORKER_SKILL};
    use serde_json::{Map, json};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn task(id: &str, status: TaskStatus) -> Task {
        Task {
            id: id.into(),
            project_id: "p-1".into(),
            title: "Write the parser".into(),
            description: "Handle nested blocks.\nTests must pass.".into(),
            status,
            priority: Priority::High,
            dependencies: vec!["t-dep".into()],
            labels: vec!["backend".into()],
            session_ids: vec![],
            metadata: Map::new(),
            version: 3,
            claim_epoch: 0,
            blocked_reason: None,
            worktree: None,
            created_at: ts("2026-01-01T00:00:00Z"),
            updated_at: ts("2026-01-01T00:00:00Z"),
            started_at: None,
            completed_at: None,
        }
    }

    fn detail(status: TaskStatus) -> TaskDetail {
        let sub = |id: &str, done: bool, order: i64| Subtask {
            id: id.into(),
            task_id: "t-1".into(),
            title: format!("step {order}"),
            description: String::new(),
            completed: done,
            order,
            created_at: ts("2026-01-01T00:00:00Z"),
            updated_at: ts("2026-01-01T00:00:00Z"),
            completed_at: None,
        };
        TaskDetail {
            task: task("t-1", status),
            subtasks: vec![sub("st-a", true, 1), sub("st-b", false, 2)],
            dependency_details: vec![DependencyRef {
                id: "t-dep".into(),
                title: "Lexer".into(),
                status: TaskStatus::Completed,
            }],
            dependents: vec![],
            timeline_total: 20,
            timeline: (0..20)
                .map(|i| TimelineEntry {
                    id: i,
                    task_id: "t-1".into(),
                    kind: TimelineKind::Progress {
                        message: format!("note {i}"),
                    },
                    timestamp: ts("2026-01-01T00:00:00Z"),
                    session_id: Some("s-old".into()),
                })
                .collect(),
        }
    }

    #[test]
    fn a_worker_prompt_has_skills_context_and_next_commands() {
        let set = SkillSet::bundled();
        let skills = set.resolve(&[WORKER_SKILL]).unwrap();
        let p = worker_prompt(&skills, &detail(TaskStatus::Pending), Some("s-me"));
        let cli = p.find("# maestro CLI reference").unwrap();
        let worker = p.find("# Working on a Maestro task").unwrap();
        let assignment = p.find("# Your assignment").unwrap();
        assert!(
            cli < worker && worker < assignment,
            "skills first, by priority"
        );
        assert!(p.contains("You are a Maestro worker (session s-me)."));
        assert!(p.contains("t-1 \"Write the parser\": status pending, priority high"));
        assert!(p.contains("Handle nested blocks.\nTests must pass."));
        assert!(p.contains("- t-dep \"Lexer\": completed"));
        assert!(p.contains("1. [x] step 1 (st-a)\n2. [ ] step 2 (st-b)"));
        // Only the recent timeline.
        assert!(p.contains("progress: note 19 (by s-old)"));
        assert!(p.contains("note 8"));
        assert!(!p.contains("progress: note 7 (by"));
        let cmds = next_commands(&detail(TaskStatus::Pending), Some("s-me"));
        assert_eq!(cmds[0], "maestro task claim t-1 --json");
        assert_eq!(
            cmds[1],
            "maestro update '<what you did, what is next>' --task t-1"
        );
        assert_eq!(cmds[2], "maestro subtask complete t-1 st-b   # step 2");
        assert_eq!(cmds[3], "maestro task complete t-1 --json");
        assert_eq!(
            cmds[4],
            "maestro task block t-1 --reason '<what is missing>'"
        );
        for c in &cmds {
            assert!(p.contains(c.as_str()), "{c}");
        }
    }

    #[test]
    fn next_commands_follow_the_task_state() {
        let mut d = detail(TaskStatus::InProgress);
        d.task.session_ids = vec!["s-me".into()];
        let cmds = next_commands(&d, Some("s-me"));
        assert!(cmds[0].starts_with("maestro update"), "{cmds:?}");
        let cmds = next_commands(&d, Some("s-other"));
        assert_eq!(cmds[0], "maestro task get t-1 --json");
        let cmds = next_commands(&detail(TaskStatus::Blocked), None);
        assert_eq!(cmds[0], "maestro task start t-1 --json");
        assert_eq!(
            next_commands(&detail(TaskStatus::Completed), None),
            vec!["maestro task get t-1 --json"]
        );
        d.subtasks.clear();
        let cmds = next_commands(&d, Some("s-me"));
        assert!(cmds.contains(&"maestro subtask create t-1 '<step>' --json".to_string()));
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn the_commands_section_says_what_the_profile_allows() {
        let list = vec![
            "maestro".to_string(),
            "git".to_string(),
            "cargo test".to_string(),
        ];
        let s = commands_section(Some(&list), false);
        assert!(s.contains("Shell commands you may run: `maestro …`, `git …`, `cargo test …`."));
        assert!(s.contains("maestro task block <task-id>"));
        assert!(!s.contains("sandbox"));
        let s = commands_section(Some(&list[..1]), true);
        assert!(s.contains("`maestro …` and nothing else."), "{s}");
        assert!(s.contains("sandbox"));
        let s = commands_section(None, false);
        assert!(s.contains("any shell command"));
        assert!(!s.contains("refused"));
    }

    #[test]
    fn an_orchestrator_prompt_lists_the_project() {
        let set = SkillSet::bundled();
        let skills = set.resolve(&[ORCHESTRATOR_SKILL]).unwrap();
        let project = Project {
            id: "p-1".into(),
            name: "shop".into(),
            created_at: ts("2026-01-01T00:00:00Z"),
            default: true,
        };
        let by_status =
            json!({"pending": 1, "in_progress": 1, "blocked": 0, "completed": 0, "cancelled": 0});
        let status = StatusReport {
            usage: Default::default(),
            project_id: "p-1".into(),
            tasks: TaskCounts {
                total: 2,
                by_status: by_status.as_object().unwrap().clone(),
                by_priority: Map::new(),
                ready: 1,
            },
            sessions: SessionCounts {
                active: 1,
                total: 1,
            },
        };
        let mut busy = task("t-2", TaskStatus::InProgress);
        busy.session_ids = vec!["s-w".into()];
        let tasks = vec![task("t-1", TaskStatus::Pending), busy];
        let p = orchestrator_prompt(&skills, &project, &status, &tasks, Some("s-o"));
        assert!(p.contains("# Orchestrating a project with Maestro"));
        assert!(p.contains("orchestrator (session s-o) of project p-1 \"shop\""));
        assert!(p.contains("2 tasks: 1 pending (1 ready), 1 in progress"));
        assert!(p.contains("- t-1 pending high \"Write the parser\" depends on t-dep"));
        assert!(p.contains("- t-2 in_progress high \"Write the parser\" depends on t-dep [s-w]"));
        assert!(p.contains("maestro session spawn --task"));
    }
}
