//! Property tests: the wire codec, id parsing, the task and session status machines and the
//! dependency graph against simple models, and arbitrary bodies and frames against a real server.
//!
//! Each property runs `PROPTEST_CASES` cases (proptest's default, 256); for a longer run:
//! `PROPTEST_CASES=10000 cargo test -p maestro-core --test properties`.

use chrono::{TimeZone, Utc};
use maestro_core::dag::{self, Node};
use maestro_core::id::{self, IdKind};
use maestro_core::protocol::{ClientFrame, Op, ServerFrame};
use maestro_core::rules;
use maestro_core::status::{self, Transition};
use maestro_core::{
    Code, Event, EventType, NewTask, Priority, Session, SessionPatch, SessionStatus, StatusAction,
    StatusChange, SubtaskPatch, TaskPatch, TaskStatus,
};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

// ---- strategies ----------------------------------------------------------------------

/// Field names of the protocol, so that generated objects reach past the first check.
const FIELDS: &[&str] = &[
    "type",
    "id",
    "op",
    "args",
    "since",
    "projects",
    "title",
    "description",
    "priority",
    "status",
    "dependsOn",
    "labels",
    "metadata",
    "projectId",
    "sessionId",
    "taskId",
    "force",
    "expectedVersion",
    "reason",
    "message",
    "author",
    "name",
    "makeDefault",
    "completed",
    "order",
    "role",
    "agent",
    "skill",
    "taskIds",
    "spawn",
    "addDependencies",
    "removeDependencies",
    "action",
    "pid",
    "host",
    "exitCode",
    "cwd",
];

/// Strings: mostly short and plain, sometimes any Unicode, sometimes a protocol word.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-z0-9 _:.-]{0,12}",
        2 => any::<String>(),
        1 => select(FIELDS).prop_map(str::to_string),
        1 => select(vec![
            "pending", "in_progress", "completed", "high", "low", "task.update", "op",
            "subscribe", "ping", "worker", "task:updated", "t-", "",
        ])
        .prop_map(str::to_string),
    ]
    .boxed()
}

/// Numbers that JSON carries exactly (integers, and binary fractions with short decimals).
fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        (-1_000_000i32..1_000_000).prop_map(|n| Value::from(f64::from(n) / 8.0)),
        select(vec![0i64, 1, -1, i64::MAX, i64::MIN]).prop_map(Value::from),
    ]
    .boxed()
}

fn json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![select(FIELDS).prop_map(str::to_string), text()].boxed()
}

fn object() -> BoxedStrategy<Map<String, Value>> {
    prop::collection::vec((key(), json()), 0..6)
        .prop_map(|kv| kv.into_iter().collect())
        .boxed()
}

/// A JSON value that is not `null` (an absent optional field and `null` read the same).
fn json_some() -> BoxedStrategy<Value> {
    json().prop_filter("not null", |v| !v.is_null()).boxed()
}

fn strings() -> BoxedStrategy<Vec<String>> {
    prop::collection::vec(text(), 0..4).boxed()
}

fn priority() -> impl Strategy<Value = Priority> {
    select(Priority::ALL)
}

fn task_status() -> impl Strategy<Value = TaskStatus> {
    select(TaskStatus::ALL)
}

fn new_task() -> BoxedStrategy<NewTask> {
    (
        (
            proptest::option::of(text()),
            text(),
            proptest::option::of(text()),
        ),
        (proptest::option::of(priority()), strings(), strings()),
        proptest::option::of(object()),
    )
        .prop_map(
            |((project_id, title, description), (priority, depends_on, labels), metadata)| {
                NewTask {
                    project_id,
                    title,
                    description,
                    priority,
                    depends_on,
                    labels,
                    metadata,
                }
            },
        )
        .boxed()
}

