"""zpipe wire protocol, version 2 (docs/protocol.md): what a worker sends and reads.

Pure functions over bytes, no sockets. Every message is one frame: a 4-byte header
('Z' 'P' version type), then the fields of its table in table order, packed, integers
unsigned big-endian, str8 = u8 length + bytes, blob = u32 length + bytes.

The encoders lay bytes out and keep the limits a receiver enforces (a host or engine
name longer than 255 bytes is cut to 255, as the C encoder does); decode_tasks checks
every rule of the spec for TASKS and raises ProtocolError, never anything else, for a
frame that breaks one. Its reasons are the C decoder's (shared/zp_proto.c), word for
word, so the logs of both workers read the same.

This Source Code Form is subject to the terms of the Mozilla Public License, v. 2.0.
If a copy of the MPL was not distributed with this file, You can obtain one at
http://mozilla.org/MPL/2.0/.
"""

import struct
from typing import NamedTuple, Sequence, Tuple

VERSION = 2
HEADER_SIZE = 4

READY, TASKS, RESULTS, BATCH, ACK, STATS = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06

READY_LEAVING = 0x01
READY_HELD = 0x02
READY_DRAINING = 0x04
READY_RETURN = 0x08
STATS_LEAVING = 0x01

STATUS_OK = 0
STATUS_FAILED = 1

MAX_ITERATIONS = 1 << 40
MAX_RECORDS = 1 << 20
MAX_ATTEMPTS = 100
STR8_MAX = 255

# A task reference: (batch, task).
Ref = Tuple[int, int]


class ProtocolError(ValueError):
    """A frame that is not a valid version-2 message of the type expected."""


class Task(NamedTuple):
    batch: int
    task: int
    iterations: int
    input: bytes


class Result(NamedTuple):
    task: int
    status: int            # STATUS_OK or STATUS_FAILED
    attempts: int          # handler starts, this one included; 0 = refused unrun
    iterations: int
    elapsed_ns: int
    input: bytes
    output: bytes          # the result, or the reason (text) of a failed task


_U8 = struct.Struct(">B")
_U32 = struct.Struct(">I")
_REF = struct.Struct(">QQ")
_RESULT_FIXED = struct.Struct(">QBBQQ")
_TASK_FIXED = struct.Struct(">QQI")


def _header(kind: int) -> bytes:
    return bytes((0x5A, 0x50, VERSION, kind))


def _str8(text) -> bytes:
    data = text.encode() if isinstance(text, str) else bytes(text)
    # The C encoder stops at a NUL (strnlen) and at 255 bytes: so do we.
    data = data.split(b"\0", 1)[0][:STR8_MAX]
    return _U8.pack(len(data)) + data


def _refs(refs: Sequence[Ref]) -> bytes:
    return b"".join(_REF.pack(batch, task) for batch, task in refs)


def encode_ready(flags: int, pid: int, host, engine, capacity: int, received: int,
                 finished: int, replaces: int, running: int, held: Sequence[Ref]) -> bytes:
    """READY (0x01). held: the list the flags give meaning to (HELD: what the process
    holds, the first `running` of them in the engine; RETURN or LEAVING: what it hands
    back)."""
    return b"".join((
        _header(READY), _U8.pack(flags), _U32.pack(pid), _str8(host), _str8(engine),
        struct.pack(">IQQIII", capacity, received, finished, replaces, running, len(held)),
        _refs(held)))


def encode_results(pid: int, host, batch: int, results: Sequence[Result]) -> bytes:
    """RESULTS (0x03): results of one batch, at least one."""
    parts = [_header(RESULTS), _U32.pack(pid), _str8(host),
             struct.pack(">QI", batch, len(results))]
    for r in results:
        parts.append(_RESULT_FIXED.pack(r.task, r.status, r.attempts, r.iterations,
                                        r.elapsed_ns))
        parts.append(_U32.pack(len(r.input)))
        parts.append(r.input)
        parts.append(_U32.pack(len(r.output)))
        parts.append(r.output)
    return b"".join(parts)


def encode_stats(flags: int, pid: int, host, engine, interval_ms: int, uptime_ms: int,
                 tasks: int, steps: int, steps_per_s: int, rss_bytes: int, held: int,
                 running: Sequence[Ref]) -> bytes:
    """STATS (0x06): what the process is doing, for people and monitoring."""
    return b"".join((
        _header(STATS), _U8.pack(flags), _U32.pack(pid), _str8(host), _str8(engine),
        struct.pack(">IQQQQQII", interval_ms, uptime_ms, tasks, steps, steps_per_s,
                    rss_bytes, held, len(running)),
        _refs(running)))


def encode_tasks(batch: int, tasks: Sequence[Tuple[int, int, bytes]]) -> bytes:
    """TASKS (0x02), (task, iterations, input) each; the ventilator's message, here
    for tests."""
    parts = [_header(TASKS), struct.pack(">QI", batch, len(tasks))]
    for task, iterations, data in tasks:
        parts.append(_TASK_FIXED.pack(task, iterations, len(data)))
        parts.append(data)
    return b"".join(parts)


def check_header(frame: bytes) -> int:
    """The type of a frame whose header is ours; ProtocolError otherwise."""
    if len(frame) == 0:
        raise ProtocolError("empty frame")
    if len(frame) < HEADER_SIZE:
        raise ProtocolError("truncated header")
    if frame[0] != 0x5A or frame[1] != 0x50:
        raise ProtocolError("bad signature")
    if frame[2] != VERSION:
        raise ProtocolError(f"unsupported version {frame[2]}")
    return frame[3]


def decode_tasks(frame: bytes) -> Tuple[int, list]:
    """A TASKS frame as (batch, [Task...]). Raises ProtocolError if the frame is not
    exactly a valid TASKS message: another type, a count of 0 or above 2^20, a record
    cut short, iterations outside 1 ... 2^40, an input past the end, trailing bytes."""
    frame = bytes(frame)
    kind = check_header(frame)
    if kind != TASKS:
        raise ProtocolError("not TASKS" if 1 <= kind <= 6 else "unknown type")
    size = len(frame)
    at = HEADER_SIZE
    if size - at < 12:
        raise ProtocolError("TASKS: truncated before records")
    batch, count = struct.unpack_from(">QI", frame, at)
    at += 12
    if count == 0:
        raise ProtocolError("TASKS: count 0")
    if count > MAX_RECORDS:
        raise ProtocolError("TASKS: count above 2^20")
    if (size - at) // _TASK_FIXED.size < count:
        raise ProtocolError("TASKS: count exceeds records present")
    tasks = []
    for _ in range(count):
        if size - at < _TASK_FIXED.size:
            raise ProtocolError("TASKS: record truncated")
        task, iterations, length = _TASK_FIXED.unpack_from(frame, at)
        at += _TASK_FIXED.size
        if not 1 <= iterations <= MAX_ITERATIONS:
            raise ProtocolError("TASKS: iterations out of range")
        if size - at < length:
            raise ProtocolError("TASKS: input length past end of frame")
        tasks.append(Task(batch, task, iterations, frame[at:at + length]))
        at += length
    if at != size:
        raise ProtocolError("TASKS: trailing bytes")
    return batch, tasks
