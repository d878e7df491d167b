"""Which tasks crashed a process, in memory shared across fork (the C worker's
worker/crashlog.c, docs/protocol.md "Handler crashes").

A user's function can take its process down: a C extension that segfaults, the
kernel's OOM killer, os._exit. The ventilator sends that process's tasks again (the
new process's READY names it in `replaces`), and a task that kills every process it
reaches would go round for ever. So each process marks the task its function is on,
here, before the call, and clears the mark when the call returns; when a process
dies, the supervisor counts one attempt for the task that was marked (only that one:
tasks waiting in the process, or finished, are innocent). A process about to run a
task whose count has reached --max-attempts fails it instead.

The mapping is made by the supervisor before the first fork (anonymous and shared:
every process sees the same bytes). Only the supervisor writes counts and only a
process writes its own mark; a count is published after the task it counts (the
supervisor writes batch and task first), and the process that reads it only ever
acts on a count it finds beside its own task's ids.

This Source Code Form is subject to the terms of the Mozilla Public License, v. 2.0.
If a copy of the MPL was not distributed with this file, You can obtain one at
http://mozilla.org/MPL/2.0/.
"""

import mmap
import struct

# The last TASKS tasks that crashed a process are remembered (as in the C worker).
TASKS = 4096
_HEAD = struct.Struct("=Q")             # entries ever written (the ring's head)
_ENTRY = struct.Struct("=QQIi")         # batch, task, attempts, wstatus of the last
_MARK = struct.Struct("=IIQQ")          # marked (0/1), unused, batch, task
_REF = struct.Struct("=QQ")


class Crashlog:
    def __init__(self, processes: int) -> None:
        self.processes = processes
        self.entries_at = _HEAD.size
        self.marks_at = self.entries_at + TASKS * _ENTRY.size
        # Anonymous memory is zero: every count is 0, nothing is marked.
        self.memory = mmap.mmap(-1, self.marks_at + processes * _MARK.size)

    # ------------------------------------------------------------ a process

    def mark(self, process: int, batch: int, task: int) -> None:
        """Process `process` is about to call its function on (batch, task)."""
        at = self.marks_at + process * _MARK.size
        # The ids first, the flag last: a death in between blames nothing.
        struct.pack_into("=QQ", self.memory, at + 8, batch, task)
        struct.pack_into("=I", self.memory, at, 1)

    def clear(self, process: int) -> None:
        """The call returned (or the process leaves in order): nothing to blame."""
        struct.pack_into("=I", self.memory, self.marks_at + process * _MARK.size, 0)

    def attempts(self, batch: int, task: int):
        """(crashes counted for the task, wait status of the last one)."""
        used = _HEAD.unpack_from(self.memory, 0)[0]
        if used == 0:
            return 0, 0                 # the usual case: nothing ever crashed
        at = self._find(batch, task, min(used, TASKS))
        if at < 0:
            return 0, 0
        _, _, count, wstatus = _ENTRY.unpack_from(self.memory, at)
        return count, wstatus

    def running_elsewhere(self, process: int, batch: int, task: int) -> bool:
        """True if another process of this worker has (batch, task) in its function
        now (a straggler's copy): two runs of a task must not crash at once and
        count two attempts for one."""
        needle = struct.pack("=IIQQ", 1, 0, batch, task)
        start, end = self.marks_at, self.marks_at + self.processes * _MARK.size
        at = self.memory.find(needle, start, end)
        while at >= 0:
            if (at - start) % _MARK.size == 0 and (at - start) // _MARK.size != process:
                return True
            at = self.memory.find(needle, at + 1, end)
        return False

    # ------------------------------------------------------------ the supervisor

    def reap(self, process: int, wstatus: int) -> int:
        """Process `process` died with wstatus: one attempt for the task it had
        marked. Returns how many tasks were blamed (0 or 1)."""
        at = self.marks_at + process * _MARK.size
        marked, _, batch, task = _MARK.unpack_from(self.memory, at)
        if not marked:
            return 0
        struct.pack_into("=I", self.memory, at, 0)
        used = _HEAD.unpack_from(self.memory, 0)[0]
        entry = self._find(batch, task, min(used, TASKS))
        if entry < 0:
            entry = self.entries_at + (used % TASKS) * _ENTRY.size
            # Unpublished (count 0) while its ids are rewritten.
            _ENTRY.pack_into(self.memory, entry, 0, 0, 0, 0)
            _REF.pack_into(self.memory, entry, batch, task)
            _HEAD.pack_into(self.memory, 0, used + 1)
        _, _, count, _ = _ENTRY.unpack_from(self.memory, entry)
        struct.pack_into("=i", self.memory, entry + 20, wstatus)
        struct.pack_into("=I", self.memory, entry + 16, count + 1)
        return 1

    def _find(self, batch: int, task: int, count: int) -> int:
        """The offset of the entry of (batch, task) among the first `count`, or -1."""
        needle = _REF.pack(batch, task)
        start, end = self.entries_at, self.entries_at + count * _ENTRY.size
        at = self.memory.find(needle, start, end)
        while at >= 0:
            if (at - start) % _ENTRY.size == 0:
                if struct.unpack_from("=I", self.memory, at + 16)[0]:
                    return at
            at = self.memory.find(needle, at + 1, end)
        return -1