fn task_patch() -> BoxedStrategy<TaskPatch> {
    (
        (
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(priority()),
            proptest::option::of(task_status()),
        ),
        (strings(), strings(), proptest::option::of(strings())),
        (
            proptest::option::of(object()),
            proptest::option::of(any::<i64>()),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (title, description, priority, status),
                (add_dependencies, remove_dependencies, labels),
                (metadata, expected_version, force),
            )| TaskPatch {
                title,
                description,
                priority,
                status,
                add_dependencies,
                remove_dependencies,
                labels,
                metadata,
                expected_version,
                force,
            },
        )
        .boxed()
}

fn status_change() -> BoxedStrategy<StatusChange> {
    let action = prop_oneof![
        Just(StatusAction::Start),
        Just(StatusAction::Complete),
        text().prop_map(|reason| StatusAction::Block { reason }),
        Just(StatusAction::Reopen),
        Just(StatusAction::Cancel),
        text().prop_map(|reason| StatusAction::Release { reason }),
    ];
    (action, any::<bool>(), proptest::option::of(any::<i64>()))
        .prop_map(|(action, force, expected_version)| StatusChange {
            action,
            force,
            expected_version,
        })
        .boxed()
}

fn subtask_patch() -> BoxedStrategy<SubtaskPatch> {
    (
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<i64>()),
    )
        .prop_map(|(title, description, completed, order)| SubtaskPatch {
            title,
            description,
            completed,
            order,
        })
        .boxed()
}

fn session_patch() -> BoxedStrategy<SessionPatch> {
    (
        (
            proptest::option::of(select(SessionStatus::ALL)),
            proptest::option::of(text()),
            proptest::option::of(any::<i64>()),
            proptest::option::of(text()),
        ),
        (
            proptest::option::of(any::<i64>()),
            proptest::option::of(text()),
            proptest::option::of(strings()),
        ),
    )
        .prop_map(
            |((status, name, pid, host), (exit_code, reason, task_ids))| SessionPatch {
                status,
                name,
                pid,
                host,
                exit_code,
                reason,
                task_ids,
                ..Default::default()
            },
        )
        .boxed()
}

fn op() -> BoxedStrategy<Op> {
    prop_oneof![
        new_task().prop_map(Op::TaskCreate),
        (text(), task_patch()).prop_map(|(id, patch)| Op::TaskUpdate { id, patch }),
        (text(), status_change()).prop_map(|(id, change)| Op::TaskStatus { id, change }),
        text().prop_map(|id| Op::TaskDelete { id }),
        (
            proptest::option::of(text()),
            text(),
            proptest::option::of(text())
        )
            .prop_map(|(id, session_id, project_id)| Op::TaskClaim {
                id,
                session_id,
                project_id
            }),
        (text(), text()).prop_map(|(id, message)| Op::TaskProgress { id, message }),
        (text(), text(), proptest::option::of(text())).prop_map(|(task_id, title, description)| {
            Op::SubtaskCreate {
                task_id,
                title,
                description,
            }
        }),
        (proptest::option::of(text()), text(), subtask_patch())
            .prop_map(|(task_id, id, patch)| Op::SubtaskUpdate { task_id, id, patch }),
        (text(), session_patch()).prop_map(|(id, patch)| Op::SessionUpdate { id, patch }),
        text().prop_map(|id| Op::SessionHeartbeat { id }),
    ]
    .boxed()
}

fn client_frame() -> BoxedStrategy<ClientFrame> {
    prop_oneof![
        (any::<i64>(), strings())
            .prop_map(|(since, projects)| ClientFrame::Subscribe { since, projects }),
        Just(ClientFrame::Ping),
        (text(), op()).prop_map(|(id, op)| ClientFrame::Op { id, op }),
    ]
    .boxed()
}

fn event() -> BoxedStrategy<Event> {
    (
        select(EventType::ALL),
        any::<i64>(),
        (0i64..4_102_444_800, 0u32..1_000_000_000),
        proptest::option::of(text()),
        json(),
    )
        .prop_map(|(event_type, seq, (secs, nanos), project_id, data)| Event {
            event_type,
            seq,
            ts: Utc.timestamp_opt(secs, nanos).unwrap(),
            project_id,
            data,
        })
        .boxed()
}

