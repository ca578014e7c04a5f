//! What a host keeps about each agent it launched: how its lease is kept, and the reading
//! of its structured output (from the log file it writes) into the session's agent id,
//! usage and result while it runs, with its budget checked as usage comes in.

use super::plan::{Heartbeat, LaunchPlan, OutputKind};
use crate::agent::{PriceTable, RunParser, RunRecord, Usage};
use crate::model::Budget;
use crate::rules::budget;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often a running agent's usage is written to its session, at most.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// How long a stopped agent gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// One agent a host launched and watches.
pub(crate) struct LiveAgent {
    /// Its process (group leader): what a stop signals.
    pub pid: i64,
    pub heartbeat: Heartbeat,
    pub budget: Budget,
    capture: Option<Capture>,
    /// When it was sent SIGTERM (a budget stop, or a session declared lost), and why.
    pub stopping: Option<(Instant, String)>,
}

/// The reading of one agent's log.
struct Capture {
    parser: RunParser,
    log: PathBuf,
    offset: u64,
    /// The bytes of a line not yet complete.
    partial: Vec<u8>,
    saved: (Option<String>, Usage),
    last_save: Option<Instant>,
}

/// What a pull of the log found worth writing to the session.
pub(crate) struct Progress {
    pub agent_session_id: Option<String>,
    pub usage: Usage,
}

impl LiveAgent {
    pub fn new(pid: i64, plan: &LaunchPlan, budget: Budget) -> Self {
        let capture = (plan.output != OutputKind::None).then(|| Capture {
            parser: RunParser::new(plan.output),
            log: plan.log_file.clone(),
            offset: 0,
            partial: Vec::new(),
            saved: (None, Usage::default()),
            last_save: None,
        });
        Self {
            pid,
            heartbeat: plan.heartbeat,
            budget,
            capture,
            stopping: None,
        }
    }

    /// Reads what the agent wrote since the last pull; returns what changed since it was
    /// last saved (at most once per [`SAVE_EVERY`], unless its own session id just became
    /// known), and whether the run is now over its budget.
    pub fn pull(&mut self) -> (Option<Progress>, Option<String>) {
        let Some(c) = self.capture.as_mut() else {
            return (None, None);
        };
        c.read_new();
        let record = c.parser.record();
        let over = budget::exceeded(&self.budget, &record.usage);
        let now = (record.agent_session_id.clone(), record.usage.clone());
        let new_id = now.0.is_some() && now.0 != c.saved.0;
        let due = c.last_save.is_none_or(|t| t.elapsed() >= SAVE_EVERY);
        if now == c.saved || !(new_id || due || over.is_some()) {
            return (None, over);
        }
        c.saved = now.clone();
        c.last_save = Some(Instant::now());
        (
            Some(Progress {
                agent_session_id: now.0,
                usage: now.1,
            }),
            over,
        )
    }

    /// The whole run once the agent exited (`None` for agents without structured output).
    pub fn finish(mut self, prices: &PriceTable) -> Option<RunRecord> {
        let mut c = self.capture.take()?;
        c.read_new();
        if !c.partial.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut c.partial)).into_owned();
            c.parser.push_line(&rest);
        }
        Some(c.parser.finish(Some(prices)))
    }

    /// Sends `signal` (`TERM`, `KILL`) to the agent's process group.
    pub fn signal(&self, signal: &str) {
        signal_group(self.pid, signal);
    }

    /// Stops the agent: SIGTERM now (SIGKILL follows, see [`LiveAgent::escalate`]).
    pub fn stop(&mut self, why: String) {
        if self.stopping.is_none() {
            self.signal("TERM");
            self.stopping = Some((Instant::now(), why));
        }
    }

    /// SIGKILL for an agent still running [`STOP_GRACE`] after its SIGTERM.
    pub fn escalate(&mut self) {
        if let Some((since, _)) = &self.stopping
            && since.elapsed() >= STOP_GRACE
        {
            self.signal("KILL");
        }
    }
}

/// Sends `signal` (`TERM`, `KILL`) to the process group led by `pid`.
pub fn signal_group(pid: i64, signal: &str) {
    if pid > 0 {
        let _ = std::process::Command::new("kill")
            .args([&format!("-{signal}"), "--", &format!("-{pid}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Capture {
    /// Feeds the complete lines appended to the log since the last read to the parser.
    fn read_new(&mut self) {
        let Ok(mut f) = std::fs::File::open(&self.log) else {
            return;
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        let Ok(n) = f.read_to_end(&mut buf) else {
            return;
        };
        self.offset += n as u64;
        self.partial.extend_from_slice(&buf);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let rest = self.partial.split_off(end + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        for line in String::from_utf8_lossy(&complete).lines() {
            self.parser.push_line(line);
        }
    }
}
