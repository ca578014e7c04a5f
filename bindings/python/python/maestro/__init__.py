"""Maestro: orchestration for LLM coding agents, from Python.

Open a local store or connect to a server, then drive tasks, subtasks, progress and
sessions with blocking methods that release the GIL::

    import maestro

    client = maestro.open("maestro.db")
    client.create_project("demo")
    task = client.create_task("Write the parser", priority="high")
    worker = client.with_session(client.register_session(name="w1").id)
    claimed = worker.claim_next()
    worker.add_progress(claimed.id, "tokenizer done")
    worker.complete_task(claimed.id)

Results are typed objects (``Task``, ``TaskDetail``, ``Session``…) with attributes and
``to_dict()``; enums are their JSON strings (``"in_progress"``) and timestamps RFC 3339 UTC
strings. Failures raise :class:`MaestroError` subclasses carrying ``code``, ``message``,
``details``, ``suggestion`` and ``retryable``; the conflicts a worker must act on have their
own subclasses of :class:`ConflictError`: :class:`TaskClaimedError` (another session owns the
task), :class:`ClaimReleasedError` (its claim was released or taken over),
:class:`SessionLostError` (silent past its lease: its tasks went back to the queue) and
:class:`SessionEndedError`.

Skills (``list_skills()``, ``get_skill()``) and agents' initial prompts (``skill_prompt()``)
come from the same skills directory as the CLI's (``MAESTRO_SKILLS_DIR``).
"""

from maestro._native import (
    ClaimReleasedError as ClaimReleasedError,
    Client as Client,
    ConflictError as ConflictError,
    DependencyRef as DependencyRef,
    Event as Event,
    InternalError as InternalError,
    MaestroError as MaestroError,
    NotFoundError as NotFoundError,
    Page as Page,
    Project as Project,
    ProjectInit as ProjectInit,
    Server as Server,
    Session as Session,
    SessionCounts as SessionCounts,
    SessionEndedError as SessionEndedError,
    SessionLostError as SessionLostError,
    Skill as Skill,
    StatusReport as StatusReport,
    Subscription as Subscription,
    Subtask as Subtask,
    Task as Task,
    TaskClaimedError as TaskClaimedError,
    TaskCounts as TaskCounts,
    TaskDetail as TaskDetail,
    TimelineEntry as TimelineEntry,
    UnauthorizedError as UnauthorizedError,
    UnavailableError as UnavailableError,
    ValidationError as ValidationError,
    __version__ as __version__,
    connect as connect,
    open as open,
    serve as serve,
)
from maestro._types import (
    EventType as EventType,
    Priority as Priority,
    Role as Role,
    SessionStatus as SessionStatus,
    SkillSource as SkillSource,
    SkillType as SkillType,
    TaskStatus as TaskStatus,
    TimelineType as TimelineType,
)

__all__ = [
    "ClaimReleasedError",
    "Client",
    "ConflictError",
    "DependencyRef",
    "Event",
    "EventType",
    "InternalError",
    "MaestroError",
    "NotFoundError",
    "connect",
    "open",
    "serve",
    "Page",
    "Priority",
    "Project",
    "ProjectInit",
    "Role",
    "Server",
    "Session",
    "SessionCounts",
    "SessionEndedError",
    "SessionLostError",
    "SessionStatus",
    "Skill",
    "SkillSource",
    "SkillType",
    "StatusReport",
    "Subscription",
    "Subtask",
    "Task",
    "TaskClaimedError",
    "TaskCounts",
    "TaskDetail",
    "TaskStatus",
    "TimelineEntry",
    "TimelineType",
    "UnauthorizedError",
    "UnavailableError",
    "ValidationError",
    "__version__",
]