fn server_frame() -> BoxedStrategy<ServerFrame> {
    prop_oneof![
        (any::<u32>(), any::<i64>())
            .prop_map(|(protocol, seq)| ServerFrame::Hello { protocol, seq }),
        Just(ServerFrame::Pong),
        (
            text(),
            any::<bool>(),
            proptest::option::of(json_some()),
            proptest::option::of(json_some())
        )
            .prop_map(|(id, ok, data, error)| ServerFrame::Ack {
                id,
                ok,
                data,
                error
            }),
        any::<i64>().prop_map(|oldest| ServerFrame::ResyncRequired { oldest }),
        json().prop_map(|error| ServerFrame::Error { error }),
        event().prop_map(ServerFrame::Event),
    ]
    .boxed()
}

/// `text` with one edit: cut short, or a character put in somewhere.
fn mangled(text: String) -> impl Strategy<Value = String> {
    let len = text.chars().count();
    (0..=len, any::<char>(), any::<bool>()).prop_map(move |(at, c, cut)| {
        let mut chars: Vec<char> = text.chars().collect();
        if cut {
            chars.truncate(at);
        } else {
            chars.insert(at, c);
        }
        chars.into_iter().collect()
    })
}

// ---- the wire codec ------------------------------------------------------------------

proptest! {
    #[test]
    fn client_frames_round_trip(frame in client_frame()) {
        let text = frame.encode();
        prop_assert_eq!(ClientFrame::decode(&text).expect(&text), frame);
    }

    #[test]
    fn server_frames_round_trip(frame in server_frame()) {
        let text = frame.encode();
        prop_assert_eq!(ServerFrame::decode(&text).expect(&text), frame);
    }

    #[test]
    fn any_text_decodes_or_fails_cleanly(text in any::<String>()) {
        for result in [
            ClientFrame::decode(&text).map(|_| ()),
            ServerFrame::decode(&text).map(|_| ()),
        ] {
            if let Err(e) = result {
                prop_assert_eq!(e.code(), Code::InvalidArgument);
            }
        }
    }

    #[test]
    fn any_json_decodes_or_fails_cleanly(v in json(), ty in text()) {
        let mut shaped = v.clone();
        if let Value::Object(m) = &mut shaped {
            m.insert("type".into(), Value::String(ty));
        }
        for text in [v.to_string(), shaped.to_string()] {
            // Whatever decodes re-encodes to the same frame.
            if let Ok(f) = ClientFrame::decode(&text) {
                prop_assert_eq!(ClientFrame::decode(&f.encode()).unwrap(), f);
            }
            if let Ok(f) = ServerFrame::decode(&text) {
                prop_assert_eq!(ServerFrame::decode(&f.encode()).unwrap(), f);
            }
        }
    }

    #[test]
    fn damaged_frames_decode_or_fail_cleanly(
        text in client_frame().prop_map(|f| f.encode()).prop_flat_map(mangled),
        server in server_frame().prop_map(|f| f.encode()).prop_flat_map(mangled),
    ) {
        if let Ok(f) = ClientFrame::decode(&text) {
            prop_assert_eq!(ClientFrame::decode(&f.encode()).unwrap(), f);
        }
        if let Ok(f) = ServerFrame::decode(&server) {
            prop_assert_eq!(ServerFrame::decode(&f.encode()).unwrap(), f);
        }
    }
}

// ---- ids -----------------------------------------------------------------------------

fn id_kind() -> impl Strategy<Value = IdKind> {
    select(vec![
        IdKind::Project,
        IdKind::Task,
        IdKind::Subtask,
        IdKind::Session,
        IdKind::Op,
    ])
}

/// What `normalize` must answer, written out plainly.
fn normalize_model(kind: IdKind, input: &str) -> Option<String> {
    let s = input.trim().to_ascii_lowercase();
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if s.is_empty() || !s.chars().all(valid) {
        return None;
    }
    if s.contains('-') {
        Some(s)
    } else {
        Some(format!("{}{s}", kind.prefix()))
    }
}

