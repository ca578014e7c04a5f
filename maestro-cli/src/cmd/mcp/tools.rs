//! The tools `maestro mcp` offers: their names, descriptions and input schemas, the sets
//! they belong to, and each one's call of the core facade (the same calls the CLI's
//! commands make). A tool returns the `data` the matching CLI command prints with `--json`.

use maestro_cli::cli::ToolSet;
use maestro_core::{
    Budget, ClaimRequest, Error, Maestro, NewSession, NewTask, OpContext, Result, SessionFilter,
    StatusAction, StatusChange, TaskFilter, TaskPatch, TimelineQuery,
};
use rmcp::model::Tool;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// The smallest set a tool is in: worker tools are in every set, orchestrator tools in the
/// orchestrator set and `all`, the rest only in `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Worker,
    Orchestrator,
    All,
}

fn has(set: ToolSet, level: Level) -> bool {
    let most = match set {
        ToolSet::Worker => Level::Worker,
        ToolSet::Orchestrator => Level::Orchestrator,
        ToolSet::All => Level::All,
    };
    level <= most
}

/// What a call knows besides its arguments: the store, the caller and its context.
pub struct CallContext {
    pub m: Maestro,
    pub op: OpContext,
    pub project: Option<String>,
    /// `MAESTRO_TASK_IDS`.
    pub task_ids: Vec<String>,
    /// Where the calls go, for `status` (the CLI's `whoami` data).
    pub whoami: Value,
    /// The working directory, which relative `cwd`s of spawn requests start from.
    pub cwd: std::path::PathBuf,
}

impl CallContext {
    /// The task a call without `taskId` acts on: `MAESTRO_TASK_IDS`, else the session's task
    /// in progress (as the CLI's commands without an id).
    async fn task(&self, explicit: Option<&str>) -> Result<String> {
        Ok(self
            .m
            .context_tasks(&self.op, explicit, &self.task_ids)
            .await?
            .remove(0))
    }

