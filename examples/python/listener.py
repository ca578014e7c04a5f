#!/usr/bin/env python3
"""Print Maestro events as they happen, one JSON object per line.

Replays the events after --since, then follows live ones, until --count events were
printed or --timeout seconds passed. On a server it rides the WebSocket sync client
(reconnecting and resuming by itself); on a local store it tails the event log.

    python examples/python/listener.py --db demo.db --count 20 --timeout 30
    python examples/python/listener.py --server http://127.0.0.1:3000 --async
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import maestro


def make_client(args: argparse.Namespace) -> maestro.Client:
    """A server client when a URL is given (or MAESTRO_API_URL is set), else a local store."""
    if args.server or (os.environ.get("MAESTRO_API_URL") and not args.db):
        return maestro.connect(args.server, args.token)
    return maestro.open(args.db)


def show(event: maestro.Event) -> None:
    print(json.dumps(event.to_dict(), sort_keys=True), flush=True)


def listen(sub: maestro.Subscription, count: int, timeout: float) -> int:
    """The iterator form, bounded by a deadline."""
    deadline = time.monotonic() + timeout
    printed = 0
    while printed < count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        event = sub.next_event(timeout=left)
        if event is None:
            break
        show(event)
        printed += 1
    return printed


async def listen_async(sub: maestro.Subscription, count: int, timeout: float) -> int:
    """The async-iterator form, bounded by asyncio.timeout-like cancellation."""
    printed = 0

    async def consume() -> None:
        nonlocal printed
        async for event in sub:
            show(event)
            printed += 1
            if printed >= count:
                return

    try:
        await asyncio.wait_for(consume(), timeout)
    except asyncio.TimeoutError:
        pass
    return printed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="local database (default: resolved like the CLI)")
    parser.add_argument("--server", help="server URL (default: MAESTRO_API_URL)")
    parser.add_argument("--token", help="server token (default: MAESTRO_TOKEN)")
    parser.add_argument("--since", type=int, default=0, help="replay the events after this seq")
    parser.add_argument("--project", help="only events of this project")
    parser.add_argument("--count", type=int, default=10, help="stop after this many events")
    parser.add_argument("--timeout", type=float, default=10.0, help="stop after this many seconds")
    parser.add_argument("--async", dest="use_async", action="store_true", help="use `async for`")
    args = parser.parse_args(argv)

    try:
        client = make_client(args)
        with client.subscribe(since=args.since, project=args.project) as sub:
            if args.use_async:
                printed = asyncio.run(listen_async(sub, args.count, args.timeout))
            else:
                printed = listen(sub, args.count, args.timeout)
    except maestro.MaestroError as e:
        print(f"error: {e.code}: {e.message}", file=sys.stderr)
        if e.suggestion:
            print(f"hint: {e.suggestion}", file=sys.stderr)
        return 1
    print(f"{printed} event(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
