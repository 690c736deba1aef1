"""Whether a process recorded earlier (a run worker) is still the same live process on this machine."""

from __future__ import annotations

import psutil

# A process's start time and the time it recorded an event come from different clocks' roundings.
START_TIME_TOLERANCE_SECONDS = 2.0


def process_is_running(pid: int, running_at: float) -> bool:
    """True when process `pid` is alive (not a zombie) and already existed at `running_at` (not a reused pid)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        created = process.create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # another user's live process: assume it is the worker
    return created <= running_at + START_TIME_TOLERANCE_SECONDS
