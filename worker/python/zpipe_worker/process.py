"""One worker process: pull tasks against credit, run them one at a time, push results.

The function runs in a thread of its own, so that this thread's loop keeps the
process's duties however long a task takes: READY with HELD every heartbeat (the
ventilator takes a process silent for 3 s as dead), STATS to the sink, the stop on
SIGTERM. The thread says it finished through a pipe that the loop polls with the
sockets.

It holds up to --capacity tasks (waiting, running, or finished with their RESULTS not
yet handed to the socket). A task counts as finished only once its RESULTS are handed
to the socket: while the sink is away and that socket is full, results wait here,
their tasks still held, so the process takes no new credit and goes on heartbeating.
A task it will not run (it is stopping, or was sent more than it can hold) goes back
to the ventilator by name (READY RETURN), counted in `finished` in that same READY.

This Source Code Form is subject to the terms of the Mozilla Public License, v. 2.0.
If a copy of the MPL was not distributed with this file, You can obtain one at
http://mozilla.org/MPL/2.0/.
"""

import collections
import errno
import os
import queue
import signal
import socket
import threading
import time

import zmq
from zmq.utils.monitor import parse_monitor_message

from . import functions, log, proto

# The socket options of every zpipe stage (shared/zp_util.c, zp_socket): ZMTP
# heartbeats, so that a peer gone without a TCP reset is noticed in seconds; a
# bounded linger, so that the last messages get out at close and a dead link does
# not hold the exit; bounded queues; 5 s for the handshake.
HEARTBEAT_IVL_MS = 1000
HEARTBEAT_TIMEOUT_MS = 3000
HEARTBEAT_TTL_MS = 6000
LINGER_MS = 1000
HANDSHAKE_MS = 5000
HWM = 1000
# Largest frame the worker takes from the ventilator: two 64 MiB inputs and 1 MiB
# (docs/protocol.md, Limits); nothing but the handshake comes from the sink.
MAX_TASKS_FRAME = 2 * (64 << 20) + (1 << 20)
MAX_SINK_FRAME = 4096
# RESULTS frames libzmq queues for the sink; beyond that they wait here, held.
RESULTS_HWM = 16
# A worker waits for a ventilator that is not there yet: try every 20 ms rather than
# libzmq's 100 ms, which a short batch's start would pay (worker/process.c).
RECONNECT_MS = 20
# Most tasks a process holds, whatever the ventilator sends; beyond, they go back.
MAX_HELD = 1024
# While RESULTS wait for the sink, look again this often.
OUTBOX_RETRY_MS = 100


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Runner(threading.Thread):
    """Runs one task at a time in its own thread; each outcome lands in `done` and a
    byte in the wake pipe."""

    def __init__(self, function, wake_fd: int) -> None:
        super().__init__(name="zpipe-function", daemon=True)
        self.function = function
        self.wake_fd = wake_fd
        self.jobs: "queue.SimpleQueue" = queue.SimpleQueue()
        self.done: collections.deque = collections.deque()

    def run(self) -> None:
        while True:
            task = self.jobs.get()
            if task is None:
                return
            begin = time.perf_counter_ns()
            try:
                output = functions.as_output(self.function(task.input, task.iterations))
                status = proto.STATUS_OK
                if len(output) > functions.MAX_OUTPUT:
                    status = proto.STATUS_FAILED
                    output = (f"the function returned {len(output)} bytes, above the "
                              f"{functions.MAX_OUTPUT >> 20} MiB a result may carry").encode()
            except BaseException as e:  # noqa: BLE001 - the user's failure is the task's
                status = proto.STATUS_FAILED
                message = str(e) or type(e).__name__
                output = message.encode(errors="replace")[:4096]
            elapsed = time.perf_counter_ns() - begin
            self.done.append((task, status, output, elapsed))
            try:
                os.write(self.wake_fd, b".")
            except BlockingIOError:
                pass            # the loop has a wake-up pending already


