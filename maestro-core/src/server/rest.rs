//! The REST routes of [`crate::protocol`], each a thin call into the facade.

use super::AppState;
use super::api::{self, ApiResult, Ctx, JsonBody, P, Q, created, ok};
use crate::error::{Code, Error};
use crate::store::*;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header::ETAG};
use axum::response::Response;
use axum::routing::{get, patch, post, put};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(super::metrics::render))
        .route("/api/projects", get(list_projects).post(create_project))
        .route("/api/projects/default", get(default_project))
        .route("/api/projects/{id}", get(get_project))
        .route("/api/projects/{id}/default", post(use_project))
        .route("/api/tasks", get(list_tasks).post(create_task))
        .route("/api/tasks/batch", post(create_tasks))
        .route("/api/tasks/ready", get(ready_tasks))
        .route("/api/tasks/claim", post(claim_next))
        .route(
            "/api/tasks/{id}",
            get(get_task).patch(update_task).delete(delete_task),
        )
        .route("/api/tasks/{id}/start", post(start_task))
        .route("/api/tasks/{id}/complete", post(complete_task))
        .route("/api/tasks/{id}/reopen", post(reopen_task))
        .route("/api/tasks/{id}/cancel", post(cancel_task))
        .route("/api/tasks/{id}/block", post(block_task))
        .route("/api/tasks/{id}/release", post(release_task))
        .route("/api/tasks/{id}/claim", post(claim_task))
        .route(
            "/api/tasks/{id}/timeline",
            get(get_timeline).post(add_timeline),
        )
        .route(
            "/api/tasks/{id}/subtasks",
            get(list_subtasks).post(create_subtask),
        )
        .route(
            "/api/tasks/{id}/subtasks/{sid}",
            patch(update_subtask).delete(delete_subtask),
        )
        .route(
            "/api/subtasks/{sid}",
            patch(update_any_subtask).delete(delete_any_subtask),
        )
        .route("/api/sessions", get(list_sessions).post(register_session))
        .route("/api/sessions/spawn", post(spawn_session))
        .route("/api/sessions/{id}", get(get_session).patch(update_session))
        .route("/api/sessions/{id}/heartbeat", post(heartbeat))
        .route("/api/sessions/{id}/claim-spawn", post(claim_spawn))
        .route("/api/tasks/{id}/worktree", put(set_worktree))
        .route("/api/merges", get(merge_queues).post(enqueue_merge))
        .route("/api/merges/start", post(start_merge))
        .route("/api/merges/finish", post(finish_merge))
        .route("/api/merges/step", post(merge_step))
        .route("/api/events", get(events))
        .route("/api/status", get(status))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
}

// ---- health --------------------------------------------------------------------------

async fn health(State(s): State<AppState>) -> Response {
    let check = tokio::time::timeout(Duration::from_secs(5), s.maestro.latest_seq()).await;
    let (code, db, error) = match check {
        // Reads work but writes fail (a full disk): degraded, with the reason.
        Ok(Ok(_)) => match s.maestro.write_failure() {
            Some(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "degraded",
                Some(e.to_json()),
            ),
            None => (StatusCode::OK, "ok", None),
        },
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, "error", Some(e.to_json())),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "error",
            Some(Error::new(Code::Timeout, "the database did not answer within 5 s").to_json()),
        ),
    };
    let mut body = json!({
        "status": match (code, db) {
            (StatusCode::OK, _) => "ok",
            (_, "degraded") => "degraded",
            _ => "unavailable",
        },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": s.started.elapsed().as_secs(),
        "db": db,
        "database": database(&s.maestro.location(), s.maestro.pool_status()),
        "ws_clients": s.metrics.ws_clients(),
    });
    if let Some(e) = error {
        body["error"] = e;
    }
    api::json_response(code, &body)
}

