/*  worker - one worker process: pull tasks, run the chain, push results.

    The process never blocks while it has work: it runs the engine in short
    slices (about SLICE_US each) and between slices takes whatever arrived
    on its sockets, so it keeps its heartbeat, answers a stop at once and
    refills lanes as soon as chains finish. It holds up to `capacity` tasks
    (waiting, running, or finished with their RESULTS not yet out),
    announced to the ventilator in READY: one per lane at first, more when
    tasks turn out to be short, so that tiny tasks do not wait on a round
    trip each.

    Nothing it is given is dropped silently. RESULTS leave through an
    outbox that never blocks: while the sink is away and the socket is full
    they wait there, their tasks still count as held, so the process takes
    no new credit and goes on heartbeating. A task it cannot take (more
    than its credit, no memory) or will not run (it is stopping) goes back
    to the ventilator by name (READY RETURN).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "worker.h"
#include "zp_proto.h"
#include "zp_util.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

//  Most tasks a process holds at once; the slots are allocated up front.
//  With tiny tasks a process holds this many, and its memory follows:
//  1024 is 4 ms or more of work at the rate a process gets through tiny
//  tasks, plenty to cover a round trip to the ventilator, and keeps a
//  process's peak RSS at 7.4 MiB where 4096 took it to 9.0 MiB.
#define MAX_SLOTS 1024
//  Target length of one engine slice, and of the work a process holds
//  queued beyond its lanes.
#define SLICE_US  5000
#define QUEUE_US  20000
//  Longest a round may keep running short tasks before it reports them,
//  and most results one RESULTS message carries.
#define ROUND_US  1000
//  While RESULTS wait for the sink, look again this often.
#define OUTBOX_RETRY_MS 100
//  While a task waits for another process's handler call, look again this often.
#define DEFER_RETRY_MS 20

#define SLOT_FREE    0
#define SLOT_WAITING 1          //  for a lane
#define SLOT_RUNNING 2          //  in a lane
#define SLOT_DONE    3          //  its result is in the outbox
#define ROUND_RESULTS 256
//  RESULTS frames libzmq queues for the sink; beyond that they wait in the
//  outbox (bounded by MAX_SLOTS), so a slow sink's backlog stays small.
#define RESULTS_HWM 16
//  A RESULTS frame is sealed once it is this big (one more result may take
//  it past: still within ZP_MAX_FRAME_BYTES, which holds the largest one).
#define RESULTS_FRAME_BYTES (256 * 1024)
//  How often to try the ventilator's endpoint while it is not there.
#define RECONNECT_MS 20

typedef struct {
    uint64_t batch;
    uint64_t task;
    uint64_t iterations;
    uint8_t *input;             //  kept for the result; buffer reused
    size_t size, allocated;
    uint64_t busy_ns;           //  its share of the engine's time so far
    uint32_t attempts;          //  this run included (handler crashes before + 1)
    uint64_t steps_done;        //  chain steps run so far (STATS)
    uint8_t state;
} slot_t;

typedef struct {
    zmq_msg_t msg;              //  one RESULTS frame
    uint32_t tasks;             //  results it carries
} outgoing_t;

typedef struct {
    const worker_config_t *config;
    zp_engine_t *engine;        //  the built-in sha512-chain, or
    runner_t *runner;           //  a library or command handler in a thread
    zsock_t *tasks;             //  to the ventilator
    zsock_t *results;           //  to the sink
    zchunk_t *out;              //  RESULTS being built
    zchunk_t *ctl;              //  READY being sent
    slot_t *slots;
    uint32_t *waiting;          //  ring of slots waiting for a lane
    size_t waiting_head, waiting_size;
    uint32_t *free_slots;       //  stack of unused slots
    size_t free_size;
    //  Ring of SLOT_DONE slots in the order of their frames in the outbox
    //  (sealed), then those in the RESULTS being built (sealing), so that
    //  a frame that goes out frees its slots without a search.
    uint32_t *sealing;
    size_t sealed_head, sealed_size;
    uint32_t sealing_size;
    outgoing_t *outbox;         //  ring of frames for the sink
    size_t outbox_head, outbox_size;
    uint64_t capacity;
    uint64_t received, finished;
    double task_us;             //  average time a task takes (moving average)
    uint64_t slice_steps;       //  steps per engine slice, adapted
    int64_t next_heartbeat_us;
    uint64_t results_batch;     //  batch of the RESULTS being built
    uint64_t refused;
    zp_ratelimit_t refusals;
    zp_ref_t *held;             //  scratch for READY's list
    zp_ref_t *returning;        //  tasks to hand back
    uint32_t returning_size;
    uint32_t running [64];      //  slots loaded in the engine's lanes
    size_t running_size;
    bool draining;
    bool deferring;             //  a task waits for another process's call to end
    int64_t deadline_us;        //  draining: hand back what is left by then
    //  STATS: what this process reports to the sink with its heartbeat
    zchunk_t *stats;
    int64_t started_us, stats_us;
    uint64_t tasks_done, steps_done, stats_steps;
} self_t;

//  SIGTERM: the first asks for a drain, the second for a stop now.
static volatile sig_atomic_t s_stop_signals = 0;

static void
s_on_signal (int signal_number)
{
    (void) signal_number;
    if (s_stop_signals < 100)
        s_stop_signals++;
}

static void
s_send_ready (self_t *self, uint8_t flags)
{
    uint32_t held_n = 0, running = 0;
    if (flags & ZP_READY_HELD) {
        //  What it is on first, then what waits or is finished
        for (size_t i = 0; i < self->running_size; i++) {
            slot_t *slot = &self->slots [self->running [i]];
            self->held [held_n++] = (zp_ref_t) { slot->batch, slot->task };
        }
        running = held_n;
        for (uint32_t i = 0; i < MAX_SLOTS; i++)
            if (self->slots [i].state == SLOT_WAITING || self->slots [i].state == SLOT_DONE)
                self->held [held_n++] = (zp_ref_t) { self->slots [i].batch, self->slots [i].task };
    }
    const zp_ref_t *list = self->held;
    if (flags & (ZP_READY_RETURN | ZP_READY_LEAVING)) {
        list = self->returning;
        held_n = self->returning_size;
    }
    bool stopping = self->draining || (flags & ZP_READY_LEAVING);
    zp_ready_t ready = {
        .flags = (uint8_t) (flags | (self->draining ? ZP_READY_DRAINING : 0)),
        .pid = (uint32_t) getpid (),
        .capacity = stopping ? 0 : (uint32_t) self->capacity,
        .received = self->received,
        .finished = self->finished,
        .replaces = self->config->replaces,
        .running = running,
        .held_n = held_n
    };
    snprintf (ready.host, sizeof ready.host, "%s", zp_hostname ());
    snprintf (ready.engine, sizeof ready.engine, "%s", self->engine
              ? zp_engine_name (self->engine) : handler_name (&self->config->handler));
    zp_ready_encode (self->ctl, &ready, list);
    zmq_send (zsock_resolve (self->tasks), zchunk_data (self->ctl), zchunk_size (self->ctl),
              ZMQ_DONTWAIT);
    if (flags & ZP_READY_HELD)
        self->next_heartbeat_us = zp_mono_us () + (int64_t) self->config->heartbeat_ms * 1000;
}

//  Resident memory in bytes from /proc/self/statm (its second field is
//  resident pages); 0 where there is no such file.
static uint64_t
s_rss_bytes (void)
{
    FILE *file = fopen ("/proc/self/statm", "r");
    char line [128] = "";
    if (!file)
        return 0;
    bool read = fgets (line, sizeof line, file) != NULL;
    fclose (file);
    char *end = line;
    strtoull (line, &end, 10);              //  total program size: skipped
    errno = 0;
    unsigned long long resident = read && *end == ' ' ? strtoull (end + 1, NULL, 10) : 0;
    long page = sysconf (_SC_PAGESIZE);
    return errno == 0 && page > 0 ? (uint64_t) resident * (uint64_t) page : 0;
}

//  STATS to the sink, with the heartbeat: what this process has done and
//  holds (docs/protocol.md). Best effort: dropped when the socket is full.
static void
s_send_stats (self_t *self, uint8_t flags)
{
    int64_t now = zp_mono_us ();
    int64_t elapsed = now - self->stats_us;
    zp_stats_t stats = {
        .flags = flags,
        .pid = (uint32_t) getpid (),
        .interval_ms = (uint32_t) self->config->heartbeat_ms,
        .uptime_ms = (uint64_t) (now - self->started_us) / 1000,
        .tasks = self->tasks_done,
        .steps = self->steps_done,
        .steps_per_s = elapsed > 0
            ? (self->steps_done - self->stats_steps) * 1000000 / (uint64_t) elapsed : 0,
        .rss_bytes = s_rss_bytes (),
        .held = (uint32_t) (MAX_SLOTS - self->free_size),
        .running = (uint32_t) self->running_size
    };
    snprintf (stats.host, sizeof stats.host, "%s", zp_hostname ());
    snprintf (stats.engine, sizeof stats.engine, "%s", self->engine
              ? zp_engine_name (self->engine) : handler_name (&self->config->handler));
    zp_ref_t running [sizeof self->running / sizeof self->running [0]];
    for (size_t i = 0; i < self->running_size; i++) {
        slot_t *slot = &self->slots [self->running [i]];
        running [i] = (zp_ref_t) { slot->batch, slot->task };
    }
    zp_stats_encode (self->stats, &stats, running);
    zmq_send (zsock_resolve (self->results), zchunk_data (self->stats),
              zchunk_size (self->stats), ZMQ_DONTWAIT);
    self->stats_us = now;
    self->stats_steps = self->steps_done;
}

//  Hand back the tasks gathered in self->returning (they count as
//  finished: the ventilator sends them elsewhere).
static void
s_return_tasks (self_t *self)
{
    if (self->returning_size == 0)
        return;
    self->finished += self->returning_size;
    s_send_ready (self, ZP_READY_RETURN);
    self->returning_size = 0;
}

static void
s_free_slot (self_t *self, uint32_t index)
{
    self->slots [index].state = SLOT_FREE;
    self->free_slots [self->free_size++] = index;
}

//  --- Results: built, sealed into the outbox, sent without blocking -----------

//  The RESULTS being built become one frame in the outbox.
static void
s_seal (self_t *self)
{
    if (self->sealing_size == 0)
        return;
    outgoing_t *entry = &self->outbox [(self->outbox_head + self->outbox_size) % MAX_SLOTS];
    if (zmq_msg_init_size (&entry->msg, zchunk_size (self->out)) == -1) {
        //  No memory for the frame: hand its tasks back instead.
        zp_error ("out of memory for a RESULTS frame; handing %u tasks back",
                  self->sealing_size);
        for (uint32_t i = 0; i < self->sealing_size; i++) {
            uint32_t index = self->sealing [(self->sealed_head + self->sealed_size + i) % MAX_SLOTS];
            slot_t *slot = &self->slots [index];
            self->returning [self->returning_size++] = (zp_ref_t) { slot->batch, slot->task };
            s_free_slot (self, index);
        }
        self->sealing_size = 0;
        s_return_tasks (self);
        return;
    }
    memcpy (zmq_msg_data (&entry->msg), zchunk_data (self->out), zchunk_size (self->out));
    entry->tasks = self->sealing_size;
    self->sealed_size += self->sealing_size;
    self->outbox_size++;
    self->sealing_size = 0;
}

//  Sends what the socket takes now. Returns how many tasks went out.
static uint32_t
s_send_outbox (self_t *self)
{
    uint32_t sent = 0;
    void *socket = zsock_resolve (self->results);
    while (self->outbox_size) {
        outgoing_t *entry = &self->outbox [self->outbox_head];
        if (zmq_msg_send (&entry->msg, socket, ZMQ_DONTWAIT) == -1)
            break;              //  full (the sink is away) or interrupted
        zmq_msg_close (&entry->msg);
        //  Its slots are the oldest sealed ones (the outbox is in order).
        for (uint32_t i = 0; i < entry->tasks; i++) {
            s_free_slot (self, self->sealing [self->sealed_head]);
            self->sealed_head = (self->sealed_head + 1) % MAX_SLOTS;
        }
        self->sealed_size -= entry->tasks;
        self->finished += entry->tasks;
        sent += entry->tasks;
        self->outbox_head = (self->outbox_head + 1) % MAX_SLOTS;
        self->outbox_size--;
    }
    return sent;
}

//  Add the slot's result to the RESULTS being built (one batch per frame,
//  up to about RESULTS_FRAME_BYTES); the slot is done and waits in the
//  outbox until its frame goes out.
static void
s_add_result (self_t *self, uint32_t index, uint8_t status, const void *output,
              size_t output_size)
{
    slot_t *slot = &self->slots [index];
    if (self->sealing_size && (self->results_batch != slot->batch
                           || zchunk_size (self->out) >= RESULTS_FRAME_BYTES))
        s_seal (self);
    if (self->sealing_size == 0) {
        zp_results_begin (self->out, (uint32_t) getpid (), zp_hostname (), slot->batch);
        self->results_batch = slot->batch;
    }
    zp_result_t result = {
        .task = slot->task, .status = status, .iterations = slot->iterations,
        .elapsed_ns = slot->busy_ns,
        .attempts = (uint8_t) (slot->attempts > ZP_MAX_ATTEMPTS ? ZP_MAX_ATTEMPTS : slot->attempts),
        .input = slot->input, .input_size = slot->size,
        .output = (const uint8_t *) output, .output_size = output_size
    };
    zp_results_add (self->out, &result);
    self->sealing [(self->sealed_head + self->sealed_size + self->sealing_size++) % MAX_SLOTS] =
        index;
    slot->state = SLOT_DONE;
    self->tasks_done++;
}

//  A task of more iterations than --max-iterations is not run: it becomes a
//  failed result that says why, so the sink records it and the batch
//  completes, instead of this process being busy for a week.
static void
s_refuse_task (self_t *self, uint32_t index)
{
    slot_t *slot = &self->slots [index];
    char reason [128];
    int size = snprintf (reason, sizeof reason, "refused: %" PRIu64 " iterations is above"
                         " this worker's --max-iterations %" PRIu64, slot->iterations,
                         self->config->max_iterations);
    if (size < 0 || (size_t) size >= sizeof reason)
        size = (int) sizeof reason - 1;
    slot->busy_ns = 0;
    slot->attempts = 0;         //  never started
    s_add_result (self, index, ZP_STATUS_FAILED, reason, (size_t) size);
    zp_warn_limited (&self->refusals, "refused task %" PRIu64 " of batch %016" PRIx64 ": %"
                     PRIu64 " iterations, above --max-iterations %" PRIu64, slot->task,
                     slot->batch, slot->iterations, self->config->max_iterations);
}

//  A task that crashed its handler --max-attempts times is not run again:
//  it becomes a failed result that says so.
static void
s_fail_crashed (self_t *self, uint32_t index, int wstatus)
{
    slot_t *slot = &self->slots [index];
    char how [96], reason [192];
    if (WIFSIGNALED (wstatus))
        snprintf (how, sizeof how, "killed by signal %d, %s", WTERMSIG (wstatus),
                  strsignal (WTERMSIG (wstatus)));
    else
        snprintf (how, sizeof how, "its process exited with status %d", WEXITSTATUS (wstatus));
    int size = snprintf (reason, sizeof reason, "the handler crashed on this task %u times"
                         " (last: %s); --max-attempts is %" PRIu64, slot->attempts, how,
                         self->config->max_attempts);
    if (size < 0 || (size_t) size >= sizeof reason)
        size = (int) sizeof reason - 1;
    slot->busy_ns = 0;
    s_add_result (self, index, ZP_STATUS_FAILED, reason, (size_t) size);
    zp_warn ("task %" PRIu64 " of batch %016" PRIx64 " crashed the handler %u times;"
             " reported as failed", slot->task, slot->batch, slot->attempts);
}

//  --- Tasks in -----------------------------------------------------------------

static void
s_take_tasks (self_t *self, zp_msg_t *msg)
{
    zp_task_t task;
    uint32_t refused = 0;
    while (zp_msg_next_task (msg, &task)) {
        self->received++;
        zp_ref_t ref = { msg->u.tasks.batch, task.task };
        if (self->returning_size == MAX_SLOTS)
            s_return_tasks (self);  //  one READY holds that many
        if (self->draining || self->free_size == 0) {
            if (!self->draining) {
                //  More than the credit we gave: a ventilator that broke
                //  the protocol, or READYs that crossed. Back it goes.
                self->refused++;
                zp_warn_limited (&self->refusals, "the ventilator sent more tasks than asked"
                                 " for; handing them back");
            }
            self->returning [self->returning_size++] = ref;
            continue;
        }
        uint32_t index = self->free_slots [--self->free_size];
        slot_t *slot = &self->slots [index];
        if (task.input_size > slot->allocated) {
            uint8_t *input = (uint8_t *) realloc (slot->input, task.input_size);
            if (!input) {
                self->free_slots [self->free_size++] = index;
                zp_error ("out of memory for a %zu-byte task; handing it back",
                          task.input_size);
                self->returning [self->returning_size++] = ref;
                continue;
            }
            slot->input = input;
            slot->allocated = task.input_size;
        }
        if (task.input_size)
            memcpy (slot->input, task.input, task.input_size);
        slot->size = task.input_size;
        slot->batch = ref.batch;
        slot->task = ref.task;
        slot->iterations = task.iterations;
        slot->attempts = 1;
        if (slot->iterations > self->config->max_iterations) {
            s_refuse_task (self, index);
            refused++;
            continue;
        }
        slot->state = SLOT_WAITING;
        self->waiting [(self->waiting_head + self->waiting_size++) % MAX_SLOTS] = index;
    }
    if (refused) {
        //  The failed results go now, and the credit they free with them.
        s_seal (self);
        if (s_send_outbox (self))
            s_send_ready (self, 0);
    }
}

static void
s_receive (self_t *self)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    int size;
    while ((size = zp_recv (self->tasks, NULL, &msg)) != -1) {
        zp_msg_t tasks;
        const char *reason = "not a single frame";
        if (size >= 0 && zp_msg_decode (zmq_msg_data (&msg), zmq_msg_size (&msg), &tasks, &reason) == 0) {
            if (tasks.type == ZP_TASKS) {
                s_take_tasks (self, &tasks);
                continue;
            }
            reason = "not TASKS";
        }
        self->refused++;
        zp_warn_limited (&self->refusals, "dropped a message from the ventilator: %s", reason);
    }
    zmq_msg_close (&msg);
    s_return_tasks (self);
}

//  --- The engine ------------------------------------------------------------

//  A handler in its thread: hand it what waits, up to a call's worth,
//  and mark those tasks as the ones a crash would be blamed on.
//
//  With a library handler, each task's crash count is looked at just
//  before it runs: one that reached --max-attempts is failed instead. A
//  task that another process of this worker has in its handler right now
//  (a straggler's copy) waits until that call ends or its crash is
//  counted, so that copies never crash at once and overshoot the count.
//  A task that crashed a handler before goes into a call of its own, so
//  that the tasks batched with it the first time are not blamed again.
static void
s_fill_runner (self_t *self)
{
    //  (An --exec command's crash is a failed task, not a crash of ours.)
    crashlog_t *crashlog = self->config->handler.library ? self->config->crashlog : NULL;
    size_t looked = 0, waiting = self->waiting_size;
    uint32_t failed = 0;
    self->deferring = false;
    while (self->waiting_size && runner_free (self->runner) && looked++ < waiting) {
        uint32_t index = self->waiting [self->waiting_head];
        slot_t *slot = &self->slots [index];
        zp_ref_t ref = { slot->batch, slot->task };
        if (crashlog) {
            if (crashlog_running_elsewhere (crashlog, self->config->index, ref)) {
                //  To the back of the queue; looked at again soon.
                self->waiting_head = (self->waiting_head + 1) % MAX_SLOTS;
                self->waiting [(self->waiting_head + self->waiting_size - 1) % MAX_SLOTS] = index;
                self->deferring = true;
                continue;
            }
            int wstatus = 0;
            uint32_t crashes = crashlog_attempts (crashlog, ref, &wstatus);
            slot->attempts = crashes + 1;
            if (crashes >= self->config->max_attempts) {
                self->waiting_head = (self->waiting_head + 1) % MAX_SLOTS;
                self->waiting_size--;
                slot->attempts = crashes;
                s_fail_crashed (self, index, wstatus);
                failed++;
                continue;
            }
        }
        bool alone = slot->attempts > 1;
        if (self->running_size && (alone || self->slots [self->running [0]].attempts > 1))
            break;
        self->waiting_head = (self->waiting_head + 1) % MAX_SLOTS;
        self->waiting_size--;
        runner_load (self->runner, slot->input, slot->size, slot->task, slot->iterations, index);
        slot->busy_ns = 0;
        slot->state = SLOT_RUNNING;
        self->running [self->running_size++] = index;
    }
    if (failed) {
        //  The failed results go now, and the credit they free with them.
        s_seal (self);
        if (s_send_outbox (self))
            s_send_ready (self, 0);
    }
    if (self->running_size && runner_idle (self->runner)) {
        if (crashlog) {
            zp_ref_t refs [HANDLER_MAX_BATCH];
            for (size_t i = 0; i < self->running_size; i++)
                refs [i] = (zp_ref_t) { self->slots [self->running [i]].batch,
                                        self->slots [self->running [i]].task };
            crashlog_running (crashlog, self->config->index, refs, self->running_size);
        }
        runner_start (self->runner);
    }
}

static void
s_fill_lanes (self_t *self)
{
    if (self->runner) {
        s_fill_runner (self);
        return;
    }
    while (self->waiting_size && zp_engine_free (self->engine)) {
        uint32_t index = self->waiting [self->waiting_head];
        self->waiting_head = (self->waiting_head + 1) % MAX_SLOTS;
        self->waiting_size--;
        slot_t *slot = &self->slots [index];
        int64_t begin = zp_mono_us ();
        //  Cannot fail: a lane is free and the decoder refused 0 iterations.
        int rc = zp_engine_load (self->engine, slot->input, slot->size, slot->iterations, index);
        assert (rc == 0);
        (void) rc;
        slot->busy_ns = (uint64_t) (zp_mono_us () - begin) * 1000;
        slot->steps_done = 1;   //  the first step runs in zp_engine_load
        self->steps_done++;
        slot->state = SLOT_RUNNING;
        self->running [self->running_size++] = index;
    }
}

//  A task the engine or the handler finished: out of the running list,
//  its result into the RESULTS being built, its time into the average.
static void
s_finish_task (self_t *self, uint32_t index, uint8_t status, const void *output,
               size_t output_size)
{
    for (size_t i = 0; i < self->running_size; i++)
        if (self->running [i] == index) {
            self->running [i] = self->running [--self->running_size];
            break;
        }
    s_add_result (self, index, status, output, output_size);
    double took_us = (double) self->slots [index].busy_ns / 1000;
    self->task_us = self->task_us == 0 ? took_us : 0.9 * self->task_us + 0.1 * took_us;
}

static uint32_t
s_collect_runner (self_t *self)
{
    uint32_t collected = 0;
    runner_result_t result;
    while (runner_take (self->runner, &result) == 0) {
        slot_t *slot = &self->slots [result.tag];
        slot->busy_ns = result.busy_ns;
        //  A handler's "steps" are its tasks' iterations, counted as they end.
        self->steps_done += slot->iterations;
        s_finish_task (self, (uint32_t) result.tag, result.ok ? ZP_STATUS_OK : ZP_STATUS_FAILED,
                       result.output, result.output_size);
        collected++;
    }
    if (collected && self->running_size == 0 && self->config->handler.library)
        crashlog_running (self->config->crashlog, self->config->index, NULL, 0);
    return collected;
}

//  Take every finished task into the RESULTS being built (a frame per
//  batch); returns how many. The caller seals the frame once per round,
//  so a round of tiny tasks is one frame, not one per lane-full.
static uint32_t
s_collect (self_t *self)
{
    if (self->runner)
        return s_collect_runner (self);
    uint32_t collected = 0;
    uint64_t index;
    char hex [ZP_HASH_HEX_SIZE];
    while (zp_engine_take (self->engine, &index, hex) == 0) {
        s_finish_task (self, (uint32_t) index, ZP_STATUS_OK, hex, ZP_HASH_HEX_SIZE);
        collected++;
    }
    return collected;
}

//  Hold enough tasks to cover QUEUE_US beyond the lanes, so that short
//  tasks do not wait for a round trip; long ones stay one per lane, so a
//  batch is spread over every process.
static void
s_adapt_capacity (self_t *self)
{
    uint64_t lanes = self->engine ? zp_engine_lanes (self->engine)
                                  : runner_lanes (self->runner);
    uint64_t capacity = lanes;
    if (self->task_us > 0 && self->task_us < QUEUE_US)
        capacity = lanes + lanes * (uint64_t) (QUEUE_US / (self->task_us + 1));
    self->capacity = capacity > MAX_SLOTS ? MAX_SLOTS : capacity;
}

static void
s_run_slice (self_t *self)
{
    int64_t begin = zp_mono_us ();
    zp_engine_run (self->engine, self->slice_steps);
    int64_t took = zp_mono_us () - begin;
    //  The lanes shared the slice: each task is charged its share, so a
    //  process's tasks add up to the time it was busy.
    for (size_t i = 0; i < self->running_size; i++) {
        slot_t *slot = &self->slots [self->running [i]];
        slot->busy_ns += (uint64_t) took * 1000 / self->running_size;
        //  Each chain advanced by the slice or to its end (STATS)
        uint64_t steps = slot->iterations - slot->steps_done;
        if (steps > self->slice_steps)
            steps = self->slice_steps;
        slot->steps_done += steps;
        self->steps_done += steps;
    }
    //  Aim at SLICE_US per slice whatever the engine's speed.
    if (took < SLICE_US / 2 && self->slice_steps < (UINT64_C (1) << 24))
        self->slice_steps *= 2;
    else
    if (took > SLICE_US * 2 && self->slice_steps > 64)
        self->slice_steps /= 2;
}

//  --- Stopping -----------------------------------------------------------------

//  The first SIGTERM: hand back what has not started, finish the rest by
//  the deadline.
static void
s_start_draining (self_t *self)
{
    self->draining = true;
    int64_t allowed = (int64_t) self->config->task_timeout_s * 500000;
    self->deadline_us = zp_mono_us () + allowed;
    while (self->waiting_size) {
        uint32_t index = self->waiting [self->waiting_head];
        self->waiting_head = (self->waiting_head + 1) % MAX_SLOTS;
        self->waiting_size--;
        slot_t *slot = &self->slots [index];
        self->returning [self->returning_size++] = (zp_ref_t) { slot->batch, slot->task };
        s_free_slot (self, index);
    }
    if (self->running_size || self->returning_size)
        zp_info ("stopping: %zu tasks running, %u not started handed back, %.1f s to finish",
                 self->running_size, self->returning_size, (double) allowed / 1e6);
    s_return_tasks (self);
    s_send_ready (self, ZP_READY_HELD);
}

static bool
s_holds_anything (self_t *self)
{
    return self->free_size < MAX_SLOTS;
}

int
worker_process_run (const worker_config_t *config)
{
    self_t self_data = { .config = config, .slice_steps = 1024 }, *self = &self_data;
    int status = 0;
    //  czmq starts over in a forked process and then logs to stdout, which
    //  is for data: initialise it here and set our log up after it.
    zsys_init ();
    zp_log_init ("worker", config->verbosity);
    //  Our own SIGTERM handling (czmq's would only set a flag once); the
    //  terminal's SIGINT and SIGHUP reach us through the supervisor.
    zsys_handler_set (NULL);
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset (&action.sa_mask);
    sigaction (SIGTERM, &action, NULL);
    signal (SIGINT, SIG_IGN);
    signal (SIGHUP, SIG_IGN);

    if (handler_is_builtin (&config->handler))
        self->engine = zp_engine_new ((zp_engine_kind_t) config->engine);
    else
        self->runner = runner_new (&config->handler, config->task_timeout_s, config->crashlog
                                   ? crashlog_command_group (config->crashlog, config->index)
                                   : NULL);
    self->slots = (slot_t *) calloc (MAX_SLOTS, sizeof (slot_t));
    self->waiting = (uint32_t *) calloc (MAX_SLOTS, sizeof (uint32_t));
    self->free_slots = (uint32_t *) calloc (MAX_SLOTS, sizeof (uint32_t));
    self->sealing = (uint32_t *) calloc (MAX_SLOTS, sizeof (uint32_t));
    self->outbox = (outgoing_t *) calloc (MAX_SLOTS, sizeof (outgoing_t));
    self->held = (zp_ref_t *) calloc (MAX_SLOTS, sizeof (zp_ref_t));
    self->returning = (zp_ref_t *) calloc (MAX_SLOTS, sizeof (zp_ref_t));
    self->out = zchunk_new (NULL, 65536);
    self->ctl = zchunk_new (NULL, 4096);
    self->stats = zchunk_new (NULL, 2048);
    self->started_us = self->stats_us = zp_mono_us ();
    if ((!self->engine && !self->runner) || !self->slots || !self->waiting || !self->free_slots
    ||  !self->sealing || !self->outbox || !self->held || !self->returning || !self->out
    ||  !self->ctl || !self->stats) {
        zp_error ("can't set up the worker process (out of memory, or no engine)");
        status = EX_OSERR;
        goto done;
    }
    for (uint32_t i = 0; i < MAX_SLOTS; i++)
        self->free_slots [self->free_size++] = MAX_SLOTS - 1 - i;
    s_adapt_capacity (self);

    self->tasks = zp_socket (ZMQ_DEALER, NULL, false, (int64_t) ZP_MAX_FRAME_BYTES, &status);
    //  Workers wait for a ventilator that is not there yet: try every
    //  RECONNECT_MS rather than libzmq's 100 ms, which a batch's start paid.
    if (self->tasks)
        zsock_set_reconnect_ivl (self->tasks, RECONNECT_MS);
    if (!self->tasks
    ||  zp_curve_client (config->curve, self->tasks, ZP_CURVE_TO_VENTILATOR,
                         config->ventilator, &status)
    ||  zp_attach (self->tasks, config->ventilator, false, &status))
        goto done;
    //  Nothing comes back on the results link but the handshake.
    self->results = zp_socket (ZMQ_DEALER, NULL, false, 4096, &status);
    if (!self->results)
        goto done;
    //  Before connecting: the limit is set on the pipe when it is made.
    zsock_set_sndhwm (self->results, RESULTS_HWM);
    if (zp_curve_client (config->curve, self->results, ZP_CURVE_TO_SINK, config->sink, &status)
    ||  zp_attach (self->results, config->sink, false, &status))
        goto done;
    if (self->engine)
        zp_debug ("engine %s, %zu lanes%s", zp_engine_name (self->engine),
                  zp_engine_lanes (self->engine), config->replaces ? " (a restart)" : "");
    else
        zp_debug ("handler %s, %zu tasks a call%s", handler_name (&config->handler),
                  runner_lanes (self->runner), config->replaces ? " (a restart)" : "");
    s_send_ready (self, ZP_READY_HELD);
    s_send_stats (self, 0);
    //  A READY as soon as a ventilator's connection comes up, not at the
    //  next heartbeat: a new ventilator (the next batch of a script) would
    //  otherwise wait up to a heartbeat for its first READY (issue 12).
    zsock_t *up = zp_curve_connected (config->curve, self->tasks);

    while (!zp_curve_shut_out (config->curve)) {
        if (s_stop_signals && !self->draining)
            s_start_draining (self);
        bool orphan = config->supervisor && getppid () != config->supervisor;
        if (s_stop_signals > 1 || orphan)
            break;              //  asked twice, or the supervisor is gone: now
        if (self->draining
        &&  (!s_holds_anything (self) || zp_mono_us () >= self->deadline_us))
            break;
        //  The engine runs in this thread (poll, then a slice); a handler
        //  runs in its own and says when it is done through its fd.
        bool busy = self->engine && zp_engine_busy (self->engine) > 0;
        int64_t wait_us = self->next_heartbeat_us - zp_mono_us ();
        int timeout = busy ? 0 : (wait_us > 0 ? (int) (wait_us / 1000) + 1 : 0);
        if (self->outbox_size && timeout > OUTBOX_RETRY_MS)
            timeout = OUTBOX_RETRY_MS;
        if (self->deferring && timeout > DEFER_RETRY_MS)
            timeout = DEFER_RETRY_MS;
        zmq_pollitem_t items [4] = {
            { zsock_resolve (self->tasks), 0, ZMQ_POLLIN, 0 },
            { up ? zsock_resolve (up) : NULL, -1, up ? ZMQ_POLLIN : 0, 0 }
        };
        int count = 2;
        if (self->runner)
            items [count++] = (zmq_pollitem_t) { NULL, runner_fd (self->runner), ZMQ_POLLIN, 0 };
        if (self->outbox_size)
            items [count++] = (zmq_pollitem_t) { zsock_resolve (self->results), 0,
                                                 ZMQ_POLLOUT, 0 };
        if (zmq_poll (items, count, timeout) == -1) {
            if (zmq_errno () == EINTR)
                continue;       //  a signal: looked at above
            zp_error ("zmq_poll: %s", zmq_strerror (zmq_errno ()));
            break;
        }
        if (items [1].revents & ZMQ_POLLIN) {
            char notice [8];
            while (zmq_recv (zsock_resolve (up), notice, sizeof notice, ZMQ_DONTWAIT) >= 0)
                ;
            s_send_ready (self, ZP_READY_HELD);
        }
        if (items [0].revents & ZMQ_POLLIN)
            s_receive (self);
        s_fill_lanes (self);
        if (self->engine && zp_engine_busy (self->engine))
            s_run_slice (self);
        uint32_t collected = s_collect (self);
        //  Short tasks: while more wait, run them in the same round (up to
        //  ROUND_US and ROUND_RESULTS), so that one READY accounts for many
        //  results instead of one lane-full each.
        if (collected && self->waiting_size && self->engine) {
            int64_t round_end = zp_mono_us () + ROUND_US;
            while (self->waiting_size && collected < ROUND_RESULTS
                   && zp_mono_us () < round_end) {
                s_fill_lanes (self);
                s_run_slice (self);
                collected += s_collect (self);
            }
        }
        if (collected) {
            s_seal (self);
            s_adapt_capacity (self);
        }
        if (self->runner)
            s_fill_lanes (self);
        if (self->outbox_size && s_send_outbox (self)) {
            s_fill_lanes (self);
            s_send_ready (self, 0);
        }
        if (zp_mono_us () >= self->next_heartbeat_us) {
            s_send_ready (self, ZP_READY_HELD);
            s_send_stats (self, 0);
        }
    }
    //  Stopping: what is finished goes out if the sink takes it, what is
    //  not goes back, so the ventilator can hand it to another process.
    s_collect (self);
    s_seal (self);
    if (s_send_outbox (self))
        s_send_ready (self, 0);
    self->returning_size = 0;
    for (uint32_t i = 0; i < MAX_SLOTS; i++)
        if (self->slots [i].state != SLOT_FREE) {
            self->returning [self->returning_size++] =
                (zp_ref_t) { self->slots [i].batch, self->slots [i].task };
            s_free_slot (self, i);
        }
    if (self->returning_size)
        zp_info ("stopping: handing %u unfinished tasks back", self->returning_size);
    self->finished += self->returning_size;
    s_send_ready (self, ZP_READY_LEAVING);
    s_send_stats (self, ZP_STATS_LEAVING);
    if (zp_curve_shut_out (config->curve)) {
        //  libzmq will not try again; the supervisor will, with backoff.
        zp_warn ("a server refused this process's handshake; it exits to be started again");
        status = EX_NOPERM;
    }
done:
    zsock_destroy (&self->tasks);
    zsock_destroy (&self->results);
    while (self->outbox && self->outbox_size) {
        zmq_msg_close (&self->outbox [self->outbox_head].msg);
        self->outbox_head = (self->outbox_head + 1) % MAX_SLOTS;
        self->outbox_size--;
    }
    zchunk_destroy (&self->out);
    zchunk_destroy (&self->ctl);
    zchunk_destroy (&self->stats);
    zp_engine_destroy (&self->engine);
    runner_destroy (&self->runner);
    if (self->slots)
        for (uint32_t i = 0; i < MAX_SLOTS; i++)
            free (self->slots [i].input);
    free (self->slots);
    free (self->waiting);
    free (self->free_slots);
    free (self->sealing);
    free (self->outbox);
    free (self->held);
    free (self->returning);
    return status;
}
