/*  ventilator - reads or generates task strings and hands them to workers.

    The ventilator owns the batch: every task string, and for each task
    whether it waits, is leased to worker processes, was reported finished
    or is acknowledged by the sink (ledger.h). Workers pull: a process is
    sent tasks only against the credit its READY messages give
    (docs/protocol.md), and never more than its fair share of what is
    waiting, so the first process to connect cannot take the batch.

    Nothing is lost: a task goes out again when its holder leaves, falls
    silent for the heartbeat timeout, is replaced by its supervisor, hands
    it back, or holds it past --task-timeout; when its holder finished it
    but the sink has not acknowledged it 5 s later; and, as a copy, when it
    straggles while others idle. The sink drops what comes twice.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "ventilator.h"
#include "ledger.h"
#include "zp_input.h"
#include "zp_proto.h"
#include "zp_util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

//  Tasks are packed into one TASKS message up to this much input.
#define PACK_BYTES (256 * 1024)
//  How often the timer looks at heartbeats, leases and the sink.
#define TICK_MS 50
//  BATCH goes to the sink this often: our heartbeat, answered by its ACK.
#define PULSE_US 1000000
//  A sink that has not answered for this long is away.
#define SINK_SILENT_US 3000000
//  A task its holder finished must be acknowledged within this, counted
//  while the sink answers, or its result is taken as lost.
#define REPORT_TIMEOUT_US 5000000
//  A straggler is a task active this much longer than the typical one.
#define STRAGGLER_FACTOR 1.5
#define STRAGGLER_MIN_US 50000
//  What any process may hold before it has finished a task (s_credit).
#define START_CREDIT 32
//  Stalled processes whose tasks are copied at once (the rest next time).
#define MAX_STALLED 64
//  A worker connection taken as dead is forgotten after this much silence.
#define FORGET_US 60000000
//  A process whose results do not reach the sink (a link cut between the
//  two only) gets no new tasks for this long: they would only pile up.
#define QUARANTINE_US 10000000
//  A stream is read in chunks of this size, and reading pauses while this
//  many tasks wait to be handed out (the writer is held back by its pipe),
//  resuming when half of them have gone.
#define STREAM_CHUNK   65536
#define STREAM_BACKLOG 65536
//  While a stream runs, BATCH tells the sink how many tasks exist so far
//  (it accepts task ids up to 2^20 beyond that): sent again before dispatch
//  whenever the count has grown by this much since.
#define STREAM_TELL    (1 << 18)

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

typedef struct {
    const ventilator_config_t *config;
    zsock_t *router;            //  task endpoint, workers connect
    zsock_t *dealer;            //  to the sink
    zchunk_t *out;              //  encoding buffer, reused
    ledger_t *ledger;
    uint64_t *scratch;          //  ids of a held list
    uint32_t stalled [MAX_STALLED]; //  serials of processes that stalled
    uint64_t rejected;          //  input lines refused
    uint64_t batch, digest;
    bool adopted;               //  --resume: the sink said which batch we continue

    zhashx_t *workers;          //  routing id (hex) -> worker_t
    zhashx_t *replacements;     //  "host/pid" of every restarted process seen
    uint32_t next_serial;
    int stream_fd;              //  the input, while it is a stream being read
    uint64_t worker_restarts;
    bool sink_ready, started, complete;
    //  Input that is not a regular file (a pipe, a FIFO, a terminal) is a
    //  stream: read as it comes, tasks handed out as lines complete, the
    //  total told to the sink at its end.
    bool streaming;             //  the input is a stream
    bool ended;                 //  its end was reached (always, for a file)
    bool stream_polled;         //  stream_fd is in the loop (not paused)
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
    bool shut_out;              //  the sink refused our CURVE key
    int status;                 //  a read error ends the loop with this
    uint64_t refused;           //  malformed messages dropped
    zp_ratelimit_t refusals;
    zloop_t *loop;
    const char *stream_name;
    zp_input_t *parser;
    uint8_t *chunk;             //  read buffer
    zmq_pollitem_t stream_item;
} self_t;

//  --- Input --------------------------------------------------------------------

//  count random UUIDv4 strings (lowercase, canonical form) into the task
//  table, from OpenSSL's generator a block of strings at a time. zuuid_new
//  cost about 3 us a string (libuuid reseeds random () from getpid, getuid
//  and the clock and calls getrandom for every one): 0.6 s of a 1.5 s run
//  of 200,000 tiny tasks went on it (scripts/bench). Returns 0 or a
//  sysexits code.
static int
s_generate (self_t *self, uint64_t count)
{
    //  Where each of the 16 bytes' two digits go in the 36 characters.
    static const uint8_t at [16] = { 0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34 };
    static const char digits [] = "0123456789abcdef";
    char pairs [256][2];
    for (size_t i = 0; i < 256; i++) {
        pairs [i][0] = digits [i >> 4];
        pairs [i][1] = digits [i & 15];
    }
    char text [36] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (ledger_reserve (self->ledger, count, count * sizeof text)) {
        zp_error ("out of memory generating %" PRIu64 " strings", count);
        return EX_OSERR;
    }
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
            for (size_t b = 0; b < 16; b++)
                memcpy (text + at [b], pairs [uuid [b]], 2);
            if (ledger_add (self->ledger, text, sizeof text)) {
                zp_error ("out of memory generating %" PRIu64 " strings", count);
                return EX_OSERR;
            }
        }
        done += block;
    }
    return 0;
}

//  Take the complete lines out of the parser into the task table. Returns 0
//  or EX_OSERR.
static int
s_take_lines (self_t *self, zp_input_t *parser, const char *name)
{
    const uint8_t *line;
    size_t size;
    uint64_t lineno;
    int kind;
    while ((kind = zp_input_next (parser, &line, &size, &lineno)) != ZP_INPUT_NONE) {
        if (kind == ZP_INPUT_TOO_LONG) {
            zp_error ("%s: line %" PRIu64 " is longer than --max-length %" PRIu64
                      " bytes; rejected", name, lineno, self->config->max_length);
            self->rejected++;
        }
        else
        if (ledger_add (self->ledger, line, size)) {
            zp_error ("out of memory reading %s", name);
            return EX_OSERR;
        }
    }
    return 0;
}

//  Read every line of a regular file into the task table. Returns 0 or a
//  sysexits code.
static int
s_read_file (self_t *self, FILE *file, const char *name)
{
    zp_input_t *input = zp_input_new (self->config->max_length);
    uint8_t *chunk = (uint8_t *) malloc (65536);
    int status = (input && chunk) ? 0 : EX_OSERR;
    if (status)
        zp_error ("out of memory reading %s", name);
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
            zp_error ("out of memory reading %s", name);
            status = EX_OSERR;
            break;
        }
        status = s_take_lines (self, input, name);
        if (got == 0)
            break;
    }
    free (chunk);
    zp_input_destroy (&input);
    return status;
}

//  Open the input: generated strings and regular files are read whole now;
//  anything else is a stream, read as it comes (s_on_input). Returns 0 or a
//  sysexits code.
static int
s_open_input (self_t *self)
{
    const ventilator_config_t *config = self->config;
    self->stream_fd = -1;
    if (!config->input) {
        self->ended = true;
        return s_generate (self, config->count);
    }
    bool is_stdin = streq (config->input, "-");
    const char *name = is_stdin ? "standard input" : config->input;
    //  O_NONBLOCK so that opening a FIFO does not wait for its writer (the
    //  loop does: Linux reports no hang-up on a FIFO no writer has opened
    //  yet). Standard input is left as it is: its file description may be
    //  shared with other programs.
    int fd = is_stdin ? STDIN_FILENO : open (config->input, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat info;
    if (fd == -1 || fstat (fd, &info) == -1) {
        zp_error ("can't open %s for reading: %s", name, strerror (errno));
        if (fd != -1 && !is_stdin)
            close (fd);
        return EX_NOINPUT;
    }
    if (S_ISDIR (info.st_mode)) {
        zp_error ("can't read %s: it is a directory", name);
        if (!is_stdin)
            close (fd);
        return EX_NOINPUT;
    }
    if (S_ISREG (info.st_mode)) {
        self->ended = true;
        FILE *file = is_stdin ? stdin : fdopen (fd, "rb");
        if (!file) {
            zp_error ("can't open %s for reading: %s", name, strerror (errno));
            close (fd);
            return EX_NOINPUT;
        }
        int status = s_read_file (self, file, name);
        if (!is_stdin)
            fclose (file);
        return status;
    }
    if (config->resume) {
        zp_error ("--resume needs --input to be a regular file: %s is a stream, which"
                  " can't be read again", name);
        if (!is_stdin)
            close (fd);
        return EX_USAGE;
    }
    self->streaming = true;
    self->stream_fd = fd;
    self->stream_name = name;
    self->parser = zp_input_new (config->max_length);
    self->chunk = (uint8_t *) malloc (STREAM_CHUNK);
    if (!self->parser || !self->chunk) {
        zp_error ("out of memory");
        return EX_OSERR;
    }
    return 0;
}

static void
s_close_stream (self_t *self)
{
    if (self->stream_fd > STDIN_FILENO)
        close (self->stream_fd);
    self->stream_fd = -1;
    zp_input_destroy (&self->parser);
    free (self->chunk);
    self->chunk = NULL;
}

//  --- Talking to the sink ----------------------------------------------------

static void
s_send_batch (self_t *self)
{
    zp_batch_t batch = {
        .batch = self->batch,
        .flags = (uint8_t) ((self->ended ? ZP_BATCH_TOTAL : 0)
                          | (self->started ? ZP_BATCH_STARTED : 0)
                          | (self->complete ? ZP_BATCH_CLOSED : 0)
                          | (self->config->resume && !self->adopted ? ZP_BATCH_RESUME : 0)),
        .total = ledger_total (self->ledger),
        .iterations = self->config->iterations,
        .started_us = self->started ? (uint64_t) (zp_mono_us () - self->start_us) : 0,
        .rejected = self->rejected,
        .digest = self->digest,
        .redelivered = ledger_redelivered (self->ledger),
        .worker_restarts = self->worker_restarts
    };
    zp_batch_encode (self->out, &batch);
    //  The socket has ZMQ_IMMEDIATE set: while the sink is not there this
    //  fails with EAGAIN, and the timer tries again.
    if (zmq_send (zsock_resolve (self->dealer), zchunk_data (self->out),
                  zchunk_size (self->out), ZMQ_DONTWAIT) != -1) {
        self->batch_sent_us = zp_mono_us ();
        self->told_redelivered = batch.redelivered;
        self->told_restarts = batch.worker_restarts;
        self->told_total = batch.total;
    }
}

//  The first BATCH goes the moment the link to the sink is up: with
//  ZMQ_IMMEDIATE the socket turns writable only then. Left to the tick it
//  went up to TICK_MS later, and no task goes out before the sink answers.
static int
s_on_sink_up (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    self_t *self = (self_t *) arg;
    if (!self->batch_sent_us)
        s_send_batch (self);
    if (self->batch_sent_us)
        zloop_poller_end (loop, item);
    return 0;
}

static void s_dispatch (self_t *self);
static void s_pace_stream (self_t *self);
static void s_reconcile (self_t *self, worker_t *worker, uint64_t *ids, size_t count);

//  The sink told a --resume ventilator which batch it continues.
static void
s_adopt (self_t *self, uint64_t batch, bool complete)
{
    zp_info ("resuming batch %016" PRIx64 " (digest %016" PRIx64 ")%s", batch, self->digest,
             complete ? ": the sink has it complete already" : "");
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
s_on_snapshot (self_t *self, zp_msg_t *message)
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
        zp_warn ("the sink has %" PRIu64 " results of batch %016" PRIx64 " but not %" PRIu64
                 " it had acknowledged (restarted without its --journal, or on one missing"
                 " records?); they go out again", ack->accepted, self->batch, again);
}

static int
s_on_sink (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    self_t *self = (self_t *) arg;
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    int size;
    while ((size = zp_recv (reader, NULL, &msg)) != -1) {
        zp_msg_t message;
        const char *reason = "more than one frame";
        if (size < 0
        ||  zp_msg_decode (zmq_msg_data (&msg), zmq_msg_size (&msg), &message, &reason)
        ||  message.type != ZP_ACK) {
            self->refused++;
            zp_warn_limited (&self->refusals, "dropped a message from the sink: %s",
                             size < 0 || message.type == ZP_ACK ? reason : "not an ACK");
            continue;
        }
        zp_ack_t *ack = &message.u.ack;
        if (ack->batch != self->batch) {
            if ((ack->flags & ZP_ACK_ADOPT) && self->config->resume && !self->adopted)
                s_adopt (self, ack->batch, ack->flags & ZP_ACK_COMPLETE);
            else
                continue;       //  an older batch's late answer
        }
        int64_t now = zp_mono_us ();
        if (!self->sink_heard_us || now - self->sink_heard_us > SINK_SILENT_US)
            self->sink_up_since_us = now;
        if (self->sink_silent)
            zp_info ("the sink at %s answers again, after %.1f s", self->config->sink,
                     (double) (now - self->sink_heard_us) / 1e6);
        self->sink_silent = false;
        self->sink_heard_us = now;
        for (uint32_t i = 0; i < ack->count; i++)
            ledger_acknowledge (self->ledger, zp_msg_ack_id (&message, i), now);
        if ((ack->flags & ZP_ACK_SNAPSHOT) && !(ack->flags & ZP_ACK_COMPLETE))
            s_on_snapshot (self, &message);
        if (!self->sink_ready && (ack->flags & ZP_ACK_SNAPSHOT)) {
            self->sink_ready = true;
            self->adopted = true;   //  whatever the sink said, we know our batch now
            zp_debug ("the sink knows batch %016" PRIx64 " (it has %" PRIu64 " results)",
                      self->batch, ack->accepted);
        }
        if (ack->flags & ZP_ACK_COMPLETE) {
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
    worker_t *worker = (worker_t *) *item;
    if (worker) {
        free (worker->held);
        free (worker);
    }
    *item = NULL;
}

//  The process is taken as dead: what it held goes out again, results it
//  reported that the sink does not have too. If it speaks again, it is
//  taken back.
static void
s_worker_lost (self_t *self, worker_t *worker, const char *why)
{
    uint64_t taken = ledger_holder_lost (self->ledger, worker->serial, true);
    worker->lost = true;
    zp_info ("worker %s/%u %s; %" PRIu64 " of its tasks go to others",
             worker->host, worker->pid, why, taken);
}

//  A supervisor restarted a process: the one it replaces is dead.
static void
s_replaced (self_t *self, const char *host, uint32_t pid, uint32_t replaces)
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
s_active (const worker_t *worker)
{
    return !worker->lost && !worker->draining
        && (!worker->quarantine_us || zp_mono_us () >= worker->quarantine_us);
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
//  ZP_MAX_CAPACITY), but no more than START_CREDIT beyond twice what it
//  has finished on this connection. Credit grows with work done, in a few
//  round trips up to what a process of tiny tasks asks for; a peer that
//  asks for everything and finishes nothing holds START_CREDIT tasks, not
//  the batch (issue 12).
static int64_t
s_credit (const worker_t *worker)
{
    if (!s_active (worker))
        return 0;
    uint64_t allowed = worker->capacity < ZP_MAX_CAPACITY ? worker->capacity : ZP_MAX_CAPACITY;
    uint64_t earned = START_CREDIT + 2 * (worker->finished - worker->finished_base);
    if (allowed > earned)
        allowed = earned;
    return (int64_t) allowed - s_holding (worker);
}

//  Send up to count tasks to a process: waiting ones, or with copies,
//  stragglers held elsewhere by one of the stalled_n processes in stalled.
//  Returns how many went.
static uint64_t
s_send_tasks (self_t *self, worker_t *worker, uint64_t count, bool copies, int64_t min_age_us,
              const uint32_t *stalled, size_t stalled_n)
{
    void *router = zsock_resolve (self->router);
    uint64_t *packed = self->scratch;
    int64_t now = zp_mono_us ();
    uint64_t sent = 0;
    if (s_holding (worker) <= 0)
        worker->progress_us = now;      //  it held nothing: its clock starts now
    while (sent < count) {
        zp_tasks_begin (self->out, self->batch);
        uint32_t n = 0;
        size_t bytes = 0;
        while (sent + n < count && n < ZP_MAX_RECORDS && bytes < PACK_BYTES) {
            uint64_t seq = worker->sent + n + 1;
            uint64_t id = copies
                ? ledger_lease_copy (self->ledger, worker->serial, seq, now, min_age_us,
                                     stalled, stalled_n)
                : ledger_lease_next (self->ledger, worker->serial, seq, now);
            if (id == LEDGER_NONE)
                break;
            size_t size;
            const uint8_t *input = ledger_input (self->ledger, id, &size);
            zp_tasks_add (self->out, id, self->config->iterations, input, size);
            packed [n++] = id;
            bytes += size;
        }
        if (n == 0)
            break;
        if (zmq_send (router, worker->id, worker->id_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1
        ||  zmq_send (router, zchunk_data (self->out), zchunk_size (self->out), ZMQ_DONTWAIT) == -1) {
            //  Gone (EHOSTUNREACH, the socket is ROUTER_MANDATORY) or full:
            //  these tasks were not sent.
            while (n)
                ledger_unlease (self->ledger, packed [--n], worker->serial);
            break;
        }
        if (copies)
            zp_debug ("sent %u straggler copies to %s/%u", n, worker->host, worker->pid);
        sent += n;
        worker->sent += n;
    }
    return sent;
}

//  The processes that hold tasks and have finished none since before
//  since_us, into self->stalled. Returns how many.
static size_t
s_stalled (self_t *self, int64_t since_us)
{
    size_t count = 0;
    for (worker_t *worker = (worker_t *) zhashx_first (self->workers);
         worker && count < MAX_STALLED; worker = (worker_t *) zhashx_next (self->workers))
        if (!worker->lost && s_holding (worker) > 0 && worker->progress_us < since_us)
            self->stalled [count++] = worker->serial;
    return count;
}

static void
s_dispatch_tasks (self_t *self)
{
    if (!self->sink_ready || self->complete)
        return;
    size_t active = 0;
    for (worker_t *worker = (worker_t *) zhashx_first (self->workers); worker;
         worker = (worker_t *) zhashx_next (self->workers))
        active += s_active (worker);
    if (!self->started) {
        if (active < self->config->min_workers)
            return;
        self->started = true;
        self->start_us = zp_mono_us ();
        s_send_batch (self);
        if (self->ended)
            zp_info ("batch %016" PRIx64 ": %" PRIu64 " tasks of %" PRIu64 " iterations,"
                     " %zu worker processes", self->batch, ledger_total (self->ledger),
                     self->config->iterations, active);
        else
            zp_info ("batch %016" PRIx64 ": tasks of %" PRIu64 " iterations as %s"
                     " brings them, %zu worker processes", self->batch,
                     self->config->iterations, self->stream_name, active);
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
            int64_t credit = s_credit (worker);
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
        size_t stalled_n = s_stalled (self, zp_mono_us () - min_age);
        for (worker_t *worker = (worker_t *) zhashx_first (self->workers);
             worker && stalled_n; worker = (worker_t *) zhashx_next (self->workers)) {
            int64_t credit = s_credit (worker);
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

static void
s_dispatch (self_t *self)
{
    s_dispatch_tasks (self);
    s_pace_stream (self);
}

//  A complete held list (ids of our batch) from a process.
static void
s_reconcile (self_t *self, worker_t *worker, uint64_t *ids, size_t count)
{
    uint64_t arrived = worker->received > worker->base ? worker->received - worker->base : 0;
    uint64_t taken = ledger_reconcile (self->ledger, worker->serial, ids, count, arrived,
                                       zp_mono_us ());
    if (taken)
        zp_info ("worker %s/%u holds %" PRIu64 " tasks from before; they stay with it",
                 worker->host, worker->pid, taken);
}

//  The entries of msg's held list that belong to our batch, into scratch.
static size_t
s_held_ids (self_t *self, zp_msg_t *msg)
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
s_on_ready (self_t *self, zmq_msg_t *routing_id, zp_msg_t *msg)
{
    const zp_ready_t *ready = &msg->u.ready;
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
        snprintf (worker->key, sizeof worker->key, "%s", key);
        worker->serial = ++self->next_serial;
        worker->base = ready->received;
        worker->finished_base = ready->finished;
        worker->received = ready->received;
        worker->finished = ready->finished;
        zhashx_insert (self->workers, key, worker);
        zp_info ("worker %s/%u joined (%s, holds up to %u tasks)",
                 ready->host, ready->pid, ready->engine, ready->capacity);
        if (ready->replaces)
            s_replaced (self, ready->host, ready->pid, ready->replaces);
    }
    else
    if (worker->lost) {
        worker->lost = false;
        zp_info ("worker %s/%u is back; what it finishes now comes twice", worker->host,
                 worker->pid);
    }
    worker->pid = ready->pid;
    snprintf (worker->host, sizeof worker->host, "%s", ready->host);
    worker->capacity = ready->capacity;
    //  Running totals only grow; an older READY cannot take them back.
    if (ready->received > worker->received)
        worker->received = ready->received;
    worker->last_seen_us = zp_mono_us ();
    if (ready->finished > worker->finished) {
        worker->finished = ready->finished;
        worker->progress_us = worker->last_seen_us;
    }
    if ((ready->flags & ZP_READY_DRAINING) && !worker->draining) {
        worker->draining = true;
        zp_info ("worker %s/%u is stopping; it finishes what it runs", worker->host,
                 worker->pid);
    }
    uint64_t returned = 0;
    if (ready->flags & (ZP_READY_RETURN | ZP_READY_LEAVING)) {
        size_t count = s_held_ids (self, msg);
        for (size_t i = 0; i < count; i++)
            returned += ledger_returned (self->ledger, self->scratch [i], worker->serial);
        if (count && !(ready->flags & ZP_READY_LEAVING))
            zp_info ("worker %s/%u handed back %zu tasks; %" PRIu64 " go to others",
                     worker->host, worker->pid, count, returned);
    }
    if (ready->flags & ZP_READY_LEAVING) {
        //  Its results are on their way: only what it holds goes out again.
        uint64_t taken = returned + ledger_holder_lost (self->ledger, worker->serial, false);
        zp_info ("worker %s/%u left; %" PRIu64 " of its tasks go to others", worker->host,
                 worker->pid, taken);
        zhashx_delete (self->workers, worker->key);
        return;
    }
    if (ready->flags & ZP_READY_HELD) {
        size_t count = s_held_ids (self, msg);
        if (self->config->resume && !self->adopted) {
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
                s_on_ready (self, &routing_id, &ready);
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

//  A task this process reported finished never reached the sink.
static void
s_report_lost (void *arg, uint32_t reporter)
{
    self_t *self = (self_t *) arg;
    int64_t now = zp_mono_us ();
    for (worker_t *worker = (worker_t *) zhashx_first (self->workers); worker;
         worker = (worker_t *) zhashx_next (self->workers))
        if (worker->serial == reporter) {
            if (worker->quarantine_us < now)
                zp_warn ("results from worker %s/%u do not reach the sink; no new tasks"
                         " for it for %d s", worker->host, worker->pid, QUARANTINE_US / 1000000);
            worker->quarantine_us = now + QUARANTINE_US;
            break;
        }
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    self_t *self = (self_t *) arg;
    int64_t now = zp_mono_us ();
    //  Our heartbeat to the sink; until it is connected, every tick.
    if (now - self->batch_sent_us >= PULSE_US)
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
        int64_t silent = now - worker->last_seen_us;
        if (!worker->lost && silent > timeout)
            s_worker_lost (self, worker, "went silent");
        else
        if (worker->lost && silent > FORGET_US) {
            zhashx_delete (self->workers, worker->key);
            //  Deleting invalidated the cursor; start over.
            next = (worker_t *) zhashx_first (self->workers);
        }
        worker = next;
    }
    //  Leases past --task-timeout, and finished tasks whose results the
    //  sink never got; the latter only while the sink answers, and counted
    //  from when it came back.
    bool sink_alive = self->sink_heard_us && now - self->sink_heard_us < SINK_SILENT_US;
    if (self->sink_heard_us && !sink_alive && !self->sink_silent) {
        self->sink_silent = true;
        zp_warn ("the sink at %s has been silent for %d s (stopped, restarted or cut off?);"
                 " %" PRIu64 " of %" PRIu64 " results acknowledged, the rest wait for it",
                 self->config->sink, SINK_SILENT_US / 1000000, ledger_done (self->ledger),
                 ledger_total (self->ledger));
    }
    uint64_t again = ledger_expire (self->ledger, now,
                                    (int64_t) self->config->task_timeout_s * 1000000,
                                    sink_alive ? REPORT_TIMEOUT_US : 0, self->sink_up_since_us,
                                    s_report_lost, self);
    if (again)
        zp_info ("%" PRIu64 " tasks go out again (held past --task-timeout, or their"
                 " results never reached the sink)", again);
    s_dispatch (self);
    //  libzmq does not try a refused handshake again: waiting on would be
    //  waiting forever (zp_curve has said why and what to check).
    if (zp_curve_shut_out (self->config->curve)) {
        self->shut_out = true;
        return -1;
    }
    return 0;
}

//  --- Reading a stream -------------------------------------------------------

static int s_on_input (zloop_t *loop, zmq_pollitem_t *item, void *arg);

//  Read the stream while few tasks wait; pause while many do, so that a
//  writer faster than the workers is held back by its pipe, not queued here.
static void
s_pace_stream (self_t *self)
{
    if (!self->streaming || self->ended || !self->loop)
        return;
    uint64_t waiting = ledger_pending (self->ledger);
    if (self->stream_polled && waiting >= STREAM_BACKLOG) {
        zloop_poller_end (self->loop, &self->stream_item);
        self->stream_polled = false;
        zp_debug ("%" PRIu64 " tasks wait; reading %s pauses", waiting, self->stream_name);
    }
    else
    if (!self->stream_polled && waiting < STREAM_BACKLOG / 2) {
        self->stream_item = (zmq_pollitem_t) { NULL, self->stream_fd, ZMQ_POLLIN, 0 };
        if (zloop_poller (self->loop, &self->stream_item, s_on_input, self) == 0) {
            //  A hang-up (the writer closed) comes as an error event: it is
            //  the end of the stream, which read () tells.
            zloop_poller_set_tolerant (self->loop, &self->stream_item);
            self->stream_polled = true;
        }
    }
}

//  The stream ended: every task is known, and so is the batch's digest.
static void
s_stream_ended (self_t *self)
{
    if (self->stream_polled)
        zloop_poller_end (self->loop, &self->stream_item);
    self->stream_polled = false;
    self->ended = true;
    s_close_stream (self);
    self->digest = ledger_digest (self->ledger, self->config->iterations);
    zp_info ("batch %016" PRIx64 ": the input ended; %" PRIu64 " tasks in all, %" PRIu64
             " lines rejected", self->batch, ledger_total (self->ledger), self->rejected);
    s_send_batch (self);
}

static int
s_on_input (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    self_t *self = (self_t *) arg;
    //  One read per wake-up: poll said there is something (or the end), so
    //  it does not block even on a descriptor left in blocking mode.
    ssize_t got = read (self->stream_fd, self->chunk, STREAM_CHUNK);
    if (got < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        zp_error ("can't read %s: %s", self->stream_name, strerror (errno));
        self->status = EX_IOERR;
        return -1;
    }
    uint64_t before = ledger_total (self->ledger);
    if (got == 0)
        zp_input_end (self->parser);
    else
    if (zp_input_feed (self->parser, self->chunk, (size_t) got)) {
        zp_error ("out of memory reading %s", self->stream_name);
        self->status = EX_OSERR;
        return -1;
    }
    int status = s_take_lines (self, self->parser, self->stream_name);
    if (status) {
        self->status = status;
        return -1;
    }
    if (ledger_total (self->ledger) > before)
        zp_debug ("%" PRIu64 " new tasks from %s (%" PRIu64 " so far)",
                  ledger_total (self->ledger) - before, self->stream_name,
                  ledger_total (self->ledger));
    if (got == 0)
        s_stream_ended (self);
    s_dispatch (self);
    return 0;
}

//  --- Running a batch ------------------------------------------------------

int
ventilator_run (const ventilator_config_t *config)
{
    self_t self_data = { .config = config }, *self = &self_data;
    zloop_t *loop = NULL;
    int status = 0;
    self->ledger = ledger_new ();
    if (!self->ledger) {
        zp_error ("out of memory");
        return EX_OSERR;
    }
    //  The sockets first: workers and the sink connect while the input is
    //  read or generated, instead of after. A READY is at most a few KiB (a
    //  held list of up to 4096 tasks is 64 KiB), an ACK at most 65,536 ids:
    //  anything bigger is not zpipe.
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
    zp_info ("handing out tasks at %s; the sink is at %s", config->bind, config->sink);

    status = s_open_input (self);
    if (status)
        goto done;
    if (RAND_bytes ((unsigned char *) &self->batch, sizeof self->batch) != 1) {
        zp_error ("RAND_bytes: no randomness for the batch id");
        status = EX_OSERR;
        goto done;
    }
    if (self->ended)
        self->digest = ledger_digest (self->ledger, config->iterations);
    self->out = zchunk_new (NULL, 65536);
    self->workers = zhashx_new ();
    self->replacements = zhashx_new ();
    self->scratch = (uint64_t *) malloc ((ZP_MAX_RECORDS + 1) * sizeof (uint64_t));
    if (!self->out || !self->workers || !self->replacements || !self->scratch) {
        zp_error ("out of memory");
        status = EX_OSERR;
        goto done;
    }
    zhashx_set_destructor (self->workers, s_worker_destroy);
    self->created_us = zp_mono_us ();
    zp_debug ("%" PRIu64 " tasks read, %" PRIu64 " lines rejected, digest %016" PRIx64,
              ledger_total (self->ledger), self->rejected, self->digest);
    s_send_batch (self);

    loop = zloop_new ();
    self->loop = loop;
    zloop_reader (loop, self->router, s_on_workers, self);
    zloop_reader (loop, self->dealer, s_on_sink, self);
    zmq_pollitem_t sink_up = { zsock_resolve (self->dealer), 0, ZMQ_POLLOUT, 0 };
    if (!self->batch_sent_us)
        zloop_poller (loop, &sink_up, s_on_sink_up, self);
    zloop_timer (loop, TICK_MS, 0, s_on_tick, self);
    s_pace_stream (self);
    zloop_start (loop);

    if (self->status)
        status = self->status;
    else
    if (self->complete) {
        status = self->rejected ? EX_DATAERR : 0;
        zp_info ("batch %016" PRIx64 " done: the sink has all %" PRIu64 " results; %" PRIu64
                 " tasks were sent again, %" PRIu64 " worker restarts%s", self->batch,
                 ledger_total (self->ledger), ledger_redelivered (self->ledger),
                 self->worker_restarts, self->rejected ? " (some lines were rejected)" : "");
    }
    else
    if (self->shut_out) {
        zp_error ("the sink at %s refused our CURVE key: giving up (allow our"
                  " certificate there, then start again)", config->sink);
        status = EX_NOPERM;
    }
    else {
        zp_warn ("interrupted: %" PRIu64 " of %" PRIu64 " results acknowledged by the sink",
                 ledger_done (self->ledger), ledger_total (self->ledger));
        status = EX_TEMPFAIL;
    }
    if (self->refused || zp_curve_refused (config->curve))
        zp_warn ("refused on the way: %" PRIu64 " malformed or unexpected messages dropped,"
                 " %" PRIu64 " connections refused at %s", self->refused,
                 zp_curve_refused (config->curve), config->bind);
done:
    zloop_destroy (&loop);
    s_close_stream (self);
    zsock_destroy (&self->router);
    zsock_destroy (&self->dealer);
    zhashx_destroy (&self->workers);
    zhashx_destroy (&self->replacements);
    zchunk_destroy (&self->out);
    ledger_destroy (&self->ledger);
    free (self->scratch);
    free (self->snapshot);
    return status;
}