/// What `/health` tells of the database: its kind, where it is (a URL without its
/// password) and the store's pool of connections, when it keeps one.
fn database(location: &str, pool: Option<crate::store::PoolStatus>) -> serde_json::Value {
    let kind = if crate::config::is_database_url(std::path::Path::new(location)) {
        "postgres"
    } else {
        "sqlite"
    };
    let mut db = json!({ "kind": kind, "location": location });
    if let Some(pool) = pool {
        db["pool"] = json!(pool);
    }
    db
}

// ---- projects ------------------------------------------------------------------------

async fn list_projects(State(s): State<AppState>) -> ApiResult {
    ok(&s.maestro.list_projects().await?)
}

/// 201 with the new project, or 200 with the existing one (`reuseByName`); the body also
/// says `created`.
async fn create_project(
    State(s): State<AppState>,
    ctx: Ctx,
    JsonBody(b): JsonBody<NewProject>,
) -> ApiResult {
    let init = if b.reuse_by_name {
        s.maestro.init_project(&ctx.op, &b.name).await?
    } else {
        ProjectInit {
            project: s
                .maestro
                .create_project(&ctx.op, &b.name, b.make_default)
                .await?,
            created: true,
        }
    };
    let mut body = serde_json::to_value(&init.project).map_err(Error::from)?;
    body["created"] = json!(init.created);
    if init.created {
        created(&body)
    } else {
        ok(&body)
    }
}

async fn use_project(State(s): State<AppState>, P(id): P<String>, ctx: Ctx) -> ApiResult {
    ok(&s.maestro.use_project(&ctx.op, &id).await?)
}

async fn default_project(State(s): State<AppState>) -> ApiResult {
    ok(&s.maestro.project(None).await?)
}

async fn get_project(State(s): State<AppState>, P(id): P<String>) -> ApiResult {
    ok(&s.maestro.get_project(&id).await?)
}

// ---- tasks ---------------------------------------------------------------------------

async fn list_tasks(State(s): State<AppState>, ctx: Ctx, Q(filter): Q<TaskFilter>) -> ApiResult {
    ok(&s.maestro.list_tasks_as(&ctx.op, filter).await?)
}

async fn create_task(
    State(s): State<AppState>,
    ctx: Ctx,
    JsonBody(new): JsonBody<NewTask>,
) -> ApiResult {
    created(&s.maestro.create_task(&ctx.op, new).await?)
}

#[derive(Deserialize)]
struct BatchBody {
    tasks: Vec<NewTask>,
}

/// Several tasks in one transaction, all or nothing.
async fn create_tasks(
    State(s): State<AppState>,
    ctx: Ctx,
    JsonBody(b): JsonBody<BatchBody>,
) -> ApiResult {
    created(&s.maestro.create_tasks(&ctx.op, b.tasks).await?)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ReadyQuery {
    project_id: Option<String>,
    limit: Option<usize>,
}

async fn ready_tasks(State(s): State<AppState>, ctx: Ctx, Q(q): Q<ReadyQuery>) -> ApiResult {
    ok(&s
        .maestro
        .ready_tasks_as(&ctx.op, q.project_id.as_deref(), q.limit)
        .await?)
}

/// A claim: the claiming session is the body's `sessionId`, else the `X-Maestro-Session`
/// header; the task is the path's (`/api/tasks/:id/claim`) or the first ready one.
async fn claim(s: AppState, mut ctx: Ctx, mut claim: ClaimRequest) -> ApiResult {
    claim.session_id = claim
        .session_id
        .filter(|s| !s.trim().is_empty())
        .or_else(|| ctx.op.session_id.clone());
    let Some(session) = claim.session_id.clone() else {
        return Err(Error::missing_field("sessionId")
            .with_suggestion(
                "Pass {\"sessionId\": \"<id>\"} in the body or the X-Maestro-Session header",
            )
            .into());
    };
    ctx.op.session_id.get_or_insert(session);
    ok(&s.maestro.claim(&ctx.op, claim).await?)
}

async fn claim_next(
    State(s): State<AppState>,
    ctx: Ctx,
    JsonBody(b): JsonBody<ClaimRequest>,
) -> ApiResult {
    claim(s, ctx, ClaimRequest { task_id: None, ..b }).await
}

fn with_etag(mut resp: Response, version: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert(ETAG, v);
    }
    resp
}

