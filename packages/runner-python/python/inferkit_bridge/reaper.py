"""The worker's first process: a subreaper that outlives the bridge and kills what it leaves.

`python -m inferkit_bridge --reap` forks at start-up. The child serves the engine; this parent
marks itself a child subreaper (Linux `prctl(PR_SET_CHILD_SUBREAPER)`), so every process the
engine starts stays its descendant even after its own parent dies, including processes that
called `setsid()` and so left the process group the host kills. When the serving process ends,
for whatever reason (a clean exit, `os._exit`, a signal, the OOM killer), the reaper SIGKILLs
every descendant still running (vLLM's EngineCore holding GPU memory, Ray workers started by the
engine, a daemonised helper), reaps them, and exits the way the serving process did, so the host
sees the real exit code or signal. SIGTERM to the reaper kills the serving process first.

Out of reach: a SIGKILL of the reaper itself (the host then kills the process group, which
misses descendants that left it), processes another service starts for the engine (a Ray cluster
started with `ray start`, a systemd unit), and descendants that make themselves subreapers.
Other platforms run without a reaper; the host's process-group kill still applies.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
# Killing what is left is bounded in time, so that a process stuck in uninterruptible sleep (a GPU
# driver call) cannot keep the reaper alive; it is then left to init.
KILL_DEADLINE = 5.0


def _make_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def start(close_fds: tuple[int, ...]) -> None:
    """Returns in the serving process; in the reaper it never returns. `close_fds` are the
    protocol pipes: the reaper must not hold them open (the host relies on EOF)."""
    if not _make_subreaper():
        print("inferkit_bridge: no child subreaper on this platform; descendants that leave the "
              "process group are not cleaned up", file=sys.stderr)
        return
    serving = os.fork()
    if serving == 0:
        return
    for fd in close_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    os._exit(_reap(serving))


def _reap(serving: int) -> int:
    def on_term(signum: int, frame: object) -> None:
        try:
            os.kill(serving, signal.SIGKILL)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host decides when the worker stops
    status = None
    while status is None:
        try:
            pid, wait_status = os.waitpid(-1, 0)  # orphans reparented to us are reaped here too
        except InterruptedError:
            continue
        except ChildProcessError:
            return 70  # EX_SOFTWARE: the serving process vanished without a status
        if pid == serving:
            status = wait_status
    _kill_descendants()
    return _mirror(status)


def _children() -> list[int]:
    me = os.getpid()
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if int(fields[1]) == me:
            found.append(int(entry))
    return found


def _kill_descendants() -> None:
    """SIGKILL every child and reap it; their own children are reparented to us, so repeat until
    none is left (or the deadline passes)."""
    deadline = time.monotonic() + KILL_DEADLINE
    while time.monotonic() < deadline:
        children = _children()  # zombies included, until reaped below
        if not children:
            return
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reaped = False
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                break
            reaped = True
        if not reaped:
            time.sleep(0.005)


def _mirror(status: int) -> int:
    """Exit the way the serving process did: the same code, or death by the same signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the reaper's own core is of no use
        try:
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        except (OSError, ValueError):
            pass
        return 128 + sig
    return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else os.WEXITSTATUS(status)
