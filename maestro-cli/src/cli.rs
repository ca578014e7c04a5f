//! The command line: every command, flag and help text.

use clap::{Args, Parser, Subcommand};
use maestro_core::{Priority, Role, SessionStatus, TaskStatus};
use std::path::PathBuf;

const TOP_HELP: &str = "\
Common workflows:

  Start a project and plan work
    maestro init --name \"my app\"
    maestro task create \"Design the schema\" --priority high
    maestro task create \"Write the API\" --depends-on t-abc123

  Work as an agent (every command takes --json for machine-readable output)
    export MAESTRO_SESSION_ID=$(maestro session register --name worker-1 --json | jq -r .data.id)
    maestro task claim --next --json        # atomically take the next ready task
    maestro update \"Schema drafted\"         # progress on your task
    maestro subtask create t-abc123 \"Add indexes\"
    maestro task complete t-abc123

  Run a team of agents
    maestro host --max-concurrent 4 &       # launches an agent for every spawn request
    maestro session spawn --task t-abc123   # a worker appears with its task and instructions
    maestro skill prompt --task t-abc123    # what that worker is told

  Watch the whole project
    maestro status
    maestro task ready
    maestro events --since 0

  New here? maestro demo runs a small project end to end in under a minute.

Exit codes: 0 ok, 1 error, 2 usage/validation, 3 not found, 4 conflict, 5 server unreachable.
Environment: MAESTRO_DB, MAESTRO_HOME, MAESTRO_PROJECT_ID, MAESTRO_SESSION_ID, MAESTRO_TASK_IDS,
MAESTRO_SKILLS_DIR, MAESTRO_LEASE_SECONDS, MAESTRO_JSON=1 (always JSON), NO_COLOR.";

/// Maestro: orchestration for LLM coding agents.
#[derive(Debug, Parser)]
#[command(name = "maestro", version, about, after_help = TOP_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The flags every command takes. Each may be given more than once (the last one counts), so
/// an agent adding `--json` to an example that already has it gets the same result.
#[derive(Debug, Args, Clone, Default)]
pub struct Global {
    /// Print one JSON envelope on stdout ({"success": true, "data": ...}) and nothing else
    #[arg(long, global = true, overrides_with = "json")]
    pub json: bool,
    /// Project to act on (default: MAESTRO_PROJECT_ID, then the store's default project)
    #[arg(long, global = true, value_name = "ID", overrides_with = "project")]
    pub project: Option<String>,
    /// SQLite database file, or a PostgreSQL URL postgres://… (default: MAESTRO_DB, nearest .maestro/maestro.db, $MAESTRO_HOME/maestro.db)
    #[arg(long, global = true, value_name = "PATH", overrides_with = "db")]
    pub db: Option<PathBuf>,
    /// Maestro server URL: remote mode (default: MAESTRO_API_URL, then config apiUrl)
    #[arg(long, global = true, value_name = "URL", overrides_with = "server")]
    pub server: Option<String>,
    /// Print only essential output (ids, values) in human mode
    #[arg(long, short, global = true, overrides_with = "quiet")]
    pub quiet: bool,
}

/// The value parser of one of the core's string enums: the core's own parse (so a bad value
/// fails with the core's code, allowed values and suggestion) with the allowed values listed
/// for `--help` and shell completion.
#[derive(Clone)]
pub struct CoreEnum<T: 'static> {
    all: &'static [T],
    name: fn(T) -> &'static str,
}

impl<T> CoreEnum<T> {
    pub fn new(all: &'static [T], name: fn(T) -> &'static str) -> Self {
        Self { all, name }
    }
}

impl<T> clap::builder::TypedValueParser for CoreEnum<T>
where
    T: std::str::FromStr<Err = maestro_core::Error> + Copy + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let parse = |s: &str| s.parse::<T>();
        parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            self.all
                .iter()
                .map(|v| clap::builder::PossibleValue::new((self.name)(*v))),
        ))
    }
}

fn status_arg() -> CoreEnum<TaskStatus> {
    CoreEnum::new(TaskStatus::ALL, TaskStatus::as_str)
}
fn priority_arg() -> CoreEnum<Priority> {
    CoreEnum::new(Priority::ALL, Priority::as_str)
}
fn session_status_arg() -> CoreEnum<SessionStatus> {
    CoreEnum::new(SessionStatus::ALL, SessionStatus::as_str)
}
fn role_arg() -> CoreEnum<Role> {
    CoreEnum::new(Role::ALL, Role::as_str)
}