async fn get_task(State(s): State<AppState>, P(id): P<String>, ctx: Ctx) -> ApiResult {
    let detail = s.maestro.get_task_as(&ctx.op, &id).await?;
    Ok(with_etag(ok(&detail)?, detail.task.version))
}

async fn update_task(
    State(s): State<AppState>,
    P(id): P<String>,
    ctx: Ctx,
    JsonBody(mut patch): JsonBody<TaskPatch>,
) -> ApiResult {
    if let Some(v) = ctx.if_match {
        patch.expected_version = Some(v);
    }
    let task = s.maestro.update_task(&ctx.op, &id, patch).await?;
    Ok(with_etag(ok(&task)?, task.version))
}

async fn delete_task(State(s): State<AppState>, P(id): P<String>, ctx: Ctx) -> ApiResult {
    ok(&s.maestro.delete_task(&ctx.op, &id).await?)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct StatusBody {
    force: bool,
    expected_version: Option<i64>,
    reason: Option<String>,
}

enum ActionKind {
    Start,
    Complete,
    Reopen,
    Cancel,
    Block,
    Release,
}

async fn status_action(
    s: AppState,
    id: String,
    ctx: Ctx,
    b: StatusBody,
    kind: ActionKind,
) -> ApiResult {
    let action = match kind {
        ActionKind::Start => StatusAction::Start,
        ActionKind::Complete => StatusAction::Complete,
        ActionKind::Reopen => StatusAction::Reopen,
        ActionKind::Cancel => StatusAction::Cancel,
        ActionKind::Block => StatusAction::Block {
            reason: b.reason.unwrap_or_default(),
        },
        ActionKind::Release => StatusAction::Release {
            reason: b.reason.unwrap_or_else(|| "released".into()),
        },
    };
    let change = StatusChange {
        action,
        force: b.force,
        expected_version: b.expected_version.or(ctx.if_match),
    };
    let task = s.maestro.change_status(&ctx.op, &id, change).await?;
    Ok(with_etag(ok(&task)?, task.version))
}

macro_rules! status_route {
    ($name:ident, $kind:ident) => {
        async fn $name(
            State(s): State<AppState>,
            P(id): P<String>,
            ctx: Ctx,
            JsonBody(b): JsonBody<StatusBody>,
        ) -> ApiResult {
            status_action(s, id, ctx, b, ActionKind::$kind).await
        }
    };
}
status_route!(start_task, Start);
status_route!(complete_task, Complete);
status_route!(reopen_task, Reopen);
status_route!(cancel_task, Cancel);
status_route!(block_task, Block);
status_route!(release_task, Release);

async fn claim_task(
    State(s): State<AppState>,
    P(id): P<String>,
    ctx: Ctx,
    JsonBody(b): JsonBody<ClaimRequest>,
) -> ApiResult {
    claim(
        s,
        ctx,
        ClaimRequest {
            task_id: Some(id),
            ..b
        },
    )
    .await
}

// ---- timeline ------------------------------------------------------------------------

async fn get_timeline(
    State(s): State<AppState>,
    P(id): P<String>,
    Q(q): Q<TimelineQuery>,
) -> ApiResult {
    ok(&s.maestro.timeline(&id, q).await?)
}

#[derive(Deserialize)]
struct TimelineBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    author: Option<String>,
}

