"""One worker process: pull tasks against credit, run them one at a time, push results.

The function runs in a thread of its own (Runner), so that this thread's loop keeps
the process's duties however long a task takes: READY with HELD every heartbeat (the
ventilator takes a process silent for 3 s as dead), STATS to the sink, the stop on
SIGTERM. The runner takes the next waiting task as soon as one ends and says it
finished one through a pipe that the loop polls with the sockets.

It holds up to `capacity` tasks (waiting, running, or finished with their RESULTS
not yet handed to the socket): one at first, more when tasks turn out to be short
(enough to cover QUEUE_S of work beyond the one running), so that tiny tasks do not
wait for a round trip each while long ones are spread over every process. A task
counts as finished only once its RESULTS are handed to the socket: while the sink is
away and that socket is full, results wait here, their tasks still held, so the
process takes no new credit and goes on heartbeating. A task it will not run (it is
stopping, or was sent more than it can hold) goes back to the ventilator by name
(READY RETURN), counted in `finished` in that same READY.

This Source Code Form is subject to the terms of the Mozilla Public License, v. 2.0.
If a copy of the MPL was not distributed with this file, You can obtain one at
http://mozilla.org/MPL/2.0/.
"""

import collections
import errno
import os
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
# Work a process holds queued beyond the task it runs (worker/process.c, QUEUE_US).
QUEUE_S = 0.020
# A RESULTS frame is sealed at this many results or bytes (one batch per frame).
ROUND_RESULTS = 256
RESULTS_FRAME_BYTES = 256 * 1024
# While RESULTS wait for the sink, look again this often.
OUTBOX_RETRY_S = 0.1
# A task whose copy another process has in its function waits this long at a time.
DEFER_RETRY_S = 0.02
# Exit status of a process that leaves so that its supervisor starts a fresh one
# (its function ran past --task-timeout and a thread can't be stopped): EX_TEMPFAIL.
EX_RESTART = 75
# The most of an exception's text a failed result carries.
MAX_REASON = 4096
# A RESULTS record without its input and output.
RESULT_OVERHEAD = 8 + 1 + 1 + 8 + 8 + 4 + 4


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _how(wstatus: int) -> str:
    if os.WIFSIGNALED(wstatus):
        number = os.WTERMSIG(wstatus)
        return f"killed by signal {number}, {signal.strsignal(number)}"
    return f"its process exited with status {os.waitstatus_to_exitcode(wstatus)}"


def _reason(error: BaseException) -> bytes:
    """What a failed result says: the exception as its last traceback line does."""
    text = str(error)
    message = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return message.encode(errors="replace")[:MAX_REASON]


class Done:
    """A task the runner is done with: its outcome, not yet in a RESULTS frame."""
    __slots__ = ("task", "status", "attempts", "output", "elapsed_ns", "ran")

    def __init__(self, task, status, attempts, output, elapsed_ns, ran=True):
        self.task, self.status, self.attempts = task, status, attempts
        self.output, self.elapsed_ns, self.ran = output, elapsed_ns, ran