/// The command line as shell completion sees it: the hidden commands (the prototype's
/// hyphenated aliases) left out, so they are never offered.
pub fn completion_command() -> clap::Command {
    let full = <Cli as clap::CommandFactory>::command();
    let mut cmd = clap::Command::new("maestro")
        .version(env!("CARGO_PKG_VERSION"))
        .args(full.get_arguments().cloned());
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    cmd.subcommands(full.get_subcommands().filter(|c| !c.is_hide_set()).cloned())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a project (and its .maestro/ store in this folder)
    #[command(
        after_help = "Examples:\n  maestro init\n  maestro init --name \"checkout service\"\n  maestro init --db /tmp/scratch.db --json"
    )]
    Init {
        /// Project name (default: the folder's name)
        #[arg(long)]
        name: Option<String>,
    },
    /// Show where commands go: store or server, project, session and task context
    #[command(after_help = "Examples:\n  maestro whoami\n  maestro whoami --json")]
    Whoami,
    /// Task counts by status and priority, ready tasks and active sessions
    #[command(after_help = "Examples:\n  maestro status\n  maestro status --json")]
    Status,
    /// Create, list and show projects
    #[command(subcommand)]
    Project(ProjectCmd),
    /// Create, inspect and move tasks through their lifecycle
    #[command(subcommand)]
    Task(TaskCmd),
    /// Add a progress entry to your task(s)
    #[command(
        after_help = "Examples:\n  maestro update \"Parser handles nested blocks\"\n  maestro update \"Tests green\" --task t-abc123\n\nWithout --task the entry goes to MAESTRO_TASK_IDS, else to the session's in-progress tasks."
    )]
    Update {
        /// The progress message
        message: String,
        /// Task to report on (default: the context tasks)
        #[arg(long, value_name = "ID")]
        task: Option<String>,
    },
    /// Ordered checklist items of a task
    #[command(subcommand)]
    Subtask(SubtaskCmd),
    /// Agent sessions: register, inspect, spawn workers, heartbeat, end
    #[command(subcommand)]
    Session(SessionCmd),
    /// Read and write settings (.maestro/config.json, then $MAESTRO_HOME/config.json)
    #[command(
        after_help = "Examples:\n  maestro config set apiUrl http://127.0.0.1:3000\n  maestro config set agents.scripted.command '[\"bash\",\"worker.sh\"]'\n  maestro config get apiUrl\n  maestro config list\n  maestro config --set leaseSeconds=300\n  maestro config --get leaseSeconds\n  maestro config --list"
    )]
    Config(ConfigArgs),
    /// The durable event log of the project (every change, in order)
    #[command(
        after_help = "Examples:\n  maestro events --since 0\n  maestro events --limit 50 --cursor <nextCursor>\n  maestro events --since 120 --limit 50 --json\n  maestro events --follow          # new events from now on, as JSON lines with --json\n  maestro events --follow --since 0   # the whole log first, then live"
    )]
    Events {
        /// Show events after this sequence number (default: 0; with --follow: from now);
        /// --cursor takes a page's nextCursor
        #[arg(long, visible_alias = "cursor", value_name = "SEQ")]
        since: Option<i64>,
        /// Most events to show (default 1000, at most 10000)
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Keep running and print new events as they happen
        #[arg(long, short)]
        follow: bool,
    },
    /// Skills: the instructions agents load (list, show, install, render a prompt)
    #[command(subcommand)]
    Skill(SkillCmd),
    /// Agent profiles: what a host launches for each agent name (built-ins and config agents.*)
    #[command(subcommand)]
    Agent(AgentCmd),
    /// Launch agent processes for spawn requests (`maestro session spawn`) until stopped
    #[command(
        after_help = "Examples:\n  maestro host\n  maestro host --max-concurrent 4 --agent claude\n  maestro host --tmux                  # each agent in a window of tmux session 'maestro'\n  maestro config set agents.scripted.command '[\"bash\",\"worker.sh\",\"{task_id}\"]'\n\nProfiles come from config agents.<name>.command (argv with {prompt}, {prompt_file},\n{session_id}, {task_id}, {skill}, {settings}, {policy_file}, {store_dir}, {store_args} …);\nbuilt in: claude, codex, gemini (see maestro agent list). Prompts go to\n$MAESTRO_HOME/prompts/<session>.md, output to $MAESTRO_HOME/logs/<session>.log.\nCtrl-C stops launching and waits for running agents; a second Ctrl-C leaves them running."
    )]
    Host(HostArgs),
    /// A one-minute tour: a temporary project whose six tasks are run by scripted workers
    #[command(
        after_help = "Examples:\n  maestro demo\n  maestro demo --workers 2 --keep\n  maestro demo --json\n\nEverything happens in a temporary folder (removed at the end unless --keep); nothing is installed."
    )]
    Demo(DemoArgs),
    /// Run the HTTP + WebSocket server that keeps every client in sync, and the dashboard at /
    #[command(
        after_help = "Examples:\n  maestro serve                                  # 127.0.0.1:3000 on the local store\n  maestro serve --addr 127.0.0.1:0 --json        # any free port; prints the URL\n  maestro serve --addr 0.0.0.0:3000 --token s3cret --log-format json\n  maestro serve --spawn --max-concurrent 4       # also launch agents for spawn requests\n  maestro serve --max-connections 2000 --body-timeout 10\n\nClients use it with --server http://127.0.0.1:3000, MAESTRO_API_URL or config apiUrl.\nThe live dashboard is at http://127.0.0.1:3000/ (it asks for the token when there is one).\nA non-loopback address needs a token (--token or MAESTRO_TOKEN). Stops gracefully on SIGTERM/SIGINT."
    )]
    Serve(ServeArgs),
    /// Serve Maestro's tools over the Model Context Protocol (stdio), for MCP clients
    Mcp(McpArgs),
    /// Register Maestro's MCP server, skills and heartbeat hooks with Claude Code, Codex or Gemini CLI
    Setup(SetupArgs),
    /// Merge completed tasks' branches onto their target, one at a time (the merge queue)
    #[command(
        after_help = "Examples:\n  maestro merge t-7k2m                 # queue it (and, with a local store, merge it now)\n  maestro merge t-7k2m --into release\n  maestro merge                        # run the queues: every queued task, in order\n  maestro merge status --json\n\nEach merge rebases (or squashes: config merge.strategy) the task branch onto the target in a\ntemporary worktree, runs config merge.gate if set (e.g. 'cargo test'), then moves the target\nwith a compare-and-swap; a clean checkout of the target is brought along, a dirty one makes\nthe merge wait. A conflict or a failed gate blocks the task (merge_conflict / gate_failed) with\nthe paths or the gate's output and a subtask saying what to resolve. With a local store this\ncommand runs the queue itself; with a server (or beside a running host) the host runs it.\nConfig merge.auto true queues every task completed in a worktree by itself.",
        args_conflicts_with_subcommands = true
    )]
    Merge(MergeArgs),
    /// The git worktrees Maestro made for tasks: list them, remove the merged ones
    #[command(subcommand)]
    Worktree(WorktreeCmd),
    /// Copy a SQLite store, with its whole event log, into an empty PostgreSQL database
    #[command(
        after_help = "Examples:\n  maestro migrate --from .maestro/maestro.db --to postgres://maestro:secret@db.internal/maestro\n  maestro migrate --from ~/.maestro/maestro.db --to postgres://maestro@127.0.0.1/maestro --json\n\nIds, seqs and timestamps are kept, so clients following the event log resume where they were.\nThe copy is one transaction: every table's count is checked before it commits, and a target\nthat holds any data is refused. Stop the servers and agents writing to the SQLite store first;\nthen point them at the database (--db postgres://… or MAESTRO_DB)."
    )]
    Migrate(MigrateArgs),
    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  maestro completions bash > /etc/bash_completion.d/maestro\n  maestro completions zsh > ~/.zfunc/_maestro"
    )]
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },

    // The prototype's hyphenated commands, kept for existing scripts.
    #[command(name = "task-list", hide = true)]
    TaskListAlias(TaskListArgs),
    #[command(name = "task-get", hide = true)]
    TaskGetAlias { id: String },
    #[command(name = "task-create", hide = true)]
    TaskCreateAlias(TaskCreateArgs),
    #[command(name = "task-update", hide = true)]
    TaskUpdateAlias(TaskUpdateArgs),
    #[command(name = "task-start", hide = true)]
    TaskStartAlias(TaskStartArgs),
    #[command(name = "task-complete", hide = true)]
    TaskCompleteAlias(TaskCompleteArgs),
    #[command(name = "task-block", hide = true)]
    TaskBlockAlias(TaskBlockArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    #[command(subcommand)]
    pub command: Option<MergeCmd>,
    /// The task to queue (without one: run the queues as they are)
    pub task: Option<String>,
    /// The branch to merge into (default: config merge.into, else the task's base branch)
    #[arg(long, value_name = "BRANCH")]
    pub into: Option<String>,
    /// Queue a task that is not completed yet
    #[arg(long)]
    pub force: bool,
    /// Only queue it; a host merges it
    #[arg(long)]
    pub no_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum MergeCmd {
    /// The merge queues: each target's entries in order, with their state
    #[command(after_help = "Examples:\n  maestro merge status\n  maestro merge status --json")]
    Status,
}

#[derive(Debug, Subcommand)]
pub enum WorktreeCmd {
    /// Every worktree under $MAESTRO_HOME/worktrees and every one a task records: task,
    /// branch, state, size on disk
    #[command(after_help = "Examples:\n  maestro worktree list\n  maestro worktree list --json")]
    List,
    /// Remove the worktrees of tasks that were merged (and unmoved since) or deleted, and their
    /// merged branches; never a dirty or locked tree, never anything outside $MAESTRO_HOME/worktrees
    #[command(
        after_help = "Examples:\n  maestro worktree gc --dry-run      # what would go, and what stays and why\n  maestro worktree gc"
    )]
    Gc {
        /// Show the plan without removing anything
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct HostArgs {
    /// Most agents running at once
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub max_concurrent: usize,
    /// Start each agent in a window of the tmux session 'maestro' (detached when tmux is missing)
    #[arg(long)]
    pub tmux: bool,
    /// Profile for spawn requests that name none (default: config defaultAgent, else claude)
    #[arg(long, value_name = "PROFILE")]
    pub agent: Option<String>,
    /// How often to look for new spawn requests, in milliseconds
    #[arg(long, default_value_t = 25, value_name = "MS")]
    pub poll_ms: u64,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The SQLite store to copy
    #[arg(long, value_name = "PATH")]
    pub from: std::path::PathBuf,
    /// The empty PostgreSQL database to copy it into (postgres://user:password@host/db)
    #[arg(long, value_name = "URL")]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Workers running at once
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub workers: usize,
    /// Keep the temporary folder (database, prompts, logs) and print its path
    #[arg(long)]
    pub keep: bool,
    /// Pause of the scripted workers between steps, in milliseconds
    #[arg(long, default_value_t = 150, value_name = "MS")]
    pub step_ms: u64,
}

#[derive(Debug, Subcommand)]
pub enum AgentCmd {
    /// List the effective profiles: built-ins (claude, codex, gemini) overridden by config
    #[command(after_help = "Examples:\n  maestro agent list\n  maestro agent list --json")]
    List,
    /// Show a profile's argv, environment and launch files as this host would run it
    #[command(
        after_help = "Examples:\n  maestro agent show claude\n  maestro agent show codex --json\n  maestro config set agents.claude.allowedCommands '[\"git\",\"cargo test\"]'\n  maestro config set agents.gemini.allowedCommands '\"everything\"'   # only inside an isolated worktree\n\nConfig agents.<name> takes command, env, heartbeat (agent|process), allowedCommands\n(command prefixes or \"everything\"), output (claude|codex|gemini|none), resume and\nstoreArgs ({\"local\": [...], \"remote\": [...]}); for a built-in name only the given fields change."
    )]
    Show {
        /// Profile name
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SkillCmd {
    /// List skills: bundled ones, overridden by those in MAESTRO_SKILLS_DIR
    #[command(after_help = "Examples:\n  maestro skill list\n  maestro skill list --json")]
    List,
    /// Show a skill's manifest and instructions
    #[command(
        after_help = "Examples:\n  maestro skill show maestro-worker\n  maestro skill show maestro-cli --json"
    )]
    Show { name: String },
    /// Write the bundled skills to MAESTRO_SKILLS_DIR (default ~/.agents-ui/maestro-skills)
    #[command(
        after_help = "Examples:\n  maestro skill install\n  maestro skill install --dir ./skills\n  maestro skill install --claude        # also into ~/.claude/skills/\n  maestro skill install --force        # replace files you edited\n\nA file edited since it was installed is kept unless --force."
    )]
    Install {
        /// Install here instead of MAESTRO_SKILLS_DIR
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Also install into ~/.claude/skills/
        #[arg(long)]
        claude: bool,
        /// Replace files even if they were edited
        #[arg(long)]
        force: bool,
    },
    /// Render the initial prompt of an agent: skills + task context + next commands
    #[command(
        after_help = "Examples:\n  maestro skill prompt --task t-7k2m\n  maestro skill prompt --task t-7k2m --skill maestro-worker --json\n  maestro skill prompt --skill maestro-orchestrator\n\nWithout --task: the first of MAESTRO_TASK_IDS, else an orchestrator prompt."
    )]
    Prompt {
        /// The task (default: the first of MAESTRO_TASK_IDS)
        #[arg(long, value_name = "ID")]
        task: Option<String>,
        /// The skill (default: maestro-worker with a task, else maestro-orchestrator)
        #[arg(long, value_name = "NAME")]
        skill: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:3000", value_name = "HOST:PORT")]
    pub addr: String,
    /// Require `Authorization: Bearer <token>` on /api and /ws (default: MAESTRO_TOKEN)
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Log format on stderr (RUST_LOG sets the level)
    #[arg(long, value_enum, default_value = "text", value_name = "FORMAT")]
    pub log_format: LogFormat,
    /// Also launch agents for spawn requests, like `maestro host` (agents talk to this server)
    #[arg(long)]
    pub spawn: bool,
    /// With --spawn: most agents running at once
    #[arg(long, default_value_t = 8, value_name = "N", requires = "spawn")]
    pub max_concurrent: usize,
    /// With --spawn: profile for spawn requests that name none
    #[arg(long, value_name = "PROFILE", requires = "spawn")]
    pub agent: Option<String>,
    /// Most connections served at once, WebSockets included; more wait until one closes
    /// (default: MAESTRO_MAX_CONNECTIONS, else the open-file limit less a reserve)
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a request's body before it gets 408 (default:
    /// MAESTRO_BODY_TIMEOUT, else 30)
    #[arg(long, value_name = "SECONDS")]
    pub body_timeout: Option<f64>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ProjectCmd {
    /// Create a project
    #[command(
        after_help = "Examples:\n  maestro project create \"billing\"\n  maestro project create \"billing\" --default"
    )]
    Create {
        name: String,
        /// Make it the store's default project
        #[arg(long)]
        default: bool,
    },
    /// List projects
    #[command(after_help = "Examples:\n  maestro project list --json")]
    List,
    /// Show a project (default: the current one)
    #[command(after_help = "Examples:\n  maestro project get\n  maestro project get p-4k2m")]
    Get { id: Option<String> },
    /// Make a project the default: commands act on it when none is named (in remote mode:
    /// for this folder only, recorded in .maestro/config.json)
    #[command(
        after_help = "Examples:\n  maestro project use p-4k2m\n  maestro project list --json   # the default is marked \"default\": true"
    )]
    Use { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TaskCmd {
    /// List tasks, oldest first
    #[command(
        after_help = "Examples:\n  maestro task list\n  maestro task list --status in_progress --json\n  maestro task list --ready --priority high\n  maestro task list --limit 20 --cursor <nextCursor>"
    )]
    List(TaskListArgs),
    /// Show a task with its subtasks, dependencies and newest timeline entries
    #[command(
        after_help = "Examples:\n  maestro task get t-7k2m9q\n  maestro task get 7k2m --json      # a unique prefix is enough\n\nThe newest 50 timeline entries are shown (timelineTotal counts them all); page the whole\nhistory with 'maestro task timeline <id>'."
    )]
    Get { id: String },
    /// Page a task's whole timeline, oldest first
    #[command(
        after_help = "Examples:\n  maestro task timeline t-7k2m\n  maestro task timeline t-7k2m --limit 20 --json\n  maestro task timeline t-7k2m --cursor <nextCursor>"
    )]
    Timeline {
        id: String,
        /// Page size (default 100, at most 1000)
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Continue after the page that returned this nextCursor
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
    },
    /// Create a task
    #[command(
        after_help = "Examples:\n  maestro task create \"Write the parser\"\n  maestro task create \"Add tests\" --priority high --depends-on t-7k2m9q --label backend\n  maestro task create \"Ship\" --depends-on t-aaa,t-bbb --desc \"Release once both are done\"\n  maestro task create \"Port the parser\" --desc-file notes.md\n  git log -1 --format=%B | maestro task create \"Follow up\" --desc-file -"
    )]
    Create(TaskCreateArgs),
    /// Change a task's fields, status or dependencies
    #[command(
        after_help = "Examples:\n  maestro task update t-7k2m --title \"Write the lexer\"\n  maestro task update t-7k2m --priority high --add-dep t-9zz1\n  maestro task update t-7k2m --status pending --if-version 4"
    )]
    Update(TaskUpdateArgs),
    /// Start a task (pending/blocked → in_progress); its dependencies must be completed
    #[command(
        after_help = "Examples:\n  maestro task start t-7k2m\n  maestro task start            # the first of MAESTRO_TASK_IDS\n  maestro task start t-7k2m --force   # ignore unfinished dependencies"
    )]
    Start(TaskStartArgs),
    /// Mark a task completed
    #[command(
        after_help = "Examples:\n  maestro task complete t-7k2m\n  maestro task complete         # the first of MAESTRO_TASK_IDS"
    )]
    Complete(TaskCompleteArgs),
    /// Reopen a completed (→ in_progress), cancelled or blocked (→ pending) task
    #[command(after_help = "Examples:\n  maestro task reopen t-7k2m")]
    Reopen { id: String },
    /// Cancel a task
    #[command(after_help = "Examples:\n  maestro task cancel t-7k2m")]
    Cancel { id: String },
    /// Delete a task with its subtasks and timeline; dependents lose the dependency
    #[command(after_help = "Examples:\n  maestro task delete t-7k2m")]
    Delete { id: String },
    /// Block a task, saying why
    #[command(
        after_help = "Examples:\n  maestro task block t-7k2m --reason \"Needs the API key from ops\""
    )]
    Block(TaskBlockArgs),
    /// The ready queue: pending tasks whose dependencies are done, by priority then age
    #[command(
        after_help = "Examples:\n  maestro task ready\n  maestro task ready --json --limit 5"
    )]
    Ready {
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Atomically assign a ready task to your session and start it
    #[command(
        after_help = "Examples:\n  MAESTRO_SESSION_ID=s-4f2k maestro task claim --next --json\n  maestro task claim t-7k2m\n  maestro task claim t-7k2m --force   # take it over from its owner\n\nTwo agents claiming at once never get the same task. With nothing ready: nothing_ready, exit 3.\nA task another session owns: task_claimed, exit 4. Claiming again is how a session whose\nclaim was released takes the task back."
    )]
    Claim {
        /// The task to claim (default: the next ready task)
        id: Option<String>,
        /// Claim the first task of the ready queue
        #[arg(long, conflicts_with = "id")]
        next: bool,
        /// Take the task over from the sessions that own it (they are released and their
        /// later writes refused); recorded in the timeline
        #[arg(long, requires = "id")]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct TaskListArgs {
    #[arg(long, value_parser = status_arg(), value_name = "STATUS")]
    pub status: Option<TaskStatus>,
    #[arg(long, value_parser = priority_arg(), value_name = "PRIORITY")]
    pub priority: Option<Priority>,
    /// Only tasks carrying every one of these labels (comma-separated or repeated)
    #[arg(long, value_delimiter = ',', value_name = "LABEL")]
    pub label: Vec<String>,
    /// Only tasks in the ready queue
    #[arg(long)]
    pub ready: bool,
    /// Only tasks assigned to this session (a unique prefix is enough)
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Page size (default 100, at most 1000)
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Continue after the page that returned this nextCursor
    #[arg(long, value_name = "CURSOR")]
    pub cursor: Option<String>,
}