proptest! {
    #[test]
    fn normalize_matches_the_model(
        kind in id_kind(),
        input in prop_oneof!["[ \t]{0,2}[a-zA-Z0-9_-]{0,12}[ \t]{0,2}", any::<String>(), "[a-z]{1,3}-[a-z0-9%;. ]{0,8}"],
    ) {
        let got = id::normalize(kind, &input);
        match normalize_model(kind, &input) {
            Some(want) => {
                let got = got.expect("a valid id");
                prop_assert_eq!(&got, &want);
                // Normalizing again changes nothing.
                prop_assert_eq!(id::normalize(kind, &got).unwrap(), got);
            }
            None => {
                let e = got.expect_err("an invalid id");
                prop_assert_eq!(e.code(), Code::InvalidArgument);
            }
        }
    }

    #[test]
    fn new_ids_are_their_own_normal_form(kind in id_kind()) {
        let id = id::new_id(kind);
        prop_assert!(id.starts_with(kind.prefix()));
        prop_assert_eq!(id.len(), kind.prefix().len() + id::ID_LEN);
        prop_assert_eq!(id::normalize(kind, &id).unwrap(), id.clone());
        // Every prefix of an id that keeps the kind's prefix normalizes to itself too.
        for end in kind.prefix().len()..=id.len() {
            prop_assert_eq!(id::normalize(kind, &id[..end]).unwrap(), &id[..end]);
        }
    }

    #[test]
    fn the_upper_bound_sorts_after_every_id_with_the_prefix(
        prefix in "[a-z]{1,2}-[0-9a-z]{0,6}",
        rest in "[0-9a-z_-]{0,10}",
        other in "[a-z]{1,2}-[0-9a-z]{0,8}",
    ) {
        let ub = id::prefix_upper_bound(&prefix);
        let extended = format!("{prefix}{rest}");
        prop_assert!(prefix.as_str() <= extended.as_str() && extended < ub);
        // Any id outside the prefix's range sorts before the prefix or after the bound.
        if !other.starts_with(&prefix) {
            prop_assert!(other < prefix || other > ub);
        }
    }
}

// ---- the task status machine ---------------------------------------------------------

/// SPEC §2, "Task status machine", as a table (`force` only matters for blocked → completed).
fn allowed(from: TaskStatus, to: TaskStatus, force: bool) -> bool {
    use TaskStatus::*;
    const TABLE: &[(TaskStatus, TaskStatus)] = &[
        (Pending, InProgress),
        (Pending, Blocked),
        (Pending, Cancelled),
        (InProgress, Blocked),
        (InProgress, Completed),
        (InProgress, Pending),
        (InProgress, Cancelled),
        (Blocked, InProgress),
        (Blocked, Pending),
        (Blocked, Cancelled),
        (Completed, InProgress),
        (Cancelled, Pending),
    ];
    TABLE.contains(&(from, to)) || (force && from == Blocked && to == Completed)
}

