//! Prometheus metrics: requests by route and status, latency histograms, WebSocket clients,
//! events, and tasks by status (read from the store at scrape time).

use super::AppState;
use crate::model::TaskStatus;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header::CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default, Clone)]
struct RouteStats {
    /// (method, status) → count.
    by_status: Vec<(&'static str, u16, u64)>,
    /// Cumulative counts are computed at render time; these are per bucket.
    buckets: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

/// The server's counters.
#[derive(Default)]
pub(crate) struct Metrics {
    routes: Mutex<HashMap<String, RouteStats>>,
    ws_clients: AtomicI64,
    ws_connections: AtomicU64,
    events_delivered: AtomicU64,
    events_published: AtomicU64,
    slow_consumers: AtomicU64,
    ws_ops: AtomicU64,
}

impl Metrics {
    fn record(&self, route: &str, method: &'static str, status: u16, secs: f64) {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let stats = match routes.get_mut(route) {
            Some(s) => s,
            None => routes.entry(route.to_string()).or_default(),
        };
        match stats
            .by_status
            .iter_mut()
            .find(|(m, s, _)| *s == status && *m == method)
        {
            Some(entry) => entry.2 += 1,
            None => stats.by_status.push((method, status, 1)),
        }
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        stats.buckets[i] += 1;
        stats.sum += secs;
        stats.count += 1;
    }

    pub fn ws_clients(&self) -> i64 {
        self.ws_clients.load(Ordering::Relaxed)
    }
    pub fn ws_connected(&self) {
        self.ws_clients.fetch_add(1, Ordering::Relaxed);
        self.ws_connections.fetch_add(1, Ordering::Relaxed);
    }
    pub fn ws_disconnected(&self) {
        self.ws_clients.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn delivered(&self, n: u64) {
        self.events_delivered.fetch_add(n, Ordering::Relaxed);
    }
    pub fn published(&self, n: u64) {
        self.events_published.fetch_add(n, Ordering::Relaxed);
    }
    pub fn slow_consumer(&self) {
        self.slow_consumers.fetch_add(1, Ordering::Relaxed);
    }
    pub fn ws_op(&self) {
        self.ws_ops.fetch_add(1, Ordering::Relaxed);
    }
}

/// The route label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

/// The method label: the standard methods by name, any other one as `other`, so made-up
/// methods cannot grow the series without bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::PUT => "PUT",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Middleware: checks the token and the origin of browsers' requests, then counts every request by route template (the
/// requests that match none under one `unmatched` label), method and status, and times it.
/// Only route templates are labelled or logged, never a raw path or query string (a
/// `/ws?token=` must not reach a log).
pub(crate) async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = method_label(req.method());
    let refused = super::api::refuse_unauthorized(&s, &req)
        .or_else(|| super::api::refuse_cross_origin(&s, &req));
    let resp = match refused {
        Some(refused) => refused,
        None => next.run(req).await,
    };
    let route = route.as_ref().map_or(UNMATCHED, |r| r.as_str());
    s.metrics.record(
        route,
        method,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    tracing::debug!(
        method,
        route,
        status = resp.status().as_u16(),
        elapsed_us = start.elapsed().as_micros() as u64,
        "request"
    );
    resp
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`: the Prometheus text format.
pub(crate) async fn render(State(s): State<AppState>) -> Response {
    let m = &s.metrics;
    let mut out = String::with_capacity(4096);
    // Snapshot under the lock, format outside it.
    let routes: BTreeMap<String, RouteStats> = {
        let routes = m.routes.lock().unwrap_or_else(|p| p.into_inner());
        routes
            .iter()
            .map(|(r, st)| (r.clone(), st.clone()))
            .collect()
    };
    out.push_str("# HELP maestro_http_requests_total HTTP requests by route, method and status.\n");
    out.push_str("# TYPE maestro_http_requests_total counter\n");
    for (route, st) in &routes {
        let mut by_status = st.by_status.clone();
        by_status.sort();
        for (method, status, n) in by_status {
            let _ = writeln!(
                out,
                "maestro_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                label(route)
            );
        }
    }
    out.push_str("# HELP maestro_http_request_duration_seconds HTTP request latency by route.\n");
    out.push_str("# TYPE maestro_http_request_duration_seconds histogram\n");
    for (route, st) in &routes {
        let route = label(route);
        let (sum, count) = (st.sum, st.count);
        let mut cumulative = 0;
        for (i, n) in st.buckets.iter().enumerate() {
            cumulative += n;
            let le = BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "maestro_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "maestro_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "maestro_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
        );
    }
    let scalar = |out: &mut String, name: &str, ty: &str, help: &str, v: String| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {ty}\n{name} {v}");
    };
    let max_connections = s.opts.max_connections;
    scalar(
        &mut out,
        "maestro_connections_open",
        "gauge",
        "Open connections (HTTP and WebSocket), counted against maestro_connections_max.",
        (max_connections - s.connections.available_permits().min(max_connections)).to_string(),
    );
    scalar(
        &mut out,
        "maestro_connections_max",
        "gauge",
        "Most connections served at once; more wait in the listen backlog.",
        max_connections.to_string(),
    );
    scalar(
        &mut out,
        "maestro_ws_clients",
        "gauge",
        "Connected WebSocket clients.",
        m.ws_clients().to_string(),
    );
    scalar(
        &mut out,
        "maestro_ws_connections_total",
        "counter",
        "WebSocket connections accepted.",
        m.ws_connections.load(Ordering::Relaxed).to_string(),
    );
    scalar(
        &mut out,
        "maestro_ws_subscriptions",
        "gauge",
        "WebSocket clients receiving live events.",
        s.hub.subscribers().to_string(),
    );
    scalar(
        &mut out,
        "maestro_events_published_seq",
        "gauge",
        "The seq of the last event fanned out to subscribers.",
        s.hub.published().to_string(),
    );
    scalar(
        &mut out,
        "maestro_ws_slow_consumers_total",
        "counter",
        "WebSocket clients disconnected for falling behind.",
        m.slow_consumers.load(Ordering::Relaxed).to_string(),
    );
    scalar(
        &mut out,
        "maestro_ws_ops_total",
        "counter",
        "Operations received over WebSocket.",
        m.ws_ops.load(Ordering::Relaxed).to_string(),
    );
    scalar(
        &mut out,
        "maestro_events_published_total",
        "counter",
        "Events read from the event log and fanned out.",
        m.events_published.load(Ordering::Relaxed).to_string(),
    );
    scalar(
        &mut out,
        "maestro_events_delivered_total",
        "counter",
        "Event frames sent to WebSocket clients (replay and live).",
        m.events_delivered.load(Ordering::Relaxed).to_string(),
    );
    scalar(
        &mut out,
        "maestro_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        s.started.elapsed().as_secs().to_string(),
    );
    if let Ok(latest) = s.maestro.latest_seq().await {
        scalar(
            &mut out,
            "maestro_event_log_latest_seq",
            "gauge",
            "The latest seq of the event log.",
            latest.to_string(),
        );
    }
    match tasks_by_status(&s).await {
        Ok(counts) => {
            out.push_str("# HELP maestro_tasks Tasks by status, over all projects.\n");
            out.push_str("# TYPE maestro_tasks gauge\n");
            for (status, n) in counts {
                let _ = writeln!(out, "maestro_tasks{{status=\"{status}\"}} {n}");
            }
        }
        Err(e) => {
            let _ = writeln!(out, "# maestro_tasks unavailable: {}", label(e.message()));
        }
    }
    let mut resp = out.into_response();
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

async fn tasks_by_status(s: &AppState) -> crate::Result<Vec<(&'static str, i64)>> {
    let mut counts: Vec<(&'static str, i64)> =
        TaskStatus::ALL.iter().map(|st| (st.as_str(), 0)).collect();
    for p in s.maestro.list_projects().await? {
        let report = s.maestro.status(Some(&p.id)).await?;
        for (status, n) in counts.iter_mut() {
            *n += report
                .tasks
                .by_status
                .get(*status)
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0);
        }
    }
    Ok(counts)
}
