"""Type stubs of ``maestro._native``, the extension behind the ``maestro`` package.

Conventions of every result class:

* enums are their JSON strings (``TaskStatus``, ``Priority``, ``SessionStatus``, ``Role``);
* timestamps are RFC 3339 UTC strings, exactly as in the JSON API, e.g.
  ``"2026-01-01T12:00:00.123Z"`` (``datetime.fromisoformat`` parses them on Python >= 3.11);
* ``to_dict()`` gives plain Python data keyed by the attribute names (nested entities as
  dicts), ready for ``json.dumps``;
* instances are immutable and compare equal when their values are equal.
"""

from collections.abc import Iterator
from os import PathLike
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar, final

from maestro._types import (
    EventType,
    Priority,
    Role,
    SessionStatus,
    SkillSource,
    SkillType,
    TaskStatus,
    TimelineType,
)

__version__: str
__all__ = [
    "ClaimReleasedError",
    "Client",
    "ConflictError",
    "DependencyRef",
    "Event",
    "InternalError",
    "MaestroError",
    "NotFoundError",
    "Page",
    "Project",
    "ProjectInit",
    "Server",
    "Session",
    "SessionCounts",
    "SessionEndedError",
    "SessionLostError",
    "Skill",
    "StatusReport",
    "Subscription",
    "Subtask",
    "Task",
    "TaskClaimedError",
    "TaskCounts",
    "TaskDetail",
    "TimelineEntry",
    "UnauthorizedError",
    "UnavailableError",
    "ValidationError",
    "__version__",
    "_bench_facade_get_task",
    "connect",
    "open",
    "serve",
]

_T = TypeVar("_T")

# ---- errors -------------------------------------------------------------------------------

class MaestroError(Exception):
    """Base class of every Maestro error."""

    code: str
    """Stable snake_case code, e.g. ``"task_not_found"`` or ``"dependencies_incomplete"``."""
    message: str
    """Human-readable message (also ``str(error)``)."""
    details: dict[str, Any]
    """Structured details, e.g. ``{"taskId": "t-9zz"}``."""
    suggestion: str | None
    """What to do next, phrased so that an agent can act on it."""
    retryable: bool
    """Whether the same call may succeed if simply repeated."""

class NotFoundError(MaestroError):
    """The entity (or a ready task: code ``nothing_ready``) does not exist."""

class ValidationError(MaestroError):
    """The arguments are invalid; fix them before retrying."""

class ConflictError(MaestroError):
    """The call conflicts with the current state (transition, cycle, dependencies, version,
    ownership, a session that can no longer act); re-read first."""

class TaskClaimedError(ConflictError):
    """Code ``task_claimed``: another session owns the task (``details["sessionIds"]``);
    work on your own task, or claim another with ``claim_next()``."""

class ClaimReleasedError(ConflictError):
    """Code ``claim_released``: this session's claim on the task was released or taken over;
    stop working on it and claim another task."""

class SessionLostError(ConflictError):
    """Code ``session_lost``: the session was silent past its lease and declared lost, and
    its tasks went back to the queue; stop working (register a new session to go on)."""

class SessionEndedError(ConflictError):
    """Code ``session_ended``: the session has ended (completed, failed or stopped) and can
    no longer act; register a new session to go on."""

class UnauthorizedError(MaestroError):
    """Missing or wrong credentials."""

class UnavailableError(MaestroError):
    """The server could not be reached; retrying later may work."""

class InternalError(MaestroError):
    """Storage, server or internal failure."""

# ---- results ------------------------------------------------------------------------------

@final
class Project:
    """A project: the unit most operations act on."""

    @property
    def id(self) -> str:
        """The project id, e.g. ``p-4f8a2c``."""
    @property
    def name(self) -> str:
        """The project name."""
    @property
    def created_at(self) -> str:
        """When the project was created (RFC 3339 UTC string)."""
    @property
    def default(self) -> bool:
        """Whether it is the store's default project (the one clients without a project act
        on)."""
    def to_dict(self) -> dict[str, Any]:
        """The value as plain Python data keyed by the attribute names."""