    /// Calls that only inspect refresh the caller's lease here; the others refresh it in the
    /// core (reads before, writes in their transaction).
    async fn refresh(&self) -> Result<()> {
        if let Some(id) = self.op.session_id.as_deref() {
            self.m.heartbeat(&self.op, id).await?;
        }
        Ok(())
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitArgs {
    /// Most tasks to return (default 100)
    limit: Option<usize>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimArgs {
    /// The task to claim (default: the first ready task)
    task_id: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskArgs {
    /// Task id or unique prefix (default: your task)
    task_id: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProgressArgs {
    /// What you did or found
    message: String,
    /// Task id (default: your tasks)
    task_id: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubtaskArgs {
    /// Task id (default: your task)
    task_id: Option<String>,
    /// Title of a new subtask
    title: Option<String>,
    /// Description of the new subtask
    description: Option<String>,
    /// Id of a subtask to mark done
    done: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlockArgs {
    /// Why the task cannot go on
    reason: String,
    /// Task id (default: your task)
    task_id: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListArgs {
    #[schemars(extend("enum" = ["pending", "in_progress", "blocked", "completed", "cancelled"]))]
    status: Option<String>,
    #[schemars(extend("enum" = ["high", "medium", "low"]))]
    priority: Option<String>,
    label: Option<String>,
    /// Only tasks whose dependencies are done
    #[serde(default)]
    ready: bool,
    /// Only tasks of this session
    session_id: Option<String>,
    limit: Option<usize>,
    /// nextCursor of the previous page
    cursor: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateArgs {
    title: String,
    description: Option<String>,
    #[schemars(extend("enum" = ["high", "medium", "low"]))]
    priority: Option<String>,
    /// Ids of tasks that must be completed first
    #[serde(default)]
    depends_on: Vec<String>,
    #[serde(default)]
    labels: Vec<String>,
    metadata: Option<Map<String, Value>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateArgs {
    task_id: String,
    title: Option<String>,
    description: Option<String>,
    #[schemars(extend("enum" = ["high", "medium", "low"]))]
    priority: Option<String>,
    #[schemars(extend("enum" = ["pending", "in_progress", "blocked", "completed", "cancelled"]))]
    status: Option<String>,
    /// Dependencies to add
    #[serde(default)]
    add_deps: Vec<String>,
    /// Dependencies to remove
    #[serde(default)]
    remove_deps: Vec<String>,
    /// Replaces the labels
    labels: Option<Vec<String>>,
    /// Keys to merge (null removes one)
    metadata: Option<Map<String, Value>>,
    /// Fail unless the task is at this version
    if_version: Option<i64>,
    /// Skip dependency and ownership checks
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpawnArgs {
    /// The worker's tasks
    task_ids: Vec<String>,
    /// Agent profile, e.g. claude, codex, gemini
    agent: Option<String>,
    skill: Option<String>,
    name: Option<String>,
    /// Working directory (under the host's spawn roots)
    cwd: Option<String>,
    #[schemars(extend("enum" = ["worker", "orchestrator"]))]
    role: Option<String>,
    /// Stop the agent past this many US dollars
    max_cost: Option<f64>,
    /// Stop the agent past this many tokens
    max_tokens: Option<u64>,
    /// Spawn even if the task has a live worker
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionsArgs {
    /// Only sessions that have not ended
    #[serde(default)]
    active: bool,
    #[schemars(extend("enum" = ["waiting", "spawning", "starting", "active", "completed", "failed", "stopped", "lost"]))]
    status: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimelineArgs {
    task_id: String,
    limit: Option<usize>,
    cursor: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IdArgs {
    task_id: String,
}

/// One tool: its name, description, input type and set.
struct Def {
    name: &'static str,
    description: &'static str,
    level: Level,
    tool: fn(&'static str, &'static str) -> Tool,
}

/// A tool whose input schema is `T`'s, without the `$schema` line every tool would repeat
/// (the protocol fixes the dialect; each line costs context).
fn tool<T: JsonSchema + 'static>(name: &'static str, description: &'static str) -> Tool {
    let mut t = Tool::new(name, description, Map::new()).with_input_schema::<T>();
    std::sync::Arc::make_mut(&mut t.input_schema).remove("$schema");
    t
}

const fn def(
    name: &'static str,
    description: &'static str,
    level: Level,
    tool: fn(&'static str, &'static str) -> Tool,
) -> Def {
    Def {
        name,
        description,
        level,
        tool,
    }
}

const DEFS: &[Def] = &[
    def(
        "status",
        "Project status (task counts, ready tasks, active sessions) and your context: store, project, session, tasks.",
        Level::Worker,
        tool::<NoArgs>,
    ),
    def(
        "ready",
        "Tasks ready to start (pending, dependencies done), by priority then age.",
        Level::Worker,
        tool::<LimitArgs>,
    ),
    def(
        "claim",
        "Atomically assign a task to your session and start it (default: the next ready task).",
        Level::Worker,
        tool::<ClaimArgs>,
    ),
    def(
        "get_task",
        "A task with its subtasks, dependencies and recent timeline.",
        Level::Worker,
        tool::<TaskArgs>,
    ),
    def(
        "progress",
        "Record a progress message on your task.",
        Level::Worker,
        tool::<ProgressArgs>,
    ),
    def(
        "subtask",
        "Add a subtask to a task (title), or mark one done (done: subtask id).",
        Level::Worker,
        tool::<SubtaskArgs>,
    ),
    def(
        "complete",
        "Mark your task completed.",
        Level::Worker,
        tool::<TaskArgs>,
    ),
    def(
        "block",
        "Block your task, saying why it cannot go on.",
        Level::Worker,
        tool::<BlockArgs>,
    ),
    def(
        "list_tasks",
        "List tasks, filtered by status, priority, label, readiness or session; paged.",
        Level::Orchestrator,
        tool::<ListArgs>,
    ),
    def(
        "create_task",
        "Create a task, optionally depending on others.",
        Level::Orchestrator,
        tool::<CreateArgs>,
    ),
    def(
        "update_task",
        "Change a task's fields, status or dependencies.",
        Level::Orchestrator,
        tool::<UpdateArgs>,
    ),
    def(
        "spawn",
        "Ask a host to launch a worker agent for tasks.",
        Level::Orchestrator,
        tool::<SpawnArgs>,
    ),
    def(
        "sessions",
        "List agent sessions; paged.",
        Level::Orchestrator,
        tool::<SessionsArgs>,
    ),
    def(
        "merge_status",
        "The project's merge queues: per target branch, each queued task and its state.",
        Level::Orchestrator,
        tool::<NoArgs>,
    ),
    def(
        "timeline",
        "A task's whole timeline, oldest first; paged.",
        Level::All,
        tool::<TimelineArgs>,
    ),
    def("cancel_task", "Cancel a task.", Level::All, tool::<IdArgs>),
];

/// The tools of `set`, in a stable order.
pub fn list(set: ToolSet) -> Vec<Tool> {
    DEFS.iter()
        .filter(|d| has(set, d.level))
        .map(|d| (d.tool)(d.name, d.description))
        .collect()
}

/// Whether `set` has a tool called `name`.
pub fn offers(set: ToolSet, name: &str) -> bool {
    DEFS.iter().any(|d| d.name == name && has(set, d.level))
}

fn args<T: DeserializeOwned>(tool: &str, args: Map<String, Value>) -> Result<T> {
    serde_json::from_value(Value::Object(args)).map_err(|e| {
        Error::invalid_argument(format!("Invalid arguments for '{tool}': {e}"))
            .with_details(json!({ "tool": tool }))
            .with_suggestion("Pass the arguments the tool's input schema describes")
    })
}

fn parse<T: std::str::FromStr<Err = Error>>(v: Option<String>) -> Result<Option<T>> {
    v.map(|s| s.parse()).transpose()
}

/// A list as a JSON object (structured results are objects), with the page's cursor.
fn items<T: serde::Serialize>(items: &[T], next: Option<&str>) -> Value {
    let mut v = json!({ "items": items });
    if let Some(c) = next {
        v["nextCursor"] = json!(c);
    }
    v
}

/// Runs tool `name` (one `set` offers) with `raw` arguments; returns the CLI's `data`.
pub async fn call(cx: &CallContext, name: &str, raw: Map<String, Value>) -> Result<Value> {
    let m = &cx.m;
    let op = &cx.op;
    let project = cx.project.as_deref();
    Ok(match name {
        "status" => {
            args::<NoArgs>(name, raw)?;
            cx.refresh().await?;
            let report = m.status_as(op, project).await?;
            json!({ "status": report, "context": cx.whoami })
        }
        "ready" => {
            let a: LimitArgs = args(name, raw)?;
            items(&m.ready_tasks_as(op, project, a.limit).await?, None)
        }
        "claim" => {
            let a: ClaimArgs = args(name, raw)?;
            let claim = ClaimRequest {
                task_id: a.task_id,
                project_id: cx.project.clone(),
                session_id: None,
                force: false,
            };
            json!(m.claim(op, claim).await?)
        }
        "get_task" => {
            let a: TaskArgs = args(name, raw)?;
            let id = cx.task(a.task_id.as_deref()).await?;
            json!(m.get_task_as(op, &id).await?)
        }
        "progress" => {
            let a: ProgressArgs = args(name, raw)?;
            let ids = m
                .context_tasks(op, a.task_id.as_deref(), &cx.task_ids)
                .await?;
            let mut entries = Vec::with_capacity(ids.len());
            for id in &ids {
                entries.push(m.add_progress(op, id, &a.message).await?);
            }
            // As the CLI's `update`: one task → the entry; several → the list.
            match entries.len() {
                1 => json!(entries[0]),
                _ => items(&entries, None),
            }
        }
        "subtask" => {
            let a: SubtaskArgs = args(name, raw)?;
            match (a.title, a.done) {
                (Some(title), None) => {
                    let id = cx.task(a.task_id.as_deref()).await?;
                    json!(
                        m.create_subtask(op, &id, &title, a.description.as_deref())
                            .await?
                    )
                }
                (None, Some(st)) => {
                    json!(m.complete_subtask(op, a.task_id.as_deref(), &st).await?)
                }
                _ => {
                    return Err(Error::invalid_argument(
                        "Pass either 'title' (a new subtask) or 'done' (a subtask id)",
                    )
                    .with_details(json!({ "tool": name }))
                    .with_suggestion(
                        "e.g. {\"title\": \"Write tests\"} or {\"done\": \"st-p3x8\"}",
                    ));
                }
            }
        }
        "complete" => {
            let a: TaskArgs = args(name, raw)?;
            let id = cx.task(a.task_id.as_deref()).await?;
            json!(m.complete_task(op, &id, false).await?)
        }
        "block" => {
            let a: BlockArgs = args(name, raw)?;
            let id = cx.task(a.task_id.as_deref()).await?;
            let change = StatusChange::new(StatusAction::Block { reason: a.reason });
            json!(m.change_status(op, &id, change).await?)
        }
        "list_tasks" => {
            let a: ListArgs = args(name, raw)?;
            let filter = TaskFilter {
                project_id: cx.project.clone(),
                status: parse(a.status)?,
                priority: parse(a.priority)?,
                label: a.label,
                ready: a.ready,
                session_id: a.session_id,
                limit: a.limit,
                cursor: a.cursor,
            };
            let page = m.list_tasks_as(op, filter).await?;
            items(&page.items, page.next_cursor.as_deref())
        }
        "create_task" => {
            let a: CreateArgs = args(name, raw)?;
            let new = NewTask {
                project_id: cx.project.clone(),
                title: a.title,
                description: a.description,
                priority: parse(a.priority)?,
                depends_on: a.depends_on,
                labels: a.labels,
                metadata: a.metadata,
            };
            json!(m.create_task(op, new).await?)
        }
        "update_task" => {
            let a: UpdateArgs = args(name, raw)?;
            let patch = TaskPatch {
                title: a.title,
                description: a.description,
                priority: parse(a.priority)?,
                status: parse(a.status)?,
                add_dependencies: a.add_deps,
                remove_dependencies: a.remove_deps,
                labels: a.labels,
                metadata: a.metadata,
                expected_version: a.if_version,
                force: a.force,
            };
            json!(m.update_task(op, &a.task_id, patch).await?)
        }
        "spawn" => {
            let a: SpawnArgs = args(name, raw)?;
            let cwd = a
                .cwd
                .map(|c| cx.cwd.join(c))
                .unwrap_or_else(|| cx.cwd.clone());
            let new = NewSession {
                project_id: cx.project.clone(),
                name: a.name,
                role: parse(a.role)?,
                skill: a.skill,
                agent: a.agent,
                task_ids: a.task_ids,
                cwd: Some(cwd.display().to_string()),
                force: a.force,
                budget: Some(Budget {
                    max_cost_usd: a.max_cost,
                    max_tokens: a.max_tokens,
                })
                .filter(|b| !b.is_empty()),
                ..Default::default()
            };
            json!(m.spawn_session(op, new).await?)
        }
        "sessions" => {
            let a: SessionsArgs = args(name, raw)?;
            cx.refresh().await?;
            let filter = SessionFilter {
                project_id: cx.project.clone(),
                active: a.active,
                status: parse(a.status)?,
                limit: a.limit,
                cursor: a.cursor,
            };
            let page = m.list_sessions_as(op, filter).await?;
            items(&page.items, page.next_cursor.as_deref())
        }
        "merge_status" => {
            args::<NoArgs>(name, raw)?;
            cx.refresh().await?;
            let project_id = m.project(project).await?.id;
            items(&m.merge_queues(Some(&project_id)).await?, None)
        }
        "timeline" => {
            let a: TimelineArgs = args(name, raw)?;
            cx.refresh().await?;
            let query = TimelineQuery {
                limit: a.limit,
                cursor: a.cursor,
            };
            let page = m.timeline(&a.task_id, query).await?;
            items(&page.items, page.next_cursor.as_deref())
        }
        "cancel_task" => {
            let a: IdArgs = args(name, raw)?;
            json!(m.cancel_task(op, &a.task_id).await?)
        }
        other => {
            return Err(Error::internal(format!("no tool '{other}'")));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_stay_within_their_budgets_and_nest() {
        let worker = list(ToolSet::Worker);
        let orchestrator = list(ToolSet::Orchestrator);
        let all = list(ToolSet::All);
        assert!(worker.len() <= 8, "{}", worker.len());
        assert!(orchestrator.len() <= 15, "{}", orchestrator.len());
        assert_eq!(all.len(), DEFS.len());
        let names = |t: &[Tool]| t.iter().map(|t| t.name.to_string()).collect::<Vec<_>>();
        assert!(
            names(&worker)
                .iter()
                .all(|n| names(&orchestrator).contains(n))
        );
        assert!(offers(ToolSet::Orchestrator, "create_task"));
        assert!(!offers(ToolSet::Worker, "create_task"));
        assert!(!offers(ToolSet::All, "nope"));
    }

    #[test]
    fn every_input_schema_is_an_object_with_described_fields() {
        for t in list(ToolSet::All) {
            assert_eq!(t.input_schema["type"], "object", "{}", t.name);
            let desc = t.description.as_deref().unwrap_or("");
            assert!(!desc.is_empty() && desc.len() <= 120, "{}: {desc}", t.name);
        }
        let create = list(ToolSet::All)
            .into_iter()
            .find(|t| t.name == "create_task")
            .unwrap();
        assert_eq!(create.input_schema["required"], json!(["title"]));
        assert_eq!(
            create.input_schema["properties"]["priority"]["enum"],
            json!(["high", "medium", "low"])
        );
    }
}