class Runner(threading.Thread):
    """Runs the function on the tasks that wait, one at a time, in its own thread.
    What it holds (waiting, current, done) is read and changed under `lock`, so the
    loop's HELD list never misses a task in between."""

    def __init__(self, function, wake_fd: int, crashlog, index: int,
                 max_attempts: int) -> None:
        super().__init__(name="zpipe-function", daemon=True)
        self.function = function
        self.wake_fd = wake_fd
        self.crashlog = crashlog
        self.index = index
        self.max_attempts = max_attempts
        self.lock = threading.Condition()
        self.waiting: collections.deque = collections.deque()
        self.current = None         # the task in the function now
        self.current_since = 0.0
        self.done: collections.deque = collections.deque()
        self.stopped = False

    # ------------------------------------------------------------ the loop's side

    def add(self, tasks) -> None:
        with self.lock:
            self.waiting.extend(tasks)
            self.lock.notify()

    def take_waiting(self) -> list:
        """Every task not started, out of the queue (to hand back)."""
        with self.lock:
            back = list(self.waiting)
            self.waiting.clear()
            return back

    def take_done(self) -> list:
        with self.lock:
            done = list(self.done)
            self.done.clear()
            return done

    def holding(self):
        """(current, waiting, done): every task the runner has, at one moment."""
        with self.lock:
            return self.current, list(self.waiting), [d.task for d in self.done]

    def count(self) -> int:
        with self.lock:
            return (self.current is not None) + len(self.waiting) + len(self.done)

    def abandon(self, task) -> bool:
        """The loop gives up on `task` (past --task-timeout): its call's outcome, if
        it ever returns, is dropped, and nothing more is started. False if it had
        ended already."""
        with self.lock:
            if self.current is not task:
                return False
            self.stopped = True
            self.current = None
            self.crashlog.clear(self.index)
            return True

    def stop(self) -> None:
        """Nothing more is started; the mark goes, so that the process leaving in
        order with a task still in the function is not counted as its crash."""
        with self.lock:
            self.stopped = True
            self.crashlog.clear(self.index)
            self.lock.notify()

    # ------------------------------------------------------------ the thread

    def _next(self):
        """The first waiting task that no other process of this worker has in its
        function now, or None (under the lock)."""
        for _ in range(len(self.waiting)):
            task = self.waiting[0]
            if not self.crashlog.running_elsewhere(self.index, task.batch, task.task):
                return self.waiting.popleft()
            self.waiting.rotate(-1)
        return None

    def _finish(self, done: Done) -> None:
        self.done.append(done)
        try:
            os.write(self.wake_fd, b".")
        except BlockingIOError:
            pass                    # the loop has a wake-up pending already

    def run(self) -> None:
        while True:
            with self.lock:
                while True:
                    if self.stopped:
                        return
                    task = self._next()
                    if task is not None:
                        break
                    # Nothing, or only copies running elsewhere: look again soon.
                    self.lock.wait(DEFER_RETRY_S if self.waiting else None)
                crashes, wstatus = self.crashlog.attempts(task.batch, task.task)
                if crashes >= self.max_attempts:
                    reason = (f"the function crashed its process on this task {crashes}"
                              f" times (last: {_how(wstatus)}); --max-attempts is"
                              f" {self.max_attempts}")
                    log.warn(f"task {task.task} of batch {task.batch:016x} crashed its"
                             f" process {crashes} times; reported as failed")
                    self._finish(Done(task, proto.STATUS_FAILED, min(crashes, 100),
                                      reason.encode(), 0, ran=False))
                    continue
                self.current, self.current_since = task, time.monotonic()
                self.crashlog.mark(self.index, task.batch, task.task)
            attempts = min(crashes + 1, proto.MAX_ATTEMPTS)
            begin = time.perf_counter_ns()
            try:
                output = functions.as_output(self.function(task.input, task.iterations))
                status = proto.STATUS_OK
                if len(output) > functions.MAX_OUTPUT:
                    status = proto.STATUS_FAILED
                    output = (f"the function returned {len(output)} bytes, above the "
                              f"{functions.MAX_OUTPUT >> 20} MiB a result may carry").encode()
            except BaseException as e:  # noqa: BLE001 - the user's failure is the task's
                status, output = proto.STATUS_FAILED, _reason(e)
            elapsed = time.perf_counter_ns() - begin
            with self.lock:
                if self.current is not task:
                    return              # abandoned: the process is leaving
                self.crashlog.clear(self.index)
                self.current = None
                self._finish(Done(task, status, attempts, output, elapsed))


