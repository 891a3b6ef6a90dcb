"""Which worker process holds a lease, and whether it is still alive.

Runs and cohort refreshes record `host:pid` of the worker doing them. A lease held by
a process of this machine that no longer exists (killed, crashed) can be taken over at
once instead of waiting for it to expire; a lease held on another machine can only
expire, since its process cannot be seen from here.
"""

from __future__ import annotations

import os
import socket


def worker_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_is_gone(label: str) -> bool:
    """True when `label` names a process of this machine that no longer exists."""
    host, _, pid = label.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False
