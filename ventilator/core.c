/*  core - the ventilator's decisions, without sockets, clocks or input.

    Workers pull: a process is sent tasks only against the credit its
    READY messages give (docs/protocol.md), and never more than its fair
    share of what is waiting, so the first process to connect cannot take
    the batch.

    Nothing is lost: a task goes out again when its holder leaves, falls
    silent for the heartbeat timeout, is replaced by its supervisor, hands
    it back, or holds it past --task-timeout; when its holder finished it
    but the sink has not acknowledged it 5 s later; when the sink's
    SNAPSHOT lacks it; and, as a copy, when its holder has stalled while
    others idle. The sink drops what comes twice.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "core.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdarg.h>

//  Tasks are packed into one TASKS message up to this much input.
#define PACK_BYTES (256 * 1024)
//  A straggler is a task active this much longer than the typical one.
#define STRAGGLER_FACTOR 1.5
#define STRAGGLER_MIN_US 50000
//  Stalled processes whose tasks are copied at once (the rest next time).
#define MAX_STALLED 64
//  The "waiting for" line comes after this long without a start.
#define WAITING_SAY_US 3000000
//  While a stream runs, BATCH tells the sink how many tasks exist so far
//  (it accepts task ids up to 2^20 beyond that): sent again before dispatch
//  whenever the count has grown by this much since.
#define STREAM_TELL (1 << 18)

typedef struct {
    uint8_t id [256];           //  ZeroMQ routing id of the connection
    size_t id_size;
    char key [65];              //  its name in self->workers
    uint32_t serial;            //  our name for it in the ledger, never reused
    uint32_t pid;
    char host [256];
    uint64_t capacity;
    uint64_t received;          //  the process's running totals (READY)
    uint64_t finished;
    uint64_t base;              //  received at this connection's first READY
    uint64_t finished_base;     //  finished then
    uint64_t sent;              //  tasks we sent on this connection
    int64_t last_seen_us;
    int64_t progress_us;        //  its finished count last went up, or it was
                                //  sent work while it held none
    bool lost;                  //  taken as dead; taken back if it speaks
    bool draining;              //  stopping: no more tasks for it
    int64_t quarantine_us;      //  no tasks for it until then
    zp_ref_t *held;             //  its last HELD list, kept until we know
    size_t held_n;              //  which batch we continue (--resume)
} worker_t;

struct _vcore_t {
    vcore_config_t config;
    vcore_io_t io;
    ledger_t *ledger;           //  the caller's
    zchunk_t *out;              //  encoding buffer, reused
    uint64_t *scratch;          //  ids of a held list, or of a TASKS message
    uint32_t stalled [MAX_STALLED]; //  serials of processes that stalled
    int64_t now;                //  the time of the event being handled
    uint64_t batch, digest;
    uint64_t rejected;          //  input lines refused
    bool adopted;               //  --resume: the sink said which batch we continue
    zhashx_t *workers;          //  routing id (hex) -> worker_t
    zhashx_t *replacements;     //  "host/pid" of every restarted process seen
    uint32_t next_serial;
    uint64_t worker_restarts;
    bool sink_ready, started, complete;
    bool ended;                 //  every task is in the ledger
    int64_t start_us, batch_sent_us, created_us;
    int64_t sink_heard_us, sink_up_since_us;
    bool sink_silent;           //  said so in the log
    //  The sink's SNAPSHOT being collected (it may come in several ACKs):
    //  a bit per task id it has, how many ids so far, the last one.
    uint8_t *snapshot;
    uint64_t snapshot_n, snapshot_ids, snapshot_last;
    uint64_t told_redelivered;  //  the counters in our last BATCH
    uint64_t told_restarts;
    uint64_t told_total;        //  tasks so far, in our last BATCH
    bool said_waiting;
};

static void
s_log (vcore_t *self, int level, const char *format, ...) __attribute__ ((format (printf, 3, 4)));

static void
s_log (vcore_t *self, int level, const char *format, ...)
{
    char line [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof line, format, args);
    va_end (args);
    self->io.log (self->io.arg, level, line);
}

static const char *
s_key (const uint8_t *id, size_t size)
{
    static char name [2 * 32 + 1];
    if (size > 32)
        size = 32;
    for (size_t i = 0; i < size; i++)
        snprintf (name + 2 * i, 3, "%02x", id [i]);
    name [2 * size] = 0;
    return name;
}

static void
s_worker_destroy (void **item)
{
    worker_t *worker = (worker_t *) *item;
    if (worker) {
        free (worker->held);
        free (worker);
    }
    *item = NULL;
}

vcore_t *
vcore_new (const vcore_config_t *config, const vcore_io_t *io, ledger_t *ledger,
           uint64_t batch, bool ended, int64_t now_us)
{
    vcore_t *self = (vcore_t *) calloc (1, sizeof (vcore_t));
    if (!self)
        return NULL;
    self->config = *config;
    self->io = *io;
    self->ledger = ledger;
    self->batch = batch;
    self->ended = ended;
    self->now = self->created_us = now_us;
    self->out = zchunk_new (NULL, 65536);
    self->workers = zhashx_new ();
    self->replacements = zhashx_new ();
    self->scratch = (uint64_t *) malloc ((ZP_MAX_RECORDS + 1) * sizeof (uint64_t));
    if (!self->out || !self->workers || !self->replacements || !self->scratch) {
        vcore_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->workers, s_worker_destroy);
    if (ended)
        self->digest = ledger_digest (ledger, config->iterations);
    return self;
}

void
vcore_destroy (vcore_t **self_p)
{
    vcore_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->workers);
        zhashx_destroy (&self->replacements);
        zchunk_destroy (&self->out);
        free (self->scratch);
        free (self->snapshot);
        free (self);
    }
    *self_p = NULL;
}

//  --- Talking to the sink ----------------------------------------------------

static void
s_send_batch (vcore_t *self)
{
    zp_batch_t batch = {
        .batch = self->batch,
        .flags = (uint8_t) ((self->ended ? ZP_BATCH_TOTAL : 0)
                          | (self->started ? ZP_BATCH_STARTED : 0)
                          | (self->complete ? ZP_BATCH_CLOSED : 0)
                          | (self->config.resume && !self->adopted ? ZP_BATCH_RESUME : 0)),
        .total = ledger_total (self->ledger),
        .iterations = self->config.iterations,
        .started_us = self->started ? (uint64_t) (self->now - self->start_us) : 0,
        .rejected = self->rejected,
        .digest = self->ended ? self->digest : 0,
        .redelivered = ledger_redelivered (self->ledger),
        .worker_restarts = self->worker_restarts
    };
    zp_batch_encode (self->out, &batch);
    //  The shell's socket has ZMQ_IMMEDIATE set: while the sink is not
    //  there this fails, and the timer tries again.
    if (self->io.to_sink (self->io.arg, zchunk_data (self->out), zchunk_size (self->out))) {
        self->batch_sent_us = self->now;
        self->told_redelivered = batch.redelivered;
        self->told_restarts = batch.worker_restarts;
        self->told_total = batch.total;
    }
}

bool
vcore_sink_up (vcore_t *self, int64_t now_us)
{
    self->now = now_us;
    if (!self->batch_sent_us)
        s_send_batch (self);
    return self->batch_sent_us != 0;
}

void
vcore_input (vcore_t *self, uint64_t rejected, bool ended, int64_t now_us)
{
    self->now = now_us;
    self->rejected = rejected;
    if (ended && !self->ended) {
        self->ended = true;
        self->digest = ledger_digest (self->ledger, self->config.iterations);
        s_send_batch (self);
    }
    vcore_dispatch (self, now_us);
}

static void s_reconcile (vcore_t *self, worker_t *worker, uint64_t *ids, size_t count);

//  The sink told a --resume ventilator which batch it continues.
static void
s_adopt (vcore_t *self, uint64_t batch, bool complete)
{
    s_log (self, VCORE_INFO, "resuming batch %016" PRIx64 " (digest %016" PRIx64 ")%s", batch,
           self->digest, complete ? ": the sink has it complete already" : "");
    self->batch = batch;
    self->adopted = true;
    //  What the workers still hold of it from our predecessor stays with them.
    for (worker_t *worker = (worker_t *) zhashx_first (self->workers); worker;
         worker = (worker_t *) zhashx_next (self->workers)) {
        size_t count = 0;
        for (size_t i = 0; i < worker->held_n; i++)
            if (worker->held [i].batch == batch
            &&  worker->held [i].task < ledger_total (self->ledger))
                self->scratch [count++] = worker->held [i].task;
        if (count && !worker->lost)
            s_reconcile (self, worker, self->scratch, count);
        worker->held_n = 0;
    }
}

//  A SNAPSHOT (or a part of one) from the sink: everything it has. Once
//  whole, what we hold as acknowledged and it does not have was lost (a
//  sink restarted without its journal, or on one missing records) and goes
//  out again. Compared by id, not by count: results the workers still held
//  can bring a new sink's count above what it lost (issue 12).
static void
s_on_snapshot (vcore_t *self, zp_msg_t *message)
{
    const zp_ack_t *ack = &message->u.ack;
    //  Parts list ids in ascending order: an id not above the last one, or
    //  no collection under way, starts a new snapshot.
    if (!self->snapshot_ids || (ack->count && zp_msg_ack_id (message, 0) <= self->snapshot_last)) {
        uint64_t n = ledger_total (self->ledger);
        if (n > self->snapshot_n || !self->snapshot) {
            uint8_t *bits = (uint8_t *) realloc (self->snapshot, n / 8 + 1);
            if (!bits)
                return;         //  no comparison: nothing is sent again
            self->snapshot = bits;
        }
        self->snapshot_n = n;
        memset (self->snapshot, 0, n / 8 + 1);
        self->snapshot_ids = 0;
    }
    for (uint32_t i = 0; i < ack->count; i++) {
        uint64_t id = zp_msg_ack_id (message, i);
        if (id < self->snapshot_n)
            self->snapshot [id / 8] |= (uint8_t) (1u << (id % 8));
        self->snapshot_last = id;
    }
    self->snapshot_ids += ack->count;
    if (self->snapshot_ids < ack->accepted)
        return;                 //  more parts to come
    self->snapshot_ids = 0;
    uint64_t again = ledger_forget_done (self->ledger, self->snapshot, self->snapshot_n);
    if (again)
        s_log (self, VCORE_WARN, "the sink has %" PRIu64 " results of batch %016" PRIx64
               " but not %" PRIu64 " it had acknowledged (restarted without its --journal,"
               " or on one missing records?); they go out again", ack->accepted, self->batch,
               again);
}

void
vcore_on_ack (vcore_t *self, zp_msg_t *message, int64_t now_us)
{
    self->now = now_us;
    if (self->complete)
        return;
    zp_ack_t *ack = &message->u.ack;
    if (ack->batch != self->batch) {
        if ((ack->flags & ZP_ACK_ADOPT) && self->config.resume && !self->adopted)
            s_adopt (self, ack->batch, ack->flags & ZP_ACK_COMPLETE);
        else
            return;             //  an older batch's late answer
    }
    int64_t now = self->now;
    if (!self->sink_heard_us || now - self->sink_heard_us > VCORE_SINK_SILENT_US)
        self->sink_up_since_us = now;
    if (self->sink_silent)
        s_log (self, VCORE_INFO, "the sink at %s answers again, after %.1f s", self->config.sink,
               (double) (now - self->sink_heard_us) / 1e6);
    self->sink_silent = false;
    self->sink_heard_us = now;
    for (uint32_t i = 0; i < ack->count; i++)
        ledger_acknowledge (self->ledger, zp_msg_ack_id (message, i), now);
    if ((ack->flags & ZP_ACK_SNAPSHOT) && !(ack->flags & ZP_ACK_COMPLETE))
        s_on_snapshot (self, message);
    if (!self->sink_ready && (ack->flags & ZP_ACK_SNAPSHOT)) {
        self->sink_ready = true;
        self->adopted = true;   //  whatever the sink said, we know our batch now
        s_log (self, VCORE_DEBUG, "the sink knows batch %016" PRIx64 " (it has %" PRIu64
               " results)", self->batch, ack->accepted);
    }
    if (ack->flags & ZP_ACK_COMPLETE) {
        //  Confirm, so that a sink waiting to exit knows we have it.
        self->complete = true;
        s_send_batch (self);
    }
}

//  --- Talking to the workers -------------------------------------------------

//  The process is taken as dead: what it held goes out again, results it
//  reported that the sink does not have too. If it speaks again, it is
//  taken back.
static void
s_worker_lost (vcore_t *self, worker_t *worker, const char *why)
{
    uint64_t taken = ledger_holder_lost (self->ledger, worker->serial, true);
    worker->lost = true;
    s_log (self, VCORE_INFO, "worker %s/%u %s; %" PRIu64 " of its tasks go to others",
           worker->host, worker->pid, why, taken);
}

//  A supervisor restarted a process: the one it replaces is dead.
static void
s_replaced (vcore_t *self, const char *host, uint32_t pid, uint32_t replaces)
{
    char name [300];
    snprintf (name, sizeof name, "%s/%u", host, pid);
    if (zhashx_lookup (self->replacements, name))
        return;                 //  counted already (it reconnected)
    zhashx_insert (self->replacements, name, (void *) "");
    self->worker_restarts++;
    for (worker_t *worker = (worker_t *) zhashx_first (self->workers); worker;
         worker = (worker_t *) zhashx_next (self->workers))
        if (!worker->lost && worker->pid == replaces && streq (worker->host, host)) {
            char why [64];
            snprintf (why, sizeof why, "died (pid %u replaces it)", pid);
            s_worker_lost (self, worker, why);
            break;
        }
}

static bool
s_active (const vcore_t *self, const worker_t *worker)
{
    return !worker->lost && !worker->draining
        && (!worker->quarantine_us || self->now >= worker->quarantine_us);
}

//  Tasks the process holds or has on their way to it.
static int64_t
s_holding (const worker_t *worker)
{
    int64_t held = (int64_t) (worker->received - worker->finished);
    int64_t in_flight = (int64_t) (worker->sent - (worker->received - worker->base));
    if (in_flight < 0)
        in_flight = 0;          //  it got tasks from our predecessor meanwhile
    return held + in_flight;
}

//  What a process may be sent now: what it asked for (up to the protocol's
//  ZP_MAX_CAPACITY), but no more than VCORE_START_CREDIT beyond twice what
//  it has finished on this connection. Credit grows with work done, in a
//  few round trips up to what a process of tiny tasks asks for; a peer that
//  asks for everything and finishes nothing holds VCORE_START_CREDIT tasks,
//  not the batch (issue 12).
static int64_t
s_credit (const vcore_t *self, const worker_t *worker)
{
    if (!s_active (self, worker))
        return 0;
    uint64_t allowed = worker->capacity < ZP_MAX_CAPACITY ? worker->capacity : ZP_MAX_CAPACITY;
    uint64_t earned = VCORE_START_CREDIT + 2 * (worker->finished - worker->finished_base);
    if (allowed > earned)
        allowed = earned;
    return (int64_t) allowed - s_holding (worker);
}

//  Send up to count tasks to a process: waiting ones, or with copies,
//  stragglers held elsewhere by one of the stalled_n processes in stalled.
//  Returns how many went.
static uint64_t
s_send_tasks (vcore_t *self, worker_t *worker, uint64_t count, bool copies, int64_t min_age_us,
              const uint32_t *stalled, size_t stalled_n)
{
    uint64_t *packed = self->scratch;
    uint64_t sent = 0;
    if (s_holding (worker) <= 0)
        worker->progress_us = self->now;    //  it held nothing: its clock starts now
    while (sent < count) {
        zp_tasks_begin (self->out, self->batch);
        uint32_t n = 0;
        size_t bytes = 0;
        while (sent + n < count && n < ZP_MAX_RECORDS && bytes < PACK_BYTES) {
            uint64_t seq = worker->sent + n + 1;
            uint64_t id = copies
                ? ledger_lease_copy (self->ledger, worker->serial, seq, self->now, min_age_us,
                                     stalled, stalled_n)
                : ledger_lease_next (self->ledger, worker->serial, seq, self->now);
            if (id == LEDGER_NONE)
                break;
            size_t size;
            const uint8_t *input = ledger_input (self->ledger, id, &size);
            zp_tasks_add (self->out, id, self->config.iterations, input, size);
            packed [n++] = id;
            bytes += size;
        }
        if (n == 0)
            break;
        if (!self->io.to_worker (self->io.arg, worker->id, worker->id_size,
                                 zchunk_data (self->out), zchunk_size (self->out))) {
            //  Gone or full: these tasks were not sent.
            while (n)
                ledger_unlease (self->ledger, packed [--n], worker->serial);
            break;
        }
        if (copies)
            s_log (self, VCORE_DEBUG, "sent %u straggler copies to %s/%u", n, worker->host,
                   worker->pid);
        sent += n;
        worker->sent += n;
    }
    return sent;
}

//  The processes that hold tasks and have finished none since before
//  since_us, into self->stalled. Returns how many.
static size_t
s_stalled (vcore_t *self, int64_t since_us)
{
    size_t count = 0;
    for (worker_t *worker = (worker_t *) zhashx_first (self->workers);
         worker && count < MAX_STALLED; worker = (worker_t *) zhashx_next (self->workers))
        if (!worker->lost && s_holding (worker) > 0 && worker->progress_us < since_us)
            self->stalled [count++] = worker->serial;
    return count;
}

void
vcore_dispatch (vcore_t *self, int64_t now_us)
{
    self->now = now_us;
    if (!self->sink_ready || self->complete)
        return;
    size_t active = 0;
    for (worker_t *worker = (worker_t *) zhashx_first (self->workers); worker;
         worker = (worker_t *) zhashx_next (self->workers))
        active += s_active (self, worker);
    if (!self->started) {
        if (active < self->config.min_workers)
            return;
        self->started = true;
        self->start_us = self->now;
        s_send_batch (self);
        if (self->ended)
            s_log (self, VCORE_INFO, "batch %016" PRIx64 ": %" PRIu64 " tasks of %" PRIu64
                   " iterations, %zu worker processes", self->batch,
                   ledger_total (self->ledger), self->config.iterations, active);
        else
            s_log (self, VCORE_INFO, "batch %016" PRIx64 ": tasks of %" PRIu64 " iterations"
                   " as %s brings them, %zu worker processes", self->batch,
                   self->config.iterations, self->config.input_name, active);
    }
    //  The sink accepts task ids only so far beyond the count it was told.
    if (!self->ended && ledger_total (self->ledger) - self->told_total >= STREAM_TELL)
        s_send_batch (self);
    if (active == 0)
        return;
    bool progress = true;
    while (ledger_pending (self->ledger) && progress) {
        progress = false;
        for (worker_t *worker = (worker_t *) zhashx_first (self->workers);
             worker && ledger_pending (self->ledger);
             worker = (worker_t *) zhashx_next (self->workers)) {
            int64_t credit = s_credit (self, worker);
            if (credit <= 0)
                continue;
            //  A fair share of what waits, so that a process that asks
            //  first does not take what others could start on now.
            uint64_t share = (ledger_pending (self->ledger) + active - 1) / active;
            if (s_send_tasks (self, worker, share < (uint64_t) credit ? share : (uint64_t) credit,
                              false, 0, NULL, 0))
                progress = true;
        }
    }
    //  Nothing waits, and someone is idle: copies of the stragglers, so
    //  that the batch does not wait for its slowest machine. Only a process
    //  that holds nothing gets them: one still busy is no better placed
    //  than the holder, and short tasks would be copied by the hundred.
    //  And only tasks of a holder that has stalled (finished nothing for as
    //  long): one that goes on finishing tasks gets to the rest as soon as
    //  a copy would, and in a clean run nothing is sent twice (issue 12).
    int64_t typical = ledger_typical_us (self->ledger);
    if (ledger_pending (self->ledger) == 0 && ledger_active (self->ledger) && typical > 0) {
        int64_t min_age = (int64_t) ((double) typical * STRAGGLER_FACTOR) + STRAGGLER_MIN_US;
        size_t stalled_n = s_stalled (self, self->now - min_age);
        for (worker_t *worker = (worker_t *) zhashx_first (self->workers);
             worker && stalled_n; worker = (worker_t *) zhashx_next (self->workers)) {
            int64_t credit = s_credit (self, worker);
            if (credit > 0 && s_holding (worker) == 0)
                s_send_tasks (self, worker, (uint64_t) credit, true, min_age, self->stalled,
                              stalled_n);
        }
    }
    //  The sink hears of every task sent again before that task's result
    //  can reach it (this socket is the shorter way), so the summary's
    //  counts are whole.
    if (ledger_redelivered (self->ledger) != self->told_redelivered
    ||  self->worker_restarts != self->told_restarts)
        s_send_batch (self);
}

//  A complete held list (ids of our batch) from a process.
static void
s_reconcile (vcore_t *self, worker_t *worker, uint64_t *ids, size_t count)
{
    uint64_t arrived = worker->received > worker->base ? worker->received - worker->base : 0;
    uint64_t taken = ledger_reconcile (self->ledger, worker->serial, ids, count, arrived,
                                       self->now);
    if (taken)
        s_log (self, VCORE_INFO, "worker %s/%u holds %" PRIu64 " tasks from before; they stay"
               " with it", worker->host, worker->pid, taken);
}

//  The entries of msg's held list that belong to our batch, into scratch.
static size_t
s_held_ids (vcore_t *self, zp_msg_t *msg)
{
    size_t count = 0;
    for (uint32_t i = 0; i < msg->u.ready.held_n; i++) {
        zp_ref_t ref = zp_msg_held (msg, i);
        if (ref.batch == self->batch && ref.task < ledger_total (self->ledger))
            self->scratch [count++] = ref.task;
    }
    return count;
}

static void
s_on_ready (vcore_t *self, const uint8_t *id, size_t id_size, zp_msg_t *msg)
{
    const zp_ready_t *ready = &msg->u.ready;
    if (id_size > sizeof ((worker_t *) NULL)->id)
        return;                 //  libzmq's routing ids are at most 255 bytes
    const char *key = s_key (id, id_size);
    worker_t *worker = (worker_t *) zhashx_lookup (self->workers, key);
    if (!worker) {
        if (ready->flags & ZP_READY_LEAVING)
            return;
        worker = (worker_t *) calloc (1, sizeof (worker_t));
        if (!worker)
            return;
        worker->id_size = id_size;
        memcpy (worker->id, id, id_size);
        snprintf (worker->key, sizeof worker->key, "%s", key);
        worker->serial = ++self->next_serial;
        worker->base = ready->received;
        worker->finished_base = ready->finished;
        worker->received = ready->received;
        worker->finished = ready->finished;
        zhashx_insert (self->workers, key, worker);
        s_log (self, VCORE_INFO, "worker %s/%u joined (%s, holds up to %u tasks)",
               ready->host, ready->pid, ready->engine, ready->capacity);
        if (ready->replaces)
            s_replaced (self, ready->host, ready->pid, ready->replaces);
    }
    else
    if (worker->lost) {
        worker->lost = false;
        s_log (self, VCORE_INFO, "worker %s/%u is back; what it finishes now comes twice",
               worker->host, worker->pid);
    }
    worker->pid = ready->pid;
    snprintf (worker->host, sizeof worker->host, "%s", ready->host);
    worker->capacity = ready->capacity;
    //  Running totals only grow; an older READY cannot take them back.
    if (ready->received > worker->received)
        worker->received = ready->received;
    worker->last_seen_us = self->now;
    if (ready->finished > worker->finished) {
        worker->finished = ready->finished;
        worker->progress_us = worker->last_seen_us;
    }
    if ((ready->flags & ZP_READY_DRAINING) && !worker->draining) {
        worker->draining = true;
        s_log (self, VCORE_INFO, "worker %s/%u is stopping; it finishes what it runs",
               worker->host, worker->pid);
    }
    uint64_t returned = 0;
    if (ready->flags & (ZP_READY_RETURN | ZP_READY_LEAVING)) {
        size_t count = s_held_ids (self, msg);
        for (size_t i = 0; i < count; i++)
            returned += ledger_returned (self->ledger, self->scratch [i], worker->serial);
        if (count && !(ready->flags & ZP_READY_LEAVING))
            s_log (self, VCORE_INFO, "worker %s/%u handed back %zu tasks; %" PRIu64
                   " go to others", worker->host, worker->pid, count, returned);
    }
    if (ready->flags & ZP_READY_LEAVING) {
        //  Its results are on their way: only what it holds goes out again.
        uint64_t taken = returned + ledger_holder_lost (self->ledger, worker->serial, false);
        s_log (self, VCORE_INFO, "worker %s/%u left; %" PRIu64 " of its tasks go to others",
               worker->host, worker->pid, taken);
        zhashx_delete (self->workers, worker->key);
        return;
    }
    if (ready->flags & ZP_READY_HELD) {
        size_t count = s_held_ids (self, msg);
        if (self->config.resume && !self->adopted) {
            //  Until the sink says which batch we continue, keep the list
            //  as it is (other batch ids included).
            zp_ref_t *held = (zp_ref_t *) realloc (worker->held,
                                                   (ready->held_n + 1) * sizeof (zp_ref_t));
            if (held) {
                worker->held = held;
                worker->held_n = 0;
                for (uint32_t i = 0; i < ready->held_n; i++)
                    worker->held [worker->held_n++] = zp_msg_held (msg, i);
            }
        }
        else
            s_reconcile (self, worker, self->scratch, count);
    }
}

void
vcore_on_ready (vcore_t *self, const uint8_t *id, size_t id_size, zp_msg_t *msg,
                int64_t now_us)
{
    self->now = now_us;
    if (self->complete)
        return;
    s_on_ready (self, id, id_size, msg);
}

//  A task this process reported finished never reached the sink.
static void
s_report_lost (void *arg, uint32_t reporter)
{
    vcore_t *self = (vcore_t *) arg;
    for (worker_t *worker = (worker_t *) zhashx_first (self->workers); worker;
         worker = (worker_t *) zhashx_next (self->workers))
        if (worker->serial == reporter) {
            if (worker->quarantine_us < self->now)
                s_log (self, VCORE_WARN, "results from worker %s/%u do not reach the sink;"
                       " no new tasks for it for %d s", worker->host, worker->pid,
                       VCORE_QUARANTINE_US / 1000000);
            worker->quarantine_us = self->now + VCORE_QUARANTINE_US;
            break;
        }
}

void
vcore_on_tick (vcore_t *self, int64_t now_us)
{
    self->now = now_us;
    if (self->complete)
        return;
    int64_t now = now_us;
    //  Our heartbeat to the sink; until it is connected, every tick.
    if (now - self->batch_sent_us >= VCORE_PULSE_US)
        s_send_batch (self);
    if (!self->said_waiting && now - self->created_us > WAITING_SAY_US
    &&  (!self->sink_ready || !self->started)) {
        self->said_waiting = true;
        if (!self->sink_ready)
            s_log (self, VCORE_INFO, "waiting for the sink at %s", self->config.sink);
        else
            s_log (self, VCORE_INFO, "waiting for workers at %s (%zu of %" PRIu64 " there)",
                   self->config.bind, zhashx_size (self->workers), self->config.min_workers);
    }
    worker_t *worker = (worker_t *) zhashx_first (self->workers);
    while (worker) {
        worker_t *next = (worker_t *) zhashx_next (self->workers);
        int64_t silent = now - worker->last_seen_us;
        if (!worker->lost && silent > self->config.heartbeat_us)
            s_worker_lost (self, worker, "went silent");
        else
        if (worker->lost && silent > VCORE_FORGET_US) {
            zhashx_delete (self->workers, worker->key);
            //  Deleting invalidated the cursor; start over.
            next = (worker_t *) zhashx_first (self->workers);
        }
        worker = next;
    }
    //  Leases past --task-timeout, and finished tasks whose results the
    //  sink never got; the latter only while the sink answers, and counted
    //  from when it came back.
    bool sink_alive = self->sink_heard_us && now - self->sink_heard_us < VCORE_SINK_SILENT_US;
    if (self->sink_heard_us && !sink_alive && !self->sink_silent) {
        self->sink_silent = true;
        s_log (self, VCORE_WARN, "the sink at %s has been silent for %d s (stopped, restarted"
               " or cut off?); %" PRIu64 " of %" PRIu64 " results acknowledged, the rest wait"
               " for it", self->config.sink, VCORE_SINK_SILENT_US / 1000000,
               ledger_done (self->ledger), ledger_total (self->ledger));
    }
    uint64_t again = ledger_expire (self->ledger, now, self->config.task_timeout_us,
                                    sink_alive ? VCORE_REPORT_TIMEOUT_US : 0,
                                    self->sink_up_since_us, s_report_lost, self);
    if (again)
        s_log (self, VCORE_INFO, "%" PRIu64 " tasks go out again (held past --task-timeout,"
               " or their results never reached the sink)", again);
    vcore_dispatch (self, now_us);
}

bool
vcore_complete (vcore_t *self)
{
    return self->complete;
}

uint64_t
vcore_batch (vcore_t *self)
{
    return self->batch;
}

uint64_t
vcore_worker_restarts (vcore_t *self)
{
    return self->worker_restarts;
}

size_t
vcore_workers (vcore_t *self)
{
    return zhashx_size (self->workers);
}