#[derive(Debug, Args)]
pub struct TaskCreateArgs {
    pub title: String,
    #[arg(long, visible_alias = "description", value_name = "TEXT")]
    pub desc: Option<String>,
    /// Read the description from a file ('-': standard input)
    #[arg(long, value_name = "PATH", conflicts_with = "desc")]
    pub desc_file: Option<PathBuf>,
    #[arg(long, value_parser = priority_arg(), value_name = "PRIORITY")]
    pub priority: Option<Priority>,
    /// Tasks this one depends on (comma-separated or repeated)
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub depends_on: Vec<String>,
    /// Labels (comma-separated or repeated)
    #[arg(long, value_delimiter = ',', value_name = "LABEL")]
    pub label: Vec<String>,
    /// Metadata as a JSON object
    #[arg(long, value_name = "JSON")]
    pub metadata: Option<String>,
}

#[derive(Debug, Args)]
pub struct TaskUpdateArgs {
    pub id: String,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long, visible_alias = "description", value_name = "TEXT")]
    pub desc: Option<String>,
    /// Read the description from a file ('-': standard input)
    #[arg(long, value_name = "PATH", conflicts_with = "desc")]
    pub desc_file: Option<PathBuf>,
    #[arg(long, value_parser = priority_arg(), value_name = "PRIORITY")]
    pub priority: Option<Priority>,
    #[arg(long, value_parser = status_arg(), value_name = "STATUS")]
    pub status: Option<TaskStatus>,
    /// Add dependencies (comma-separated or repeated)
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub add_dep: Vec<String>,
    /// Remove dependencies (comma-separated or repeated)
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub remove_dep: Vec<String>,
    /// Replace the labels (comma-separated or repeated)
    #[arg(long, value_delimiter = ',', value_name = "LABEL")]
    pub label: Option<Vec<String>>,
    /// Metadata keys to merge, as a JSON object (null removes a key)
    #[arg(long, value_name = "JSON")]
    pub metadata: Option<String>,
    /// Fail with version_conflict unless the task is at this version
    #[arg(long, value_name = "VERSION")]
    pub if_version: Option<i64>,
    /// Skip dependency checks and force-only transitions
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct TaskStartArgs {
    /// Task id (default: the first of MAESTRO_TASK_IDS)
    pub id: Option<String>,
    /// Start even if dependencies are not completed, or another session owns the task
    /// (recorded in the timeline)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct TaskCompleteArgs {
    /// Task id (default: the first of MAESTRO_TASK_IDS)
    pub id: Option<String>,
    /// Complete even a blocked task, or one another session owns (recorded in the
    /// timeline)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct TaskBlockArgs {
    pub id: String,
    /// Why the task cannot go on
    #[arg(long)]
    pub reason: String,
    /// Block even a task another session owns (recorded in the timeline)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum SubtaskCmd {
    /// Add a subtask at the end of a task's list
    #[command(
        after_help = "Examples:\n  maestro subtask create t-7k2m \"Write unit tests\"\n  maestro subtask create t-7k2m \"Benchmark\" --desc \"criterion, 3 sizes\""
    )]
    Create {
        task_id: String,
        title: String,
        #[arg(long, visible_alias = "description", value_name = "TEXT")]
        desc: Option<String>,
        /// Read the description from a file ('-': standard input)
        #[arg(long, value_name = "PATH", conflicts_with = "desc")]
        desc_file: Option<PathBuf>,
    },
    /// List a task's subtasks in order
    #[command(after_help = "Examples:\n  maestro subtask list t-7k2m --json")]
    List { task_id: String },
    /// Mark a subtask done
    #[command(after_help = "Examples:\n  maestro subtask complete t-7k2m st-p3x8")]
    Complete { task_id: String, subtask_id: String },
    /// Change a subtask's title, description, order or done flag
    #[command(
        after_help = "Examples:\n  maestro subtask update t-7k2m st-p3x8 --title \"Write more tests\"\n  maestro subtask update t-7k2m st-p3x8 --order 1\n  maestro subtask update t-7k2m st-p3x8 --undone"
    )]
    Update {
        task_id: String,
        subtask_id: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long, visible_alias = "description", value_name = "TEXT")]
        desc: Option<String>,
        /// Read the description from a file ('-': standard input)
        #[arg(long, value_name = "PATH", conflicts_with = "desc")]
        desc_file: Option<PathBuf>,
        /// New position, starting at 1
        #[arg(long, value_name = "N")]
        order: Option<i64>,
        /// Mark done
        #[arg(long, conflicts_with = "undone")]
        done: bool,
        /// Mark not done
        #[arg(long)]
        undone: bool,
    },
    /// Delete a subtask
    #[command(after_help = "Examples:\n  maestro subtask delete t-7k2m st-p3x8")]
    Delete { task_id: String, subtask_id: String },
}

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Register a manually started agent and get its session id
    #[command(
        after_help = "Examples:\n  maestro session register --name worker-1\n  export MAESTRO_SESSION_ID=$(maestro session register --json | jq -r .data.id)\n  maestro session register --role orchestrator"
    )]
    Register {
        #[arg(long)]
        name: Option<String>,
        /// worker (default) or orchestrator
        #[arg(long, value_parser = role_arg())]
        role: Option<Role>,
    },
    /// Show the current session (MAESTRO_SESSION_ID)
    #[command(after_help = "Examples:\n  maestro session info --json")]
    Info,
    /// List sessions
    #[command(
        after_help = "Examples:\n  maestro session list\n  maestro session list --active --json"
    )]
    List {
        /// Only sessions that have not ended
        #[arg(long)]
        active: bool,
        #[arg(long, value_parser = session_status_arg(), value_name = "STATUS")]
        status: Option<SessionStatus>,
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
    },
    /// Show a session
    #[command(after_help = "Examples:\n  maestro session get s-4f2k")]
    Get { id: String },
    /// Ask a host to launch a worker agent for a task (the session starts as `spawning`, or
    /// `waiting` until the task's dependencies are done)
    #[command(
        after_help = "Examples:\n  maestro session spawn --task t-7k2m\n  maestro session spawn --task t-7k2m --agent claude --skill maestro-worker --name parser-worker\n  maestro session spawn --task t-7k2m --agent claude --max-cost 2 --max-tokens 500000\n  maestro session spawn --task t-7k2m --resume s-4f2k   # continue a lost worker's conversation\n\nRefused at once: a completed or cancelled task, a task that already has a live worker\nsession (exit 4; --force spawns anyway), an unknown skill or agent profile, a --cwd that\ndoes not exist or is outside the spawn roots (MAESTRO_SPAWN_ROOTS or config spawnRoots;\ndefault: the project's directory) (exit 2 or 3). Past its budget (or config budget.maxCostUsd/maxTokens) the\nhost stops the agent: the session ends `stopped` (budget_exceeded) and its task is released."
    )]
    Spawn {
        #[arg(long, value_name = "ID", value_delimiter = ',')]
        task: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        skill: Option<String>,
        /// Agent profile (claude, codex, gemini or one from config agents.<name>)
        #[arg(long, value_name = "PROFILE")]
        agent: Option<String>,
        /// Working directory of the agent, under the host's spawn roots
        #[arg(long, value_name = "DIR")]
        cwd: Option<PathBuf>,
        /// worker (default) or orchestrator
        #[arg(long, value_parser = role_arg())]
        role: Option<Role>,
        /// Spawn even for a finished task or one that already has a live worker
        #[arg(long)]
        force: bool,
        /// Stop the agent once its run costs more than this many US dollars
        #[arg(long, value_name = "USD")]
        max_cost: Option<f64>,
        /// Stop the agent once its run uses more input plus output tokens than this
        #[arg(long, value_name = "N")]
        max_tokens: Option<u64>,
        /// Continue the agent conversation of this earlier session (claude --resume, codex
        /// exec resume, gemini --resume)
        #[arg(long, value_name = "SESSION")]
        resume: Option<String>,
        /// Run the agent in the directory itself, not in a git worktree of its task
        #[arg(long)]
        no_worktree: bool,
    },
    /// Print the output of an agent launched by a host on this machine
    #[command(
        after_help = "Examples:\n  maestro session logs s-4f2k\n  maestro session logs s-4f2k --tail 50\n  maestro session logs s-4f2k --raw     # the agent's own JSON lines\n\nAn agent with structured output (claude, codex, gemini) is shown readably: what it said, the\ntools it called and their results, then the run's outcome and usage."
    )]
    Logs {
        id: String,
        /// Only the last N lines
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
        /// The log as the agent wrote it (structured output unrendered)
        #[arg(long)]
        raw: bool,
    },
    /// Refresh the current session's lease
    #[command(after_help = "Examples:\n  maestro session heartbeat")]
    Heartbeat {
        /// Session id (default: MAESTRO_SESSION_ID)
        #[arg(long, value_name = "ID")]
        id: Option<String>,
    },
    /// End the current session
    #[command(
        after_help = "Examples:\n  maestro session end\n  maestro session end --status failed"
    )]
    End {
        /// completed (default), failed or stopped
        #[arg(long, value_parser = session_status_arg(), value_name = "STATUS")]
        status: Option<SessionStatus>,
        /// Session id (default: MAESTRO_SESSION_ID)
        #[arg(long, value_name = "ID")]
        id: Option<String>,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: Option<ConfigCmd>,
    /// Print a value
    #[arg(long, value_name = "KEY", group = "form")]
    pub get: Option<String>,
    /// Set a value: key=value
    #[arg(long, value_name = "KEY=VALUE", group = "form")]
    pub set: Option<String>,
    /// Print every setting
    #[arg(long, group = "form")]
    pub list: bool,
    /// Write to the user config ($MAESTRO_HOME/config.json) even inside a project
    #[arg(long)]
    pub global: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print a setting's effective value and where it comes from (flag, env, project or
    /// user file, default)
    #[command(
        after_help = "Examples:\n  maestro config get leaseSeconds\n  maestro config get apiUrl --json   # {\"value\": …, \"source\": \"env\", \"from\": \"MAESTRO_API_URL\"}"
    )]
    Get { key: String },
    /// Set a value (JSON values are parsed: numbers, arrays, objects); known keys are checked
    #[command(
        after_help = "Examples:\n  maestro config set leaseSeconds 300\n  maestro config set apiUrl http://127.0.0.1:3000\n  maestro config set agents.scripted.command '[\"bash\",\"worker.sh\"]'\n  maestro config set x.team backend        # your own keys live under x.\n\nA key Maestro does not know is refused unless it starts with x.; a value is refused when\nthe setting would not accept it (the error says why and what it takes)."
    )]
    Set {
        key: String,
        /// The value; a negative number is a value, not a flag
        #[arg(allow_negative_numbers = true)]
        value: String,
        /// Write to the user config even inside a project
        #[arg(long)]
        global: bool,
    },
    /// Remove a value (and the objects it leaves empty)
    #[command(
        after_help = "Examples:\n  maestro config unset apiUrl\n  maestro config unset agents.scripted --global"
    )]
    Unset {
        key: String,
        #[arg(long)]
        global: bool,
    },
    /// Print every setting in effect with where it comes from
    #[command(
        after_help = "Examples:\n  maestro config list\n  maestro config list --json\n  maestro config list -q     # key=value lines"
    )]
    List,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  maestro mcp                         # tools for the session's role (MAESTRO_SESSION_ID)
  maestro mcp --tools orchestrator    # plan, spawn and watch as well
  claude mcp add maestro -- maestro mcp
  maestro setup claude                # registers this server with Claude Code for you

