"""Logging as the C stages do it: one line per message on stderr (stdout is for
data), "L: yy-mm-dd HH:MM:SS worker-py[pid]: message"."""

import os
import sys
import time

ERROR, WARN, INFO, DEBUG = 0, 0, 1, 2
_verbosity = 1


def init(verbosity: int) -> None:
    """0: errors and warnings only (-q), 1: and what happens (default), 2: and
    details (--verbose)."""
    global _verbosity
    _verbosity = verbosity


def _log(level: str, minimum: int, message: str) -> None:
    if _verbosity < minimum:
        return
    stamp = time.strftime("%y-%m-%d %H:%M:%S")
    try:
        # One write per line, so that the processes' lines do not interleave.
        sys.stderr.write(f"{level}: {stamp} worker-py[{os.getpid()}]: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def error(message: str) -> None:
    _log("E", ERROR, message)


def warn(message: str) -> None:
    _log("W", WARN, message)


def info(message: str) -> None:
    _log("I", INFO, message)


def debug(message: str) -> None:
    _log("D", DEBUG, message)


class Limited:
    """A warning that a peer can cause: at most one line a second, with how many
    were left out."""

    def __init__(self) -> None:
        self.last = 0.0
        self.skipped = 0

    def warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self.last < 1.0:
            self.skipped += 1
            return
        if self.skipped:
            message += f" ({self.skipped} more like it not logged)"
        self.last, self.skipped = now, 0
        warn(message)
