//! The REST API of `maestro serve`, against a real server on 127.0.0.1:0.
#![cfg(feature = "server")]

mod server_support;

use maestro_core::server::{ServerOptions, check_bind_allowed};
use maestro_core::{Code, Maestro};
use serde_json::{Value, json};
use server_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_and_fails_with_the_right_status() {
    let s = TestServer::start().await;
    let h = &s.http;

    // health
    let (st, body) = call(h.get(s.url("/health"))).await;
    assert_eq!(st, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["db"], "ok");
    assert_eq!(body["database"]["kind"], "sqlite");
    // The store's connections: the check above returned the one it used.
    let pool = &body["database"]["pool"];
    let n = |k: &str| {
        pool[k]
            .as_u64()
            .unwrap_or_else(|| panic!("pool.{k}: {body}"))
    };
    assert!(n("max") >= 1 && n("size") <= n("max"), "{body}");
    assert!(n("available") <= n("size"), "{body}");
    assert_eq!(n("waiting"), 0, "{body}");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(body["ws_clients"], 0);
    assert!(body["uptime_s"].is_u64());

    // projects
    assert_error(
        &call(h.get(s.url("/api/projects/default"))).await,
        400,
        "no_project_context",
    );
    let (st, p) = call(
        h.post(s.url("/api/projects"))
            .json(&json!({"name": "demo", "makeDefault": true})),
    )
    .await;
    assert_eq!(st, 201, "{p}");
    let pid = p["id"].as_str().unwrap().to_string();
    let (st, list) = call(h.get(s.url("/api/projects"))).await;
    assert_eq!(st, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (st, got) = call(h.get(s.url(&format!("/api/projects/{pid}")))).await;
    assert_eq!((st, &got["name"]), (200, &json!("demo")));
    let (_, def) = call(h.get(s.url("/api/projects/default"))).await;
    assert_eq!(def["id"], pid);
    assert_error(
        &call(h.get(s.url("/api/projects/p-nope"))).await,
        404,
        "project_not_found",
    );
    assert_error(
        &call(h.post(s.url("/api/projects")).json(&json!({}))).await,
        400,
        "missing_required_field",
    );

    // tasks
    let (st, a) = call(h.post(s.url("/api/tasks")).json(&json!({"title": "A"}))).await;
    assert_eq!(st, 201, "{a}");
    let a_id = a["id"].as_str().unwrap().to_string();
    let (_, b) = call(
        h.post(s.url("/api/tasks"))
            .json(&json!({"title": "B", "dependsOn": [a_id], "priority": "high", "labels": ["x"]})),
    )
    .await;
    let b_id = b["id"].as_str().unwrap().to_string();
    let (_, c) = call(h.post(s.url("/api/tasks")).json(&json!({"title": "C"}))).await;
    let c_id = c["id"].as_str().unwrap().to_string();
    assert_error(
        &call(h.post(s.url("/api/tasks")).json(&json!({"title": ""}))).await,
        400,
        "missing_required_field",
    );
    assert_error(
        &call(
            h.post(s.url("/api/tasks"))
                .json(&json!({"title": "X", "priority": "urgent!"})),
        )
        .await,
        400,
        "invalid_priority",
    );

    let (st, page) = call(h.get(s.url("/api/tasks"))).await;
    assert_eq!(st, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let (_, page) = call(h.get(s.url("/api/tasks?limit=2"))).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["nextCursor"].as_str().unwrap().to_string();
    let (_, rest) = call(
        h.get(s.url("/api/tasks"))
            .query(&[("limit", "2"), ("cursor", &cursor)]),
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    let (_, high) = call(h.get(s.url("/api/tasks?priority=high&label=x"))).await;
    assert_eq!(high["items"][0]["id"], b_id);
    let (_, in_project) =
        call(h.get(s.url(&format!("/api/tasks?projectId={pid}&status=pending")))).await;
    assert_eq!(in_project["items"].as_array().unwrap().len(), 3);
    let bad = call(h.get(s.url("/api/tasks?status=bogus"))).await;
    assert_error(&bad, 400, "invalid_status");
    assert!(bad.1["suggestion"].is_string());
    assert_error(
        &call(h.get(s.url("/api/tasks?limit=0"))).await,
        400,
        "invalid_argument",
    );

    let (st, ready) = call(h.get(s.url("/api/tasks/ready?limit=10"))).await;
    assert_eq!(st, 200);
    let ready: Vec<&str> = ready
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ready, vec![a_id.as_str(), c_id.as_str()]);

    let resp = h
        .get(s.url(&format!("/api/tasks/{a_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["etag"], "\"1\"");
    let detail: Value = resp.json().await.unwrap();
    assert_eq!(detail["title"], "A");
    assert_eq!(detail["dependents"][0]["id"], b_id);
    // An id prefix works too.
    let (st, _) = call(h.get(s.url(&format!("/api/tasks/{}", &a_id[..6])))).await;
    assert_eq!(st, 200);
    assert_error(
        &call(h.get(s.url("/api/tasks/t-doesnotexist"))).await,
        404,
        "task_not_found",
    );

    // PATCH with If-Match
    let (st, a2) = call(
        h.patch(s.url(&format!("/api/tasks/{a_id}")))
            .header("If-Match", "1")
            .json(&json!({"title": "A2"})),
    )
    .await;
    assert_eq!(st, 200, "{a2}");
    assert_eq!(a2["title"], "A2");
    assert_eq!(a2["version"], 2);
    let stale = call(
        h.patch(s.url(&format!("/api/tasks/{a_id}")))
            .header("If-Match", "\"1\"")
            .json(&json!({"title": "A3"})),
    )
    .await;
    assert_error(&stale, 409, "version_conflict");
    assert_eq!(stale.1["details"]["actualVersion"], 2);
    assert_error(
        &call(
            h.patch(s.url(&format!("/api/tasks/{a_id}")))
                .json(&json!({})),
        )
        .await,
        400,
        "invalid_argument",
    );
    assert_error(
        &call(h.post(s.url(&format!("/api/tasks/{b_id}/start")))).await,
        409,
        "dependencies_incomplete",
    );

    // sessions
    let (st, w) = call(h.post(s.url("/api/sessions")).json(&json!({"name": "w1"}))).await;
    assert_eq!(st, 201, "{w}");
    assert_eq!(w["status"], "active");
    let sid = w["id"].as_str().unwrap().to_string();
    let (st, sessions) = call(h.get(s.url("/api/sessions?active=true"))).await;
    assert_eq!(st, 200);
    assert_eq!(sessions["items"].as_array().unwrap().len(), 1);
    let (st, got) = call(h.get(s.url(&format!("/api/sessions/{sid}")))).await;
    assert_eq!((st, &got["name"]), (200, &json!("w1")));
    let (st, got) = call(
        h.patch(s.url(&format!("/api/sessions/{sid}")))
            .json(&json!({"pid": 42})),
    )
    .await;
    assert_eq!((st, &got["pid"]), (200, &json!(42)));
    assert_error(
        &call(
            h.patch(s.url(&format!("/api/sessions/{sid}")))
                .json(&json!({})),
        )
        .await,
        400,
        "invalid_argument",
    );
    let (st, _) = call(h.post(s.url(&format!("/api/sessions/{sid}/heartbeat")))).await;
    assert_eq!(st, 200);
    assert_error(
        &call(h.get(s.url("/api/sessions/s-nobody"))).await,
        404,
        "session_not_found",
    );
    let (st, spawned) = call(
        h.post(s.url("/api/sessions/spawn"))
            .json(&json!({"taskIds": [c_id], "agent": "claude"})),
    )
    .await;
    assert_eq!(st, 201, "{spawned}");
    assert_eq!(spawned["status"], "spawning");
    assert_error(
        &call(h.post(s.url("/api/sessions/spawn")).json(&json!({}))).await,
        400,
        "missing_required_field",
    );

    // claim the next ready task (A), by body and by header
    assert_error(
        &call(h.post(s.url("/api/tasks/claim"))).await,
        400,
        "missing_required_field",
    );
    let (st, claimed) = call(
        h.post(s.url("/api/tasks/claim"))
            .header("X-Maestro-Session", &sid)
            .json(&json!({})),
    )
    .await;
    assert_eq!(st, 200, "{claimed}");
    assert_eq!(claimed["id"], a_id);
    assert_eq!(claimed["status"], "in_progress");
    assert_eq!(claimed["sessionIds"][0], sid);

    // timeline
    let (st, e) = call(
        h.post(s.url(&format!("/api/tasks/{a_id}/timeline")))
            .json(&json!({"type": "progress", "message": "half way"})),
    )
    .await;
    assert_eq!(st, 201, "{e}");
    assert_eq!(e["type"], "progress");
    let (st, e) = call(
        h.post(s.url(&format!("/api/tasks/{a_id}/timeline")))
            .json(&json!({"type": "comment", "author": "bob", "message": "nice"})),
    )
    .await;
    assert_eq!((st, &e["author"]), (201, &json!("bob")));
    assert_error(
        &call(
            h.post(s.url(&format!("/api/tasks/{a_id}/timeline")))
                .json(&json!({"type": "created", "message": "x"})),
        )
        .await,
        400,
        "invalid_argument",
    );
    assert_error(
        &call(
            h.post(s.url(&format!("/api/tasks/{a_id}/timeline")))
                .json(&json!({"type": "progress", "message": "  "})),
        )
        .await,
        400,
        "missing_required_field",
    );
    // The whole timeline, paged oldest first with a cursor.
    let (st, all) = call(h.get(s.url(&format!("/api/tasks/{a_id}/timeline")))).await;
    assert_eq!(st, 200);
    let all: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(&all[all.len() - 2..], ["progress", "comment"]);
    let (st, first) = call(h.get(s.url(&format!("/api/tasks/{a_id}/timeline?limit=2")))).await;
    assert_eq!(st, 200);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["nextCursor"].as_str().unwrap();
    let (_, rest) = call(h.get(s.url(&format!(
        "/api/tasks/{a_id}/timeline?limit=1000&cursor={cursor}"
    ))))
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), all.len() - 2);
    assert!(rest["nextCursor"].is_null());

    // subtasks
    let (st, sub) = call(
        h.post(s.url(&format!("/api/tasks/{a_id}/subtasks")))
            .json(&json!({"title": "write tests"})),
    )
    .await;
    assert_eq!(st, 201, "{sub}");
    let sub_id = sub["id"].as_str().unwrap().to_string();
    let (_, subs) = call(h.get(s.url(&format!("/api/tasks/{a_id}/subtasks")))).await;
    assert_eq!(subs.as_array().unwrap().len(), 1);
    let (st, done) = call(
        h.patch(s.url(&format!("/api/tasks/{a_id}/subtasks/{sub_id}")))
            .json(&json!({"completed": true})),
    )
    .await;
    assert_eq!((st, &done["completed"]), (200, &json!(true)));
    let (st, _) = call(h.delete(s.url(&format!("/api/tasks/{a_id}/subtasks/{sub_id}")))).await;
    assert_eq!(st, 200);
    assert_error(
        &call(h.delete(s.url(&format!("/api/tasks/{a_id}/subtasks/{sub_id}")))).await,
        404,
        "subtask_not_found",
    );

    // status actions
    let (st, t) = call(h.post(s.url(&format!("/api/tasks/{a_id}/complete")))).await;
    assert_eq!((st, &t["status"]), (200, &json!("completed")));
    let (st, t) = call(
        h.post(s.url(&format!("/api/tasks/{b_id}/claim")))
            .json(&json!({"sessionId": sid})),
    )
    .await;
    assert_eq!((st, &t["status"]), (200, &json!("in_progress")), "{t}");
    assert_error(
        &call(
            h.post(s.url(&format!("/api/tasks/{b_id}/block")))
                .json(&json!({})),
        )
        .await,
        400,
        "missing_required_field",
    );
    let (st, t) = call(
        h.post(s.url(&format!("/api/tasks/{b_id}/block")))
            .json(&json!({"reason": "waiting"})),
    )
    .await;
    assert_eq!((st, &t["status"]), (200, &json!("blocked")));
    assert_error(
        &call(h.post(s.url(&format!("/api/tasks/{b_id}/complete")))).await,
        409,
        "invalid_transition",
    );
    let (st, t) = call(h.post(s.url(&format!("/api/tasks/{b_id}/start")))).await;
    assert_eq!((st, &t["status"]), (200, &json!("in_progress")));
    let (st, t) = call(
        h.post(s.url(&format!("/api/tasks/{b_id}/release")))
            .json(&json!({"reason": "handing over"})),
    )
    .await;
    assert_eq!((st, &t["status"]), (200, &json!("pending")), "{t}");
    let (st, t) = call(h.post(s.url(&format!("/api/tasks/{b_id}/cancel")))).await;
    assert_eq!((st, &t["status"]), (200, &json!("cancelled")));
    let (st, t) = call(h.post(s.url(&format!("/api/tasks/{b_id}/reopen")))).await;
    assert_eq!((st, &t["status"]), (200, &json!("pending")));
    let version = t["version"].as_i64().unwrap();
    assert_error(
        &call(
            h.post(s.url(&format!("/api/tasks/{b_id}/start")))
                .json(&json!({"expectedVersion": version - 1})),
        )
        .await,
        409,
        "version_conflict",
    );

    // delete
    let (st, gone) = call(h.delete(s.url(&format!("/api/tasks/{c_id}")))).await;
    assert_eq!((st, &gone["id"]), (200, &json!(c_id)));
    assert_error(
        &call(h.get(s.url(&format!("/api/tasks/{c_id}")))).await,
        404,
        "task_not_found",
    );

    // events and status
    let (st, ev) = call(h.get(s.url("/api/events?since=0&limit=5"))).await;
    assert_eq!(st, 200);
    let seqs: Vec<i64> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    assert_eq!(ev["events"][0]["type"], "project:created");
    let latest = ev["latestSeq"].as_i64().unwrap();
    assert!(latest > 20, "{latest}");
    assert_eq!(ev["oldestSeq"], 1);
    let (_, ev) = call(h.get(s.url(&format!("/api/events?since={}", latest - 1)))).await;
    assert_eq!(ev["events"].as_array().unwrap().len(), 1);
    let (_, ev) = call(h.get(s.url("/api/events?projects=p-other,p-none"))).await;
    assert!(ev["events"].as_array().unwrap().is_empty());
    let (_, ev) = call(h.get(s.url(&format!("/api/events?projects={pid}&limit=3")))).await;
    assert_eq!(ev["events"].as_array().unwrap().len(), 3);
    assert_error(
        &call(h.get(s.url("/api/events?since=abc"))).await,
        400,
        "invalid_argument",
    );
    let (st, status) = call(h.get(s.url("/api/status"))).await;
    assert_eq!(st, 200, "{status}");
    assert_eq!(status["projectId"], pid);
    assert_eq!(status["tasks"]["total"], 2);
    assert_eq!(status["tasks"]["byStatus"]["completed"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_bad_bodies_and_methods_answer_json() {
    let s = TestServer::start().await;
    s.project("demo").await;
    let h = &s.http;
    let nf = call(h.get(s.url("/api/nothing-here"))).await;
    assert_error(&nf, 404, "not_found");
    assert!(nf.1["suggestion"].is_string());
    assert_error(&call(h.get(s.url("/nope"))).await, 404, "not_found");
    let (st, body) = call(h.put(s.url("/api/tasks"))).await;
    assert_eq!(st, 405);
    assert_eq!(body["success"], false);

    let bad = call(
        h.post(s.url("/api/tasks"))
            .header("content-type", "application/json")
            .body("{\"title\": "),
    )
    .await;
    assert_error(&bad, 400, "invalid_argument");
    assert!(bad.1["suggestion"].as_str().unwrap().contains("JSON"));
    assert_error(
        &call(h.post(s.url("/api/tasks")).json(&json!({"title": 5}))).await,
        400,
        "invalid_argument",
    );
    assert_error(
        &call(
            h.post(s.url("/api/tasks"))
                .json(&json!(["not", "an", "object"])),
        )
        .await,
        400,
        "invalid_argument",
    );
    assert_error(
        &call(
            h.patch(s.url("/api/tasks/t-x"))
                .header("If-Match", "newest")
                .json(&json!({"title": "x"})),
        )
        .await,
        400,
        "invalid_argument",
    );

    // Bodies over 1 MiB: 413 with the JSON error, and the server keeps serving.
    let big = json!({"title": "big", "description": "x".repeat(2 * 1024 * 1024)});
    let too_large = call(h.post(s.url("/api/tasks")).json(&big)).await;
    assert_error(&too_large, 413, "payload_too_large");
    assert_eq!(too_large.1["details"]["max"], 1024 * 1024);
    let (st, page) = call(h.get(s.url("/api/tasks"))).await;
    assert_eq!(st, 200);
    assert!(page["items"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_makes_a_retry_return_the_first_result() {
    let s = TestServer::start().await;
    s.project("demo").await;
    let h = &s.http;
    let post = || {
        h.post(s.url("/api/tasks"))
            .header("Idempotency-Key", "create-once-1")
            .json(&json!({"title": "only once"}))
    };
    let (st1, first) = call(post()).await;
    let (st2, second) = call(post()).await;
    assert_eq!((st1, st2), (201, 201));
    assert_eq!(first, second);
    let (_, page) = call(h.get(s.url("/api/tasks"))).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    // A different key creates another task; the same key on an update is applied once.
    let (_, other) = call(
        h.post(s.url("/api/tasks"))
            .header("Idempotency-Key", "create-once-2")
            .json(&json!({"title": "only once"})),
    )
    .await;
    assert_ne!(other["id"], first["id"]);
    let id = first["id"].as_str().unwrap();
    let progress = || {
        h.post(s.url(&format!("/api/tasks/{id}/timeline")))
            .header("Idempotency-Key", "note-1")
            .json(&json!({"type": "progress", "message": "step"}))
    };
    let (_, n1) = call(progress()).await;
    let (_, n2) = call(progress()).await;
    assert_eq!(n1["id"], n2["id"]);
    let (_, tl) = call(h.get(s.url(&format!("/api/tasks/{id}/timeline")))).await;
    let progress_entries = tl["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "progress")
        .count();
    assert_eq!(progress_entries, 1);

    // Enum values are read as the CLI reads them, and a bad one keeps its own code.
    let (st, high) = call(
        h.post(s.url("/api/tasks"))
            .json(&json!({"title": "loud", "priority": "HIGH"})),
    )
    .await;
    assert_eq!((st, &high["priority"]), (201, &json!("high")));
    assert_error(
        &call(
            h.post(s.url("/api/tasks"))
                .json(&json!({"title": "x", "priority": "urgent"})),
        )
        .await,
        400,
        "invalid_priority",
    );
    assert_error(
        &call(h.get(s.url("/api/tasks?status=done"))).await,
        400,
        "invalid_status",
    );

    // A key reused for another request is refused (422), never answered with the first
    // request's result, and never a 500.
    let (_, b) = call(h.post(s.url("/api/tasks")).json(&json!({"title": "B"}))).await;
    let b_id = b["id"].as_str().unwrap();
    let reuse = [
        h.post(s.url("/api/tasks"))
            .header("Idempotency-Key", "create-once-1")
            .json(&json!({"title": "second"})),
        h.post(s.url(&format!("/api/tasks/{b_id}/cancel")))
            .header("Idempotency-Key", "create-once-1")
            .json(&json!({})),
        h.delete(s.url(&format!("/api/tasks/{b_id}")))
            .header("Idempotency-Key", "create-once-1"),
        h.post(s.url("/api/sessions"))
            .header("Idempotency-Key", "create-once-1")
            .json(&json!({"name": "w"})),
    ];
    for req in reuse {
        assert_error(&call(req).await, 422, "idempotency_key_reused");
    }
    let (_, b_now) = call(h.get(s.url(&format!("/api/tasks/{b_id}")))).await;
    assert_eq!(b_now["status"], "pending", "the reused key applied nothing");
    let (_, page) = call(h.get(s.url("/api/tasks"))).await;
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["title"] != "second")
    );
    // Keys are scoped to the caller: another client's identical key is its own request.
    let (st, theirs) = call(
        h.post(s.url("/api/tasks"))
            .header("Idempotency-Key", "create-once-1")
            .header("X-Maestro-Client", "someone-else")
            .json(&json!({"title": "second"})),
    )
    .await;
    assert_eq!(st, 201);
    assert_eq!(theirs["title"], "second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_api_ws_and_metrics_but_not_health() {
    let s = TestServer::start_with(|o| o.token = Some("s3cret".into())).await;
    let h = &s.http;
    let none = call(h.get(s.url("/api/projects"))).await;
    assert_error(&none, 401, "unauthorized");
    let resp = h.get(s.url("/api/projects")).send().await.unwrap();
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_error(
        &call(h.get(s.url("/api/projects")).bearer_auth("wrong")).await,
        401,
        "unauthorized",
    );
    assert_error(
        &call(h.get(s.url("/api/unknown")).bearer_auth("wrong")).await,
        401,
        "unauthorized",
    );
    assert_error(&call(h.get(s.url("/metrics"))).await, 401, "unauthorized");
    let (st, _) = call(h.get(s.url("/api/projects")).bearer_auth("s3cret")).await;
    assert_eq!(st, 200);
    let (st, health) = call(h.get(s.url("/health"))).await;
    assert_eq!((st, &health["status"]), (200, &json!("ok")));
    let metrics = h
        .get(s.url("/metrics"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);

    // WebSocket: refused without or with a wrong token; accepted by header or query.
    use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
    for url in [s.ws_url.clone(), format!("{}?token=nope", s.ws_url)] {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
            other => panic!("expected 401, got {:?}", other.map(|_| ())),
        }
    }
    let mut ws = ws_connect(&format!("{}?token=s3cret", s.ws_url)).await;
    hello(&mut ws).await;
    let mut req = s.ws_url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    hello(&mut ws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_a_public_address_needs_a_token() {
    let addr = "0.0.0.0:0".parse().unwrap();
    let e = check_bind_allowed(addr, None).unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.suggestion().unwrap().contains("127.0.0.1"));
    // serve() refuses before binding anything.
    let opts = ServerOptions::new(Maestro::in_memory().unwrap());
    let e = maestro_core::server::serve(opts, addr).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("without a token"));
    assert!(check_bind_allowed("127.0.0.1:0".parse().unwrap(), None).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_clients_events_and_tasks() {
    let s = TestServer::start().await;
    s.project("demo").await;
    let h = &s.http;
    let (_, t) = call(h.post(s.url("/api/tasks")).json(&json!({"title": "m"}))).await;
    let id = t["id"].as_str().unwrap();
    for _ in 0..3 {
        call(h.get(s.url(&format!("/api/tasks/{id}")))).await;
    }
    call(h.get(s.url("/api/tasks/t-missing"))).await;
    let mut ws = s.ws().await;
    hello(&mut ws).await;
    send(&mut ws, &subscribe(0, &[])).await;
    let n = s.maestro.latest_seq().await.unwrap() as usize;
    events(&mut ws, n).await;

    // The delivered counter moves once the server's write completes, which may be just
    // after the client has read the frames: scrape until it shows.
    let delivered = format!("maestro_events_delivered_total {n}");
    let mut text = String::new();
    for _ in 0..100 {
        let resp = h.get(s.url("/metrics")).send().await.unwrap();
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        text = resp.text().await.unwrap();
        if text.lines().any(|l| l == delivered) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(
        has(r#"maestro_http_requests_total{route="/api/tasks/{id}",method="GET",status="200"} 3"#),
        "{text}"
    );
    assert!(has(
        r#"maestro_http_requests_total{route="/api/tasks/{id}",method="GET",status="404"} 1"#
    ));
    assert!(has(
        r#"maestro_http_requests_total{route="/api/tasks",method="POST",status="201"} 1"#
    ));
    assert!(has(
        r#"maestro_http_request_duration_seconds_count{route="/api/tasks/{id}"} 4"#
    ));
    assert!(has(
        r#"maestro_http_request_duration_seconds_bucket{route="/api/tasks/{id}",le="+Inf"} 4"#
    ));
    assert!(has(
        "# TYPE maestro_http_request_duration_seconds histogram"
    ));
    assert!(has("maestro_ws_clients 1"), "{text}");
    assert!(
        has(&format!("maestro_events_delivered_total {n}")),
        "{text}"
    );
    assert!(has(r#"maestro_tasks{status="pending"} 1"#), "{text}");
    assert!(has(r#"maestro_tasks{status="completed"} 0"#));
    let (_, health) = call(h.get(s.url("/health"))).await;
    assert_eq!(health["ws_clients"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_when_the_database_fails() {
    let s = TestServer::start().await;
    let (st, _) = call(s.http.get(s.url("/health"))).await;
    assert_eq!(st, 200);
    // Another process breaks the schema under the server.
    let conn = rusqlite::Connection::open(&s.db).unwrap();
    conn.execute_batch("DROP TABLE events").unwrap();
    drop(conn);
    let (st, health) = call(s.http.get(s.url("/health"))).await;
    assert_eq!(st, 503, "{health}");
    assert_eq!(health["status"], "unavailable");
    assert_eq!(health["db"], "error");
    assert_eq!(health["error"]["error"], "storage_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_send_no_request_in_time_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    let s = TestServer::start_with(|o| {
        o.header_read_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let addr = s.url.trim_start_matches("http://").to_string();
    // Headers that never end, a connection that sends nothing, and a keep-alive connection
    // left idle after one answered request.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 4096];
    let n = tokio::time::timeout(WAIT, idle.read(&mut first))
        .await
        .expect("the idle connection's first answer")
        .unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &first[..n]);
    for (name, c) in [
        ("slow headers", &mut slow),
        ("silent", &mut silent),
        ("idle keep-alive", &mut idle),
    ] {
        let got = tokio::time::timeout(WAIT, until_closed(c))
            .await
            .unwrap_or_else(|_| panic!("the {name} connection is still open"));
        // At most an error status before the close, never an answer to the cut request.
        assert!(!got.starts_with(b"HTTP/1.1 200"), "{name}: {got:?}");
    }
    // A client that keeps its requests coming is served throughout, on one connection.
    let mut busy = TcpStream::connect(&addr).await.unwrap();
    for _ in 0..5 {
        busy.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let n = tokio::time::timeout(WAIT, busy.read(&mut first))
            .await
            .expect("an answer on the busy connection")
            .unwrap();
        assert!(first[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &first[..n]);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (st, _) = call(s.http.get(s.url("/health"))).await;
    assert_eq!(st, 200);
}
