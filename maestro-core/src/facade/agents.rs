//! The facade's agent operations: skills, prompts, spawn claims and leases.

use super::Maestro;
use crate::error::{Error, Result};
use crate::model::*;
use crate::prompt;
use crate::skills::{self, Skill, SkillSet};
use crate::store::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl Maestro {
    /// Uses the skills in `dir` (overriding bundled ones by name); `None`: bundled only.
    pub fn with_skills_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.skills_dir = dir.map(Arc::from);
        self
    }

    pub fn skills_dir(&self) -> Option<&Path> {
        self.skills_dir.as_deref()
    }

    /// The bundled skills overridden by the skills directory.
    pub fn skill_set(&self) -> Result<SkillSet> {
        SkillSet::load(self.skills_dir.as_deref())
    }

    /// Every skill, highest priority first.
    pub fn list_skills(&self) -> Result<Vec<Skill>> {
        Ok(self.skill_set()?.list().into_iter().cloned().collect())
    }

    pub fn get_skill(&self, name: &str) -> Result<Skill> {
        self.skill_set()?.get(name).cloned()
    }

    /// The initial prompt of an agent: `skill` (default: the worker skill when a task is
    /// given, else the orchestrator skill) with its dependencies, then the task's context or,
    /// for an orchestrator skill, the project's.
    pub async fn skill_prompt(
        &self,
        task_id: Option<&str>,
        skill: Option<&str>,
        session_id: Option<&str>,
        project_id: Option<&str>,
    ) -> Result<String> {
        let set = self.skill_set()?;
        let name = skill.unwrap_or(if task_id.is_some() {
            skills::WORKER_SKILL
        } else {
            skills::ORCHESTRATOR_SKILL
        });
        let resolved = set.resolve(&[name])?;
        let top = set.get(name)?;
        let orchestrating = top.applies_to(Role::Orchestrator) && !top.applies_to(Role::Worker);
        match (task_id, orchestrating) {
            (Some(id), false) => {
                let task = self.get_task(id).await?;
                Ok(prompt::worker_prompt(&resolved, &task, session_id))
            }
            (None, false) => Err(Error::no_task_context().with_suggestion(format!(
                "Skill '{name}' is for workers: pass --task <id> (or set MAESTRO_TASK_IDS)"
            ))),
            (task, true) => {
                let project_id = match (project_id, task) {
                    (Some(p), _) => Some(p.to_string()),
                    (None, Some(t)) => Some(self.get_task(t).await?.task.project_id),
                    (None, None) => None,
                };
                let project = self.project(project_id.as_deref()).await?;
                let status = self.status(Some(&project.id)).await?;
                let mut tasks = Vec::new();
                let mut cursor = None;
                loop {
                    let page = self
                        .list_tasks(TaskFilter {
                            project_id: Some(project.id.clone()),
                            limit: Some(MAX_LIMIT),
                            cursor,
                            ..Default::default()
                        })
                        .await?;
                    tasks.extend(page.items);
                    cursor = page.next_cursor;
                    if cursor.is_none() || tasks.len() > prompt::MAX_TASKS_LISTED {
                        break;
                    }
                }
                Ok(prompt::orchestrator_prompt(
                    &resolved, &project, &status, &tasks, session_id,
                ))
            }
        }
    }

    /// The initial prompt of a spawned session, from its role, skill and first task.
    pub async fn session_prompt(&self, session: &Session) -> Result<String> {
        let skill = session.skill.as_deref().unwrap_or(match session.role {
            Role::Orchestrator => skills::ORCHESTRATOR_SKILL,
            Role::Worker => skills::WORKER_SKILL,
        });
        let task = match session.role {
            Role::Worker => session.task_ids.first().map(String::as_str),
            Role::Orchestrator => None,
        };
        self.skill_prompt(
            task,
            Some(skill),
            Some(&session.id),
            Some(&session.project_id),
        )
        .await
    }

    /// Takes a spawn request for `host` (`spawning → starting`); `None` when another host got
    /// it first or it is no longer waiting.
    pub async fn claim_spawn(
        &self,
        op: &OpContext,
        id: &str,
        host: &str,
    ) -> Result<Option<Session>> {
        self.store().claim_spawn(op, id, host).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Code;
    use crate::clock::ManualClock;
    use std::time::Duration;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn prompts_for_workers_and_orchestrators() {
        rt().block_on(async {
            let m = Maestro::in_memory().unwrap();
            let op = OpContext::default();
            m.create_project(&op, "demo", true).await.unwrap();
            let a = m
                .create_task(
                    &op,
                    NewTask {
                        title: "Lexer".into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let p = m
                .skill_prompt(Some(&a.id[..5]), None, Some("s-x"), None)
                .await
                .unwrap();
            assert!(p.contains("# Working on a Maestro task"));
            assert!(p.contains(&format!("maestro task claim {} --json", a.id)));
            let p = m.skill_prompt(None, None, None, None).await.unwrap();
            assert!(p.contains("# Orchestrating a project with Maestro"));
            assert!(p.contains(&a.id));
            let e = m
                .skill_prompt(None, Some(skills::WORKER_SKILL), None, None)
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::NoTaskContext);
            let e = m
                .skill_prompt(Some(&a.id), Some("nope"), None, None)
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::SkillNotFound);
            assert_eq!(m.list_skills().unwrap().len(), 3);
        });
    }

    /// A facade on an in-memory store whose time moves only when the test says so.
    fn clocked(lease: Duration) -> (Maestro, Arc<ManualClock>) {
        let clock = ManualClock::starting_now();
        let store = crate::SqliteStore::open_in_memory_with(crate::sqlite::SqliteOptions {
            clock: clock.clone(),
            ..Default::default()
        })
        .unwrap();
        (Maestro::new(Arc::new(store)).with_lease(lease), clock)
    }

    #[test]
    fn a_lost_worker_releases_its_task_and_is_told_so_everywhere() {
        rt().block_on(async {
            let (m, clock) = clocked(Duration::from_secs(2));
            let op = OpContext::default();
            m.create_project(&op, "demo", true).await.unwrap();
            let t = m
                .create_task(
                    &op,
                    NewTask {
                        title: "T".into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let w1 = m
                .register_session(&op, NewSession::default())
                .await
                .unwrap();
            let op1 = OpContext::session(Some(w1.id.clone()));
            let claimed = m.claim_task(&op1, &t.id, &w1.id).await.unwrap();
            assert_eq!(claimed.claim_epoch, 1);
            // Within the lease nothing is lost.
            clock.advance(Duration::from_millis(1500));
            assert!(m.reap_expired(&op).await.unwrap().is_empty());
            clock.advance(Duration::from_millis(1000));
            let lost = m.reap_expired(&op).await.unwrap();
            assert_eq!(lost.len(), 1);
            assert_eq!(lost[0].status, SessionStatus::Lost);
            assert!(lost[0].reason.as_deref().unwrap().contains("lease"));
            let d = m.get_task(&t.id).await.unwrap();
            assert_eq!(d.task.status, TaskStatus::Pending);
            assert!(d.task.session_ids.is_empty());
            assert_eq!(d.task.claim_epoch, 2);
            assert!(d.timeline.iter().any(|e| matches!(
                &e.kind,
                TimelineKind::Released { session_id, reason }
                    if *session_id == w1.id && reason.starts_with("session lost")
            )));
            // A second worker claims and completes it; the lost one is told, whatever it
            // tries, and cannot be revived.
            let w2 = m
                .register_session(&op, NewSession::default())
                .await
                .unwrap();
            let op2 = OpContext::session(Some(w2.id.clone()));
            m.claim_task(&op2, &t.id, &w2.id).await.unwrap();
            let revive = SessionPatch {
                status: Some(SessionStatus::Active),
                ..Default::default()
            };
            for e in [
                m.complete_task(&op1, &t.id, false).await.unwrap_err(),
                m.add_progress(&op1, &t.id, "late").await.unwrap_err(),
                m.heartbeat(&op1, &w1.id).await.unwrap_err(),
                m.context_tasks(&op1, None, &[]).await.unwrap_err(),
                m.list_tasks_as(&op1, TaskFilter::default())
                    .await
                    .unwrap_err(),
                m.update_session(&op, &w1.id, revive).await.unwrap_err(),
                m.end_session(&op, &w1.id, None).await.unwrap_err(),
                m.claim_next(&op1, None, &w1.id).await.unwrap_err(),
            ] {
                assert_eq!(e.code(), Code::SessionLost, "{e:?}");
                assert_eq!(e.exit_code(), 4);
            }
            // A lost session can still look at its own record.
            assert_eq!(
                m.get_session(&w1.id).await.unwrap().status,
                SessionStatus::Lost
            );
            m.complete_task(&op2, &t.id, false).await.unwrap();
        });
    }

    #[test]
    fn a_call_never_expires_its_own_caller() {
        rt().block_on(async {
            let (m, clock) = clocked(Duration::from_secs(2));
            let op = OpContext::default();
            m.create_project(&op, "demo", true).await.unwrap();
            m.create_task(
                &op,
                NewTask {
                    title: "T".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
            let w = m
                .register_session(&op, NewSession::default())
                .await
                .unwrap();
            let other = m
                .register_session(&op, NewSession::default())
                .await
                .unwrap();
            // Both silent past the lease; the caller's own claim refreshes it before the
            // lazy reaper runs, so only the other one is lost.
            clock.advance(Duration::from_secs(3));
            let wop = OpContext::session(Some(w.id.clone()));
            let t = m.claim_next(&wop, None, &w.id).await.unwrap();
            assert_eq!(t.session_ids, vec![w.id.clone()]);
            assert_eq!(
                m.get_session(&other.id).await.unwrap().status,
                SessionStatus::Lost
            );
            assert_eq!(
                m.get_session(&w.id).await.unwrap().status,
                SessionStatus::Active
            );
            // status and the active list are true without any reaper running: lapsed
            // sessions are expired by the reads themselves.
            clock.advance(Duration::from_secs(3));
            assert_eq!(m.status(None).await.unwrap().sessions.active, 0);
        });
    }

    #[test]
    fn a_released_claim_is_fenced_and_an_ended_session_releases_its_task() {
        rt().block_on(async {
            let m = Maestro::in_memory().unwrap();
            let op = OpContext::default();
            m.create_project(&op, "demo", true).await.unwrap();
            let new = |t: &str| NewTask {
                title: t.into(),
                ..Default::default()
            };
            let t = m.create_task(&op, new("T")).await.unwrap();
            let w1 = m.register_session(&op, NewSession::default()).await.unwrap();
            let op1 = OpContext::session(Some(w1.id.clone()));
            m.claim_task(&op1, &t.id, &w1.id).await.unwrap();
            // The orchestrator releases the claim; w1 (still alive) may not write any more...
            let release = StatusChange::new(StatusAction::Release {
                reason: "reassigning".into(),
            });
            m.change_status(&op, &t.id, release).await.unwrap();
            let e = m.add_progress(&op1, &t.id, "late").await.unwrap_err();
            assert_eq!(e.code(), Code::ClaimReleased);
            assert_eq!(e.details()["claimEpoch"], 1);
            assert_eq!(e.details()["taskClaimEpoch"], 2);
            assert_eq!(e.details()["reason"], "reassigning");
            let e = m.start_task(&op1, &t.id, false).await.unwrap_err();
            assert_eq!(e.code(), Code::ClaimReleased);
            // ...until it claims the task again.
            m.claim_task(&op1, &t.id, &w1.id).await.unwrap();
            m.add_progress(&op1, &t.id, "back").await.unwrap();
            // A session ending (e.g. failed) with the task in progress releases it.
            let t2 = m.create_task(&op, new("T2")).await.unwrap();
            let w2 = m.register_session(&op, NewSession::default()).await.unwrap();
            let op2 = OpContext::session(Some(w2.id.clone()));
            m.claim_task(&op2, &t2.id, &w2.id).await.unwrap();
            let patch = SessionPatch {
                status: Some(SessionStatus::Failed),
                exit_code: Some(137),
                reason: Some("killed by signal 9".into()),
                ..Default::default()
            };
            m.update_session(&op, &w2.id, patch).await.unwrap();
            let d = m.get_task(&t2.id).await.unwrap();
            assert_eq!(d.task.status, TaskStatus::Pending);
            assert!(d.timeline.iter().any(|e| matches!(
                &e.kind,
                TimelineKind::Released { reason, .. } if reason == "session failed: killed by signal 9"
            )));
            let e = m.add_progress(&op2, &t2.id, "late").await.unwrap_err();
            assert_eq!(e.code(), Code::SessionEnded);
        });
    }

    #[test]
    fn exactly_one_claim_of_a_spawn_request_wins() {
        rt().block_on(async {
            let (m, clock) = clocked(Duration::from_secs(1));
            let op = OpContext::default();
            m.create_project(&op, "demo", true).await.unwrap();
            let t = m
                .create_task(
                    &op,
                    NewTask {
                        title: "T".into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            let s = m
                .spawn_session(
                    &op,
                    NewSession {
                        task_ids: vec![t.id.clone()],
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(s.status, SessionStatus::Spawning);
            let won = m.claim_spawn(&op, &s.id, "host-a").await.unwrap().unwrap();
            assert_eq!(won.status, SessionStatus::Starting);
            assert_eq!(won.host.as_deref(), Some("host-a"));
            assert!(m.claim_spawn(&op, &s.id, "host-b").await.unwrap().is_none());
            // A second live spawn of the task is refused unless forced.
            let again = NewSession {
                task_ids: vec![t.id.clone()],
                ..Default::default()
            };
            let e = m.spawn_session(&op, again.clone()).await.unwrap_err();
            assert_eq!(e.code(), Code::TaskClaimed);
            assert_eq!(e.exit_code(), 4);
            // A spawn request waiting for a host never expires.
            let waiting = m
                .spawn_session(
                    &op,
                    NewSession {
                        force: true,
                        ..again
                    },
                )
                .await
                .unwrap();
            clock.advance(Duration::from_secs(5));
            let lost = m.reap_expired(&op).await.unwrap();
            assert_eq!(lost.len(), 1, "only the started session");
            assert_eq!(lost[0].id, s.id);
            assert_eq!(
                m.get_session(&waiting.id).await.unwrap().status,
                SessionStatus::Spawning
            );
        });
    }
}
