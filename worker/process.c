/*  worker - one worker process: pull tasks, run the chain, push results.

    The process never blocks while it has work: it runs the engine in short
    slices (about SLICE_US each) and between slices takes whatever arrived
    on its sockets, so it keeps its heartbeat, answers a stop at once and
    refills lanes as soon as chains finish. It holds up to `capacity` tasks
    (queued plus running), announced to the ventilator in READY: one per
    lane at first, more when tasks turn out to be short, so that tiny tasks
    do not wait on a round trip each.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "worker.h"
#include "zp_proto.h"
#include "zp_util.h"

#include <unistd.h>

//  Most tasks a process holds at once; the slots are allocated up front.
#define MAX_SLOTS 4096
//  Target length of one engine slice, and of the work a process holds
//  queued beyond its lanes.
#define SLICE_US  5000
#define QUEUE_US  20000
//  Longest a round may keep running short tasks before it reports them,
//  and most results one RESULTS message carries.
#define ROUND_US  1000
#define ROUND_RESULTS 256
//  RESULTS messages queued for the sink before sending blocks. With up to
//  ROUND_RESULTS results (about 220 bytes each for a UUID) a message, 16
//  keep what a slow sink leaves queued here under a megabyte, what
//  libzmq's default of 1,000 one-lane-full messages used to allow.
#define RESULTS_HWM 16

typedef struct {
    uint64_t batch;
    uint64_t task;
    uint64_t iterations;
    uint8_t *input;             //  kept for the result; buffer reused
    size_t size, allocated;
    uint64_t busy_ns;           //  its share of the engine's time so far
    bool used;
} slot_t;

typedef struct {
    const worker_config_t *config;
    zp_engine_t *engine;
    zsock_t *tasks;             //  to the ventilator
    zsock_t *results;           //  to the sink
    zchunk_t *out;              //  RESULTS being built
    zchunk_t *ctl;              //  READY being sent
    slot_t *slots;
    uint32_t *waiting;          //  ring of slots waiting for a lane
    size_t waiting_head, waiting_size;
    uint32_t *free_slots;       //  stack of unused slots
    size_t free_size;
    uint64_t capacity;
    uint64_t received, finished;
    double task_us;             //  average time a task takes (moving average)
    uint64_t slice_steps;       //  steps per engine slice, adapted
    int64_t next_heartbeat_us;
    uint64_t results_batch;     //  batch of the RESULTS being built
    uint32_t results_count;
    uint64_t refused;
    zp_ratelimit_t refusals;
    zp_ref_t *held;             //  scratch for the heartbeat's held list
    uint32_t running [64];      //  slots loaded in the engine's lanes
    size_t running_size;
} self_t;

static void
s_send_ready (self_t *self, uint8_t flags)
{
    uint32_t held_n = 0;
    if (flags & (ZP_READY_HELD | ZP_READY_LEAVING))
        for (uint32_t i = 0; i < MAX_SLOTS; i++)
            if (self->slots [i].used)
                self->held [held_n++] = (zp_ref_t) { self->slots [i].batch, self->slots [i].task };
    zp_ready_t ready = {
        .flags = flags,
        .pid = (uint32_t) getpid (),
        .capacity = (flags & ZP_READY_LEAVING) ? 0 : (uint32_t) self->capacity,
        .received = self->received,
        .finished = self->finished + ((flags & ZP_READY_LEAVING) ? held_n : 0),
        .held_n = held_n
    };
    snprintf (ready.host, sizeof ready.host, "%s", zp_hostname ());
    snprintf (ready.engine, sizeof ready.engine, "%s", zp_engine_name (self->engine));
    zp_ready_encode (self->ctl, &ready, self->held);
    zmq_send (zsock_resolve (self->tasks), zchunk_data (self->ctl), zchunk_size (self->ctl),
              ZMQ_DONTWAIT);
    if (flags & ZP_READY_HELD)
        self->next_heartbeat_us = zp_mono_us () + (int64_t) self->config->heartbeat_ms * 1000;
}

static void
s_flush_results (self_t *self)
{
    if (self->results_count == 0)
        return;
    //  Blocking: if the sink is away and its queue is full, this process
    //  stops taking work until it is back (a signal still interrupts it).
    zmq_send (zsock_resolve (self->results), zchunk_data (self->out), zchunk_size (self->out), 0);
    self->results_count = 0;
}

static void
s_take_tasks (self_t *self, zp_msg_t *msg)
{
    zp_task_t task;
    while (zp_msg_next_task (msg, &task)) {
        if (self->free_size == 0) {
            //  More than the credit we gave: a ventilator that breaks the
            //  protocol. Dropped; the ventilator sends it again elsewhere.
            self->refused++;
            zp_warn_limited (&self->refusals, "the ventilator sent more tasks than asked for");
            continue;
        }
        uint32_t index = self->free_slots [--self->free_size];
        slot_t *slot = &self->slots [index];
        if (task.input_size > slot->allocated) {
            uint8_t *input = (uint8_t *) realloc (slot->input, task.input_size);
            if (!input) {
                self->free_slots [self->free_size++] = index;
                zp_error ("out of memory for a %zu-byte task", task.input_size);
                continue;
            }
            slot->input = input;
            slot->allocated = task.input_size;
        }
        if (task.input_size)
            memcpy (slot->input, task.input, task.input_size);
        slot->size = task.input_size;
        slot->batch = msg->u.tasks.batch;
        slot->task = task.task;
        slot->iterations = task.iterations;
        slot->used = true;
        self->waiting [(self->waiting_head + self->waiting_size++) % MAX_SLOTS] = index;
        self->received++;
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
}

static void
s_fill_lanes (self_t *self)
{
    while (self->waiting_size && zp_engine_free (self->engine)) {
        uint32_t index = self->waiting [self->waiting_head];
        self->waiting_head = (self->waiting_head + 1) % MAX_SLOTS;
        self->waiting_size--;
        slot_t *slot = &self->slots [index];
        int64_t begin = zp_mono_us ();
        zp_engine_load (self->engine, slot->input, slot->size, slot->iterations, index);
        slot->busy_ns = (uint64_t) (zp_mono_us () - begin) * 1000;
        self->running [self->running_size++] = index;
    }
}

//  Take every finished chain into a RESULTS message; returns how many.
static uint32_t
s_collect (self_t *self)
{
    uint32_t collected = 0;
    uint64_t index;
    char hex [ZP_HASH_HEX_SIZE];
    while (zp_engine_take (self->engine, &index, hex) == 0) {
        slot_t *slot = &self->slots [index];
        for (size_t i = 0; i < self->running_size; i++)
            if (self->running [i] == index) {
                self->running [i] = self->running [--self->running_size];
                break;
            }
        if (self->results_count && self->results_batch != slot->batch)
            s_flush_results (self);
        if (self->results_count == 0) {
            zp_results_begin (self->out, (uint32_t) getpid (), zp_hostname (), slot->batch);
            self->results_batch = slot->batch;
        }
        zp_result_t result = {
            .task = slot->task, .status = ZP_STATUS_OK, .iterations = slot->iterations,
            .elapsed_ns = slot->busy_ns,
            .input = slot->input, .input_size = slot->size,
            .output = (const uint8_t *) hex, .output_size = ZP_HASH_HEX_SIZE
        };
        zp_results_add (self->out, &result);
        self->results_count++;
        double took_us = (double) slot->busy_ns / 1000;
        self->task_us = self->task_us == 0 ? took_us : 0.9 * self->task_us + 0.1 * took_us;
        slot->used = false;
        self->free_slots [self->free_size++] = (uint32_t) index;
        self->finished++;
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
    uint64_t lanes = zp_engine_lanes (self->engine);
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
    for (size_t i = 0; i < self->running_size; i++)
        self->slots [self->running [i]].busy_ns += (uint64_t) took * 1000 / self->running_size;
    //  Aim at SLICE_US per slice whatever the engine's speed.
    if (took < SLICE_US / 2 && self->slice_steps < (UINT64_C (1) << 24))
        self->slice_steps *= 2;
    else
    if (took > SLICE_US * 2 && self->slice_steps > 64)
        self->slice_steps /= 2;
}

int
worker_process_run (const worker_config_t *config)
{
    self_t self_data = { .config = config, .slice_steps = 1024 }, *self = &self_data;
    int status = 0;
    self->engine = zp_engine_new (config->engine);
    self->slots = (slot_t *) calloc (MAX_SLOTS, sizeof (slot_t));
    self->waiting = (uint32_t *) calloc (MAX_SLOTS, sizeof (uint32_t));
    self->free_slots = (uint32_t *) calloc (MAX_SLOTS, sizeof (uint32_t));
    self->held = (zp_ref_t *) calloc (MAX_SLOTS, sizeof (zp_ref_t));
    self->out = zchunk_new (NULL, 65536);
    self->ctl = zchunk_new (NULL, 4096);
    if (!self->engine || !self->slots || !self->waiting || !self->free_slots || !self->held
    ||  !self->out || !self->ctl) {
        zp_error ("can't set up the worker process (out of memory, or no engine)");
        status = EX_OSERR;
        goto done;
    }
    for (uint32_t i = 0; i < MAX_SLOTS; i++)
        self->free_slots [self->free_size++] = MAX_SLOTS - 1 - i;
    s_adapt_capacity (self);

    self->tasks = zp_socket (ZMQ_DEALER, config->ventilator, false,
                             (int64_t) ZP_MAX_FRAME_BYTES, &status);
    if (!self->tasks)
        goto done;
    self->results = zp_socket (ZMQ_DEALER, NULL, false,
                               (int64_t) ZP_MAX_FRAME_BYTES, &status);
    if (!self->results)
        goto done;
    //  Before connecting: the limit is set on the pipe when it is made.
    zsock_set_sndhwm (self->results, RESULTS_HWM);
    if (zp_attach (self->results, config->sink, false, &status))
        goto done;
    zp_debug ("engine %s, %zu lanes", zp_engine_name (self->engine),
              zp_engine_lanes (self->engine));
    s_send_ready (self, ZP_READY_HELD);

    while (!zsys_interrupted) {
        bool busy = zp_engine_busy (self->engine) > 0;
        int64_t wait_us = self->next_heartbeat_us - zp_mono_us ();
        zmq_pollitem_t item = { zsock_resolve (self->tasks), 0, ZMQ_POLLIN, 0 };
        int timeout = busy ? 0 : (wait_us > 0 ? (int) (wait_us / 1000) + 1 : 0);
        if (zmq_poll (&item, 1, timeout) == -1)
            break;              //  interrupted
        if (item.revents & ZMQ_POLLIN)
            s_receive (self);
        s_fill_lanes (self);
        if (zp_engine_busy (self->engine))
            s_run_slice (self);
        uint32_t collected = s_collect (self);
        //  Short tasks: while more wait, run them in the same round (up to
        //  ROUND_US and ROUND_RESULTS), so that one RESULTS and one READY
        //  carry many results instead of one lane-full each.
        if (collected && self->waiting_size) {
            int64_t round_end = zp_mono_us () + ROUND_US;
            while (self->waiting_size && self->results_count < ROUND_RESULTS
                   && zp_mono_us () < round_end) {
                s_fill_lanes (self);
                s_run_slice (self);
                collected += s_collect (self);
            }
        }
        if (collected) {
            s_flush_results (self);
            s_adapt_capacity (self);
            s_fill_lanes (self);
            s_send_ready (self, 0);
        }
        if (zp_mono_us () >= self->next_heartbeat_us)
            s_send_ready (self, ZP_READY_HELD);
    }
    //  Stopping: what is finished goes out, what is not goes back, so the
    //  ventilator can hand it to another process at once.
    s_collect (self);
    s_flush_results (self);
    s_send_ready (self, ZP_READY_LEAVING);
done:
    zsock_destroy (&self->tasks);
    zsock_destroy (&self->results);
    zchunk_destroy (&self->out);
    zchunk_destroy (&self->ctl);
    zp_engine_destroy (&self->engine);
    if (self->slots)
        for (uint32_t i = 0; i < MAX_SLOTS; i++)
            free (self->slots [i].input);
    free (self->slots);
    free (self->waiting);
    free (self->free_slots);
    free (self->held);
    return status;
}
