"""The ``async for`` step of :class:`maestro.Subscription`.

The blocking wait runs in the event loop's default executor in short slices, so a cancelled
step or a closing loop never leaves a thread waiting for long. An event received for a step
that was cancelled stays in the subscription and is handed out by the next step.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maestro._native import Event, Subscription

# Seconds one executor wait may last before the step checks again.
_SLICE = 0.25


async def next_event(sub: Subscription) -> Event:
    """Awaits the next event of ``sub``; raises StopAsyncIteration once it is closed."""
    loop = asyncio.get_running_loop()
    while True:
        state = await loop.run_in_executor(None, sub._fill, _SLICE)
        if state == "ready":
            event = sub._take()
            if event is not None:
                return event
        if state == "closed":
            raise StopAsyncIteration
