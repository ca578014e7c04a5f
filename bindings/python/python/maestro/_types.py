"""The string enums of Maestro as ``Literal`` types, for annotations."""

from typing import Literal

TaskStatus = Literal["pending", "in_progress", "blocked", "completed", "cancelled"]
"""Status of a task."""

Priority = Literal["high", "medium", "low"]
"""Priority of a task; the ready queue serves ``high`` first."""

SessionStatus = Literal[
    "waiting", "spawning", "starting", "active", "completed", "failed", "stopped", "lost"
]
"""Status of a session: ``waiting`` (a spawn request for a task whose dependencies are
open) → ``spawning`` → ``starting`` → ``active`` → ``completed``, ``failed``, ``stopped`` or
``lost`` (silent past its lease). The last four are final."""

Role = Literal["orchestrator", "worker"]
"""What a session does."""

TimelineType = Literal[
    "created",
    "status_changed",
    "progress",
    "subtask_created",
    "subtask_completed",
    "blocked",
    "assigned",
    "released",
    "comment",
    "override",
]
"""Type of a timeline entry (``override``: a write forced over the sessions owning the task)."""

EventType = Literal[
    "project:created",
    "project:updated",
    "task:created",
    "task:updated",
    "task:deleted",
    "subtask:created",
    "subtask:updated",
    "subtask:deleted",
    "timeline:added",
    "session:created",
    "session:updated",
    "session:spawn_request",
]
"""Type of an event of the event log."""

SkillType = Literal["system", "role"]
"""Type of a skill: ``system`` skills apply to every agent, ``role`` skills to some roles."""

SkillSource = Literal["bundled", "dir"]
"""Where a skill was loaded from: compiled into Maestro, or a folder of the skills directory."""