@final
class ProjectInit:
    """What ``init_project`` did: the project, and whether it was created."""

    @property
    def project(self) -> Project:
        """The project of that name."""
    @property
    def created(self) -> bool:
        """False when a project of that name existed and was returned."""
    def to_dict(self) -> dict[str, Any]:
        """The value as plain Python data keyed by the attribute names."""

@final
class Task:
    """A task."""

    @property
    def id(self) -> str:
        """The task id, e.g. ``t-7k2m9q``."""
    @property
    def project_id(self) -> str:
        """The project the task belongs to."""
    @property
    def title(self) -> str:
        """The title."""
    @property
    def description(self) -> str:
        """The description (empty when none was given)."""
    @property
    def status(self) -> TaskStatus:
        """``pending``, ``in_progress``, ``blocked``, ``completed`` or ``cancelled``."""
    @property
    def priority(self) -> Priority:
        """``high``, ``medium`` or ``low``."""
    @property
    def dependencies(self) -> list[str]:
        """Ids of the tasks this one depends on."""
    @property
    def labels(self) -> list[str]:
        """The labels."""
    @property
    def session_ids(self) -> list[str]:
        """Ids of the sessions the task is assigned to."""
    @property
    def metadata(self) -> dict[str, Any]:
        """Free-form JSON object."""
    @property
    def version(self) -> int:
        """Incremented on every change; pass it as ``expected_version`` for optimistic updates."""
    @property
    def claim_epoch(self) -> int:
        """Fencing token: incremented when the task gets owners after having none, and when
        an owner's claim is released or taken over."""
    @property
    def blocked_reason(self) -> str | None:
        """Why the task is blocked (the latest reason), while it is; else None."""
    @property
    def created_at(self) -> str:
        """When the task was created (RFC 3339 UTC string)."""
    @property
    def updated_at(self) -> str:
        """When the task last changed (RFC 3339 UTC string)."""
    @property
    def started_at(self) -> str | None:
        """When the task was started, if it was."""
    @property
    def completed_at(self) -> str | None:
        """When the task was completed, if it was."""
    def to_dict(self) -> dict[str, Any]:
        """The value as plain Python data keyed by the attribute names."""

@final
class DependencyRef:
    """A dependency (or dependent) of a task: id, title and status."""

    @property
    def id(self) -> str:
        """The task id."""
    @property
    def title(self) -> str:
        """The task title."""
    @property
    def status(self) -> TaskStatus:
        """The task status."""
    def to_dict(self) -> dict[str, Any]:
        """The value as plain Python data keyed by the attribute names."""

@final
class Subtask:
    """A subtask: an ordered checklist item of a task."""

    @property
    def id(self) -> str:
        """The subtask id, e.g. ``st-3n8x1w``."""
    @property
    def task_id(self) -> str:
        """The task it belongs to."""
    @property
    def title(self) -> str:
        """The title."""
    @property
    def description(self) -> str:
        """The description (empty when none was given)."""
    @property
    def completed(self) -> bool:
        """Whether it is done."""
    @property
    def order(self) -> int:
        """Its position in the task's checklist, from 1."""
    @property
    def created_at(self) -> str:
        """When it was created (RFC 3339 UTC string)."""
    @property
    def updated_at(self) -> str:
        """When it last changed (RFC 3339 UTC string)."""
    @property
    def completed_at(self) -> str | None:
        """When it was completed, if it was."""
    def to_dict(self) -> dict[str, Any]:
        """The value as plain Python data keyed by the attribute names."""

@final
class TimelineEntry:
    """One entry of a task's append-only timeline."""

    @property
    def id(self) -> int:
        """The entry id (increasing)."""
    @property
    def task_id(self) -> str:
        """The task it belongs to."""
    @property
    def type(self) -> TimelineType:
        """What happened."""
    @property
    def data(self) -> dict[str, Any]:
        """The type-specific fields: ``from``/``to`` (status_changed), ``message`` (progress,
        comment), ``author`` (comment), ``subtask_id``, ``reason`` (blocked, released),
        ``session_id`` (assigned, released), ``action`` and ``session_ids`` (override: a
        write forced over the sessions that owned the task)."""
    @property
    def message(self) -> str | None:
        """The message or reason of the entry, when it has one."""
    @property
    def summary(self) -> str:
        """What happened, in a few words (the text every Maestro front end shows)."""
    @property
    def timestamp(self) -> str:
        """When it happened (RFC 3339 UTC string)."""
    @property
    def session_id(self) -> str | None:
        """The acting session, when known."""
    def to_dict(self) -> dict[str, Any]:
        """The value as plain Python data keyed by the attribute names."""