proptest! {
    #[test]
    fn transitions_match_the_table(from in task_status(), to in task_status(), force in any::<bool>()) {
        match status::check("t-1", from, to, force) {
            Ok(Transition::NoOp) => prop_assert_eq!(from, to),
            Ok(Transition::Change { from: f, to: t }) => {
                prop_assert!(from != to && allowed(from, to, force));
                prop_assert_eq!((f, t), (from, to));
            }
            Err(e) => {
                prop_assert!(from != to && !allowed(from, to, force));
                prop_assert_eq!(e.code(), Code::InvalidTransition);
                // The error names exactly the statuses the table allows from here.
                let named: BTreeSet<String> = e.details()["allowed"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                let want: BTreeSet<String> = TaskStatus::ALL
                    .iter()
                    .filter(|s| **s != from && allowed(from, **s, force))
                    .map(|s| s.as_str().to_string())
                    .collect();
                prop_assert_eq!(named, want);
            }
        }
    }

    #[test]
    fn a_walk_only_takes_allowed_steps(steps in prop::collection::vec((task_status(), any::<bool>()), 1..40)) {
        let mut at = TaskStatus::Pending;
        for (to, force) in steps {
            let before = at;
            if let Ok(Transition::Change { to: next, .. }) = status::check("t-1", at, to, force) {
                at = next;
            }
            prop_assert!(at == before || allowed(before, at, force));
            // Asking again for where the task is now is always a harmless no-op.
            prop_assert_eq!(status::check("t-1", at, at, false).unwrap(), Transition::NoOp);
        }
    }

    #[test]
    fn reopen_leads_somewhere_allowed(from in select(vec![TaskStatus::Completed, TaskStatus::Cancelled])) {
        let to = status::reopen_target(from);
        prop_assert!(allowed(from, to, false), "{} -> {}", from, to);
    }
}

// ---- the session status machine -------------------------------------------------------

/// SPEC §2: waiting → spawning → starting → active → completed | failed | stopped | lost, a
/// request may be given up (failed, stopped), a starting agent may end at once, and the
/// end is final.
fn session_allowed(from: SessionStatus, to: SessionStatus) -> bool {
    use SessionStatus::*;
    const TABLE: &[(SessionStatus, SessionStatus)] = &[
        (Waiting, Spawning),
        (Waiting, Failed),
        (Waiting, Stopped),
        (Spawning, Starting),
        (Spawning, Failed),
        (Spawning, Stopped),
        (Starting, Active),
        (Starting, Completed),
        (Starting, Failed),
        (Starting, Stopped),
        (Starting, Lost),
        (Active, Completed),
        (Active, Failed),
        (Active, Stopped),
        (Active, Lost),
    ];
    TABLE.contains(&(from, to))
}

fn session_in(status: SessionStatus) -> Session {
    serde_json::from_value(serde_json::json!({
        "id": "s-1", "projectId": "p-1", "name": "w", "role": "worker", "taskIds": ["t-1"],
        "status": status, "createdAt": "2026-01-01T00:00:00Z", "lastSeen": "2026-01-01T00:00:00Z",
    }))
    .expect("a session")
}

fn session_status() -> impl Strategy<Value = SessionStatus> {
    select(SessionStatus::ALL)
}

proptest! {
    #[test]
    fn session_transitions_match_the_table(from in session_status(), to in session_status()) {
        let s = session_in(from);
        match rules::session_status::check(&s, to) {
            Ok(false) => prop_assert_eq!(from, to),
            Ok(true) => prop_assert!(from != to && session_allowed(from, to)),
            Err(e) => {
                prop_assert!(from != to && !session_allowed(from, to));
                // An ended session is told it ended (or was lost), not that the step is
                // unknown; a live one is told where it may go.
                let want = match from {
                    SessionStatus::Lost => Code::SessionLost,
                    f if f.is_terminal() => Code::SessionEnded,
                    _ => Code::InvalidTransition,
                };
                prop_assert_eq!(e.code(), want);
            }
        }
        // The gate refuses exactly the sessions that ended.
        prop_assert_eq!(rules::session_status::gate(&s).is_err(), from.is_terminal());
        prop_assert_eq!(from.is_terminal(), SessionStatus::ALL.iter().all(|t| !session_allowed(from, *t)));
    }

    #[test]
    fn a_session_walk_ends_once_and_for_good(steps in prop::collection::vec(session_status(), 1..30)) {
        let mut s = session_in(SessionStatus::Waiting);
        let mut ended: Option<SessionStatus> = None;
        for to in steps {
            let before = s.status;
            if let Ok(true) = rules::session_status::check(&s, to) {
                s.status = to;
            }
            prop_assert!(s.status == before || session_allowed(before, s.status));
            if let Some(end) = ended {
                prop_assert_eq!(s.status, end, "a session left its end");
            } else if s.status.is_terminal() {
                ended = Some(s.status);
            }
        }
    }
}

// ---- the dependency graph ------------------------------------------------------------

/// A graph over tasks "0".."n-1": `edges[a]` are the tasks `a` depends on.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn name(i: usize) -> String {
    i.to_string()
}

