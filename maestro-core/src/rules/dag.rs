//! The dependency graph: cycle detection and the ready queue, as pure functions.

use crate::error::{Code, Error, Result};
use crate::model::{DependencyRef, Priority, TaskStatus};
use serde_json::json;
use std::collections::{HashMap, HashSet};

/// Checks that making `task` depend on each of `new_deps` keeps the graph acyclic.
///
/// `deps_of(id)` gives the current dependencies of a task. On a cycle the error carries the
/// path `task → new_dep → … → task`.
pub fn check_no_cycle<F>(task: &str, new_deps: &[String], mut deps_of: F) -> Result<()>
where
    F: FnMut(&str) -> Result<Vec<String>>,
{
    for dep in new_deps {
        if dep == task {
            return Err(cycle_error(vec![task.to_string(), task.to_string()]));
        }
        if let Some(mut path) = find_path(dep, task, &mut deps_of)? {
            path.insert(0, task.to_string());
            return Err(cycle_error(path));
        }
    }
    Ok(())
}

/// A path `from → … → to` following dependency edges, if one exists (iterative DFS).
fn find_path<F>(from: &str, to: &str, deps_of: &mut F) -> Result<Option<Vec<String>>>
where
    F: FnMut(&str) -> Result<Vec<String>>,
{
    let mut parent: HashMap<String, String> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::from([from.to_string()]);
    let mut stack = vec![from.to_string()];
    while let Some(node) = stack.pop() {
        if node == to {
            let mut path = vec![node.clone()];
            let mut cur = node;
            while let Some(p) = parent.get(&cur) {
                path.push(p.clone());
                cur = p.clone();
            }
            path.reverse();
            return Ok(Some(path));
        }
        for next in deps_of(&node)? {
            if seen.insert(next.clone()) {
                parent.insert(next.clone(), node.clone());
                stack.push(next);
            }
        }
    }
    Ok(None)
}

fn cycle_error(path: Vec<String>) -> Error {
    let shown = path.join(" → ");
    Error::new(
        Code::DependencyCycle,
        format!("Adding this dependency would create a cycle: {shown}"),
    )
    .with_details(json!({ "cycle": path }))
    .with_suggestion(
        "Remove one dependency of the cycle, or restructure the tasks so work flows one way",
    )
}

/// The error for starting a task whose dependencies are not all completed.
pub fn dependencies_incomplete(task_id: &str, unfinished: &[DependencyRef]) -> Error {
    let list: Vec<_> = unfinished
        .iter()
        .map(|d| json!({ "id": d.id, "title": d.title, "status": d.status }))
        .collect();
    let ids: Vec<&str> = unfinished.iter().map(|d| d.id.as_str()).collect();
    Error::new(
        Code::DependenciesIncomplete,
        format!(
            "Task '{task_id}' depends on unfinished tasks: {}",
            ids.join(", ")
        ),
    )
    .with_details(json!({ "taskId": task_id, "incomplete": list }))
    .with_suggestion(format!(
        "Complete {} first, pick another task with 'maestro task ready', or pass --force",
        ids.join(", ")
    ))
}

/// A task as the ready queue sees it.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub id: &'a str,
    pub status: TaskStatus,
    pub priority: Priority,
    pub created_ms: i64,
    pub deps: &'a [String],
}

/// Ready queue: pending tasks whose dependencies are all completed, by priority then age.
/// Dependencies on unknown tasks count as unfinished.
pub fn ready_queue<'a>(nodes: &[Node<'a>]) -> Vec<&'a str> {
    let completed: HashSet<&str> = nodes
        .iter()
        .filter(|n| n.status == TaskStatus::Completed)
        .map(|n| n.id)
        .collect();
    let mut ready: Vec<&Node<'a>> = nodes
        .iter()
        .filter(|n| n.status == TaskStatus::Pending)
        .filter(|n| n.deps.iter().all(|d| completed.contains(d.as_str())))
        .collect();
    ready.sort_by(|a, b| {
        (a.priority.rank(), a.created_ms, a.id).cmp(&(b.priority.rank(), b.created_ms, b.id))
    });
    ready.into_iter().map(|n| n.id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        let mut g: HashMap<String, Vec<String>> = HashMap::new();
        for (a, b) in edges {
            g.entry(a.to_string()).or_default().push(b.to_string());
        }
        g
    }

    fn check(g: &HashMap<String, Vec<String>>, task: &str, dep: &str) -> Result<()> {
        check_no_cycle(task, &[dep.to_string()], |id| {
            Ok(g.get(id).cloned().unwrap_or_default())
        })
    }

    #[test]
    fn detects_cycles_with_the_path() {
        // B depends on A, C depends on B.
        let g = graph(&[("B", "A"), ("C", "B")]);
        let e = check(&g, "A", "C").unwrap_err();
        assert_eq!(e.code(), Code::DependencyCycle);
        assert_eq!(e.details()["cycle"], json!(["A", "C", "B", "A"]));
        assert!(check(&g, "C", "A").is_ok());
        assert!(check(&g, "D", "C").is_ok());
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let e = check(&HashMap::new(), "A", "A").unwrap_err();
        assert_eq!(e.details()["cycle"], json!(["A", "A"]));
    }

    #[test]
    fn diamond_is_not_a_cycle() {
        let g = graph(&[("B", "A"), ("C", "A"), ("D", "B"), ("D", "C")]);
        assert!(check(&g, "E", "D").is_ok());
        assert!(check(&g, "A", "D").is_err());
    }

    #[test]
    fn ready_queue_orders_by_priority_then_age() {
        let none: Vec<String> = vec![];
        let dep_a = vec!["a".to_string()];
        let dep_x = vec!["x".to_string()];
        let nodes = vec![
            Node {
                id: "a",
                status: TaskStatus::Completed,
                priority: Priority::Low,
                created_ms: 0,
                deps: &none,
            },
            Node {
                id: "b",
                status: TaskStatus::Pending,
                priority: Priority::Low,
                created_ms: 1,
                deps: &dep_a,
            },
            Node {
                id: "c",
                status: TaskStatus::Pending,
                priority: Priority::High,
                created_ms: 5,
                deps: &none,
            },
            Node {
                id: "d",
                status: TaskStatus::Pending,
                priority: Priority::High,
                created_ms: 2,
                deps: &none,
            },
            Node {
                id: "e",
                status: TaskStatus::Pending,
                priority: Priority::Medium,
                created_ms: 0,
                deps: &dep_x,
            },
            Node {
                id: "f",
                status: TaskStatus::InProgress,
                priority: Priority::High,
                created_ms: 0,
                deps: &none,
            },
            Node {
                id: "g",
                status: TaskStatus::Pending,
                priority: Priority::Medium,
                created_ms: 9,
                deps: &none,
            },
        ];
        assert_eq!(ready_queue(&nodes), vec!["d", "c", "g", "b"]);
    }
}
