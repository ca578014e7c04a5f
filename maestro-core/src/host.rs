//! The host: launches agent processes for spawn requests (SPEC §8).
//!
//! A host follows the event log for `session:spawn_request`, claims each request atomically
//! ([`Maestro::claim_spawn`], so of several hosts exactly one launches it), renders the
//! session's prompt to `$MAESTRO_HOME/prompts/<session>.md`, and starts the agent profile's
//! command with the context environment, detached with its output in
//! `$MAESTRO_HOME/logs/<session>.log`, or in a tmux window. It records the pid (`active`) and
//! the exit (`completed` for code 0, else `failed` with the code), refreshes the lease of its
//! live agents and reaps sessions whose lease expired. Planning is pure ([`plan`]); process
//! I/O lives in this file's launch and watch functions.
//!
//! The loop only uses the [`Maestro`] facade, so the same host runs on a local store (the
//! CLI's `maestro host`), inside a server (`maestro serve --spawn`) or against a remote store.

mod capture;
pub mod plan;
pub mod worktrees;

use crate::error::{Error, Result};
use crate::facade::subscribe::SubscribeOptions;
use crate::facade::{Maestro, Subscription, SubscriptionItem};
use crate::model::*;
use crate::store::*;
use capture::LiveAgent;
use plan::{ExitOutcome, Heartbeat, HostDirs, LaunchPlan, Profiles, StoreContext};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How a running host should behave; changed through the `control` watch of [`Host::run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostControl {
    /// Launch agents for spawn requests.
    Run,
    /// Launch nothing more; return once every live agent has exited.
    Drain,
    /// Return now; agents keep running (their sessions expire unless they keep acting).
    Stop,
}

/// What a host reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum HostEvent {
    /// An agent process started.
    Launched {
        session: Session,
        pid: i64,
        profile: String,
        log_file: PathBuf,
    },
    /// An agent process ended.
    Exited {
        session: Session,
        outcome: ExitOutcome,
    },
    /// A spawn request could not be launched; the session is `failed` with the reason.
    LaunchFailed { session: Session, reason: String },
    /// Sessions declared lost (their tasks were released).
    Lost { sessions: Vec<Session> },
    /// Sessions left behind by a host on this machine that died (killed, crashed) with its
    /// agents running: their agents were stopped and the sessions declared lost (if their
    /// lease had not made them so already), their tasks released.
    Recovered { sessions: Vec<Session> },
    /// A session's worktree got the work it left committed.
    Committed {
        session_id: String,
        task_id: String,
        commit: String,
    },
    /// The merge queue ran a merge (or settled one a dead process left).
    Merge(worktrees::Ran),
    /// Something failed; the host goes on (after `retry_in`, when it retries).
    Trouble {
        message: String,
        retry_in: Option<Duration>,
    },
}

/// Waits between attempts after errors: 100 ms doubling to 5 s, reset by a success.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let d = Duration::from_millis(100) * 2u32.saturating_pow(self.failures.min(6));
        self.failures += 1;
        d.min(Duration::from_secs(5))
    }
    fn reset(&mut self) {
        self.failures = 0;
    }
}

/// The next item of the subscription, or never when there is none (the select arm sleeps).
async fn next_event(sub: &mut Option<Subscription>) -> Option<Result<SubscriptionItem>> {
    match sub {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// The settings of a host.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Most agents running at once; further requests wait (unclaimed, so another host may
    /// take them).
    pub max_concurrent: usize,
    /// Launch agents in tmux windows (session `tmux_session`) instead of detached.
    pub tmux: bool,
    pub tmux_session: String,
    /// The profile for requests that name none.
    pub default_agent: String,
    pub profiles: Profiles,
    /// `$MAESTRO_HOME`: prompts and logs go below it.
    pub home: PathBuf,
    pub lease: Duration,
    /// How often the event log is polled for new requests.
    pub poll: Duration,
    /// How agents reach the store.
    pub store: StoreContext,
    /// This host's name in `session.host`.
    pub host_name: String,
    /// A folder put first on the agents' PATH (the folder of the running `maestro`), so
    /// agents call the same binary.
    pub path_prefix: Option<PathBuf>,
    /// Prices of models (USD per million tokens) for agents that report no cost.
    pub prices: crate::agent::PriceTable,
    /// Limits for sessions spawned without their own (config `budget`).
    pub default_budget: Budget,
    /// The folders a request's `cwd` must be in (default: this process's directory).
    pub spawn_roots: plan::SpawnRoots,
    /// Config `worktree.*` and `merge.*`: workers spawned in a git repository run in their
    /// task's worktree, and this host runs the merge queues.
    pub worktrees: crate::worktree::Settings,
}

impl HostOptions {
    pub fn new(home: PathBuf, store: StoreContext) -> Self {
        Self {
            max_concurrent: 8,
            tmux: false,
            tmux_session: "maestro".into(),
            default_agent: "claude".into(),
            profiles: Profiles::default(),
            home,
            lease: crate::DEFAULT_LEASE,
            poll: Duration::from_millis(25),
            store,
            host_name: default_host_name(),
            path_prefix: None,
            prices: Default::default(),
            default_budget: Budget::default(),
            spawn_roots: plan::SpawnRoots::new(std::env::current_dir().into_iter().collect()),
            worktrees: crate::worktree::Settings::default(),
        }
    }
}

/// `<hostname>:<pid>`.
pub fn default_host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{name}:{}", std::process::id())
}

/// Counts of what a host did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSummary {
    pub launched: usize,
    pub completed: usize,
    pub failed: usize,
    pub launch_failures: usize,
    pub lost: usize,
}

type Reporter = Arc<dyn Fn(&HostEvent) + Send + Sync>;

/// The host loop over a [`Maestro`] facade.
pub struct Host {
    m: Maestro,
    opts: HostOptions,
    report: Reporter,
    /// The worktrees the live sessions hold, by session.
    held: std::sync::Mutex<HashMap<String, worktrees::Held>>,
}

enum Watch {
    Child(tokio::process::Child),
    /// A tmux pane: its pid (polled) and the file its exit code is written to.
    Pane {
        pid: i64,
        exit_file: PathBuf,
    },
}

impl Host {
    /// A host over `m`, which keeps leases of `opts.lease`.
    pub fn new(m: Maestro, opts: HostOptions) -> Self {
        Self {
            m: m.with_lease(opts.lease),
            opts,
            report: Arc::new(|_| {}),
            held: Default::default(),
        }
    }

    /// Calls `f` for every [`HostEvent`].
    pub fn on_event(mut self, f: impl Fn(&HostEvent) + Send + Sync + 'static) -> Self {
        self.report = Arc::new(f);
        self
    }

    /// Runs until `control` says [`HostControl::Stop`], or [`HostControl::Drain`] and no
    /// agent is left. Errors on the way (the store busy or unreachable, a server restart)
    /// are reported as [`HostEvent::Trouble`] and retried with backoff; the loop itself only
    /// ends when told to.
    pub async fn run(&self, mut control: watch::Receiver<HostControl>) -> Result<HostSummary> {
        let op = OpContext::default();
        let mut summary = HostSummary::default();
        let mut queue: VecDeque<String> = VecDeque::new();
        let mut queued: HashSet<String> = HashSet::new();
        let mut live: HashMap<String, LiveAgent> = HashMap::new();
        let mut watchers: JoinSet<(String, ExitOutcome)> = JoinSet::new();
        // Exits not recorded yet because the store failed: retried on every beat.
        let mut unrecorded: Vec<(String, ExitOutcome)> = Vec::new();
        let mut events: Option<Subscription> = None;
        let mut backoff = Backoff::default();
        let beat = (self.opts.lease / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
        let mut heartbeat = tokio::time::interval(beat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut capture = tokio::time::interval(self.opts.poll.max(Duration::from_millis(200)));
        capture.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        match self.recover(&op).await {
            Ok(sessions) if !sessions.is_empty() => {
                summary.lost += sessions.len();
                (self.report)(&HostEvent::Recovered { sessions });
            }
            Ok(_) => {}
            Err(e) => (self.report)(&HostEvent::Trouble {
                message: format!("cannot look for sessions of dead hosts: {}", e.message()),
                retry_in: None,
            }),
        }
        // The merge queues run beside the agents, one run at a time; `merge_again` asks for
        // another run once the current one is over.
        let runner = worktrees::MergeRunner::new(
            self.m.clone(),
            self.opts.home.clone(),
            self.opts.worktrees.clone(),
        );
        let mut merging: Option<tokio::task::JoinHandle<Result<Vec<worktrees::Ran>>>> = None;
        let mut merge_again = true;
        loop {
            let state = *control.borrow();
            match state {
                HostControl::Stop => break,
                HostControl::Drain
                    if live.is_empty() && unrecorded.is_empty() && merging.is_none() =>
                {
                    break;
                }
                _ => {}
            }
            if merge_again && merging.is_none() && state == HostControl::Run {
                merge_again = false;
                let r = runner.clone();
                merging = Some(tokio::spawn(async move { r.run_pending(None).await }));
            }
            if events.is_none() && state == HostControl::Run {
                // Requests made before we follow the log, then the log from there on.
                match self.follow(&mut queue, &mut queued, &live).await {
                    Ok(sub) => {
                        events = Some(sub);
                        backoff.reset();
                    }
                    Err(e) => {
                        self.trouble(e, &mut backoff, &mut control).await;
                        continue;
                    }
                }
            }
            if state == HostControl::Run {
                while live.len() < self.opts.max_concurrent.max(1) {
                    let Some(id) = queue.pop_front() else { break };
                    let session = match self.m.claim_spawn(&op, &id, &self.opts.host_name).await {
                        Ok(Some(s)) => s,
                        Ok(None) => {
                            queued.remove(&id);
                            continue; // another host took it, or it is no longer waiting
                        }
                        Err(e) if e.retryable() => {
                            queue.push_front(id);
                            self.trouble(e, &mut backoff, &mut control).await;
                            break;
                        }
                        Err(e) => {
                            queued.remove(&id);
                            (self.report)(&HostEvent::Trouble {
                                message: format!("cannot take spawn request {id}: {}", e.message()),
                                retry_in: None,
                            });
                            continue;
                        }
                    };
                    queued.remove(&id);
                    match self.launch(&session).await {
                        Ok((session, watch, plan)) => {
                            summary.launched += 1;
                            let pid = session.pid.unwrap_or_default();
                            (self.report)(&HostEvent::Launched {
                                session: session.clone(),
                                pid,
                                profile: plan.profile.clone(),
                                log_file: plan.log_file.clone(),
                            });
                            let id = session.id.clone();
                            let poll = self.opts.poll.max(Duration::from_millis(50));
                            watchers.spawn(async move { (id, wait(watch, poll).await) });
                            let budget = crate::rules::budget::effective(
                                session.budget,
                                self.opts.default_budget,
                            );
                            live.insert(session.id.clone(), LiveAgent::new(pid, &plan, budget));
                        }
                        Err(reason) => {
                            summary.launch_failures += 1;
                            self.release_worktree(&session.id).await;
                            match self.fail(&session.id, &reason).await {
                                Ok(s) => {
                                    (self.report)(&HostEvent::LaunchFailed { session: s, reason })
                                }
                                Err(e) => self.trouble(e, &mut backoff, &mut control).await,
                            }
                        }
                    }
                }
            }
            tokio::select! {
                item = next_event(&mut events) => match item {
                    Some(Ok(SubscriptionItem::Event(e))) => {
                        backoff.reset();
                        if e.event_type == EventType::SessionSpawnRequest
                            && let Some(id) = e.data.get("id").and_then(|v| v.as_str())
                            && !live.contains_key(id)
                            && queued.insert(id.to_string())
                        {
                            queue.push_back(id.to_string());
                        }
                        if e.event_type == EventType::MergeUpdated
                            && e.data.get("action").and_then(|v| v.as_str()) == Some("queued")
                        {
                            merge_again = true;
                        }
                    }
                    // Requests in the part of the log we missed are found by listing them
                    // again, which following anew does.
                    Some(Ok(SubscriptionItem::ResyncRequired { .. })) => events = None,
                    Some(Err(e)) => {
                        events = None;
                        self.trouble(e, &mut backoff, &mut control).await;
                    }
                    None => events = None,
                },
                _ = capture.tick() => {
                    for (id, agent) in live.iter_mut() {
                        let (progress, over) = agent.pull();
                        if let Some(p) = progress {
                            let patch = SessionPatch {
                                agent_session_id: p.agent_session_id,
                                usage: Some(p.usage),
                                ..Default::default()
                            };
                            if let Err(e) = self.m.update_session(&op, id, patch).await {
                                (self.report)(&HostEvent::Trouble {
                                    message: format!("cannot record the usage of {id}: {}", e.message()),
                                    retry_in: None,
                                });
                            }
                        }
                        if let Some(why) = over {
                            agent.stop(why);
                        }
                        agent.escalate();
                    }
                }
                _ = heartbeat.tick() => {
                    for (id, agent) in live.iter_mut() {
                        // The host keeps the lease of plain processes while they live; agents
                        // keep their own with their calls and hooks, so a hung one is lost
                        // like any silent worker (and then stopped).
                        if agent.heartbeat == Heartbeat::Process {
                            let _ = self.m.heartbeat(&op, id).await;
                        } else if let Ok(s) = self.m.get_session(id).await
                            && s.status == SessionStatus::Lost
                        {
                            agent.stop("the session was declared lost".into());
                        }
                    }
                    for (id, outcome) in std::mem::take(&mut unrecorded) {
                        match self.record_exit(&id, &outcome).await {
                            Ok(session) => {
                                (self.report)(&HostEvent::Exited { session, outcome });
                                self.release_worktree(&id).await;
                            }
                            Err(e) => {
                                unrecorded.push((id, outcome));
                                self.trouble(e, &mut backoff, &mut control).await;
                            }
                        }
                    }
                    merge_again = true;
                    match self.m.reap_expired(&op).await {
                        Ok(lost) if !lost.is_empty() => {
                            summary.lost += lost.len();
                            (self.report)(&HostEvent::Lost { sessions: lost });
                        }
                        Ok(_) => {}
                        Err(e) => self.trouble(e, &mut backoff, &mut control).await,
                    }
                }
                Some(done) = watchers.join_next(), if !watchers.is_empty() => {
                    let (id, outcome) = match done {
                        Ok(v) => v,
                        Err(e) => {
                            (self.report)(&HostEvent::Trouble {
                                message: format!("an agent watcher failed: {e}"),
                                retry_in: None,
                            });
                            continue;
                        }
                    };
                    let run = live.remove(&id).map(|agent| {
                        let stopped = agent.stopping.as_ref().map(|(_, why)| why.clone());
                        (stopped, agent.finish(&self.opts.prices).map(Box::new))
                    });
                    let (stopped, record) = run.unwrap_or_default();
                    let outcome = ExitOutcome {
                        stopped,
                        record,
                        ..outcome
                    };
                    if outcome.success { summary.completed += 1 } else { summary.failed += 1 }
                    match self.record_exit(&id, &outcome).await {
                        Ok(session) => {
                            (self.report)(&HostEvent::Exited { session, outcome });
                            merge_again |= self.release_worktree(&id).await;
                        }
                        Err(e) => {
                            unrecorded.push((id, outcome));
                            self.trouble(e, &mut backoff, &mut control).await;
                        }
                    }
                }
                done = async { merging.as_mut().expect("guarded").await }, if merging.is_some() => {
                    merging = None;
                    match done {
                        Ok(Ok(ran)) => {
                            for r in ran {
                                (self.report)(&HostEvent::Merge(r));
                            }
                        }
                        Ok(Err(e)) => (self.report)(&HostEvent::Trouble {
                            message: format!("the merge queue: {}", e.message()),
                            retry_in: None,
                        }),
                        Err(e) => (self.report)(&HostEvent::Trouble {
                            message: format!("the merge queue's runner failed: {e}"),
                            retry_in: None,
                        }),
                    }
                }
                changed = control.changed() => {
                    if changed.is_err() {
                        break; // the controller went away
                    }
                }
            }
        }
        if let Some(sub) = events {
            sub.close().await;
        }
        Ok(summary)
    }

    /// Queues the spawn requests waiting now, and follows the log from before the listing.
    async fn follow(
        &self,
        queue: &mut VecDeque<String>,
        queued: &mut HashSet<String>,
        live: &HashMap<String, LiveAgent>,
    ) -> Result<Subscription> {
        let since = self.m.latest_seq().await?;
        for id in self.waiting_requests().await? {
            if !live.contains_key(&id) && queued.insert(id.clone()) {
                queue.push_back(id);
            }
        }
        self.m
            .subscribe(SubscribeOptions {
                since: Some(since),
                poll: Some(self.opts.poll),
                ..Default::default()
            })
            .await
    }

    /// Reports an error and waits before the next attempt (or until the controller speaks).
    async fn trouble(
        &self,
        e: Error,
        backoff: &mut Backoff,
        control: &mut watch::Receiver<HostControl>,
    ) {
        let wait = backoff.next();
        (self.report)(&HostEvent::Trouble {
            message: e.message().to_string(),
            retry_in: Some(wait),
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = control.changed() => {}
        }
    }

    /// Spawn requests waiting in every project.
    async fn waiting_requests(&self) -> Result<Vec<String>> {
        let filter = SessionFilter {
            status: Some(SessionStatus::Spawning),
            ..Default::default()
        };
        Ok(self
            .sessions(filter)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect())
    }

    /// The sessions of every project that `filter` selects (its project and cursor aside).
    async fn sessions(&self, filter: SessionFilter) -> Result<Vec<Session>> {
        let mut out = Vec::new();
        for p in self.m.list_projects().await? {
            let mut cursor = None;
            loop {
                let page = self
                    .m
                    .list_sessions(SessionFilter {
                        project_id: Some(p.id.clone()),
                        limit: Some(MAX_LIMIT),
                        cursor,
                        ..filter.clone()
                    })
                    .await?;
                out.extend(page.items);
                cursor = page.next_cursor;
                if cursor.is_none() {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Finds the live sessions launched by a host on this machine that no longer runs
    /// ([`plan::host_is_gone`]), stops their agents (which run on unwatched: nobody would
    /// record their end or keep their lease) and declares the sessions lost, so their tasks
    /// go back to the queue at once rather than when their lease runs out; and stops the
    /// agents still running of such sessions that were declared lost already.
    async fn recover(&self, op: &OpContext) -> Result<Vec<Session>> {
        let live = SessionFilter {
            active: true,
            ..Default::default()
        };
        let mut recovered = Vec::new();
        for s in self.sessions(live).await? {
            let Some(host) = s.host.as_deref().filter(|_| s.status.is_live()) else {
                continue;
            };
            if !plan::host_is_gone(host, &self.opts.host_name, process_alive) {
                continue;
            }
            if let Some(pid) = s.pid.filter(|&pid| runs_session(pid, &s.id)) {
                stop_orphan(pid).await;
            }
            let patch = SessionPatch {
                status: Some(SessionStatus::Lost),
                reason: Some(format!(
                    "its host {host} stopped while the agent ran; host {} stopped the agent",
                    self.opts.host_name
                )),
                ..Default::default()
            };
            recovered.push(self.m.update_session(op, &s.id, patch).await?);
        }
        // Sessions already declared lost (their lease ran out after their host died) may
        // still have their agent running.
        let lost = SessionFilter {
            status: Some(SessionStatus::Lost),
            ..Default::default()
        };
        for s in self.sessions(lost).await? {
            let (Some(host), Some(pid)) = (s.host.as_deref(), s.pid) else {
                continue;
            };
            if plan::host_is_gone(host, &self.opts.host_name, process_alive)
                && runs_session(pid, &s.id)
            {
                stop_orphan(pid).await;
                recovered.push(s);
            }
        }
        Ok(recovered)
    }

    /// Renders the prompt and starts the agent; `Err` is the reason the launch failed.
    async fn launch(
        &self,
        session: &Session,
    ) -> std::result::Result<(Session, Watch, LaunchPlan), String> {
        let agent = session
            .agent
            .clone()
            .unwrap_or_else(|| self.opts.default_agent.clone());
        let profile = self
            .opts
            .profiles
            .get(&agent)
            .map_err(|e| e.message().to_string())?
            .clone();
        // The spawn-roots check is of the requested directory; the worktree the host picks
        // lives under $MAESTRO_HOME.
        let requested = match &session.cwd {
            Some(cwd) => Some(
                self.opts
                    .spawn_roots
                    .resolve(cwd)
                    .map_err(|e| e.message().to_string())?,
            ),
            None => std::env::current_dir().ok(),
        };
        let mut session = session.clone();
        if let Some(dir) = &requested {
            let held = worktrees::prepare(
                &self.m,
                &self.opts.worktrees,
                &self.opts.home,
                &session,
                dir,
            )
            .await
            .map_err(|e| format!("cannot prepare the task's worktree: {}", e.message()))?;
            if let Some(held) = held {
                session.cwd = Some(held.path.display().to_string());
                self.held
                    .lock()
                    .expect("the held worktrees")
                    .insert(session.id.clone(), held);
            }
        }
        let session = &session;
        let prompt = self
            .m
            .session_prompt(session)
            .await
            .map_err(|e| format!("cannot render the prompt: {}", e.message()))?;
        let dirs = HostDirs {
            home: self.opts.home.clone(),
        };
        let resume = match &session.resume_of {
            Some(prev) => {
                let prev =
                    self.m.get_session(prev).await.map_err(|e| {
                        format!("cannot read the session to resume: {}", e.message())
                    })?;
                Some(prev.agent_session_id.ok_or_else(|| {
                    format!("session {} has no agent conversation to resume", prev.id)
                })?)
            }
            None => None,
        };
        let inherited = std::env::var("PATH").ok();
        let plan = plan::plan_launch(&plan::PlanInput {
            session,
            profile: &profile,
            prompt: &prompt,
            dirs: &dirs,
            store: &self.opts.store,
            path_prefix: self.opts.path_prefix.as_deref(),
            inherited_path: inherited.as_deref(),
            resume: resume.as_deref(),
        })
        .map_err(|e| e.message().to_string())?;
        write_file(&plan.prompt_file, plan.prompt.as_bytes())?;
        for (path, contents) in &plan.files {
            write_file(path, contents.as_bytes())?;
        }
        let watch = if self.opts.tmux {
            start_in_tmux(&plan, &self.opts.tmux_session, &session.name, &dirs).await?
        } else {
            Watch::Child(start_detached(&plan)?)
        };
        let pid = match &watch {
            Watch::Child(c) => c.id().map(i64::from).unwrap_or_default(),
            Watch::Pane { pid, .. } => *pid,
        };
        let patch = SessionPatch {
            status: Some(SessionStatus::Active),
            pid: Some(pid),
            agent: Some(profile.name.clone()),
            ..Default::default()
        };
        let session = self
            .m
            .update_session(&OpContext::default(), &session.id, patch)
            .await
            .map_err(|e| format!("cannot record the pid: {}", e.message()))?;
        Ok((session, watch, plan))
    }

    /// Commits what a session that ended left in its worktree and unlocks it; whether the
    /// merge queue may have work now.
    async fn release_worktree(&self, session_id: &str) -> bool {
        let held = self
            .held
            .lock()
            .expect("the held worktrees")
            .remove(session_id);
        let Some(held) = held else {
            return false;
        };
        match worktrees::release(&self.m, &self.opts.worktrees, session_id, &held).await {
            Ok(commit) => {
                if let Some(commit) = commit {
                    (self.report)(&HostEvent::Committed {
                        session_id: session_id.to_string(),
                        task_id: held.task_id.clone(),
                        commit,
                    });
                }
                true
            }
            Err(e) => {
                (self.report)(&HostEvent::Trouble {
                    message: format!(
                        "cannot commit what session {session_id} left in {}: {}",
                        held.path.display(),
                        e.message()
                    ),
                    retry_in: None,
                });
                false
            }
        }
    }

    async fn fail(&self, id: &str, reason: &str) -> Result<Session> {
        let patch = SessionPatch {
            status: Some(SessionStatus::Failed),
            reason: Some(reason.to_string()),
            ..Default::default()
        };
        self.m
            .update_session(&OpContext::default(), id, patch)
            .await
    }

    /// Records an agent's exit, with what its output said of the run; a session that
    /// already ended (it ran `session end`, or was declared lost) keeps its status and only
    /// gets the exit code and the run. An agent the host stopped (its budget) is `stopped`.
    async fn record_exit(&self, id: &str, outcome: &ExitOutcome) -> Result<Session> {
        let current = self.m.get_session(id).await?;
        let mut patch = SessionPatch {
            exit_code: Some(outcome.exit_code),
            ..Default::default()
        };
        if let Some(run) = &outcome.record {
            patch.agent_session_id = run.agent_session_id.clone();
            patch.usage = Some(run.usage.clone());
            patch.result = run.result.clone();
        }
        if !current.status.is_terminal() {
            (patch.status, patch.reason) = match &outcome.stopped {
                Some(why) => (Some(SessionStatus::Stopped), Some(why.clone())),
                None if outcome.success => (Some(SessionStatus::Completed), None),
                None => (Some(SessionStatus::Failed), outcome.reason.clone()),
            };
        }
        self.m
            .update_session(&OpContext::default(), id, patch)
            .await
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> std::result::Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn open_log(path: &Path) -> std::result::Result<std::fs::File, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open the log {}: {e}", path.display()))
}

/// Starts the agent in its own process group (a Ctrl-C at the host's terminal does not reach
/// it), stdin closed, stdout and stderr appended to its log.
fn start_detached(plan: &LaunchPlan) -> std::result::Result<tokio::process::Child, String> {
    let log = open_log(&plan.log_file)?;
    let err = log
        .try_clone()
        .map_err(|e| format!("cannot open the log twice: {e}"))?;
    let (program, args) = plan
        .argv
        .split_first()
        .ok_or_else(|| "the profile's command is empty".to_string())?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .process_group(0)
        .kill_on_drop(false);
    for k in plan::CONTEXT_VARS {
        cmd.env_remove(k);
    }
    cmd.envs(plan.env.iter().map(|(k, v)| (k, v)));
    if let Some(cwd) = &plan.cwd {
        cmd.current_dir(cwd);
    }
    cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            let in_cwd = plan
                .cwd
                .as_ref()
                .filter(|c| !c.is_dir())
                .map(|c| format!(" (or the working directory {} does not exist)", c.display()))
                .unwrap_or_default();
            format!("cannot start '{program}': command not found{in_cwd}")
        } else {
            format!("cannot start '{program}': {e}")
        }
    })
}

async fn start_in_tmux(
    plan: &LaunchPlan,
    tmux_session: &str,
    window: &str,
    dirs: &HostDirs,
) -> std::result::Result<Watch, String> {
    let exit_file = dirs.exit_file(&plan.session_id);
    let go_file = dirs.go_file(&plan.session_id);
    let _ = std::fs::remove_file(&exit_file);
    let _ = std::fs::remove_file(&go_file);
    open_log(&plan.log_file)?;
    // tmux gives a new window the PATH of the client that asks for it (over `-e PATH=`).
    let path = plan
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone());
    let run = |args: Vec<String>| {
        let path = path.clone();
        async move {
            let mut cmd = tokio::process::Command::new(&args[0]);
            cmd.args(&args[1..]).stdin(Stdio::null());
            if let Some(p) = path {
                cmd.env("PATH", p);
            }
            cmd.output()
                .await
                .map_err(|e| format!("cannot run tmux: {e}"))
        }
    };
    let has = run(vec![
        "tmux".into(),
        "has-session".into(),
        "-t".into(),
        tmux_session.into(),
    ])
    .await?;
    if !has.status.success() {
        let out = run([
            "tmux",
            "new-session",
            "-d",
            "-s",
            tmux_session,
            "-n",
            "maestro",
        ]
        .map(String::from)
        .to_vec())
        .await?;
        if !out.status.success() {
            return Err(format!(
                "cannot create the tmux session '{tmux_session}': {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    let out = run(plan::tmux_new_window(
        plan,
        tmux_session,
        window,
        &exit_file,
        &go_file,
    ))
    .await?;
    if !out.status.success() {
        return Err(format!(
            "tmux new-window failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let (pid, pane) = plan::parse_tmux_pane(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| "tmux did not report the new pane".to_string())?;
    // Copy the window's output to the session log, then let the agent start.
    let pipe = format!(
        "cat >> '{}'",
        plan.log_file.display().to_string().replace('\'', r"'\''")
    );
    let piped = run(["tmux", "pipe-pane", "-t", &pane, &pipe]
        .map(String::from)
        .to_vec())
    .await?;
    if !piped.status.success() {
        return Err(format!(
            "tmux pipe-pane failed: {}",
            String::from_utf8_lossy(&piped.stderr).trim()
        ));
    }
    write_file(&go_file, b"")?;
    Ok(Watch::Pane { pid, exit_file })
}

/// Whether process `pid` runs (a zombie, dead but not reaped, does not).
fn process_alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// Whether process `pid` is the agent of session `id` (its environment says so), so that a
/// pid since reused by another process is left alone.
fn runs_session(pid: i64, id: &str) -> bool {
    let var = format!("MAESTRO_SESSION_ID={id}");
    process_alive(pid)
        && std::fs::read(format!("/proc/{pid}/environ"))
            .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == var.as_bytes()))
}

/// Stops an agent nobody watches: SIGTERM to its process group, SIGKILL after the grace.
async fn stop_orphan(pid: i64) {
    capture::signal_group(pid, "TERM");
    let poll = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    while process_alive(pid) && waited < capture::STOP_GRACE {
        tokio::time::sleep(poll).await;
        waited += poll;
    }
    capture::signal_group(pid, "KILL");
}

/// Waits for an agent to end: reaps a child, or polls a tmux pane's pid.
async fn wait(watch: Watch, poll: Duration) -> ExitOutcome {
    match watch {
        Watch::Child(mut child) => match child.wait().await {
            Ok(status) => {
                use std::os::unix::process::ExitStatusExt;
                plan::exit_outcome(status.code(), status.signal())
            }
            Err(e) => ExitOutcome {
                exit_code: -1,
                success: false,
                reason: Some(format!("cannot wait for the agent: {e}")),
                ..Default::default()
            },
        },
        Watch::Pane { pid, exit_file } => {
            while Path::new(&format!("/proc/{pid}")).exists() {
                tokio::time::sleep(poll).await;
            }
            let code = std::fs::read_to_string(&exit_file)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok());
            let _ = std::fs::remove_file(&exit_file);
            match code {
                Some(code) => plan::exit_outcome(Some(code), None),
                None => ExitOutcome {
                    exit_code: -1,
                    success: false,
                    reason: Some("the tmux window closed before the agent exited".into()),
                    ..Default::default()
                },
            }
        }
    }
}
