/*  ventilator - reads or generates task strings and hands them to workers.

    The ventilator owns the batch: every task string, and for each task
    whether it is waiting, held by a worker process, or acknowledged by the
    sink. Workers pull: a process is sent tasks only against the credit its
    READY messages give (docs/protocol.md), and never more than its fair
    share of what is waiting, so the first process to connect cannot take
    the batch. A process that leaves, or falls silent for the heartbeat
    timeout, has its tasks put back at the front of the queue.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "ventilator.h"
#include "zp_input.h"
#include "zp_proto.h"
#include "zp_util.h"

#include <errno.h>
#include <openssl/rand.h>

#define TASK_PENDING 0
#define TASK_LEASED  1
#define TASK_DONE    2

//  Tasks are packed into one TASKS message up to this much input.
#define PACK_BYTES (256 * 1024)
//  How often the timer looks at heartbeats and retries the sink.
#define TICK_MS 100

typedef struct {
    uint64_t offset;            //  into self->bytes
    uint32_t size;
    uint8_t state;
    uint32_t owner;             //  serial of the process holding it
} task_t;

typedef struct {
    uint8_t id [256];           //  ZeroMQ routing id of the connection
    size_t id_size;
    uint32_t serial;            //  our name for it, never reused
    uint32_t pid;
    char host [256];
    uint64_t capacity;
    uint64_t received;          //  the process's running totals (READY)
    uint64_t finished;
    uint64_t base;              //  received at this connection's first READY
    uint64_t sent;              //  tasks we sent on this connection
    int64_t last_seen_us;
} worker_t;

typedef struct {
    const ventilator_config_t *config;
    zsock_t *router;            //  task endpoint, workers connect
    zsock_t *dealer;            //  to the sink
    zchunk_t *out;              //  encoding buffer, reused

    uint8_t *bytes;             //  every task string, back to back
    size_t bytes_size, bytes_capacity;
    task_t *tasks;
    uint64_t total, tasks_capacity;
    uint64_t *queue;            //  ring of waiting task ids
    uint64_t queue_head, queue_size, queue_capacity;
    uint64_t *packed;           //  ids in the TASKS message being built
    uint64_t acknowledged;
    uint64_t rejected;          //  input lines refused

    uint64_t batch;
    zhashx_t *workers;          //  routing id (hex) -> worker_t
    uint32_t next_serial;
    bool sink_ready, started, complete;
    int64_t start_us, batch_sent_us, created_us;
    bool said_waiting;
    uint64_t refused;           //  malformed messages dropped
    zp_ratelimit_t refusals;
} self_t;

//  --- The task table and its queue -----------------------------------------

static int
s_queue_reserve (self_t *self)
{
    if (self->queue_size < self->queue_capacity)
        return 0;
    uint64_t capacity = self->queue_capacity ? self->queue_capacity * 2 : 1024;
    uint64_t *queue = (uint64_t *) malloc (capacity * sizeof (uint64_t));
    if (!queue)
        return -1;
    for (uint64_t i = 0; i < self->queue_size; i++)
        queue [i] = self->queue [(self->queue_head + i) % self->queue_capacity];
    free (self->queue);
    self->queue = queue;
    self->queue_head = 0;
    self->queue_capacity = capacity;
    return 0;
}

static void
s_queue_push_back (self_t *self, uint64_t id)
{
    self->queue [(self->queue_head + self->queue_size++) % self->queue_capacity] = id;
}

//  Tasks taken back from a process go first: they have waited longest.
static void
s_queue_push_front (self_t *self, uint64_t id)
{
    self->queue_head = (self->queue_head + self->queue_capacity - 1) % self->queue_capacity;
    self->queue [self->queue_head] = id;
    self->queue_size++;
}

static uint64_t
s_queue_pop (self_t *self)
{
    uint64_t id = self->queue [self->queue_head];
    self->queue_head = (self->queue_head + 1) % self->queue_capacity;
    self->queue_size--;
    return id;
}

static int
s_task_add (self_t *self, const void *data, size_t size)
{
    if (self->total == self->tasks_capacity) {
        uint64_t capacity = self->tasks_capacity ? self->tasks_capacity * 2 : 1024;
        task_t *tasks = (task_t *) realloc (self->tasks, capacity * sizeof (task_t));
        uint64_t *packed = (uint64_t *) realloc (self->packed, capacity * sizeof (uint64_t));
        //  Either may have moved even if the other failed.
        if (tasks)
            self->tasks = tasks;
        if (packed)
            self->packed = packed;
        if (!tasks || !packed)
            return -1;
        self->tasks = tasks;
        self->tasks_capacity = capacity;
    }
    if (self->bytes_size + size > self->bytes_capacity) {
        size_t capacity = self->bytes_capacity ? self->bytes_capacity : 65536;
        while (capacity < self->bytes_size + size)
            capacity *= 2;
        uint8_t *bytes = (uint8_t *) realloc (self->bytes, capacity);
        if (!bytes)
            return -1;
        self->bytes = bytes;
        self->bytes_capacity = capacity;
    }
    if (s_queue_reserve (self))
        return -1;
    if (size)
        memcpy (self->bytes + self->bytes_size, data, size);
    self->tasks [self->total] = (task_t) {
        .offset = self->bytes_size, .size = (uint32_t) size, .state = TASK_PENDING
    };
    self->bytes_size += size;
    s_queue_push_back (self, self->total++);
    return 0;
}

//  count random UUIDv4 strings (lowercase, canonical form) into the task
//  table, from OpenSSL's generator a block of strings at a time. zuuid_new
//  cost about 3 us a string (libuuid reseeds random () from getpid, getuid
//  and the clock and calls getrandom for every one): 0.6 s of a 1.5 s run
//  of 200,000 tiny tasks went on it (scripts/bench). Returns 0 or a
//  sysexits code.
static int
s_generate (self_t *self, uint64_t count)
{
    static const char digits [] = "0123456789abcdef";
    enum { BLOCK = 4096 };
    uint8_t random [BLOCK * 16];
    for (uint64_t done = 0; done < count; ) {
        uint64_t block = count - done < BLOCK ? count - done : BLOCK;
        if (RAND_bytes (random, (int) (block * 16)) != 1) {
            zp_error ("RAND_bytes: no randomness for the task strings");
            return EX_OSERR;
        }
        for (uint64_t i = 0; i < block; i++) {
            uint8_t *uuid = random + 16 * i;
            uuid [6] = (uint8_t) ((uuid [6] & 0x0f) | 0x40);    //  version 4
            uuid [8] = (uint8_t) ((uuid [8] & 0x3f) | 0x80);    //  variant 10
            char text [36];
            char *p = text;
            for (size_t b = 0; b < 16; b++) {
                if (b == 4 || b == 6 || b == 8 || b == 10)
                    *p++ = '-';
                *p++ = digits [uuid [b] >> 4];
                *p++ = digits [uuid [b] & 15];
            }
            if (s_task_add (self, text, sizeof text)) {
                zp_error ("out of memory generating %" PRIu64 " strings", count);
                return EX_OSERR;
            }
        }
        done += block;
    }
    return 0;
}

//  Read every line of the input into the task table. Returns 0 or a sysexits code.
static int
s_read_input (self_t *self)
{
    const ventilator_config_t *config = self->config;
    if (!config->input)
        return s_generate (self, config->count);
    bool is_stdin = streq (config->input, "-");
    const char *name = is_stdin ? "standard input" : config->input;
    FILE *file = is_stdin ? stdin : fopen (config->input, "rb");
    if (!file) {
        zp_error ("can't open %s for reading: %s", name, strerror (errno));
        return EX_NOINPUT;
    }
    zp_input_t *input = zp_input_new (config->max_length);
    uint8_t *chunk = (uint8_t *) malloc (65536);
    int status = (input && chunk) ? 0 : EX_OSERR;
    while (status == 0) {
        size_t got = fread (chunk, 1, 65536, file);
        if (got == 0 && ferror (file)) {
            zp_error ("can't read %s: %s", name, strerror (errno));
            status = EX_IOERR;
            break;
        }
        if (got == 0)
            zp_input_end (input);
        else
        if (zp_input_feed (input, chunk, got)) {
            status = EX_OSERR;
            break;
        }
        const uint8_t *line;
        size_t size;
        uint64_t lineno;
        int kind;
        while ((kind = zp_input_next (input, &line, &size, &lineno)) != ZP_INPUT_NONE) {
            if (kind == ZP_INPUT_TOO_LONG) {
                zp_error ("%s: line %" PRIu64 " is longer than --max-length %" PRIu64
                          " bytes; rejected", name, lineno, config->max_length);
                self->rejected++;
            }
            else
            if (s_task_add (self, line, size)) {
                status = EX_OSERR;
                break;
            }
        }
        if (got == 0)
            break;
    }
    if (status == EX_OSERR)
        zp_error ("out of memory reading %s", name);
    free (chunk);
    zp_input_destroy (&input);
    if (!is_stdin)
        fclose (file);
    return status;
}

//  --- Talking to the sink ----------------------------------------------------

static void
s_send_batch (self_t *self)
{
    zp_batch_t batch = {
        .batch = self->batch,
        .flags = (uint8_t) (ZP_BATCH_TOTAL | (self->started ? ZP_BATCH_STARTED : 0)
                          | (self->complete ? ZP_BATCH_CLOSED : 0)),
        .total = self->total,
        .iterations = self->config->iterations,
        .started_us = self->started ? (uint64_t) (zp_mono_us () - self->start_us) : 0,
        .rejected = self->rejected
    };
    zp_batch_encode (self->out, &batch);
    //  The socket has ZMQ_IMMEDIATE set: while the sink is not there this
    //  fails with EAGAIN, and the timer tries again.
    if (zmq_send (zsock_resolve (self->dealer), zchunk_data (self->out),
                  zchunk_size (self->out), ZMQ_DONTWAIT) != -1)
        self->batch_sent_us = zp_mono_us ();
}

static void
s_mark_done (self_t *self, uint64_t id)
{
    if (id < self->total && self->tasks [id].state != TASK_DONE) {
        self->tasks [id].state = TASK_DONE;
        self->acknowledged++;
    }
}

static void s_dispatch (self_t *self);

static int
s_on_sink (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    self_t *self = (self_t *) arg;
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    int size;
    while ((size = zp_recv (reader, NULL, &msg)) != -1) {
        zp_msg_t ack;
        const char *reason = "more than one frame";
        if (size < 0 || zp_msg_decode (zmq_msg_data (&msg), zmq_msg_size (&msg), &ack, &reason)
        ||  ack.type != ZP_ACK) {
            self->refused++;
            zp_warn_limited (&self->refusals, "dropped a message from the sink: %s",
                             size < 0 || ack.type == ZP_ACK ? reason : "not an ACK");
            continue;
        }
        if (ack.u.ack.batch != self->batch)
            continue;           //  an older batch's late answer
        for (uint32_t i = 0; i < ack.u.ack.count; i++)
            s_mark_done (self, zp_msg_ack_id (&ack, i));
        if (!self->sink_ready && (ack.u.ack.flags & ZP_ACK_SNAPSHOT)) {
            self->sink_ready = true;
            zp_debug ("the sink knows batch %016" PRIx64 " (it has %" PRIu64 " results)",
                      self->batch, ack.u.ack.accepted);
        }
        if (ack.u.ack.flags & ZP_ACK_COMPLETE) {
            //  Confirm, so that a sink waiting to exit knows we have it.
            self->complete = true;
            s_send_batch (self);
            break;
        }
    }
    zmq_msg_close (&msg);
    if (self->complete)
        return -1;              //  ends the loop: the batch is done
    s_dispatch (self);
    return 0;
}

//  --- Talking to the workers -------------------------------------------------

static void
s_worker_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

//  Put back every task the process holds that the sink does not have yet.
static void
s_worker_lost (self_t *self, worker_t *worker, const char *why)
{
    uint64_t taken = 0;
    for (uint64_t id = 0; id < self->total; id++) {
        task_t *task = &self->tasks [id];
        if (task->state == TASK_LEASED && task->owner == worker->serial) {
            task->state = TASK_PENDING;
            s_queue_push_front (self, id);
            taken++;
        }
    }
    zp_info ("worker %s/%u %s; %" PRIu64 " of its tasks go to others",
             worker->host, worker->pid, why, taken);
    char key [2 * 256 + 1];
    for (size_t i = 0; i < worker->id_size; i++)
        snprintf (key + 2 * i, 3, "%02x", worker->id [i]);
    key [2 * worker->id_size] = 0;
    zhashx_delete (self->workers, key);
}

static int64_t
s_credit (const worker_t *worker)
{
    int64_t held = (int64_t) (worker->received - worker->finished);
    int64_t in_flight = (int64_t) (worker->sent - (worker->received - worker->base));
    return (int64_t) worker->capacity - held - in_flight;
}

//  Send up to count waiting tasks to a process. Returns how many went.
static uint64_t
s_send_tasks (self_t *self, worker_t *worker, uint64_t count)
{
    void *router = zsock_resolve (self->router);
    uint64_t sent = 0;
    while (sent < count && self->queue_size) {
        zp_tasks_begin (self->out, self->batch);
        uint32_t packed = 0;
        size_t bytes = 0;
        while (sent + packed < count && self->queue_size && bytes < PACK_BYTES) {
            uint64_t id = s_queue_pop (self);
            task_t *task = &self->tasks [id];
            if (task->state != TASK_PENDING)
                continue;       //  the sink has it already
            zp_tasks_add (self->out, id, self->config->iterations,
                          self->bytes + task->offset, task->size);
            task->state = TASK_LEASED;
            task->owner = worker->serial;
            self->packed [packed++] = id;
            bytes += task->size;
        }
        if (packed == 0)
            break;
        if (zmq_send (router, worker->id, worker->id_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1
        ||  zmq_send (router, zchunk_data (self->out), zchunk_size (self->out), ZMQ_DONTWAIT) == -1) {
            //  Gone (EHOSTUNREACH, the socket is ROUTER_MANDATORY) or full:
            //  these tasks were not sent.
            while (packed)
                self->tasks [self->packed [--packed]].state = TASK_PENDING,
                s_queue_push_front (self, self->packed [packed]);
            break;
        }
        sent += packed;
        worker->sent += packed;
    }
    return sent;
}

static void
s_dispatch (self_t *self)
{
    if (!self->sink_ready || self->complete)
        return;
    size_t active = zhashx_size (self->workers);
    if (!self->started) {
        if (active < self->config->min_workers)
            return;
        self->started = true;
        self->start_us = zp_mono_us ();
        s_send_batch (self);
        zp_info ("batch %016" PRIx64 ": %" PRIu64 " tasks of %" PRIu64 " iterations,"
                 " %zu worker processes", self->batch, self->total,
                 self->config->iterations, active);
    }
    if (active == 0)
        return;
    bool progress = true;
    while (self->queue_size && progress) {
        progress = false;
        for (worker_t *worker = (worker_t *) zhashx_first (self->workers);
             worker && self->queue_size;
             worker = (worker_t *) zhashx_next (self->workers)) {
            int64_t credit = s_credit (worker);
            if (credit <= 0)
                continue;
            //  A fair share of what waits, so that a process that asks
            //  first does not take what others could start on now.
            uint64_t share = (self->queue_size + active - 1) / active;
            if (s_send_tasks (self, worker, share < (uint64_t) credit ? share : (uint64_t) credit))
                progress = true;
        }
    }
}

static void
s_on_ready (self_t *self, zmq_msg_t *routing_id, const zp_ready_t *ready, zp_msg_t *msg)
{
    (void) msg;
    const char *key = zp_peer_name (routing_id);
    worker_t *worker = (worker_t *) zhashx_lookup (self->workers, key);
    if (!worker) {
        if (ready->flags & ZP_READY_LEAVING)
            return;
        worker = (worker_t *) calloc (1, sizeof (worker_t));
        if (!worker)
            return;
        worker->id_size = zmq_msg_size (routing_id);
        memcpy (worker->id, zmq_msg_data (routing_id), worker->id_size);
        worker->serial = ++self->next_serial;
        worker->base = ready->received;
        worker->received = ready->received;
        worker->finished = ready->finished;
        zhashx_insert (self->workers, key, worker);
        zp_info ("worker %s/%u joined (%s, holds up to %u tasks)",
                 ready->host, ready->pid, ready->engine, ready->capacity);
    }
    worker->pid = ready->pid;
    snprintf (worker->host, sizeof worker->host, "%s", ready->host);
    worker->capacity = ready->capacity;
    //  Running totals only grow; an older READY cannot take them back.
    if (ready->received > worker->received)
        worker->received = ready->received;
    if (ready->finished > worker->finished)
        worker->finished = ready->finished;
    worker->last_seen_us = zp_mono_us ();
    if (ready->flags & ZP_READY_LEAVING)
        s_worker_lost (self, worker, "is leaving");
}

static int
s_on_workers (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    self_t *self = (self_t *) arg;
    zmq_msg_t routing_id, msg;
    zmq_msg_init (&routing_id);
    zmq_msg_init (&msg);
    int size;
    //  Bounded, so that a flood on this socket cannot starve the sink's.
    for (int budget = 1000; budget && (size = zp_recv (reader, &routing_id, &msg)) != -1; budget--) {
        zp_msg_t ready;
        const char *reason = "not a single frame";
        if (size >= 0
        &&  zp_msg_decode (zmq_msg_data (&msg), zmq_msg_size (&msg), &ready, &reason) == 0) {
            if (ready.type == ZP_READY) {
                s_on_ready (self, &routing_id, &ready.u.ready, &ready);
                continue;
            }
            reason = "not a READY";
        }
        self->refused++;
        zp_warn_limited (&self->refusals, "dropped a message from peer %s: %s",
                         zp_peer_name (&routing_id), reason);
    }
    zmq_msg_close (&routing_id);
    zmq_msg_close (&msg);
    s_dispatch (self);
    return 0;
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    self_t *self = (self_t *) arg;
    int64_t now = zp_mono_us ();
    //  Until the sink answers: at every tick while it is not connected (the
    //  send fails), every second while it is but has not answered.
    //  And once every task is acknowledged, until COMPLETE comes.
    if ((!self->sink_ready || self->acknowledged == self->total)
    &&  now - self->batch_sent_us >= 1000000)
        s_send_batch (self);
    if (!self->said_waiting && now - self->created_us > 3000000
    &&  (!self->sink_ready || !self->started)) {
        self->said_waiting = true;
        if (!self->sink_ready)
            zp_info ("waiting for the sink at %s", self->config->sink);
        else
            zp_info ("waiting for workers at %s (%zu of %" PRIu64 " there)",
                     self->config->bind, zhashx_size (self->workers),
                     self->config->min_workers);
    }
    int64_t timeout = (int64_t) self->config->heartbeat_ms * 1000;
    worker_t *worker = (worker_t *) zhashx_first (self->workers);
    while (worker) {
        worker_t *next = (worker_t *) zhashx_next (self->workers);
        if (now - worker->last_seen_us > timeout) {
            s_worker_lost (self, worker, "went silent");
            //  Deleting invalidated the cursor; start over.
            next = (worker_t *) zhashx_first (self->workers);
        }
        worker = next;
    }
    s_dispatch (self);
    return 0;
}

//  --- Running a batch ------------------------------------------------------

int
ventilator_run (const ventilator_config_t *config)
{
    self_t self_data = { .config = config }, *self = &self_data;
    int status = s_read_input (self);
    zloop_t *loop = NULL;
    if (status)
        goto done;
    if (RAND_bytes ((unsigned char *) &self->batch, sizeof self->batch) != 1) {
        zp_error ("RAND_bytes: no randomness for the batch id");
        status = EX_OSERR;
        goto done;
    }
    self->out = zchunk_new (NULL, 65536);
    self->workers = zhashx_new ();
    zhashx_set_destructor (self->workers, s_worker_destroy);
    self->created_us = zp_mono_us ();

    //  A READY is at most a few KiB (a held list of up to 4096 tasks is 64
    //  KiB), an ACK at most 65,536 ids: anything bigger is not zpipe.
    self->router = zp_socket (ZMQ_ROUTER, NULL, true, 1 << 20, &status);
    if (!self->router
    ||  zp_curve_server (config->curve, self->router, config->bind, &status)
    ||  zp_attach (self->router, config->bind, true, &status))
        goto done;
    self->dealer = zp_socket (ZMQ_DEALER, NULL, false, 1 << 20, &status);
    if (!self->dealer)
        goto done;
    zsock_set_immediate (self->dealer, 1);
    if (zp_curve_client (config->curve, self->dealer, ZP_CURVE_TO_SINK, config->sink, &status)
    ||  zp_attach (self->dealer, config->sink, false, &status))
        goto done;

    zp_debug ("%" PRIu64 " tasks read, %" PRIu64 " lines rejected", self->total, self->rejected);
    s_send_batch (self);

    loop = zloop_new ();
    zloop_reader (loop, self->router, s_on_workers, self);
    zloop_reader (loop, self->dealer, s_on_sink, self);
    zloop_timer (loop, TICK_MS, 0, s_on_tick, self);
    zloop_start (loop);

    if (self->complete) {
        status = self->rejected ? EX_DATAERR : 0;
        zp_info ("batch %016" PRIx64 " done: the sink has all %" PRIu64 " results%s",
                 self->batch, self->total, self->rejected ? " (some lines were rejected)" : "");
    }
    else {
        zp_warn ("interrupted: %" PRIu64 " of %" PRIu64 " results acknowledged by the sink",
                 self->acknowledged, self->total);
        status = EX_TEMPFAIL;
    }
    if (self->refused || zp_curve_refused (config->curve))
        zp_warn ("refused on the way: %" PRIu64 " malformed or unexpected messages dropped,"
                 " %" PRIu64 " connections refused at %s", self->refused,
                 zp_curve_refused (config->curve), config->bind);
done:
    zloop_destroy (&loop);
    zsock_destroy (&self->router);
    zsock_destroy (&self->dealer);
    zhashx_destroy (&self->workers);
    zchunk_destroy (&self->out);
    free (self->bytes);
    free (self->tasks);
    free (self->queue);
    free (self->packed);
    return status;
}
