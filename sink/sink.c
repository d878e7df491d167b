/*  sink - pulls results, puts each batch together and reports it.

    One ROUTER serves everyone: worker processes send RESULTS, the
    ventilator sends BATCH and gets ACKs back on the same connection (the
    feedback channel, docs/protocol.md). Results may arrive before their
    BATCH (stages start in any order); they are kept, up to a bound, until
    it comes.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "sink.h"
#include "batch.h"
#include "zp_proto.h"
#include "zp_util.h"

#include <errno.h>

//  How often newly accepted results are acknowledged to the ventilator.
#define ACK_MS 10
//  Batches open at once (results for more unknown batches are refused),
//  and finished batch ids remembered, to answer late messages about them.
#define MAX_OPEN 16
#define MAX_DONE 64
//  Messages each peer may have queued here before we read them. A worker
//  process sends up to 256 results (about 56 KB) in one RESULTS message;
//  libzmq's default of 1,000 would let a sink that falls behind hold 56 MB
//  per worker process in its queues, where 16 hold under a megabyte and
//  leave the rest in the workers, which then stop taking work.
#define RECEIVE_HWM 16
//  Before exiting, how long to wait for the ventilators to confirm they have
//  COMPLETE, and how often to send it again meanwhile.
#define CLOSE_WAIT_MS   2000
#define CLOSE_RESEND_MS 250

//  A finished batch whose ventilator has not yet confirmed COMPLETE.
typedef struct {
    uint64_t batch;
    uint64_t accepted;
    uint8_t ventilator [256];
    size_t ventilator_size;
} unconfirmed_t;

typedef struct {
    const sink_config_t *config;
    zsock_t *router;
    FILE *output;
    zchunk_t *out;
    batch_t *open [MAX_OPEN];
    uint64_t done [MAX_DONE];   //  ring of finished batch ids
    size_t done_next, done_size;
    uint64_t reported;          //  batches whose summary is written
    uint64_t late;              //  results for finished batches
    uint64_t refused;
    zp_ratelimit_t refusals;
    unconfirmed_t unconfirmed [MAX_DONE];
    size_t unconfirmed_size;
    bool closing;               //  done: waiting for confirmations, then stop
    int64_t close_deadline_us, close_resend_us;
    int status;
    bool stop;
} self_t;

static bool
s_is_done (self_t *self, uint64_t id)
{
    for (size_t i = 0; i < self->done_size; i++)
        if (self->done [i] == id)
            return true;
    return false;
}

static batch_t *
s_find (self_t *self, uint64_t id, bool create)
{
    batch_t **free_slot = NULL;
    for (size_t i = 0; i < MAX_OPEN; i++) {
        if (self->open [i] && self->open [i]->id == id)
            return self->open [i];
        if (!self->open [i] && !free_slot)
            free_slot = &self->open [i];
    }
    if (!create || !free_slot)
        return NULL;
    *free_slot = batch_new (id);
    return *free_slot;
}

static void
s_send_to (self_t *self, const uint8_t *routing_id, size_t size)
{
    void *router = zsock_resolve (self->router);
    if (zmq_send (router, routing_id, size, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1
    ||  zmq_send (router, zchunk_data (self->out), zchunk_size (self->out), ZMQ_DONTWAIT) == -1)
        zp_debug ("can't send to the ventilator: %s", zmq_strerror (zmq_errno ()));
}

//  Acknowledge ids to the batch's ventilator, split into ACKs of at most
//  ZP_MAX_ACK_IDS. With SNAPSHOT the ids are every one held.
static void
s_acknowledge (self_t *self, batch_t *batch, uint8_t flags)
{
    if (!batch->ventilator_size)
        return;                 //  no ventilator yet: its BATCH gets a snapshot
    bool snapshot = flags & ZP_ACK_SNAPSHOT;
    uint64_t next = 0;
    size_t pending = snapshot ? 0 : batch->unacked_size;
    bool sent_one = false;
    while (true) {
        zp_ack_begin (self->out, batch->id, flags, batch->accepted);
        uint32_t count = 0;
        if (snapshot) {
            for (; next < batch->records_capacity && count < ZP_MAX_ACK_IDS; next++)
                if (batch->records [next].have) {
                    zp_ack_add (self->out, next);
                    count++;
                }
        }
        else
            while (pending && count < ZP_MAX_ACK_IDS) {
                zp_ack_add (self->out, batch->unacked [batch->unacked_size - pending--]);
                count++;
            }
        bool last = snapshot ? next >= batch->records_capacity : pending == 0;
        if (count || !sent_one || last)
            s_send_to (self, batch->ventilator, batch->ventilator_size);
        sent_one = true;
        if (last)
            break;
    }
    batch->unacked_size = 0;
}

static void
s_finish (self_t *self, batch_t *batch, bool complete)
{
    if (batch_write_summary (batch, self->output, complete)) {
        zp_error ("can't write the summary to %s: %s",
                  self->config->output ? self->config->output : "standard output",
                  strerror (errno));
        self->status = EX_IOERR;
        self->stop = true;
    }
    if (!complete)
        return;
    zp_info ("batch %016" PRIx64 " complete: %" PRIu64 " results in %.3f s, %" PRIu64
             " duplicates dropped", batch->id, batch->accepted,
             batch->end_wall - batch->start_wall, batch->duplicates);
    //  The ventilator exits on COMPLETE, so it goes after the summary is out.
    s_acknowledge (self, batch, ZP_ACK_COMPLETE);
    if (batch->ventilator_size && self->unconfirmed_size < MAX_DONE) {
        unconfirmed_t *waiting = &self->unconfirmed [self->unconfirmed_size++];
        waiting->batch = batch->id;
        waiting->accepted = batch->accepted;
        waiting->ventilator_size = batch->ventilator_size;
        memcpy (waiting->ventilator, batch->ventilator, batch->ventilator_size);
    }
    self->done [self->done_next] = batch->id;
    self->done_next = (self->done_next + 1) % MAX_DONE;
    if (self->done_size < MAX_DONE)
        self->done_size++;
    for (size_t i = 0; i < MAX_OPEN; i++)
        if (self->open [i] == batch)
            batch_destroy (&self->open [i]);
    self->reported++;
    if (self->config->batches && self->reported >= self->config->batches) {
        self->closing = true;
        self->close_deadline_us = zp_mono_us () + CLOSE_WAIT_MS * 1000;
        self->close_resend_us = zp_mono_us () + CLOSE_RESEND_MS * 1000;
        if (self->unconfirmed_size == 0)
            self->stop = true;
    }
}

static void
s_confirmed (self_t *self, uint64_t batch)
{
    for (size_t i = 0; i < self->unconfirmed_size; i++)
        if (self->unconfirmed [i].batch == batch) {
            self->unconfirmed [i] = self->unconfirmed [--self->unconfirmed_size];
            break;
        }
    if (self->closing && self->unconfirmed_size == 0)
        self->stop = true;
}

static void
s_send_complete (self_t *self, uint64_t batch, uint64_t accepted, const uint8_t *ventilator,
                 size_t ventilator_size)
{
    zp_ack_begin (self->out, batch, ZP_ACK_COMPLETE | ZP_ACK_SNAPSHOT, accepted);
    s_send_to (self, ventilator, ventilator_size);
}

static void
s_refuse (self_t *self, zmq_msg_t *routing_id, const char *reason)
{
    self->refused++;
    zp_warn_limited (&self->refusals, "dropped a message from peer %s: %s",
                     zp_peer_name (routing_id), reason);
}

static void
s_on_batch (self_t *self, zmq_msg_t *routing_id, const zp_batch_t *message)
{
    if (s_is_done (self, message->batch)) {
        if (message->flags & ZP_BATCH_CLOSED)
            s_confirmed (self, message->batch);
        else
            //  It missed COMPLETE, or restarted after we finished: tell it.
            s_send_complete (self, message->batch, message->total,
                             zmq_msg_data (routing_id), zmq_msg_size (routing_id));
        return;
    }
    if (self->closing)
        return;
    batch_t *batch = s_find (self, message->batch, true);
    if (!batch) {
        s_refuse (self, routing_id, "too many batches open at once");
        return;
    }
    if (!batch->announced)
        zp_info ("batch %016" PRIx64 ": %" PRIu64 " tasks", message->batch, message->total);
    if (batch_announce (batch, message, zp_wall_s ())) {
        s_refuse (self, routing_id, "BATCH total is below task ids already received");
        return;
    }
    batch->ventilator_size = zmq_msg_size (routing_id);
    memcpy (batch->ventilator, zmq_msg_data (routing_id), batch->ventilator_size);
    s_acknowledge (self, batch, ZP_ACK_SNAPSHOT);
    if (batch_complete (batch))
        s_finish (self, batch, true);
}

static void
s_on_results (self_t *self, zmq_msg_t *routing_id, zp_msg_t *message)
{
    const zp_results_t *results = &message->u.results;
    if (self->closing)
        return;
    if (s_is_done (self, results->batch)) {
        self->late += results->count;
        return;
    }
    batch_t *batch = s_find (self, results->batch, true);
    if (!batch) {
        s_refuse (self, routing_id, "results for too many unknown batches");
        return;
    }
    double now = zp_wall_s ();
    zp_result_t result;
    while (zp_msg_next_result (message, &result))
        if (batch_accept (batch, results->host, results->pid, &result, now) == -1)
            s_refuse (self, routing_id, "task id out of range for its batch");
    if (batch_complete (batch))
        s_finish (self, batch, true);
}

static int
s_on_message (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    self_t *self = (self_t *) arg;
    zmq_msg_t routing_id, msg;
    zmq_msg_init (&routing_id);
    zmq_msg_init (&msg);
    int size;
    for (int budget = 1000; budget && !self->stop
         && (size = zp_recv (reader, &routing_id, &msg)) != -1; budget--) {
        zp_msg_t message;
        const char *reason = "not a single frame";
        if (size < 0
        ||  zp_msg_decode (zmq_msg_data (&msg), zmq_msg_size (&msg), &message, &reason)) {
            s_refuse (self, &routing_id, reason);
            continue;
        }
        if (message.type == ZP_RESULTS)
            s_on_results (self, &routing_id, &message);
        else
        if (message.type == ZP_BATCH)
            s_on_batch (self, &routing_id, &message.u.batch);
        else
            s_refuse (self, &routing_id, "a message the sink does not take");
    }
    zmq_msg_close (&routing_id);
    zmq_msg_close (&msg);
    return self->stop ? -1 : 0;
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    self_t *self = (self_t *) arg;
    for (size_t i = 0; i < MAX_OPEN; i++)
        if (self->open [i] && self->open [i]->unacked_size)
            s_acknowledge (self, self->open [i], 0);
    if (self->closing) {
        int64_t now = zp_mono_us ();
        if (now >= self->close_deadline_us) {
            zp_debug ("no confirmation from %zu ventilators; exiting anyway",
                      self->unconfirmed_size);
            return -1;
        }
        if (now >= self->close_resend_us) {
            for (size_t i = 0; i < self->unconfirmed_size; i++)
                s_send_complete (self, self->unconfirmed [i].batch,
                                 self->unconfirmed [i].accepted,
                                 self->unconfirmed [i].ventilator,
                                 self->unconfirmed [i].ventilator_size);
            self->close_resend_us = now + CLOSE_RESEND_MS * 1000;
        }
    }
    return 0;
}

int
sink_run (const sink_config_t *config)
{
    self_t self_data = { .config = config }, *self = &self_data;
    self->output = stdout;
    if (config->output) {
        self->output = fopen (config->output, "w");
        if (!self->output) {
            zp_error ("can't open %s for writing: %s", config->output, strerror (errno));
            return EX_IOERR;
        }
    }
    int status = 0;
    self->out = zchunk_new (NULL, 65536);
    self->router = zp_socket (ZMQ_ROUTER, NULL, true, (int64_t) ZP_MAX_FRAME_BYTES,
                              &status);
    //  Set before binding: libzmq gives each peer's pipe the limit it has
    //  when the peer connects.
    if (self->router)
        zsock_set_rcvhwm (self->router, RECEIVE_HWM);
    if (self->router && zp_attach (self->router, config->bind, true, &status))
        zsock_destroy (&self->router);
    if (self->router) {
        zp_info ("collecting results at %s", config->bind);
        zloop_t *loop = zloop_new ();
        zloop_reader (loop, self->router, s_on_message, self);
        zloop_timer (loop, ACK_MS, 0, s_on_tick, self);
        zloop_start (loop);
        zloop_destroy (&loop);
        status = self->status;
        if (!self->stop && !self->closing) {
            //  Stopped by a signal: report what is there, marked incomplete.
            for (size_t i = 0; i < MAX_OPEN; i++)
                if (self->open [i] && self->open [i]->announced) {
                    zp_warn ("stopped with batch %016" PRIx64 " incomplete (%" PRIu64
                             " of %" PRIu64 " results)", self->open [i]->id,
                             self->open [i]->accepted, self->open [i]->total);
                    s_finish (self, self->open [i], false);
                    if (!status)
                        status = EX_TEMPFAIL;
                }
        }
    }
    for (size_t i = 0; i < MAX_OPEN; i++)
        batch_destroy (&self->open [i]);
    zsock_destroy (&self->router);
    zchunk_destroy (&self->out);
    if (self->output != stdout && fclose (self->output) != 0 && !status) {
        zp_error ("can't write %s: %s", config->output, strerror (errno));
        status = EX_IOERR;
    }
    return status;
}