@final
class TaskDetail:
    """A task with its subtasks, dependencies, dependents and timeline (``get_task``)."""

    @property
    def task(self) -> Task:
        """The task itself."""
    @property
    def id(self) -> str:
        """The task id."""
    @property
    def project_id(self) -> str:
        """The project the task belongs to."""
    @property
    def title(self) -> str:
        """The title."""
    @property
    def description(self) -> str:
        """The description (empty when none was given)."""
    @property
    def status(self) -> TaskStatus:
        """``pending``, ``in_progress``, ``blocked``, ``completed`` or ``cancelled``."""
    @property
    def priority(self) -> Priority:
        """``high``, ``medium`` or ``low``."""
    @property
    def dependencies(self) -> list[str]:
        """Ids of the tasks this one depends on."""
    @property
    def labels(self) -> list[str]:
        """The labels."""
    @property
    def session_ids(self) -> list[str]:
        """Ids of the sessions the task is assigned to."""
    @property
    def metadata(self) -> dict[str, Any]:
        """Free-form JSON object."""
    @property
    def version(self) -> int:
        """Incremented on every change."""
    @property
    def claim_epoch(self) -> int:
        """Fencing token: incremented when the task gets owners after having none, and when
        an owner's claim is released or taken over."""
    @property
    def blocked_reason(self) -> str | None:
        """Why the task is blocked (the latest reason), while it is; else None."""
    @property
    def created_at(self) -> str:
        """When the task was created (RFC 3339 UTC string)."""
    @property
    def updated_at(self) -> str:
        """When the task last changed (RFC 3339 UTC string)."""
    @property
    def started_at(self) -> str | None:
        """When the task was started, if it was."""
    @property
    def completed_at(self) -> str | None:
        """When the task was completed, if it was."""
    @property
    def subtasks(self) -> list[Subtask]:
        """The subtasks, in order."""
    @property
    def dependency_details(self) -> list[DependencyRef]:
        """The dependencies with their titles and statuses."""
    @property
    def dependents(self) -> list[DependencyRef]:
        """The tasks that depend on this one."""
    @property
    def timeline(self) -> list[TimelineEntry]:
        """The newest timeline entries (at most 50), oldest first; ``Client.timeline()``
        pages the whole history."""
    @property
    def timeline_total(self) -> int:
        """How many entries the whole timeline has."""
    def to_dict(self) -> dict[str, Any]:
        """The value as plain Python data keyed by the attribute names."""

@final
class Session:
    """A session: one running agent."""

    @property
    def id(self) -> str:
        """The session id, e.g. ``s-9c2k4m``."""
    @property
    def project_id(self) -> str:
        """The project it works on."""
    @property
    def name(self) -> str:
        """Its name."""
    @property
    def role(self) -> Role:
        """``orchestrator`` or ``worker``."""
    @property
    def skill(self) -> str | None:
        """The skill it runs, if any."""
    @property
    def agent(self) -> str | None:
        """The agent profile (``claude``, ``codex``, a configured name), if any."""
    @property
    def task_ids(self) -> list[str]:
        """The tasks it was given."""
    @property
    def status(self) -> SessionStatus:
        """``waiting`` (a spawn request for a task whose dependencies are open),
        ``spawning``, ``starting``, ``active``, ``completed``, ``failed``, ``stopped`` or
        ``lost``."""
    @property
    def spawned_by(self) -> str | None:
        """The session that requested it, if any."""
    @property
    def pid(self) -> int | None:
        """The process id, when running."""
    @property
    def host(self) -> str | None:
        """The host it runs on, when known."""
    @property
    def cwd(self) -> str | None:
        """Its working directory, when known."""
    @property
    def exit_code(self) -> int | None:
        """The exit code, once ended."""
    @property
    def reason(self) -> str | None:
        """Why it failed or was lost, when known."""
    @property
    def created_at(self) -> str:
        """When it was created (RFC 3339 UTC string)."""
    @property
    def started_at(self) -> str | None:
        """When it started, if it did."""
    @property
    def ended_at(self) -> str | None:
        """When it ended, if it did."""
    @property
    def last_seen(self) -> str:
        """Its last heartbeat (RFC 3339 UTC string)."""
    def to_dict(self) -> dict[str, Any]:
        """The value as plain Python data keyed by the attribute names."""