async fn add_timeline(
    State(s): State<AppState>,
    P(id): P<String>,
    ctx: Ctx,
    JsonBody(b): JsonBody<TimelineBody>,
) -> ApiResult {
    let entry = match b.kind.as_str() {
        "progress" => s.maestro.add_progress(&ctx.op, &id, &b.message).await?,
        "comment" => {
            let author = b
                .author
                .filter(|a| !a.trim().is_empty())
                .or_else(|| ctx.op.session_id.clone())
                .ok_or_else(|| {
                    Error::missing_field("author")
                        .with_suggestion("Give the comment an author, e.g. {\"author\": \"alice\"}")
                })?;
            s.maestro
                .add_comment(&ctx.op, &id, &author, &b.message)
                .await?
        }
        other => {
            return Err(Error::invalid_argument(format!(
                "'{other}' is not a timeline entry type that can be added"
            ))
            .with_details(json!({ "field": "type", "allowed": ["progress", "comment"] }))
            .with_suggestion("Use type \"progress\" or \"comment\"")
            .into());
        }
    };
    created(&entry)
}

// ---- subtasks ------------------------------------------------------------------------

async fn list_subtasks(State(s): State<AppState>, P(id): P<String>) -> ApiResult {
    ok(&s.maestro.list_subtasks(&id).await?)
}

#[derive(Deserialize)]
struct NewSubtaskBody {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: Option<String>,
}

async fn create_subtask(
    State(s): State<AppState>,
    P(id): P<String>,
    ctx: Ctx,
    JsonBody(b): JsonBody<NewSubtaskBody>,
) -> ApiResult {
    created(
        &s.maestro
            .create_subtask(&ctx.op, &id, &b.title, b.description.as_deref())
            .await?,
    )
}

async fn update_subtask(
    State(s): State<AppState>,
    P((id, sid)): P<(String, String)>,
    ctx: Ctx,
    JsonBody(patch): JsonBody<SubtaskPatch>,
) -> ApiResult {
    ok(&s
        .maestro
        .update_subtask(&ctx.op, Some(&id), &sid, patch)
        .await?)
}

async fn delete_subtask(
    State(s): State<AppState>,
    P((id, sid)): P<(String, String)>,
    ctx: Ctx,
) -> ApiResult {
    ok(&s.maestro.delete_subtask(&ctx.op, Some(&id), &sid).await?)
}

/// A subtask addressed by its own id.
async fn update_any_subtask(
    State(s): State<AppState>,
    P(sid): P<String>,
    ctx: Ctx,
    JsonBody(patch): JsonBody<SubtaskPatch>,
) -> ApiResult {
    ok(&s.maestro.update_subtask(&ctx.op, None, &sid, patch).await?)
}

async fn delete_any_subtask(State(s): State<AppState>, P(sid): P<String>, ctx: Ctx) -> ApiResult {
    ok(&s.maestro.delete_subtask(&ctx.op, None, &sid).await?)
}

// ---- sessions ------------------------------------------------------------------------

async fn list_sessions(
    State(s): State<AppState>,
    ctx: Ctx,
    Q(filter): Q<SessionFilter>,
) -> ApiResult {
    ok(&s.maestro.list_sessions_as(&ctx.op, filter).await?)
}

async fn register_session(
    State(s): State<AppState>,
    ctx: Ctx,
    JsonBody(new): JsonBody<NewSession>,
) -> ApiResult {
    created(&s.maestro.register_session(&ctx.op, new).await?)
}

async fn spawn_session(
    State(s): State<AppState>,
    ctx: Ctx,
    JsonBody(new): JsonBody<NewSession>,
) -> ApiResult {
    created(&s.maestro.spawn_session(&ctx.op, new).await?)
}

async fn get_session(State(s): State<AppState>, P(id): P<String>) -> ApiResult {
    ok(&s.maestro.get_session(&id).await?)
}

async fn update_session(
    State(s): State<AppState>,
    P(id): P<String>,
    ctx: Ctx,
    JsonBody(patch): JsonBody<SessionPatch>,
) -> ApiResult {
    ok(&s.maestro.update_session(&ctx.op, &id, patch).await?)
}

async fn heartbeat(State(s): State<AppState>, P(id): P<String>, ctx: Ctx) -> ApiResult {
    ok(&s.maestro.heartbeat(&ctx.op.without_op_id(), &id).await?)
}

#[derive(Deserialize)]
struct ClaimSpawn {
    host: String,
}