Speaks MCP over stdin/stdout (one JSON-RPC message per line); logs nothing on stdout.
Worker tools: status, ready, claim, get_task, progress, subtask, complete, block.
Orchestrator tools add: list_tasks, create_task, update_task, spawn, sessions, merge_status.
All adds: timeline, cancel_task. The store, project and session come from the same flags
and environment as every command (--db, --server, MAESTRO_SESSION_ID, MAESTRO_TASK_IDS).")]
pub struct McpArgs {
    /// Which tools to offer (default: worker for a worker session, else orchestrator)
    #[arg(long, value_enum, value_name = "SET")]
    pub tools: Option<ToolSet>,
}

/// Which tools a server offers (`--tools`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ToolSet {
    /// What a worker needs to do its task (at most 8 tools).
    Worker,
    /// The worker's tools plus planning and spawning (at most 15 tools).
    Orchestrator,
    /// Every tool.
    All,
}

impl ToolSet {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolSet::Worker => "worker",
            ToolSet::Orchestrator => "orchestrator",
            ToolSet::All => "all",
        }
    }
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  maestro setup claude                  # .mcp.json, .claude/settings.json, .claude/skills/
  maestro setup claude --dry-run        # the diff, nothing written
  maestro setup codex --scope user      # ~/.codex/config.toml, ~/.codex/skills/
  maestro setup gemini                  # .gemini/settings.json, .gemini/skills/
  maestro setup claude --remove         # take back what setup added