class Process:
    def __init__(self, config, function, engine: str, replaces: int,
                 supervisor: int) -> None:
        self.config = config
        self.function = function
        self.engine = engine
        self.replaces = replaces
        self.supervisor = supervisor
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.waiting: collections.deque = collections.deque()
        self.running = None         # the task in the function now
        # RESULTS not yet handed to the socket: (frame, [tasks])
        self.outbox: collections.deque = collections.deque()
        self.received = 0
        self.finished = 0
        self.tasks_done = 0         # results handed to the socket (STATS)
        self.steps_done = 0         # chain steps: the iterations of finished tasks
        self.rejected = 0
        self.refusals = log.Limited()
        self.stop_signals = 0
        self.draining = False
        self.deadline = 0.0
        self.next_heartbeat = 0.0
        self.started = self.stats_at = time.monotonic()
        self.stats_steps = 0

    # ------------------------------------------------------------ what it holds

    def held(self) -> list:
        """Every task held: what runs first, then what waits, then finished ones whose
        RESULTS are not out yet."""
        refs = []
        if self.running is not None:
            refs.append((self.running.batch, self.running.task))
        refs.extend((t.batch, t.task) for t in self.waiting)
        for _, tasks in self.outbox:
            refs.extend((t.batch, t.task) for t in tasks)
        return refs

    def held_count(self) -> int:
        return ((self.running is not None) + len(self.waiting)
                + sum(len(tasks) for _, tasks in self.outbox))

    def holds_anything(self) -> bool:
        return self.running is not None or bool(self.waiting) or bool(self.outbox)

    # ------------------------------------------------------------ messages out

    def send_ready(self, flags: int, handed_back=()) -> None:
        """READY. With HELD the whole held list; with RETURN or LEAVING the tasks in
        handed_back, which the caller has already counted in finished."""
        refs, running = [], 0
        if flags & proto.READY_HELD:
            refs = self.held()
            running = 1 if self.running is not None else 0
        elif flags & (proto.READY_RETURN | proto.READY_LEAVING):
            refs = list(handed_back)
        if self.draining:
            flags |= proto.READY_DRAINING
        stopping = self.draining or flags & proto.READY_LEAVING
        frame = proto.encode_ready(flags, self.pid, self.host, self.engine,
                                   0 if stopping else self.config.capacity, self.received,
                                   self.finished, self.replaces, running, refs)
        try:
            self.tasks.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            pass                # the ventilator is away; the next heartbeat says it all
        if flags & proto.READY_HELD:
            self.next_heartbeat = time.monotonic() + self.config.heartbeat_ms / 1000

    def send_stats(self, flags: int = 0) -> None:
        """STATS to the sink, best effort: dropped when its socket is full."""
        now = time.monotonic()
        elapsed = now - self.stats_at
        rate = int((self.steps_done - self.stats_steps) / elapsed) if elapsed > 0 else 0
        running = [] if self.running is None else [(self.running.batch, self.running.task)]
        held = self.held_count()
        frame = proto.encode_stats(flags, self.pid, self.host, self.engine,
                                   self.config.heartbeat_ms, int((now - self.started) * 1000),
                                   self.tasks_done, self.steps_done, rate, _rss_bytes(),
                                   held, running)
        try:
            self.sink.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            pass
        self.stats_at, self.stats_steps = now, self.steps_done

    def hand_back(self, tasks) -> None:
        """READY RETURN for tasks this process will not run."""
        if not tasks:
            return
        self.finished += len(tasks)
        self.send_ready(proto.READY_RETURN, [(t.batch, t.task) for t in tasks])

    def add_result(self, task, status: int, attempts: int, output: bytes,
                   elapsed_ns: int) -> None:
        result = proto.Result(task.task, status, attempts, task.iterations, elapsed_ns,
                              task.input, output)
        self.outbox.append((proto.encode_results(self.pid, self.host, task.batch, [result]),
                            [task]))

    def send_outbox(self) -> int:
        """Hands the socket what it takes now; returns how many tasks went out."""
        sent = 0
        while self.outbox:
            frame, tasks = self.outbox[0]
            try:
                self.sink.send(frame, zmq.NOBLOCK)
            except zmq.Again:
                break           # full: the sink is away
            self.outbox.popleft()
            self.finished += len(tasks)
            self.tasks_done += len(tasks)
            sent += len(tasks)
        return sent

    def flush(self) -> None:
        """RESULTS out, and the READY that gives their credit back with them."""
        if self.outbox and self.send_outbox():
            self.send_ready(0)

    # ------------------------------------------------------------ tasks in

    def receive(self) -> None:
        back = []
        refused = False
        while True:
            try:
                frame = self.tasks.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            reason = None
            if self.tasks.getsockopt(zmq.RCVMORE):
                while self.tasks.getsockopt(zmq.RCVMORE):
                    self.tasks.recv()
                reason = "not a single frame"
            else:
                try:
                    _, tasks = proto.decode_tasks(frame)
                except proto.ProtocolError as e:
                    reason = str(e)
            if reason:
                self.rejected += 1
                self.refusals.warn(f"dropped a message from the ventilator: {reason}")
                continue
            for task in tasks:
                self.received += 1
                if self.draining:
                    back.append(task)
                elif self.held_count() >= MAX_HELD:
                    self.refusals.warn("the ventilator sent more tasks than asked for;"
                                       " handing them back")
                    back.append(task)
                elif task.iterations > self.config.max_iterations:
                    self.refuse(task)
                    refused = True
                else:
                    self.waiting.append(task)
        self.hand_back(back)
        if refused:
            # The failed results go now, and the credit they free with them.
            self.flush()

    def refuse(self, task) -> None:
        """A task of more iterations than --max-iterations is not run: a failed result
        that says why (attempts 0: never started)."""
        reason = (f"refused: {task.iterations} iterations is above this worker's"
                  f" --max-iterations {self.config.max_iterations}")
        self.add_result(task, proto.STATUS_FAILED, 0, reason.encode(), 0)
        self.refusals.warn(f"refused task {task.task} of batch {task.batch:016x}:"
                           f" {task.iterations} iterations, above --max-iterations"
                           f" {self.config.max_iterations}")

    def start_next(self) -> None:
        if self.running is None and self.waiting and not self.draining:
            self.running = self.waiting.popleft()
            self.runner.jobs.put(self.running)

    def collect(self) -> int:
        collected = 0
        while self.runner.done:
            task, status, output, elapsed = self.runner.done.popleft()
            if task is self.running:
                self.running = None
            self.steps_done += task.iterations
            self.add_result(task, status, 1, output, elapsed)
            collected += 1
        return collected

    # ------------------------------------------------------------ stopping

    def on_signal(self, signal_number, frame) -> None:
        self.stop_signals += 1

    def start_draining(self) -> None:
        """The first SIGTERM: hand back what has not started, finish what runs within
        half of --task-timeout."""
        self.draining = True
        allowed = self.config.task_timeout / 2
        self.deadline = time.monotonic() + allowed
        back = list(self.waiting)
        self.waiting.clear()
        if self.running is not None or back:
            log.info(f"stopping: {1 if self.running is not None else 0} tasks running,"
                     f" {len(back)} not started handed back, {allowed:.1f} s to finish")
        self.hand_back(back)
        self.send_ready(proto.READY_HELD)

    # ------------------------------------------------------------ the loop

    def setup_socket(self, kind_hwm: int, max_size: int, endpoint: str, reconnect: int):
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, LINGER_MS)
        sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TTL_MS)
        sock.setsockopt(zmq.MAXMSGSIZE, max_size)
        sock.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_MS)
        sock.setsockopt(zmq.SNDHWM, kind_hwm)
        sock.setsockopt(zmq.RCVHWM, HWM)
        if reconnect:
            sock.setsockopt(zmq.RECONNECT_IVL, reconnect)
        return sock

    def run(self, signal_mask) -> int:
        """The process's life; returns its exit status. signal_mask: the mask to
        restore once its handlers are in place (the supervisor blocks them all)."""
        # SIGTERM drains; the terminal's SIGINT and SIGHUP reach us through the
        # supervisor. The signal's byte in the pipe wakes the poll at once (pyzmq
        # retries an interrupted poll with what is left of its timeout).
        sig_r, sig_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(sig_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_SETMASK, signal_mask)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.runner = Runner(self.function, wake_w)
        self.runner.start()

        self.ctx = zmq.Context()
        self.tasks = self.setup_socket(HWM, MAX_TASKS_FRAME, self.config.ventilator,
                                       RECONNECT_MS)
        self.sink = self.setup_socket(RESULTS_HWM, MAX_SINK_FRAME, self.config.sink, 0)
        # A READY as soon as a ventilator's connection comes up (a new ventilator, a
        # reconnection), not at the next heartbeat. Watched before connecting.
        monitor = self.tasks.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        for sock, endpoint in ((self.tasks, self.config.ventilator),
                               (self.sink, self.config.sink)):
            try:
                sock.connect(endpoint)
            except zmq.ZMQError as e:
                log.error(f"can't connect to {endpoint}: {e.strerror}")
                self.close(monitor)
                return 64 if e.errno in (errno.EINVAL, errno.EPROTONOSUPPORT) else 69
        log.debug(f"function {self.engine}, capacity {self.config.capacity}"
                  + (" (a restart)" if self.replaces else ""))
        self.send_ready(proto.READY_HELD)
        self.send_stats()

        poller = zmq.Poller()
        poller.register(self.tasks, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        poller.register(wake_r, zmq.POLLIN)
        poller.register(sig_r, zmq.POLLIN)
        watching_sink = False
        while True:
            if self.stop_signals and not self.draining:
                self.start_draining()
            if self.stop_signals > 1 or os.getppid() != self.supervisor:
                break           # asked twice, or the supervisor is gone: now
            now = time.monotonic()
            if self.draining and (not self.holds_anything() or now >= self.deadline):
                break
            timeout = max(0.0, self.next_heartbeat - now)
            if self.draining:
                timeout = min(timeout, max(0.0, self.deadline - now))
            if self.outbox:
                timeout = min(timeout, OUTBOX_RETRY_MS / 1000)
            if bool(self.outbox) != watching_sink:
                watching_sink = bool(self.outbox)
                if watching_sink:
                    poller.register(self.sink, zmq.POLLOUT)
                else:
                    poller.unregister(self.sink)
            events = dict(poller.poll(int(timeout * 1000) + 1))
            if sig_r in events:
                self.drain_fd(sig_r)
            if monitor in events:
                up = False
                while True:
                    try:
                        event = parse_monitor_message(monitor.recv_multipart(zmq.NOBLOCK))
                    except zmq.Again:
                        break
                    up = up or event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED
                if up:
                    self.send_ready(proto.READY_HELD)
            if self.tasks in events:
                self.receive()
            if wake_r in events:
                self.drain_fd(wake_r)
            # Start the next task before the RESULTS go: the function is never idle
            # for a round trip of ours.
            collected = self.collect()
            self.start_next()
            if collected or self.outbox:
                self.flush()
            if time.monotonic() >= self.next_heartbeat:
                self.send_ready(proto.READY_HELD)
                self.send_stats()

        # Stopping: what is finished goes out if the sink takes it, what is not goes
        # back, so that the ventilator hands it to another process.
        self.collect()
        self.flush()
        left = self.held()
        if left:
            log.info(f"stopping: handing {len(left)} unfinished tasks back")
        self.finished += len(left)
        self.running = None
        self.waiting.clear()
        self.outbox.clear()
        self.send_ready(proto.READY_LEAVING, left)
        self.send_stats(proto.STATS_LEAVING)
        self.close(monitor)
        return 0

    @staticmethod
    def drain_fd(fd: int) -> None:
        try:
            while os.read(fd, 4096):
                pass
        except BlockingIOError:
            pass

    def close(self, monitor) -> None:
        self.tasks.disable_monitor()
        monitor.close(0)
        # Linger: READY LEAVING and the last RESULTS get out, for at most LINGER_MS.
        self.tasks.close()
        self.sink.close()
        self.ctx.term()