/// A remote host takes a spawn request; `null` when another host got it first.
async fn claim_spawn(
    State(s): State<AppState>,
    P(id): P<String>,
    ctx: Ctx,
    JsonBody(body): JsonBody<ClaimSpawn>,
) -> ApiResult {
    if body.host.trim().is_empty() {
        return Err(Error::missing_field("host").into());
    }
    ok(&s.maestro.claim_spawn(&ctx.op, &id, &body.host).await?)
}

// ---- worktrees and the merge queue ---------------------------------------------------

#[derive(Deserialize)]
struct WorktreeBody {
    worktree: Option<crate::model::TaskWorktree>,
}

async fn set_worktree(
    State(s): State<AppState>,
    P(id): P<String>,
    ctx: Ctx,
    JsonBody(b): JsonBody<WorktreeBody>,
) -> ApiResult {
    ok(&s
        .maestro
        .set_task_worktree(&ctx.op, &id, b.worktree)
        .await?)
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ProjectQuery {
    project_id: Option<String>,
}

async fn merge_queues(State(s): State<AppState>, Q(q): Q<ProjectQuery>) -> ApiResult {
    ok(&s.maestro.merge_queues(q.project_id.as_deref()).await?)
}

async fn enqueue_merge(
    State(s): State<AppState>,
    ctx: Ctx,
    JsonBody(b): JsonBody<MergeEnqueue>,
) -> ApiResult {
    ok(&s.maestro.enqueue_merge(&ctx.op, b).await?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartMergeBody {
    project_id: String,
    target: String,
}

/// A runner takes the next entry of a queue; `null` when there is none or another runner
/// got it first.
async fn start_merge(
    State(s): State<AppState>,
    ctx: Ctx,
    JsonBody(b): JsonBody<StartMergeBody>,
) -> ApiResult {
    ok(&s
        .maestro
        .start_merge(&ctx.op, &b.project_id, &b.target)
        .await?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FinishMergeBody {
    task_id: String,
    target: String,
    result: MergeResult,
}

async fn finish_merge(
    State(s): State<AppState>,
    ctx: Ctx,
    JsonBody(b): JsonBody<FinishMergeBody>,
) -> ApiResult {
    ok(&s
        .maestro
        .finish_merge(&ctx.op, &b.task_id, &b.target, b.result)
        .await?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MergeStepBody {
    task_id: String,
    target: String,
    step: crate::worktree::Progress,
}

async fn merge_step(
    State(s): State<AppState>,
    ctx: Ctx,
    JsonBody(b): JsonBody<MergeStepBody>,
) -> ApiResult {
    s.maestro
        .merge_step(&ctx.op, &b.task_id, &b.target, b.step)
        .await?;
    ok(&json!({}))
}

// ---- events and status ---------------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(default)]
struct EventsQuery {
    since: i64,
    limit: Option<usize>,
    /// Comma-separated project ids.
    projects: Option<String>,
}

async fn events(State(s): State<AppState>, Q(q): Q<EventsQuery>) -> ApiResult {
    let limit = q.limit.unwrap_or(crate::rules::limits::DEFAULT_EVENTS);
    let projects: Vec<String> = q
        .projects
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    // Validated first; then the bounds: events committed meanwhile are found by the next
    // poll.
    let events = s.maestro.events_since(q.since, limit, &projects).await?;
    let latest = s
        .maestro
        .latest_seq()
        .await?
        .max(events.last().map_or(0, |e| e.seq));
    let oldest = s.maestro.oldest_seq().await?;
    ok(&json!({
        "events": events,
        "latestSeq": latest,
        "oldestSeq": oldest,
        "resyncRequired": q.since + 1 < oldest,
    }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct StatusQuery {
    project_id: Option<String>,
}

async fn status(State(s): State<AppState>, ctx: Ctx, Q(q): Q<StatusQuery>) -> ApiResult {
    ok(&s
        .maestro
        .status_as(&ctx.op, q.project_id.as_deref())
        .await?)
}