Claude Code: the server in .mcp.json (user: ~/.claude.json), enabled and its tools allowed
in .claude/settings.json (user: ~/.claude/settings.json) with heartbeat hooks before and
after every tool use, skills in .claude/skills. Codex: [mcp_servers.maestro] in
.codex/config.toml (read in trusted projects; user: ~/.codex/config.toml), skills in
.codex/skills; Codex gets no hooks (its own MCP calls keep the lease). Gemini CLI: the
server and BeforeTool/AfterTool heartbeat hooks in .gemini/settings.json (user:
~/.gemini/settings.json), skills in .gemini/skills.

Existing files are parsed and merged (JSON key order and TOML comments are kept); a value
you set is never replaced without --force. A file that does not parse is reported with its
line, and nothing is changed. Running setup twice changes nothing.")]
pub struct SetupArgs {
    /// The agent to set up
    #[arg(value_enum)]
    pub agent: SetupAgent,
    /// Where to register: this project (default) or your user config
    #[arg(long, value_enum, default_value = "project")]
    pub scope: SetupScope,
    /// Print the changes as a diff and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Take back what an earlier setup of this agent and scope added
    #[arg(long, conflicts_with = "force")]
    pub remove: bool,
    /// Replace values you set where Maestro's go (they are restored by --remove)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SetupAgent {
    Claude,
    Codex,
    Gemini,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SetupScope {
    /// This project's files (committed with it)
    Project,
    /// Your user-wide files
    User,
}

impl SetupAgent {
    pub fn name(self) -> &'static str {
        match self {
            SetupAgent::Claude => "claude",
            SetupAgent::Codex => "codex",
            SetupAgent::Gemini => "gemini",
        }
    }
}

impl SetupScope {
    pub fn name(self) -> &'static str {
        match self {
            SetupScope::Project => "project",
            SetupScope::User => "user",
        }
    }
}