fn graph() -> impl Strategy<Value = (usize, Graph)> {
    (1usize..9).prop_flat_map(|n| {
        prop::collection::vec((0..n, 0..n), 0..(n * 2)).prop_map(move |pairs| {
            let mut g = Graph::new();
            for (a, b) in pairs {
                g.entry(name(a)).or_default().insert(name(b));
            }
            (n, g)
        })
    })
}

/// Brute force: can `from` reach `to` by following dependencies (Floyd–Warshall)?
fn reaches(n: usize, g: &Graph) -> Vec<Vec<bool>> {
    let mut r = vec![vec![false; n]; n];
    for (a, deps) in g {
        for b in deps {
            r[a.parse::<usize>().unwrap()][b.parse::<usize>().unwrap()] = true;
        }
    }
    for k in 0..n {
        for i in 0..n {
            for j in 0..n {
                r[i][j] = r[i][j] || (r[i][k] && r[k][j]);
            }
        }
    }
    r
}

fn deps_of(g: &Graph) -> impl FnMut(&str) -> maestro_core::Result<Vec<String>> + '_ {
    |id| {
        Ok(g.get(id)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default())
    }
}

proptest! {
    #[test]
    fn cycle_detection_matches_brute_force((n, g) in graph(), task in 0usize..9, dep in 0usize..9) {
        let (task, dep) = (task % n, dep % n);
        let r = reaches(n, &g);
        let closes_a_cycle = task == dep || r[dep][task];
        match dag::check_no_cycle(&name(task), &[name(dep)], deps_of(&g)) {
            Ok(()) => prop_assert!(!closes_a_cycle),
            Err(e) => {
                prop_assert!(closes_a_cycle);
                prop_assert_eq!(e.code(), Code::DependencyCycle);
                // The path is a real cycle: task → dep → … → task along existing edges.
                let path: Vec<String> = serde_json::from_value(e.details()["cycle"].clone()).unwrap();
                prop_assert_eq!(path.first(), Some(&name(task)));
                prop_assert_eq!(path.last(), Some(&name(task)));
                prop_assert_eq!(&path[1], &name(dep));
                for w in path[1..].windows(2) {
                    prop_assert!(g.get(&w[0]).is_some_and(|d| d.contains(&w[1])), "{:?} is not an edge of {:?}", w, g);
                }
            }
        }
    }

    #[test]
    fn a_graph_built_through_the_check_stays_acyclic(
        n in 1usize..10,
        attempts in prop::collection::vec((0usize..10, prop::collection::vec(0usize..10, 1..3)), 0..40),
    ) {
        let mut g = Graph::new();
        for (task, deps) in attempts {
            let task = name(task % n);
            let deps: Vec<String> = deps.into_iter().map(|d| name(d % n)).collect();
            if dag::check_no_cycle(&task, &deps, deps_of(&g)).is_ok() {
                // A cycle through several new edges would have to leave the task twice, so
                // checking each new dependency on its own is enough.
                let mut trial = g.clone();
                trial.entry(task.clone()).or_default().extend(deps.iter().cloned());
                let r = reaches(n, &trial);
                prop_assert!((0..n).all(|i| !r[i][i]), "accepted {} -> {:?} made a cycle in {:?}", task, deps, trial);
                g = trial;
            }
        }
    }

    #[test]
    fn the_ready_queue_matches_brute_force(
        tasks in prop::collection::vec(
            (task_status(), priority(), 0i64..5, prop::collection::vec(0usize..12, 0..3)),
            0..10,
        ),
    ) {
        let ids: Vec<String> = (0..tasks.len()).map(name).collect();
        let deps: Vec<Vec<String>> = tasks.iter().map(|t| t.3.iter().map(|d| name(*d)).collect()).collect();
        let nodes: Vec<Node> = tasks
            .iter()
            .enumerate()
            .map(|(i, (status, priority, created, _))| Node {
                id: &ids[i],
                status: *status,
                priority: *priority,
                created_ms: *created,
                deps: &deps[i],
            })
            .collect();
        let status: HashMap<&str, TaskStatus> = nodes.iter().map(|n| (n.id, n.status)).collect();
        let rank = |p: Priority| match p {
            Priority::High => 0,
            Priority::Medium => 1,
            Priority::Low => 2,
        };
        let mut want: Vec<&Node> = nodes
            .iter()
            .filter(|n| n.status == TaskStatus::Pending)
            .filter(|n| n.deps.iter().all(|d| status.get(d.as_str()) == Some(&TaskStatus::Completed)))
            .collect();
        want.sort_by_key(|n| (rank(n.priority), n.created_ms, n.id.to_string()));
        let want: Vec<&str> = want.into_iter().map(|n| n.id).collect();
        prop_assert_eq!(dag::ready_queue(&nodes), want);
    }
}

