/*  ventilator - reads or generates task strings and hands them to workers.

    The shell around the ventilator's core (core.h): it owns the sockets,
    the clock and the input, and feeds the core what comes in. The core
    decides who gets which task and when (credit, fair share, leases,
    stragglers, the sink's acknowledgements); the ledger (ledger.h) keeps
    the books of every task.

    The input is read here: generated strings and regular files whole
    before the batch starts, a stream (pipe, FIFO, terminal) as it comes,
    paced so that a writer faster than the workers is held back by its
    pipe rather than queued in memory.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "ventilator.h"
#include "core.h"
#include "ledger.h"
#include "zp_input.h"
#include "zp_proto.h"
#include "zp_util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

//  How many messages one wake-up takes from the workers' socket, so that a
//  flood there cannot starve the sink's.
#define WORKERS_BUDGET 1000
//  A stream is read in chunks of this size, and reading pauses while this
//  many tasks wait to be handed out (the writer is held back by its pipe),
//  resuming when half of them have gone.
#define STREAM_CHUNK   65536
#define STREAM_BACKLOG 65536

typedef struct {
    const ventilator_config_t *config;
    zsock_t *router;            //  task endpoint, workers connect
    zsock_t *dealer;            //  to the sink
    ledger_t *ledger;
    vcore_t *core;
    uint64_t rejected;          //  input lines refused
    int stream_fd;              //  the input, while it is a stream being read
    //  Input that is not a regular file (a pipe, a FIFO, a terminal) is a
    //  stream: read as it comes, tasks handed out as lines complete, the
    //  total told to the sink at its end.
    bool streaming;             //  the input is a stream
    bool ended;                 //  its end was reached (always, for a file)
    bool stream_polled;         //  stream_fd is in the loop (not paused)
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

//  --- What the core asks of us ------------------------------------------------

static bool
s_to_worker (void *arg, const uint8_t *id, size_t id_size, const uint8_t *data, size_t size)
{
    self_t *self = (self_t *) arg;
    void *router = zsock_resolve (self->router);
    //  Gone (EHOSTUNREACH: the socket is ROUTER_MANDATORY) or full (EAGAIN):
    //  the core takes the tasks back.
    return zmq_send (router, id, id_size, ZMQ_SNDMORE | ZMQ_DONTWAIT) != -1
        && zmq_send (router, data, size, ZMQ_DONTWAIT) != -1;
}

static bool
s_to_sink (void *arg, const uint8_t *data, size_t size)
{
    self_t *self = (self_t *) arg;
    //  ZMQ_IMMEDIATE: while the sink is not connected this fails at once.
    return zmq_send (zsock_resolve (self->dealer), data, size, ZMQ_DONTWAIT) != -1;
}

static void
s_log (void *arg, int level, const char *line)
{
    (void) arg;
    if (level == VCORE_ERROR)
        zp_error ("%s", line);
    else
    if (level == VCORE_WARN)
        zp_warn ("%s", line);
    else
    if (level == VCORE_INFO)
        zp_info ("%s", line);
    else
        zp_debug ("%s", line);
}

//  --- Events -------------------------------------------------------------------

static void s_pace_stream (self_t *self);

//  The first BATCH goes the moment the link to the sink is up: with
//  ZMQ_IMMEDIATE the socket turns writable only then. Left to the tick it
//  went up to a tick later, and no task goes out before the sink answers.
static int
s_on_sink_up (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    self_t *self = (self_t *) arg;
    if (vcore_sink_up (self->core, zp_mono_us ()))
        zloop_poller_end (loop, item);
    return 0;
}

static int
s_on_sink (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    self_t *self = (self_t *) arg;
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    int size;
    while (!vcore_complete (self->core) && (size = zp_recv (reader, NULL, &msg)) != -1) {
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
        vcore_on_ack (self->core, &message, zp_mono_us ());
    }
    zmq_msg_close (&msg);
    if (vcore_complete (self->core))
        return -1;              //  ends the loop: the batch is done
    vcore_dispatch (self->core, zp_mono_us ());
    s_pace_stream (self);
    return 0;
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
    for (int budget = WORKERS_BUDGET;
         budget && (size = zp_recv (reader, &routing_id, &msg)) != -1; budget--) {
        zp_msg_t ready;
        const char *reason = "not a single frame";
        if (size >= 0
        &&  zp_msg_decode (zmq_msg_data (&msg), zmq_msg_size (&msg), &ready, &reason) == 0) {
            if (ready.type == ZP_READY) {
                vcore_on_ready (self->core, (const uint8_t *) zmq_msg_data (&routing_id),
                                zmq_msg_size (&routing_id), &ready, zp_mono_us ());
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
    vcore_dispatch (self->core, zp_mono_us ());
    s_pace_stream (self);
    return 0;
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    self_t *self = (self_t *) arg;
    vcore_on_tick (self->core, zp_mono_us ());
    s_pace_stream (self);
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
    zp_info ("batch %016" PRIx64 ": the input ended; %" PRIu64 " tasks in all, %" PRIu64
             " lines rejected", vcore_batch (self->core), ledger_total (self->ledger),
             self->rejected);
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
    vcore_input (self->core, self->rejected, self->ended, zp_mono_us ());
    s_pace_stream (self);
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
    uint64_t batch;
    if (RAND_bytes ((unsigned char *) &batch, sizeof batch) != 1) {
        zp_error ("RAND_bytes: no randomness for the batch id");
        status = EX_OSERR;
        goto done;
    }
    vcore_config_t core_config = {
        .iterations = config->iterations,
        .min_workers = config->min_workers,
        .heartbeat_us = (int64_t) config->heartbeat_ms * 1000,
        .task_timeout_us = (int64_t) config->task_timeout_s * 1000000,
        .resume = config->resume,
        .bind = config->bind,
        .sink = config->sink,
        .input_name = self->stream_name
    };
    vcore_io_t io = { s_to_worker, s_to_sink, s_log, self };
    self->core = vcore_new (&core_config, &io, self->ledger, batch, self->ended, zp_mono_us ());
    if (!self->core) {
        zp_error ("out of memory");
        status = EX_OSERR;
        goto done;
    }
    vcore_input (self->core, self->rejected, self->ended, zp_mono_us ());
    zp_debug ("%" PRIu64 " tasks read, %" PRIu64 " lines rejected", ledger_total (self->ledger),
              self->rejected);

    loop = zloop_new ();
    self->loop = loop;
    zloop_reader (loop, self->router, s_on_workers, self);
    zloop_reader (loop, self->dealer, s_on_sink, self);
    zmq_pollitem_t sink_up = { zsock_resolve (self->dealer), 0, ZMQ_POLLOUT, 0 };
    if (!vcore_sink_up (self->core, zp_mono_us ()))
        zloop_poller (loop, &sink_up, s_on_sink_up, self);
    zloop_timer (loop, VCORE_TICK_US / 1000, 0, s_on_tick, self);
    s_pace_stream (self);
    zloop_start (loop);

    if (self->status)
        status = self->status;
    else
    if (vcore_complete (self->core)) {
        status = self->rejected ? EX_DATAERR : 0;
        zp_info ("batch %016" PRIx64 " done: the sink has all %" PRIu64 " results; %" PRIu64
                 " tasks were sent again, %" PRIu64 " worker restarts%s",
                 vcore_batch (self->core), ledger_total (self->ledger),
                 ledger_redelivered (self->ledger), vcore_worker_restarts (self->core),
                 self->rejected ? " (some lines were rejected)" : "");
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
    vcore_destroy (&self->core);
    zsock_destroy (&self->router);
    zsock_destroy (&self->dealer);
    ledger_destroy (&self->ledger);
    return status;
}
