#!/usr/bin/env python3
"""A Maestro worker in Python: claim ready tasks one at a time and work through them.

The loop an agent runs: register a session, claim the next ready task (atomically, so
several workers never get the same one), report progress, break the task into subtasks and
check them off, complete it, and go again until nothing is ready. A failure blocks the task
with the reason instead of leaving it in progress.

    python examples/python/worker.py --db demo.db --seed 5     # a demo plan, then work it
    python examples/python/worker.py                           # MAESTRO_API_URL or the local store
    python examples/python/worker.py --server http://127.0.0.1:3000 --token s3cret
"""

from __future__ import annotations

import argparse
import os
import sys

import maestro

STEPS = ("Read the task and plan", "Make the change", "Verify the result")


def make_client(args: argparse.Namespace) -> maestro.Client:
    """A server client when a URL is given (or MAESTRO_API_URL is set), else a local store."""
    if args.server or (os.environ.get("MAESTRO_API_URL") and not args.db):
        return maestro.connect(args.server, args.token)
    return maestro.open(args.db)


def seed(client: maestro.Client, count: int) -> None:
    """A demo plan: a project (if the store has none) and a chain of dependent tasks."""
    if not client.list_projects():
        client.create_project("python worker demo")
    previous: list[str] = []
    for i in range(1, count + 1):
        task = client.create_task(
            f"Demo task {i}",
            description="Created by worker.py --seed",
            priority="high" if i == 1 else "medium",
            depends_on=previous,
        )
        previous = [task.id]
    print(f"seeded {count} tasks")


def work_on(worker: maestro.Client, task: maestro.Task) -> None:
    """Does one claimed task: progress, subtasks, completion."""
    worker.add_progress(task.id, f"Starting: {task.title}")
    subtasks = [worker.create_subtask(task.id, step) for step in STEPS]
    for sub in subtasks:
        worker.complete_subtask(task.id, sub.id)
        worker.add_progress(task.id, f"Done: {sub.title}")
    worker.complete_task(task.id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="local database (default: resolved like the CLI)")
    parser.add_argument("--server", help="server URL (default: MAESTRO_API_URL)")
    parser.add_argument("--token", help="server token (default: MAESTRO_TOKEN)")
    parser.add_argument("--name", default="python-worker", help="session name")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="first create N demo tasks")
    parser.add_argument("--max", type=int, default=None, help="stop after this many tasks")
    args = parser.parse_args(argv)

    try:
        client = make_client(args)
        if args.seed:
            seed(client, args.seed)
        session = client.register_session(name=args.name, role="worker")
    except maestro.MaestroError as e:
        print(f"error: {e.code}: {e.message}", file=sys.stderr)
        if e.suggestion:
            print(f"hint: {e.suggestion}", file=sys.stderr)
        return 1

    worker = client.with_session(session.id)
    print(f"session {session.id} ({session.name}) on {client.location}")
    completed = blocked = 0
    status: maestro.SessionStatus | None = "completed"
    try:
        while args.max is None or completed + blocked < args.max:
            task: maestro.Task | None = None
            try:
                task = worker.claim_next()
                print(f"claimed {task.id} [{task.priority}] {task.title}")
                work_on(worker, task)
            except (maestro.SessionLostError, maestro.SessionEndedError) as e:
                # The session can no longer act (its tasks went back to the queue): stop.
                print(f"stopping: {e.message}")
                status = None
                break
            except maestro.ClaimReleasedError as e:
                # The task was taken over: it is someone else's now.
                print(f"dropped: {e.message}")
                continue
            except maestro.MaestroError as e:
                if task is None and e.code == "nothing_ready":
                    print("nothing ready: done")
                    break
                if task is None:
                    raise
                worker.block_task(task.id, f"{e.code}: {e.message}")
                blocked += 1
                print(f"blocked {task.id}: {e.message}")
                continue
            completed += 1
            print(f"completed {task.id}")
    except BaseException:
        status = "failed"
        raise
    finally:
        if status is not None:
            worker.end_session(status=status)
    print(f"completed {completed} task(s), blocked {blocked}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