// ---- a real server: arbitrary bodies and frames --------------------------------------

#[cfg(feature = "server")]
mod server_support;

#[cfg(feature = "server")]
mod against_the_server {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use maestro_core::{NewSession, OpContext};
    use server_support::TestServer;
    use std::sync::OnceLock;
    use tokio_tungstenite::tungstenite::Message;

    /// One server for every case, with a project, a task, a subtask and a session to aim at.
    struct Target {
        rt: tokio::runtime::Runtime,
        server: TestServer,
        task: String,
        subtask: String,
        session: String,
    }

    fn target() -> &'static Target {
        static T: OnceLock<Target> = OnceLock::new();
        T.get_or_init(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let (server, task, subtask, session) = rt.block_on(async {
                let server = TestServer::start().await;
                server.project("props").await;
                let task = server.task("target").await;
                let op = OpContext::default();
                let m = &server.maestro;
                let subtask = m.create_subtask(&op, &task, "part", None).await.unwrap().id;
                let session = m
                    .register_session(
                        &op,
                        NewSession {
                            name: Some("w".into()),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap()
                    .id;
                (server, task, subtask, session)
            });
            Target {
                rt,
                server,
                task,
                subtask,
                session,
            }
        })
    }

    /// Every route that reads a body, with the ids it needs.
    fn routes(t: &Target) -> Vec<(reqwest::Method, String)> {
        use reqwest::Method;
        let (task, sub, ses) = (&t.task, &t.subtask, &t.session);
        let mut r = vec![
            (Method::POST, "/api/projects".to_string()),
            (Method::POST, "/api/tasks".to_string()),
            (Method::POST, "/api/tasks/claim".to_string()),
            (Method::PATCH, format!("/api/tasks/{task}")),
            (Method::POST, format!("/api/tasks/{task}/timeline")),
            (Method::POST, format!("/api/tasks/{task}/subtasks")),
            (Method::PATCH, format!("/api/tasks/{task}/subtasks/{sub}")),
            (Method::POST, "/api/sessions".to_string()),
            (Method::POST, "/api/sessions/spawn".to_string()),
            (Method::PATCH, format!("/api/sessions/{ses}")),
            (Method::POST, format!("/api/sessions/{ses}/heartbeat")),
            (Method::POST, format!("/api/sessions/{ses}/claim-spawn")),
            (Method::POST, "/api/tasks/batch".to_string()),
            (Method::PATCH, format!("/api/subtasks/{sub}")),
        ];
        for action in [
            "start", "complete", "block", "reopen", "cancel", "release", "claim",
        ] {
            r.push((Method::POST, format!("/api/tasks/{task}/{action}")));
        }
        r
    }

    /// The routes that read a query or an id from the path (GET only: an arbitrary id may be
    /// a prefix of the target's, which a write would change).
    const READ_ROUTES: &[&str] = &[
        "/api/tasks",
        "/api/tasks/ready",
        "/api/sessions",
        "/api/events",
        "/api/status",
        "/api/projects",
        "/api/tasks/{}",
        "/api/tasks/{}/timeline",
        "/api/tasks/{}/subtasks",
        "/api/sessions/{}",
        "/api/projects/{}",
    ];