@final
class Event:
    """One entry of the durable event log."""

    @property
    def type(self) -> EventType:
        """What changed."""
    @property
    def seq(self) -> int:
        """The global, gap-free, increasing sequence number."""
    @property
    def ts(self) -> str:
        """When it was recorded (RFC 3339 UTC string)."""
    @property
    def project_id(self) -> str | None:
        """The project it concerns, if any."""
    @property
    def data(self) -> dict[str, Any]:
        """The entity after the change, in its JSON form (camelCase keys); for a deletion
        its id (``{"id": ..., "projectId": ...}`` or ``{"id": ..., "taskId": ...}``)."""
    def to_dict(self) -> dict[str, Any]:
        """The value as plain Python data keyed by the attribute names."""

@final
class TaskCounts:
    """Task counts of a project."""

    @property
    def total(self) -> int:
        """Number of tasks."""
    @property
    def by_status(self) -> dict[str, int]:
        """Count per status, every status included."""
    @property
    def by_priority(self) -> dict[str, int]:
        """Count per priority, every priority included."""
    @property
    def ready(self) -> int:
        """Number of tasks in the ready queue."""
    def to_dict(self) -> dict[str, Any]:
        """The value as plain Python data keyed by the attribute names."""

@final
class SessionCounts:
    """Session counts of a project."""

    @property
    def active(self) -> int:
        """Sessions that have not ended."""
    @property
    def total(self) -> int:
        """All sessions."""
    def to_dict(self) -> dict[str, Any]:
        """The value as plain Python data keyed by the attribute names."""

@final
class StatusReport:
    """What ``status()`` reports."""

    @property
    def project_id(self) -> str:
        """The project reported on."""
    @property
    def tasks(self) -> TaskCounts:
        """Task counts."""
    @property
    def sessions(self) -> SessionCounts:
        """Session counts."""
    def to_dict(self) -> dict[str, Any]:
        """The value as plain Python data keyed by the attribute names."""

@final
class Skill:
    """A skill: instructions an agent loads (a ``manifest.json`` and a ``SKILL.md``). Skills
    of the skills directory override the bundled ones by name."""

    @property
    def name(self) -> str:
        """The skill name, e.g. ``maestro-worker``."""
    @property
    def version(self) -> str:
        """Its version (from ``manifest.json``)."""
    @property
    def description(self) -> str:
        """What it is for."""
    @property
    def type(self) -> SkillType:
        """``system`` (for every agent) or ``role`` (for the roles in ``assign_to``)."""
    @property
    def assign_to(self) -> list[Role]:
        """The roles a ``role`` skill is meant for."""
    @property
    def priority(self) -> int:
        """Higher comes first when skills are composed into a prompt."""
    @property
    def capabilities(self) -> list[str]:
        """The capabilities it declares."""
    @property
    def dependencies(self) -> list[str]:
        """Names of the skills it needs (loaded with it, transitively)."""
    @property
    def config(self) -> dict[str, Any]:
        """The free-form ``config`` object of its manifest."""
    @property
    def source(self) -> SkillSource:
        """``bundled`` (compiled into Maestro) or ``dir`` (a folder of the skills directory)."""
    @property
    def path(self) -> str | None:
        """The folder it was loaded from, or None for a bundled skill."""
    @property
    def skill_md(self) -> str:
        """The whole ``SKILL.md``, front matter included."""
    @property
    def instructions(self) -> str:
        """The instructions: ``SKILL.md`` without its front matter."""
    def to_dict(self) -> dict[str, Any]:
        """The value as plain Python data keyed by the attribute names."""