class Process:
    def __init__(self, config, function, engine: str, replaces: int, supervisor: int,
                 index: int, crashlog) -> None:
        self.config = config
        self.function = function
        self.engine = engine
        self.replaces = replaces
        self.supervisor = supervisor
        self.index = index
        self.crashlog = crashlog
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.capacity = config.capacity or 1
        self.task_s = 0.0           # how long a task takes (moving average)
        # RESULTS being built: (task, Result) of one batch; then sealed frames not
        # yet handed to the socket: (frame, [tasks]).
        self.sealing: list = []
        self.sealing_bytes = 0
        self.outbox: collections.deque = collections.deque()
        self.received = 0
        self.finished = 0
        self.tasks_done = 0         # results handed to the socket (STATS)
        self.steps_done = 0         # chain steps: the iterations of finished tasks
        self.rejected = 0
        self.refusals = log.Limited()
        self.failures = log.Limited()
        self.stop_signals = 0
        self.draining = False
        self.deadline = 0.0
        self.next_heartbeat = 0.0
        self.started = self.stats_at = time.monotonic()
        self.stats_steps = 0

    # ------------------------------------------------------------ what it holds

    def held(self):
        """(every task held, how many at the front are running): what runs first,
        then what waits, then finished ones whose RESULTS are not out yet."""
        current, waiting, done = self.runner.holding()
        refs = [] if current is None else [(current.batch, current.task)]
        refs.extend((t.batch, t.task) for t in waiting)
        refs.extend((t.batch, t.task) for t in done)
        refs.extend((t.batch, t.task) for t, _ in self.sealing)
        for _, tasks in self.outbox:
            refs.extend((t.batch, t.task) for t in tasks)
        return refs, 0 if current is None else 1

    def held_count(self) -> int:
        return (self.runner.count() + len(self.sealing)
                + sum(len(tasks) for _, tasks in self.outbox))

    # ------------------------------------------------------------ messages out

    def send_ready(self, flags: int, handed_back=()) -> None:
        """READY. With HELD the whole held list; with RETURN or LEAVING the tasks in
        handed_back, which the caller has already counted in finished."""
        refs, running = [], 0
        if flags & proto.READY_HELD:
            refs, running = self.held()
        elif flags & (proto.READY_RETURN | proto.READY_LEAVING):
            refs = list(handed_back)
        if self.draining:
            flags |= proto.READY_DRAINING
        stopping = self.draining or flags & proto.READY_LEAVING
        frame = proto.encode_ready(flags, self.pid, self.host, self.engine,
                                   0 if stopping else self.capacity, self.received,
                                   self.finished, self.replaces, running, refs)
        try:
            self.tasks.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            pass                # the ventilator is away; the next heartbeat says it all
        if flags & proto.READY_HELD:
            self.next_heartbeat = time.monotonic() + self.config.heartbeat_ms / 1000

    def send_stats(self, flags: int = 0) -> None:
        """STATS to the sink, best effort: dropped when its socket is full. The last
        one (LEAVING) goes after everything was handed back: it holds nothing."""
        now = time.monotonic()
        elapsed = now - self.stats_at
        rate = int((self.steps_done - self.stats_steps) / elapsed) if elapsed > 0 else 0
        current, _, _ = self.runner.holding()
        running = [] if current is None else [(current.batch, current.task)]
        held = self.held_count()
        if flags & proto.STATS_LEAVING:
            running, held = [], 0
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
        """READY RETURN for tasks this process will not run, counted in finished in
        that same READY (or the ventilator gives no credit for them)."""
        for start in range(0, len(tasks), MAX_HELD):
            part = tasks[start:start + MAX_HELD]
            self.finished += len(part)
            self.send_ready(proto.READY_RETURN, [(t.batch, t.task) for t in part])

    def add_result(self, task, status: int, attempts: int, output: bytes,
                   elapsed_ns: int) -> None:
        """Into the RESULTS being built: one batch per frame, sealed at ROUND_RESULTS
        results or RESULTS_FRAME_BYTES."""
        if self.sealing and (self.sealing[0][0].batch != task.batch
                             or len(self.sealing) >= ROUND_RESULTS
                             or self.sealing_bytes >= RESULTS_FRAME_BYTES):
            self.seal()
        self.sealing.append((task, proto.Result(task.task, status, attempts,
                                                task.iterations, elapsed_ns, task.input,
                                                output)))
        self.sealing_bytes += RESULT_OVERHEAD + len(task.input) + len(output)

    def seal(self) -> None:
        """The RESULTS being built become one frame in the outbox."""
        if not self.sealing:
            return
        frame = proto.encode_results(self.pid, self.host, self.sealing[0][0].batch,
                                     [r for _, r in self.sealing])
        self.outbox.append((frame, [t for t, _ in self.sealing]))
        self.sealing, self.sealing_bytes = [], 0

    def send_outbox(self) -> int:
        """Hands the socket what it takes now; returns how many tasks went out."""
        sent = 0
        while self.outbox:
            frame, tasks = self.outbox[0]
            try:
                self.sink.send(frame, zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break           # full: the sink is away
            self.outbox.popleft()
            self.finished += len(tasks)
            self.tasks_done += len(tasks)
            sent += len(tasks)
        return sent

    def flush(self) -> None:
        """RESULTS out, and the READY that gives their credit back with them."""
        self.seal()
        if self.outbox and self.send_outbox():
            self.send_ready(0)

    # ------------------------------------------------------------ tasks in

    def receive(self) -> None:
        back, take = [], []
        refused = False
        held = self.held_count()
        while True:
            try:
                frame = self.tasks.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            reason = None
            if frame.more:
                while self.tasks.getsockopt(zmq.RCVMORE):
                    self.tasks.recv()
                reason = "not a single frame"
            else:
                try:
                    _, tasks = proto.decode_tasks(frame.bytes)
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
                elif held >= MAX_HELD:
                    self.refusals.warn("the ventilator sent more tasks than asked for;"
                                       " handing them back")
                    back.append(task)
                elif task.iterations > self.config.max_iterations:
                    self.refuse(task)
                    held += 1
                    refused = True
                else:
                    take.append(task)
                    held += 1
        if take:
            self.runner.add(take)
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

    def collect(self) -> int:
        """What the runner finished, into RESULTS; returns how many."""
        done = self.runner.take_done()
        for d in done:
            if d.ran:
                self.steps_done += d.task.iterations
                took = d.elapsed_ns / 1e9
                self.task_s = took if self.task_s == 0 else 0.9 * self.task_s + 0.1 * took
            if d.status != proto.STATUS_OK and d.ran:
                self.failures.warn(f"task {d.task.task} of batch {d.task.batch:016x}"
                                   f" failed: {d.output.decode(errors='replace')}")
            self.add_result(d.task, d.status, d.attempts, d.output, d.elapsed_ns)
        if done and not self.config.capacity:
            self.adapt_capacity()
        return len(done)

    def adapt_capacity(self) -> None:
        """Hold enough tasks to cover QUEUE_S beyond the one running, so that short
        tasks do not wait for a round trip; long ones stay one per process, so that
        a batch is spread over every process."""
        capacity = 1
        if 0 < self.task_s < QUEUE_S:
            capacity = 1 + int(QUEUE_S / self.task_s)
        self.capacity = min(capacity, MAX_HELD)

    # ------------------------------------------------------------ stopping

    def on_signal(self, signal_number, frame) -> None:
        self.stop_signals += 1

    def start_draining(self) -> None:
        """The first SIGTERM: hand back what has not started, finish what runs within
        half of --task-timeout."""
        self.draining = True
        allowed = self.config.task_timeout / 2
        self.deadline = time.monotonic() + allowed
        back = self.runner.take_waiting()
        current, _, _ = self.runner.holding()
        if current is not None or back:
            log.info(f"stopping: {0 if current is None else 1} tasks running,"
                     f" {len(back)} not started handed back, {allowed:.1f} s to finish")
        self.hand_back(back)
        self.send_ready(proto.READY_HELD)

    def timed_out(self) -> bool:
        """A function that has run past --task-timeout fails its task. Its thread
        can't be stopped, so the process then leaves and its supervisor starts a
        fresh one (the C worker kills an --exec command at this point)."""
        current, since = self.runner.current, self.runner.current_since
        if current is None or time.monotonic() - since < self.config.task_timeout:
            return False
        if not self.runner.abandon(current):
            return False
        log.warn(f"task {current.task} of batch {current.batch:016x} ran longer than"
                 f" --task-timeout {self.config.task_timeout} s: failed; this process"
                 " leaves (a running function can't be stopped) and a new one starts")
        self.add_result(current, proto.STATUS_FAILED, 1,
                        f"timed out after {self.config.task_timeout} s".encode(),
                        int((time.monotonic() - since) * 1e9))
        return True

    # ------------------------------------------------------------ the loop

    def setup_socket(self, sndhwm: int, max_size: int):
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, LINGER_MS)
        sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TTL_MS)
        sock.setsockopt(zmq.MAXMSGSIZE, max_size)
        sock.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_MS)
        sock.setsockopt(zmq.SNDHWM, sndhwm)
        sock.setsockopt(zmq.RCVHWM, HWM)
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
        self.runner = Runner(self.function, wake_w, self.crashlog, self.index,
                             self.config.max_attempts)

        self.ctx = zmq.Context()
        self.tasks = self.setup_socket(HWM, MAX_TASKS_FRAME)
        self.tasks.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
        self.sink = self.setup_socket(RESULTS_HWM, MAX_SINK_FRAME)
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
        self.runner.start()
        log.debug(f"function {self.engine}"
                  + (f", capacity {self.config.capacity}" if self.config.capacity else "")
                  + (" (a restart)" if self.replaces else ""))
        self.send_ready(proto.READY_HELD)
        self.send_stats()

        poller = zmq.Poller()
        poller.register(self.tasks, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        poller.register(wake_r, zmq.POLLIN)
        poller.register(sig_r, zmq.POLLIN)
        watching_sink = False
        status = 0
        while True:
            if self.stop_signals and not self.draining:
                self.start_draining()
            if self.stop_signals > 1 or os.getppid() != self.supervisor:
                break           # asked twice, or the supervisor is gone: now
            if self.timed_out():
                status = EX_RESTART
                break
            now = time.monotonic()
            if self.draining and (self.held_count() == 0 or now >= self.deadline):
                break
            timeout = max(0.0, self.next_heartbeat - now)
            if self.draining:
                timeout = min(timeout, max(0.0, self.deadline - now))
            if self.outbox:
                timeout = min(timeout, OUTBOX_RETRY_S)
            if self.runner.current is not None:
                timeout = min(timeout, max(0.0, self.runner.current_since
                                           + self.config.task_timeout - now))
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
            if self.collect() or self.outbox or self.sealing:
                self.flush()
            if time.monotonic() >= self.next_heartbeat:
                self.send_ready(proto.READY_HELD)
                self.send_stats()

        # Stopping: what is finished goes out if the sink takes it, what is not goes
        # back, so that the ventilator hands it to another process.
        self.runner.stop()
        self.collect()
        self.flush()
        left, _ = self.held()
        if left:
            log.info(f"stopping: handing {len(left)} unfinished tasks back")
        # A HELD list first. The ventilator learns that a task is finished (its
        # RESULTS on the way) only from a HELD list that no longer names it; the
        # READY that went with the last RESULTS has none, and a LEAVING alone would
        # have it take those tasks as unfinished and send them again.
        self.send_ready(proto.READY_HELD)
        self.finished += len(left)
        self.send_ready(proto.READY_LEAVING, left)
        self.send_stats(proto.STATS_LEAVING)
        self.close(monitor)
        return status

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