    /// Query parameters: the names the routes read (and others), with any value.
    fn query() -> impl Strategy<Value = Vec<(String, String)>> {
        let name = prop_oneof![
            4 => select(vec![
                "projectId", "status", "priority", "label", "ready", "sessionId", "active",
                "limit", "cursor", "since", "projects", "count", "project",
            ])
            .prop_map(str::to_string),
            1 => any::<String>(),
        ];
        let value = prop_oneof![
            2 => any::<String>(),
            1 => any::<i64>().prop_map(|n| n.to_string()),
            1 => select(vec!["true", "false", "pending", "high", "", "0", "-1", "1e9"])
                .prop_map(str::to_string),
        ];
        prop::collection::vec((name, value), 0..5)
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => object().prop_map(|m| Value::Object(m).to_string().into_bytes()),
            1 => json().prop_map(|v| v.to_string().into_bytes()),
            1 => prop::collection::vec(any::<u8>(), 0..64),
            1 => client_frame().prop_flat_map(|f| mangled(f.encode())).prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases.min(300), ..ProptestConfig::default() })]

        #[test]
        fn any_body_gets_an_answer_never_a_server_error(route in 0usize..21, body in body()) {
            let t = target();
            let routes = routes(t);
            let (method, path) = &routes[route % routes.len()];
            let (status, text) = t.rt.block_on(async {
                let resp = t.server.http
                    .request(method.clone(), t.server.url(path))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                (resp.status().as_u16(), resp.text().await.unwrap())
            });
            prop_assert!(status < 500, "{} {} → {}: {}", method, path, status, text);
            let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
            if status >= 400 {
                prop_assert!(answer["error"].is_string() && answer["message"].is_string(), "{}", answer);
            }
        }

        #[test]
        fn any_query_or_path_id_gets_an_answer_never_a_server_error(
            route in 0usize..11,
            id in prop_oneof![any::<String>(), text()],
            query in query(),
        ) {
            let t = target();
            let template = READ_ROUTES[route % READ_ROUTES.len()];
            let mut url = reqwest::Url::parse(&t.server.url("/")).unwrap();
            {
                let mut path = url.path_segments_mut().unwrap();
                path.clear();
                for seg in template.trim_start_matches('/').split('/') {
                    path.push(if seg == "{}" { &id } else { seg });
                }
            }
            if !query.is_empty() {
                url.query_pairs_mut().extend_pairs(query.iter());
            }
            let (status, text) = t.rt.block_on(async {
                let resp = t.server.http.get(url.clone()).send().await.unwrap();
                (resp.status().as_u16(), resp.text().await.unwrap())
            });
            prop_assert!(status < 500, "GET {} → {}: {}", url, status, text);
            let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
            if status >= 400 {
                prop_assert!(answer["error"].is_string() && answer["message"].is_string(), "{}", answer);
            }
        }

        #[test]
        fn no_text_frame_costs_a_client_its_connection(frames in prop::collection::vec(
            prop_oneof![
                any::<String>(),
                json().prop_map(|v| v.to_string()),
                client_frame().prop_flat_map(|f| mangled(f.encode())),
            ],
            1..6,
        )) {
            let t = target();
            let pong = t.rt.block_on(async {
                let mut ws = t.server.ws().await;
                for f in &frames {
                    ws.send(Message::text(f.clone())).await.unwrap();
                }
                ws.send(Message::text(ClientFrame::Ping.encode())).await.unwrap();
                // Acks, error frames and replayed events may come first; then the pong.
                loop {
                    match tokio::time::timeout(server_support::WAIT, ws.next()).await {
                        Ok(Some(Ok(Message::Text(t)))) => {
                            if ServerFrame::decode(&t).ok() == Some(ServerFrame::Pong) {
                                break Ok(());
                            }
                        }
                        Ok(Some(Ok(Message::Close(c)))) => break Err(format!("closed: {c:?}")),
                        Ok(Some(Ok(_))) => {}
                        other => break Err(format!("{other:?}")),
                    }
                }
            });
            prop_assert!(pong.is_ok(), "{:?} after {:?}", pong, frames);
        }
    }
}
