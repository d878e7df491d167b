"""The supervisor: forks the worker processes, restarts one that dies (telling the new
one whom it replaces, so that the ventilator sends the dead one's tasks again at once),
and stops them all on SIGINT, SIGTERM or SIGHUP: they drain, a second signal stops
them at once, and what is left at nine tenths of --task-timeout is killed. When a
process dies, the task its function was on counts one attempt (crashlog.py).

The supervisor never makes a ZeroMQ context: one does not survive fork (its I/O threads
stay behind), so each process makes its own after the fork. Signals are blocked and
taken with sigtimedwait, so there is no handler to race with waitpid.

This Source Code Form is subject to the terms of the Mozilla Public License, v. 2.0.
If a copy of the MPL was not distributed with this file, You can obtain one at
http://mozilla.org/MPL/2.0/.
"""

import ctypes
import os
import signal
import sys
import time
import traceback

from . import log
from .crashlog import Crashlog

# Restart backoff: 100 ms, doubled on each quick death (within 250 ms of its start: a
# process that cannot start), at most 5 s; one that lived longer comes back in 100 ms.
BACKOFF_MIN = 0.1
BACKOFF_MAX = 5.0
HEALTHY = 0.25
# A process that exits with one of these could not start (a bad endpoint): so will
# every other. The worker stops with its status.
FATAL = (64, 69, 78)
PR_SET_PDEATHSIG = 1
SIGNALS = {signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class Child:
    def __init__(self) -> None:
        self.pid = 0            # 0 while not running
        self.died = 0           # the last one that died here
        self.started = 0.0
        self.restart_at = 0.0
        self.backoff = BACKOFF_MIN


def _die_with_parent() -> None:
    """SIGTERM when the supervisor dies, whatever kills it: no orphans."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass                    # the loop's getppid check still stops it


def _spawn(config, run_process, original_mask, parent: int, replaces: int,
           index: int, crashlog) -> int:
    try:
        pid = os.fork()
    except OSError as e:
        log.error(f"fork: {e.strerror}")
        return 0
    if pid:
        return pid
    status = 70
    try:
        _die_with_parent()
        if os.getppid() != parent:
            os._exit(0)
        # The process unblocks the signals once its own handlers are in place.
        status = run_process(replaces, parent, original_mask, index, crashlog)
    except BaseException:  # noqa: BLE001 - a process's bug ends that process, logged
        log.error("worker process failed: " + traceback.format_exc().rstrip())
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(status)
    return 0


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return f"was killed by signal {number} ({signal.strsignal(number)})"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def run(config, run_process) -> int:
    """Runs config.processes processes, each run_process(replaces, supervisor_pid,
    signal_mask, index, crashlog) in a fork, until a stop signal; returns the
    worker's exit status."""
    original_mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    children = [Child() for _ in range(config.processes)]
    # Before the first fork: every process maps the same pages.
    crashlog = Crashlog(len(children))
    me = os.getpid()
    status = 0
    stopping = False
    stop_deadline = 0.0
    grace = config.task_timeout * 0.9
    log.info(f"starting {len(children)} worker processes for {config.ventilator}"
             f" -> {config.sink}")

    def stop_all(now: float) -> None:
        nonlocal stopping, stop_deadline
        if not stopping:
            stopping = True
            stop_deadline = now + grace
        for child in children:
            if child.pid:
                os.kill(child.pid, signal.SIGTERM)

    while True:
        now = time.monotonic()
        running = 0
        for index, child in enumerate(children):
            if not child.pid and not stopping and now >= child.restart_at:
                child.pid = _spawn(config, run_process, original_mask, me, child.died,
                                   index, crashlog)
                child.started = now
                if not child.pid:
                    child.restart_at = now + BACKOFF_MAX
            if child.pid:
                running += 1
        if stopping and running == 0:
            break
        if stopping and now > stop_deadline:
            for child in children:
                if child.pid:
                    os.kill(child.pid, signal.SIGKILL)
            stop_deadline = float("inf")
        info = signal.sigtimedwait(SIGNALS, 0.1)
        if info and info.si_signo != signal.SIGCHLD:
            name = signal.strsignal(info.si_signo)
            if not stopping:
                log.info(f"stopping the worker processes ({name}): they finish what they"
                         " run and hand back the rest")
            else:
                log.info(f"stopping the worker processes now ({name} again)")
            stop_all(time.monotonic())
        # Reap whatever ended, whether or not SIGCHLD was the signal taken.
        while True:
            try:
                pid, wstatus = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            for index, child in enumerate(children):
                if child.pid != pid:
                    continue
                child.pid, child.died = 0, pid
                # The task that was in its function: one attempt.
                blamed = crashlog.reap(index, wstatus)
                if stopping:
                    break
                if blamed:
                    log.warn(f"worker process {pid} died in its function with {blamed}"
                             " tasks; each counts as an attempt")
                code = os.WEXITSTATUS(wstatus) if os.WIFEXITED(wstatus) else 0
                if code in FATAL:
                    status = code
                    stop_all(time.monotonic())
                    break
                if time.monotonic() - child.started > HEALTHY:
                    child.backoff = BACKOFF_MIN
                log.warn(f"worker process {pid} {_describe(wstatus)};"
                         f" restarting it in {child.backoff:.1f} s")
                child.restart_at = time.monotonic() + child.backoff
                child.backoff = min(child.backoff * 2, BACKOFF_MAX)
                break
    log.info("all worker processes stopped")
    return status