@final
class Page(Generic[_T]):
    """A page of results; ``next_cursor`` (when not None) fetches the next page."""

    @property
    def items(self) -> list[_T]:
        """The items of this page."""
    @property
    def next_cursor(self) -> str | None:
        """The cursor of the next page, or None when this is the last one."""
    def to_dict(self) -> dict[str, Any]:
        """``{"items": [...], "next_cursor": ...}`` with the items as dicts."""
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[_T]: ...
    def __getitem__(self, index: int, /) -> _T: ...
    @classmethod
    def __class_getitem__(cls, item: Any) -> Any: ...

# ---- subscription -------------------------------------------------------------------------

@final
class Subscription:
    """A stream of events in ``seq`` order: an iterator and an async iterator.

    ``close()`` (or leaving a ``with`` block) stops the background work and ends the
    iteration.
    """

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last event handed out (at first the seq it started after:
        ``since``, or the latest seq when subscribing from now)."""
    @property
    def resync_required(self) -> tuple[int, int] | None:
        """``(last_seq, oldest)`` when the event log no longer had the events after
        ``last_seq`` (they were pruned) and the stream went on from ``oldest``: reload the
        state you mirror. None otherwise."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
    def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event, waiting at most ``timeout`` seconds (None: until one arrives).
        Returns None on timeout or once the subscription is closed."""
    def close(self) -> None:
        """Stops the background work; iteration ends. Idempotent."""
    def __iter__(self) -> Subscription: ...
    def __next__(self) -> Event: ...
    def __aiter__(self) -> Subscription: ...
    async def __anext__(self) -> Event: ...
    def __enter__(self) -> Subscription: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]: ...
    def _fill(self, timeout: float) -> Literal["ready", "timeout", "closed"]: ...
    def _take(self) -> Event | None: ...

# ---- client -------------------------------------------------------------------------------

@final
class Client:
    """A Maestro client on a local store (``open``) or a server (``connect``).

    Every method blocks the calling thread (the GIL is released, so other threads run) and
    raises a ``MaestroError`` subclass on failure. Safe to share between threads.
    """

    @property
    def mode(self) -> Literal["local", "remote"]:
        """``"local"`` (a SQLite file) or ``"remote"`` (a server)."""
    @property
    def location(self) -> str:
        """Where the data lives: the database path or the server URL."""
    @property
    def session_id(self) -> str | None:
        """The acting session recorded in timelines (default: ``MAESTRO_SESSION_ID``)."""
    @property
    def project_id(self) -> str | None:
        """The project operations act on (default: ``MAESTRO_PROJECT_ID``), or None for the
        store's default project."""
    def with_session(self, session_id: str | None) -> Client:
        """A client on the same store acting as session ``session_id``."""
    def with_project(self, project_id: str | None) -> Client:
        """A client on the same store acting on project ``project_id``."""

    # projects
    def create_project(self, name: str, make_default: bool = False) -> Project:
        """Creates a project; the first one, or one made with ``make_default``, is the default."""
    def init_project(self, name: str) -> ProjectInit:
        """The project called ``name`` if the store has one, else a new one (the default
        project only when the store had none); never switches the default project."""
    def use_project(self, id: str) -> Project:
        """Makes the project ``id`` names the store's default project; returns it."""
    def list_projects(self) -> list[Project]:
        """Every project, oldest first; ``default`` marks the store's default project."""
    def get_project(self, id: str | None = None) -> Project:
        """The project ``id`` names; with None the client's project or the default project."""

    # tasks
    def create_task(
        self,
        title: str,
        description: str | None = None,
        priority: Priority | None = None,
        depends_on: list[str] | None = None,
        labels: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Task:
        """Creates a task; ``depends_on`` lists task ids that must complete first."""
    def get_task(self, id: str) -> TaskDetail:
        """The task with its subtasks, dependencies, dependents and newest 50 timeline
        entries (``timeline_total`` counts them all)."""
    def list_tasks(
        self,
        status: TaskStatus | None = None,
        priority: Priority | None = None,
        label: str | None = None,
        ready: bool | None = None,
        session_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Task]:
        """A page of tasks, filtered; pass ``next_cursor`` as ``cursor`` for the next page."""
    def update_task(
        self,
        id: str,
        title: str | None = None,
        description: str | None = None,
        priority: Priority | None = None,
        status: TaskStatus | None = None,
        add_dependencies: list[str] | None = None,
        remove_dependencies: list[str] | None = None,
        labels: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        expected_version: int | None = None,
        force: bool = False,
    ) -> Task:
        """Changes a task; absent arguments stay as they are."""
    def start_task(self, id: str, force: bool = False) -> Task:
        """Starts a task; ``dependencies_incomplete`` unless its dependencies are completed."""
    def complete_task(self, id: str, force: bool = False) -> Task:
        """Completes a task (a no-op on a completed one)."""
    def block_task(self, id: str, reason: str) -> Task:
        """Blocks a task with the reason it cannot go on."""
    def reopen_task(self, id: str) -> Task:
        """Reopens a completed or cancelled task."""
    def cancel_task(self, id: str) -> Task:
        """Cancels a task."""
    def release_task(self, id: str, reason: str | None = None) -> Task:
        """Gives an in-progress task back (``pending``) so another worker can claim it."""
    def delete_task(self, id: str) -> Task:
        """Deletes a task with its subtasks and timeline; returns it as it was."""
    def ready_tasks(self, limit: int | None = None) -> list[Task]:
        """The ready queue, by priority then age."""
    def claim_task(
        self, id: str, session_id: str | None = None, force: bool = False
    ) -> Task:
        """Atomically assigns the pending task ``id`` to a session and starts it; a task
        other sessions hold raises ``TaskClaimedError`` unless ``force`` takes it over."""
    def claim_next(self, session_id: str | None = None) -> Task:
        """Atomically claims the first ready task; ``NotFoundError`` (``nothing_ready``) if none."""

    # timeline
    def add_progress(self, task_id: str, message: str) -> TimelineEntry:
        """Appends a progress entry to a task's timeline."""
    def add_comment(
        self, task_id: str, message: str, author: str | None = None
    ) -> TimelineEntry:
        """Appends a comment; ``author`` defaults to the client's session id, else ``"user"``."""
    def timeline(
        self, task_id: str, limit: int | None = None, cursor: str | None = None
    ) -> Page[TimelineEntry]:
        """A page of a task's whole timeline, oldest first (``limit`` entries, default 100);
        pass the page's ``next_cursor`` as ``cursor`` for the next one."""

    # subtasks
    def create_subtask(
        self, task_id: str, title: str, description: str | None = None
    ) -> Subtask:
        """Adds a subtask at the end of a task's checklist."""
    def list_subtasks(self, task_id: str) -> list[Subtask]:
        """A task's subtasks, in order."""
    def update_subtask(
        self,
        task_id: str,
        subtask_id: str,
        title: str | None = None,
        description: str | None = None,
        completed: bool | None = None,
        order: int | None = None,
    ) -> Subtask:
        """Changes a subtask; ``order`` moves it (from 1)."""
    def complete_subtask(self, task_id: str, subtask_id: str) -> Subtask:
        """Marks a subtask completed."""
    def delete_subtask(self, task_id: str, subtask_id: str) -> Subtask:
        """Deletes a subtask; returns it as it was."""

    # sessions
    def register_session(
        self,
        name: str | None = None,
        role: Role | None = None,
        skill: str | None = None,
        agent: str | None = None,
        task_ids: list[str] | None = None,
        cwd: str | None = None,
        pid: int | None = None,
    ) -> Session:
        """Registers a manually started agent (``active`` at once)."""
    def list_sessions(
        self,
        active: bool = False,
        status: SessionStatus | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Session]:
        """A page of sessions; ``active=True`` keeps those that have not ended."""
    def get_session(self, id: str) -> Session:
        """The session ``id`` names."""
    def spawn_session(
        self,
        task_id: str,
        agent: str | None = None,
        skill: str | None = None,
        name: str | None = None,
        cwd: str | None = None,
        force: bool = False,
    ) -> Session:
        """Requests a worker session for a task (``spawning``, or ``waiting`` while its
        dependencies are open) for a host to launch; a finished task or one with a live
        worker is refused unless ``force``."""
    def heartbeat(self, session_id: str | None = None) -> Session:
        """Refreshes a session's lease (default: the client's session); a lost session
        raises ``SessionLostError``, an ended one ``SessionEndedError``."""
    def end_session(
        self, session_id: str | None = None, status: SessionStatus | None = None
    ) -> Session:
        """Ends a session with ``completed`` (default), ``failed`` or ``stopped``."""

    # skills (read from this machine's skills directory, also by a remote client)
    @property
    def skills_dir(self) -> str | None:
        """The skills directory read (``MAESTRO_SKILLS_DIR``, default
        ``~/.agents-ui/maestro-skills``); its skills override the bundled ones by name."""
    def list_skills(self) -> list[Skill]:
        """Every skill (bundled, overridden by the skills directory), highest priority first."""
    def get_skill(self, name: str) -> Skill:
        """The skill ``name``; ``NotFoundError`` (``skill_not_found``) when there is none."""
    def skill_prompt(self, task_id: str | None = None, skill: str | None = None) -> str:
        """The initial prompt of an agent, as ``maestro skill prompt`` prints it: ``skill``
        (default ``maestro-worker`` with a task, else ``maestro-orchestrator``) with its
        dependencies, then the task's (or the project's) context and next commands."""

    # status and events
    def status(self) -> StatusReport:
        """Task counts by status and priority, the ready count and session counts."""
    def events(
        self, since: int = 0, limit: int = 100, project: str | None = None
    ) -> list[Event]:
        """Events with ``seq > since``, oldest first (at most ``limit``)."""
    def latest_seq(self) -> int:
        """The latest ``seq`` of the event log (0 when it is empty)."""
    def subscribe(
        self,
        since: int | None = None,
        project: str | None = None,
        poll_interval: float | None = None,
    ) -> Subscription:
        """Streams the events after ``since`` in ``seq`` order, then live ones. ``since``
        defaults to now (only what happens from now on); ``since=0`` replays the whole log.
        ``poll_interval`` (local stores, default 0.1 s) is how often other processes' writes
        are looked for."""

def open(
    path: str | PathLike[str] | None = None,
    *,
    session_id: str | None = None,
    project_id: str | None = None,
) -> Client:
    """Opens (creating if needed) a local store: ``path``, else ``MAESTRO_DB``, else the
    nearest ``.maestro/maestro.db`` upward from the current directory, else
    ``$MAESTRO_HOME/maestro.db``. Settings are the CLI's: the session lease
    (``MAESTRO_LEASE_SECONDS``, config ``leaseSeconds``), the skills directory and the agent
    profiles."""

def connect(
    url: str | None = None,
    token: str | None = None,
    *,
    session_id: str | None = None,
    project_id: str | None = None,
) -> Client:
    """A client of the Maestro server at ``url`` (default ``MAESTRO_API_URL``, then config
    ``apiUrl``), sending ``token`` (default ``MAESTRO_TOKEN``) as a bearer token. Calls retry
    connection failures and raise ``UnavailableError`` when the server stays unreachable."""

@final
class Server:
    """A running Maestro server (the same server as ``maestro serve``) embedded in this
    process. ``close()`` (or leaving a ``with`` block) shuts it down gracefully."""

    @property
    def url(self) -> str:
        """The base URL to pass to ``maestro.connect()``, e.g. ``http://127.0.0.1:40123``."""
    @property
    def port(self) -> int:
        """The port the server listens on."""
    @property
    def db(self) -> str:
        """The database file it serves."""
    def close(self) -> None:
        """Shuts the server down gracefully and waits for it. Idempotent."""
    def __enter__(self) -> Server: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]: ...

def serve(
    path: str | PathLike[str] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
) -> Server:
    """Starts a Maestro server on a local store (resolved like ``open``, with the same lease)
    in the background of this process; ``port=0`` picks a free port. A non-loopback ``host``
    needs a ``token``."""

def _bench_facade_get_task(client: Client, id: str, n: int) -> float:
    """Benchmark support: ``n`` calls of the Rust facade's ``get_task`` as the binding makes
    them, without Python conversion; returns the elapsed seconds."""
