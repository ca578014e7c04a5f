//! `maestro mcp`: Maestro's operations as Model Context Protocol tools over stdio.
//!
//! The store is opened as every command opens it (local database or server), the context
//! comes from the environment (`MAESTRO_SESSION_ID`, `MAESTRO_TASK_IDS`,
//! `MAESTRO_PROJECT_ID`, …), and each tool calls the core facade as the matching CLI command
//! does. Results carry the CLI's `data` as `structuredContent` (lists as `{"items": [...]}`)
//! and as text; failures are tool results with `isError` and the error object
//! (`code`, `message`, `details`, `suggestion`, `retryable`). Malformed arguments are such
//! results too (`invalid_argument`), so a model can correct itself; an unknown tool is a
//! JSON-RPC error (-32602), as the protocol wants.

pub mod tools;
mod transport;

use crate::context::Ctx;
use maestro_cli::cli::{McpArgs, ToolSet};
use maestro_core::{Code, Error, Result, Role};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use std::sync::Arc;
use tools::CallContext;

const INSTRUCTIONS: &str = "Maestro coordinates coding agents through tasks. As a worker: \
claim (or get_task) your task, report progress, add and finish subtasks, then complete it, \
or block it with a reason. As an orchestrator: create_task with dependencies, spawn workers, \
watch status and sessions. Failed calls return an error with a suggestion of what to do.";

struct Server {
    cx: Arc<CallContext>,
    set: ToolSet,
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("maestro", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::list(self.set)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let name = request.name.as_ref();
        if !tools::offers(self.set, name) {
            return Err(ErrorData::invalid_params(
                format!("Unknown tool: {name}"),
                Some(json!({ "tool": name, "tools": self.set.as_str() })),
            ));
        }
        let args = request.arguments.unwrap_or_default();
        let result = match tools::call(&self.cx, name, args).await {
            Ok(data) => CallToolResult::structured(data),
            Err(e) => CallToolResult::structured_error(error_object(&e)),
        };
        Ok(result.into())
    }
}

/// The structured error of a failed call.
fn error_object(e: &Error) -> Value {
    let b = e.body();
    json!({
        "code": b.code.as_str(),
        "message": b.message,
        "details": b.details,
        "suggestion": b.suggestion,
        "retryable": b.retryable,
    })
}

/// The set for a session's role: a worker's own, else the orchestrator's (people planning
/// work have no session).
async fn default_set(cx: &CallContext) -> ToolSet {
    let Some(id) = cx.op.session_id.as_deref() else {
        return ToolSet::Orchestrator;
    };
    match cx.m.get_session(id).await {
        Ok(s) if s.role == Role::Orchestrator => ToolSet::Orchestrator,
        Ok(_) => ToolSet::Worker,
        Err(e) => {
            // The calls will say what is wrong with the session; a worker's tools meanwhile.
            eprintln!("maestro mcp: session {id}: {} ({})", e.message(), e.code());
            ToolSet::Worker
        }
    }
}

pub async fn run(ctx: &mut Ctx, args: McpArgs) -> Result<()> {
    let project = ctx.project()?;
    let server = ctx.server_url()?;
    let m = ctx.open(false)?;
    let (mode, key, location) = match &server {
        Some(url) => ("remote", "server", url.clone()),
        None => ("local", "db", ctx.db_path().display().to_string()),
    };
    let whoami = json!({
        "mode": mode,
        key: location,
        "readOnly": m.store().read_only(),
        "projectId": project,
        "sessionId": ctx.session_id(),
        "taskIds": ctx.task_ids(),
    });
    let cx = CallContext {
        m,
        op: ctx.op(),
        project,
        task_ids: ctx.task_ids(),
        whoami,
        cwd: ctx.env.cwd().to_path_buf(),
    };
    let set = match args.tools {
        Some(s) => s,
        None => default_set(&cx).await,
    };
    let server = Server {
        cx: Arc::new(cx),
        set,
    };
    let io = transport::LineTransport::new(tokio::io::stdin(), tokio::io::stdout());
    let running = match server.serve(io).await {
        Ok(r) => r,
        // The client went away before initializing: nothing to serve.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
        Err(e) => {
            return Err(Error::new(
                Code::InvalidArgument,
                format!("The MCP session did not start: {e}"),
            )
            .with_suggestion("Start with an 'initialize' request (MCP lifecycle)"));
        }
    };
    running
        .waiting()
        .await
        .map_err(|e| Error::internal(format!("the MCP server stopped: {e}")))?;
    Ok(())
}
