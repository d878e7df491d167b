/*  sink - pulls results, puts each batch together and reports it.

    One ROUTER serves everyone: worker processes send RESULTS, the
    ventilator sends BATCH and gets ACKs back on the same connection (the
    feedback channel, docs/protocol.md), always on the connection its
    latest BATCH came from. Results may arrive before their BATCH (stages
    start in any order); they are kept, up to a bound, until it comes.

    With --journal, every accepted result is written to the journal before
    it is acknowledged, and a sink started on the journal continues where
    the last one stopped; a ventilator restarted with --resume is told
    which open batch is its own by the batch's content digest.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "sink.h"
#include "batch.h"
#include "http.h"
#include "journal.h"
#include "observe.h"
#include "progress.h"
#include "stats.h"
#include "zp_proto.h"
#include "zp_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

//  How often newly accepted results are acknowledged to the ventilator.
#define ACK_MS 10
//  Batches open at once (results for more unknown batches are refused),
//  and finished batch ids remembered, to answer late messages about them.
#define MAX_OPEN 16
#define MAX_DONE 64
//  Messages each peer may have queued here before we read them: no limit
//  (ZMQ_RCVHWM 0). This works around zeromq/libzmq#4364 (open), an abort
//  in libzmq 4.3.4:
//      Assertion failed: !_io_error (src/stream_engine_base.cpp:331)
//  A connection whose queue is at its limit stops reading, with bytes it
//  has not decoded yet. If the connection fails then (a peer gave
//  up on a sink that did not answer its heartbeats, and the RST that met
//  our next PING arrives), libzmq only marks it (_io_error), to tear it
//  down once the queue has drained; but a write before that, our next
//  heartbeat PING or the PONG to a PING among those bytes, asserts there
//  was no error. A sink paused (SIGSTOP) for longer than the peers' 3 s
//  heartbeat timeout died so moments after SIGCONT, every time (issue 12).
//  Without a limit no connection stops reading, and a failed one goes at
//  once; that also rules out the aborts on _input_stopped that a full
//  queue and heartbeats cause (zeromq/libzmq#3937, #4767).
//  The price: a sink that falls behind holds what its peers send, where a
//  limit of 16 (a RESULTS message holds up to 256 results, about 56 KB)
//  left the rest in the workers, which then stopped taking work. The peers
//  bound it, not we: a worker process sends results only of the tasks the
//  ventilator's credit gave it, so what waits here is results of open
//  batches, which the sink keeps anyway once it has read them (1,000,000
//  tiny tasks on 6 worker processes: peak RSS 1.3-1.6x the summary, where
//  16 gave about 1.15x).
#define RECEIVE_HWM 0
//  Before exiting, how long to wait for the ventilators to confirm they have
//  COMPLETE, and how often to send it again meanwhile.
#define CLOSE_WAIT_MS   2000
#define CLOSE_RESEND_MS 250
//  ... and how long for a ventilator that has not spoken to this sink
//  process yet: a sink restarted on its journal can finish a batch from
//  what the workers still held before its ventilator is back. A live one
//  is: its DEALER reconnects every 100 ms (libzmq's default) and it sends
//  BATCH every second for as long as it has no COMPLETE, so 5 s is its
//  reconnect, a BATCH and room for a loaded machine. Exiting sooner would
//  leave it waiting for a sink that is gone.
#define VENTILATOR_WAIT_MS 5000
//  A ventilator sends BATCH every second: silent this long, it is logged.
#define VENTILATOR_SILENT_US 3000000
//  --http: the texts are rebuilt every second, and sooner (but not more
//  than ten times a second) when a request came.
#define PUBLISH_US        1000000
#define PUBLISH_WANTED_US 100000
//  Pipe buffer asked for when the output is a pipe (Linux's default limit
//  for an unprivileged process).
#define PIPE_BYTES (1024 * 1024)

//  A finished batch whose ventilator has not yet confirmed COMPLETE.
typedef struct {
    uint64_t batch;
    uint64_t accepted;
    uint8_t ventilator [256];
    size_t ventilator_size;
} unconfirmed_t;

//  A finished batch, remembered to answer late messages about it.
typedef struct {
    uint64_t batch;
    uint64_t digest;
    uint64_t total;
} done_t;

typedef struct {
    const sink_config_t *config;
    zsock_t *router;
    FILE *output;
    zchunk_t *out;
    journal_t *journal;
    int64_t synced_us;          //  --fsync second: last sync
    batch_t *open [MAX_OPEN];
    done_t done [MAX_DONE];     //  ring of finished batches
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
    bool unflushed;             //  --format ndjson: result lines not yet flushed
    //  What the sink shows of itself (observe.h): the process table, the
    //  progress bar, the HTTP server, and the counters behind them.
    stats_t *stats;
    progress_t *progress;
    http_t *http;
    observe_view_t last;        //  the batch finished last
    uint64_t results_total, hashes_total, failed_total, duplicates_total;
    uint64_t redelivered_done;  //  over the batches finished
    double start_wall;
    int64_t published_us;
    bool publish_now, publish_wanted;
} self_t;

static done_t *
s_done (self_t *self, uint64_t id)
{
    for (size_t i = 0; i < self->done_size; i++)
        if (self->done [i].batch == id)
            return &self->done [i];
    return NULL;
}

static bool
s_is_done (self_t *self, uint64_t id)
{
    return s_done (self, id) != NULL;
}

static void
s_remember_done (self_t *self, uint64_t id, uint64_t digest, uint64_t total)
{
    self->done [self->done_next] = (done_t) { id, digest, total };
    self->done_next = (self->done_next + 1) % MAX_DONE;
    if (self->done_size < MAX_DONE)
        self->done_size++;
}

//  A journal that cannot be written ends the sink: acknowledging what it
//  does not hold would make the ventilator forget tasks.
static void
s_journal_failed (self_t *self)
{
    self->status = EX_IOERR;
    self->stop = true;
}

//  Output that cannot be written ends the sink.
static void
s_output_failed (self_t *self)
{
    zp_error ("can't write to %s: %s",
              self->config->output ? self->config->output : "standard output",
              strerror (errno));
    self->status = EX_IOERR;
    self->stop = true;
}

//  --format ndjson: every result goes out as it is accepted, and what went
//  out is flushed before the sink waits for more (s_flush_lines).
static void
s_write_line (self_t *self, uint64_t batch, const zp_result_t *result)
{
    if (self->config->format != SINK_FORMAT_NDJSON || self->stop)
        return;
    if (batch_write_result_line (batch, result, self->output))
        s_output_failed (self);
    self->unflushed = true;
}

static void
s_flush_lines (self_t *self)
{
    if (!self->unflushed)
        return;
    self->unflushed = false;
    if ((fflush (self->output) != 0 || ferror (self->output)) && !self->stop)
        s_output_failed (self);
}

//  Before an ACK goes out, what it acknowledges is on disk (--fsync always).
static int
s_sync_for_ack (self_t *self)
{
    if (!self->journal || self->config->fsync != SINK_FSYNC_ALWAYS)
        return 0;
    if (journal_sync (self->journal)) {
        s_journal_failed (self);
        return -1;
    }
    return 0;
}

//  Journal the batch's meta if it changed since it was last written.
static void
s_journal_meta (self_t *self, batch_t *batch)
{
    if (!self->journal)
        return;
    batch_meta_t meta;
    batch_meta (batch, &meta);
    if (batch_meta_equal (&meta, &batch->journaled))
        return;
    if (journal_write_batch (self->journal, batch->id, &meta))
        s_journal_failed (self);
    else
        batch->journaled = meta;
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
    if (s_sync_for_ack (self))
        return;
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

//  --- What the sink shows of itself --------------------------------------------

static void
s_view_batch (const batch_t *batch, observe_view_t *view)
{
    view->have_batch = true;
    view->batch = batch->id;
    view->complete = false;
    view->started = batch->started;
    view->total_known = batch->total_known;
    view->total = batch->total;
    view->results = batch->accepted;
    view->iterations = batch->iterations;
    view->hashes = batch->steps;
    view->duplicates = batch->duplicates;
    view->redelivered = batch->redelivered_before + batch->redelivered;
    view->worker_restarts = batch->worker_restarts_before + batch->worker_restarts;
    view->start_wall = batch->start_wall;
    view->end_wall = batch->end_wall;
}

//  The view: the open batch that started last (else the one finished
//  last), and the sink's counters.
static void
s_view (self_t *self, observe_view_t *view)
{
    *view = self->last;
    const batch_t *shown = NULL;
    uint64_t redelivered = self->redelivered_done;
    for (size_t i = 0; i < MAX_OPEN; i++) {
        const batch_t *batch = self->open [i];
        if (!batch || !batch->announced)
            continue;
        redelivered += batch->redelivered_before + batch->redelivered;
        if (!shown || batch->start_wall > shown->start_wall)
            shown = batch;
    }
    if (shown)
        s_view_batch (shown, view);
    view->results_total = self->results_total;
    view->hashes_total = self->hashes_total;
    view->failed_total = self->failed_total;
    view->duplicates_total = self->duplicates_total;
    view->redelivered_total = redelivered;
    view->batches_completed = self->reported;
    view->rejected_messages = self->refused;
    view->refused_connections = zp_curve_refused (self->config->curve);
    view->sink_start_wall = self->start_wall;
}

//  From the loop's tick: processes gone, the progress bar, the texts for
//  --http. Cheap when there is nothing to do.
static void
s_observe (self_t *self)
{
    int64_t now = zp_mono_us ();
    stats_tick (self->stats, now);
    bool publish = false;
    if (self->http) {
        self->publish_wanted |= http_wanted (self->http);
        int64_t age = now - self->published_us;
        publish = self->publish_now || age >= PUBLISH_US
               || (self->publish_wanted && age >= PUBLISH_WANTED_US);
    }
    if (!self->progress && !publish)
        return;
    observe_view_t view;
    s_view (self, &view);
    progress_update (self->progress, &view, self->stats);
    if (publish) {
        double wall = zp_wall_s ();
        http_publish (self->http, observe_status_json (&view, self->stats, wall, now),
                      observe_metrics (&view, self->stats, wall));
        self->published_us = now;
        self->publish_now = self->publish_wanted = false;
    }
}

//  A batch is complete: it is the one shown until another starts.
static void
s_observe_finished (self_t *self, const batch_t *batch)
{
    s_view_batch (batch, &self->last);
    self->last.complete = true;
    self->redelivered_done += batch->redelivered_before + batch->redelivered;
    self->publish_now = true;
    if (self->progress) {
        observe_view_t view;
        s_view (self, &view);
        s_view_batch (batch, &view);
        view.complete = true;
        progress_finish (self->progress, &view, self->stats);
    }
}

//  Every batch asked for is done: stop once each ventilator has confirmed
//  its COMPLETE, or at a bound: longer while one has not spoken to this
//  process yet (see VENTILATOR_WAIT_MS), as after a restart on a journal
//  whose batches are all done (unheard).
static void
s_close (self_t *self, int64_t resend_us, bool unheard)
{
    self->closing = true;
    self->close_resend_us = resend_us;
    int64_t wait_ms = unheard ? VENTILATOR_WAIT_MS : CLOSE_WAIT_MS;
    for (size_t i = 0; i < self->unconfirmed_size; i++)
        if (!self->unconfirmed [i].ventilator_size) {
            zp_info ("batch %016" PRIx64 " is complete; waiting up to %d s for its"
                     " ventilator, which has not reached this sink yet, to hear it",
                     self->unconfirmed [i].batch, VENTILATOR_WAIT_MS / 1000);
            wait_ms = VENTILATOR_WAIT_MS;
        }
    self->close_deadline_us = zp_mono_us () + wait_ms * 1000;
    if (self->unconfirmed_size == 0)
        self->stop = true;
}

static void
s_finish (self_t *self, batch_t *batch, bool complete)
{
    batch->rejected_messages = self->refused;
    batch->refused_connections = zp_curve_refused (self->config->curve);
    if (complete && !batch->started && batch->accepted == 0)
        //  An empty batch: it starts and ends now.
        batch->start_wall = batch->end_wall = zp_wall_s ();
    int rc = self->config->format == SINK_FORMAT_NDJSON
           ? batch_write_summary_line (batch, self->output, complete)
           : batch_write_summary (batch, self->output, complete);
    if (rc) {
        zp_error ("can't write the summary to %s: %s",
                  self->config->output ? self->config->output : "standard output",
                  strerror (errno));
        self->status = EX_IOERR;
        self->stop = true;
    }
    if (!complete)
        return;
    s_observe_finished (self, batch);
    zp_info ("batch %016" PRIx64 " complete: %" PRIu64 " results in %.3f s, %" PRIu64
             " duplicates dropped, %" PRIu64 " tasks sent again; so far %" PRIu64
             " messages rejected, %" PRIu64 " connections refused", batch->id, batch->accepted,
             batch->accepted ? batch->end_wall - batch->start_wall : 0.0, batch->duplicates,
             batch->redelivered_before + batch->redelivered, batch->rejected_messages,
             batch->refused_connections);
    if (self->journal
    &&  (journal_write_complete (self->journal, batch->id)
    ||   (self->config->fsync != SINK_FSYNC_NEVER && journal_sync (self->journal))))
        s_journal_failed (self);
    //  The ventilator exits on COMPLETE, so it goes after the summary is out.
    //  One that has not spoken to us yet (we were restarted) is told when
    //  its BATCH comes: until it confirms, the batch waits here.
    s_acknowledge (self, batch, ZP_ACK_COMPLETE);
    if (self->unconfirmed_size < MAX_DONE) {
        unconfirmed_t *waiting = &self->unconfirmed [self->unconfirmed_size++];
        waiting->batch = batch->id;
        waiting->accepted = batch->accepted;
        waiting->ventilator_size = batch->ventilator_size;
        memcpy (waiting->ventilator, batch->ventilator, batch->ventilator_size);
    }
    s_remember_done (self, batch->id, batch->digest, batch->total);
    for (size_t i = 0; i < MAX_OPEN; i++)
        if (self->open [i] == batch)
            batch_destroy (&self->open [i]);
    self->reported++;
    if (self->config->batches && self->reported >= self->config->batches)
        s_close (self, zp_mono_us () + CLOSE_RESEND_MS * 1000, false);
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

//  The ventilator of a finished batch that it has not confirmed is at
//  routing_id now: resend COMPLETE there.
static void
s_unconfirmed_at (self_t *self, uint64_t batch, zmq_msg_t *routing_id)
{
    for (size_t i = 0; i < self->unconfirmed_size; i++)
        if (self->unconfirmed [i].batch == batch) {
            self->unconfirmed [i].ventilator_size = zmq_msg_size (routing_id);
            memcpy (self->unconfirmed [i].ventilator, zmq_msg_data (routing_id),
                    self->unconfirmed [i].ventilator_size);
        }
}

static void
s_send_complete (self_t *self, uint64_t batch, uint64_t accepted, const uint8_t *ventilator,
                 size_t ventilator_size, uint8_t flags)
{
    if (!ventilator_size)
        return;                 //  not heard from yet: its BATCH is answered
    zp_ack_begin (self->out, batch, (uint8_t) (ZP_ACK_COMPLETE | ZP_ACK_SNAPSHOT | flags),
                  accepted);
    s_send_to (self, ventilator, ventilator_size);
}

static void
s_refuse (self_t *self, zmq_msg_t *routing_id, const char *reason)
{
    self->refused++;
    zp_warn_limited (&self->refusals, "dropped a message from peer %s: %s",
                     zp_peer_name (routing_id), reason);
}

//  Results for batches nobody announced must not keep a ventilator's batch
//  out: the one holding the fewest results goes. Returns true if one went.
static bool
s_evict_unannounced (self_t *self)
{
    size_t victim = MAX_OPEN;
    for (size_t i = 0; i < MAX_OPEN; i++)
        if (self->open [i] && !self->open [i]->announced
        &&  (victim == MAX_OPEN || self->open [i]->accepted < self->open [victim]->accepted))
            victim = i;
    if (victim == MAX_OPEN)
        return false;
    zp_warn ("dropped %" PRIu64 " results of batch %016" PRIx64 ", which no ventilator"
             " announced, to make room", self->open [victim]->accepted, self->open [victim]->id);
    self->refused += self->open [victim]->accepted;
    batch_destroy (&self->open [victim]);
    return true;
}

//  The open batch with this digest, other than the one named except.
static batch_t *
s_find_digest (self_t *self, uint64_t digest, uint64_t except)
{
    batch_t *best = NULL;
    for (size_t i = 0; i < MAX_OPEN; i++) {
        batch_t *batch = self->open [i];
        if (batch && batch->announced && batch->id != except && batch->digest == digest
        &&  (!best || batch->accepted > best->accepted))
            best = batch;       //  the one furthest along, if there are several
    }
    return best;
}

static bool
s_is_ventilator (batch_t *batch, zmq_msg_t *routing_id)
{
    return batch->ventilator_size == zmq_msg_size (routing_id)
        && memcmp (batch->ventilator, zmq_msg_data (routing_id), batch->ventilator_size) == 0;
}

//  The batch's ventilator spoke (BATCH) on routing_id.
static void
s_set_ventilator (batch_t *batch, zmq_msg_t *routing_id)
{
    batch->ventilator_size = zmq_msg_size (routing_id);
    memcpy (batch->ventilator, zmq_msg_data (routing_id), batch->ventilator_size);
    int64_t now = zp_mono_us ();
    if (batch->ventilator_silent)
        zp_info ("batch %016" PRIx64 ": its ventilator is back, after %.1f s", batch->id,
                 (double) (now - batch->ventilator_heard_us) / 1e6);
    batch->ventilator_silent = false;
    batch->ventilator_heard_us = now;
}

//  A ventilator sends BATCH every second while it runs: one silent for
//  VENTILATOR_SILENT_US is stopped, gone or cut off, and its batch waits.
static void
s_watch_ventilators (self_t *self, int64_t now)
{
    for (size_t i = 0; i < MAX_OPEN; i++) {
        batch_t *batch = self->open [i];
        if (batch && batch->ventilator_heard_us && !batch->ventilator_silent
        &&  now - batch->ventilator_heard_us > VENTILATOR_SILENT_US) {
            batch->ventilator_silent = true;
            zp_warn ("batch %016" PRIx64 ": its ventilator has been silent for %d s (stopped,"
                     " gone or cut off?); the batch waits for it (%" PRIu64 " results here)",
                     batch->id, VENTILATOR_SILENT_US / 1000000, batch->accepted);
        }
    }
}

//  A ventilator restarted with --resume asks for its batch: if one is open
//  with the same content, it continues that one. Returns true if answered.
static bool
s_on_resume (self_t *self, zmq_msg_t *routing_id, const zp_batch_t *message)
{
    batch_t *batch = s_find_digest (self, message->digest, message->batch);
    if (batch) {
        if (!s_is_ventilator (batch, routing_id)) {
            zp_info ("batch %016" PRIx64 " is resumed by a new ventilator (%" PRIu64
                     " of %" PRIu64 " results here)", batch->id, batch->accepted,
                     batch->total);
            //  What the last one counted stays in the totals.
            batch_carry_counters (batch);
        }
        s_set_ventilator (batch, routing_id);
        zp_batch_t adopted = *message;
        adopted.batch = batch->id;
        batch_announce (batch, &adopted, zp_wall_s ());
        s_journal_meta (self, batch);
        s_acknowledge (self, batch, ZP_ACK_SNAPSHOT | ZP_ACK_ADOPT);
        return true;
    }
    for (size_t i = 0; i < self->done_size; i++)
        if (self->done [i].digest == message->digest && self->done [i].batch != message->batch) {
            zp_info ("batch %016" PRIx64 " was resumed but is complete already",
                     self->done [i].batch);
            s_send_complete (self, self->done [i].batch, self->done [i].total,
                             zmq_msg_data (routing_id), zmq_msg_size (routing_id),
                             ZP_ACK_ADOPT);
            return true;
        }
    return false;
}

static void
s_on_batch (self_t *self, zmq_msg_t *routing_id, const zp_batch_t *message)
{
    done_t *done = s_done (self, message->batch);
    if (done) {
        if (message->flags & ZP_BATCH_CLOSED)
            s_confirmed (self, message->batch);
        else {
            //  It missed COMPLETE, or restarted after we finished: tell it,
            //  and tell it again there until it confirms.
            s_send_complete (self, message->batch, done->total,
                             zmq_msg_data (routing_id), zmq_msg_size (routing_id), 0);
            s_unconfirmed_at (self, message->batch, routing_id);
        }
        return;
    }
    if ((message->flags & ZP_BATCH_RESUME) && s_on_resume (self, routing_id, message))
        return;
    if (self->closing)
        return;
    batch_t *batch = s_find (self, message->batch, true);
    if (!batch && s_evict_unannounced (self))
        batch = s_find (self, message->batch, true);
    if (!batch) {
        s_refuse (self, routing_id, "too many batches open at once");
        return;
    }
    bool was_announced = batch->announced, had_total = batch->total_known;
    if (batch_announce (batch, message, zp_wall_s ())) {
        s_refuse (self, routing_id, "BATCH total is below task ids already received");
        return;
    }
    if (!was_announced && batch->total_known)
        zp_info ("batch %016" PRIx64 ": %" PRIu64 " tasks", batch->id, batch->total);
    else
    if (!was_announced)
        zp_info ("batch %016" PRIx64 ": a stream; its tasks are still being read",
                 batch->id);
    else
    if (!had_total && batch->total_known)
        zp_info ("batch %016" PRIx64 ": the stream ended; %" PRIu64 " tasks in all",
                 batch->id, batch->total);
    s_journal_meta (self, batch);
    //  A connection we have not answered for this batch (a new ventilator,
    //  or the same one reconnected) gets everything; the others what is new.
    bool fresh = !s_is_ventilator (batch, routing_id);
    s_set_ventilator (batch, routing_id);
    s_acknowledge (self, batch, fresh ? ZP_ACK_SNAPSHOT : 0);
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
    //  Memory per batch is bounded: what a BATCH announced may grow to
    //  --max-batch-bytes, what nobody announced (yet) to much less.
    uint64_t limit = self->config->max_batch_bytes;
    if (!batch->announced && limit > BATCH_UNANNOUNCED_BYTES)
        limit = BATCH_UNANNOUNCED_BYTES;
    zp_result_t result;
    char reason [160];
    while (zp_msg_next_result (message, &result)) {
        bool over = batch->store_size + result.input_size + result.output_size > limit;
        if (over && !batch->announced) {
            //  Sent again once the BATCH is in and the limit is the real one.
            s_refuse (self, routing_id, "results for an unannounced batch over 64 MiB");
            continue;
        }
        if (over) {
            //  Refused, it would come back forever (the ventilator sends again
            //  what the sink does not acknowledge): it is taken as a failed
            //  task that says why, so the batch ends and the summary tells.
            snprintf (reason, sizeof reason, "its result (%zu bytes) would take the batch"
                      " over the sink's --max-batch-bytes (%" PRIu64 ")",
                      result.input_size + result.output_size, limit);
            zp_warn_limited (&self->refusals, "batch %016" PRIx64 ", task %" PRIu64 ": %s",
                             batch->id, result.task, reason);
            result.status = ZP_STATUS_FAILED;
            result.output = (const uint8_t *) reason;
            result.output_size = strlen (reason);
            if (batch->store_size + result.input_size + result.output_size > limit)
                result.input_size = 0;      //  not even the input fits: the task id tells
        }
        int rc = batch_accept (batch, results->host, results->pid, &result, now);
        if (rc == 1) {
            self->results_total++;
            if (result.status == ZP_STATUS_OK)
                self->hashes_total += result.iterations;
            else
                self->failed_total++;
        }
        else
        if (rc == 0)
            self->duplicates_total++;
        if (rc == -1)
            s_refuse (self, routing_id, "task id out of range for its batch");
        else
        if (rc == 1 && self->journal
        &&  journal_write_result (self->journal, batch->id, results->host, results->pid, now,
                                  &result)) {
            s_journal_failed (self);
            return;
        }
        else
        if (rc == 1)
            s_write_line (self, batch->id, &result);
    }
    zp_debug ("batch %016" PRIx64 ": %u results from %s/%u; %" PRIu64 " accepted so far",
              batch->id, results->count, results->host, results->pid, batch->accepted);
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
        if (message.type == ZP_RESULTS) {
            uint64_t before = self->results_total;
            s_on_results (self, &routing_id, &message);
            stats_results (self->stats, message.u.results.host, message.u.results.pid,
                           self->results_total - before, zp_mono_us ());
        }
        else
        if (message.type == ZP_STATS)
            stats_report (self->stats, &message, zp_mono_us ());
        else
        if (message.type == ZP_BATCH)
            s_on_batch (self, &routing_id, &message.u.batch);
        else
            s_refuse (self, &routing_id, "a message the sink does not take");
    }
    zmq_msg_close (&routing_id);
    zmq_msg_close (&msg);
    s_flush_lines (self);
    return self->stop ? -1 : 0;
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    self_t *self = (self_t *) arg;
    if (self->journal && self->config->fsync == SINK_FSYNC_SECOND
    &&  journal_dirty (self->journal) && zp_mono_us () - self->synced_us >= 1000000) {
        if (journal_sync (self->journal))
            s_journal_failed (self);
        self->synced_us = zp_mono_us ();
    }
    for (size_t i = 0; i < MAX_OPEN; i++)
        if (self->open [i] && self->open [i]->unacked_size)
            s_acknowledge (self, self->open [i], 0);
    s_observe (self);
    s_watch_ventilators (self, zp_mono_us ());
    if (self->stop)
        return -1;
    if (self->closing) {
        int64_t now = zp_mono_us ();
        if (now >= self->close_deadline_us) {
            for (size_t i = 0; i < self->unconfirmed_size; i++)
                if (!self->unconfirmed [i].ventilator_size)
                    zp_warn ("the ventilator of batch %016" PRIx64 " never reached this"
                             " sink to hear that it is complete; exiting anyway",
                             self->unconfirmed [i].batch);
            zp_debug ("no confirmation from %zu ventilators; exiting anyway",
                      self->unconfirmed_size);
            return -1;
        }
        if (now >= self->close_resend_us) {
            for (size_t i = 0; i < self->unconfirmed_size; i++)
                s_send_complete (self, self->unconfirmed [i].batch,
                                 self->unconfirmed [i].accepted,
                                 self->unconfirmed [i].ventilator,
                                 self->unconfirmed [i].ventilator_size, 0);
            self->close_resend_us = now + CLOSE_RESEND_MS * 1000;
        }
    }
    return 0;
}

//  Read the journal back: open batches with their results, finished ones
//  remembered. Returns 0 or a sysexits code.
static int
s_replay (self_t *self)
{
    journal_record_t record;
    int rc;
    uint64_t results = 0;
    while ((rc = journal_next (self->journal, &record)) == 1) {
        if (s_is_done (self, record.batch))
            continue;
        batch_t *batch = s_find (self, record.batch, record.type != JOURNAL_COMPLETE);
        if (record.type == JOURNAL_COMPLETE) {
            s_remember_done (self, record.batch, batch ? batch->digest : 0,
                             batch ? batch->total : 0);
            for (size_t i = 0; i < MAX_OPEN; i++)
                if (self->open [i] == batch)
                    batch_destroy (&self->open [i]);
            self->reported++;
            continue;
        }
        if (!batch) {
            zp_error ("journal %s: more than %d batches open at once", self->config->journal,
                      MAX_OPEN);
            return EX_DATAERR;
        }
        if (record.type == JOURNAL_BATCH)
            batch_restore (batch, &record.meta);
        else
        if (batch_accept (batch, record.host, record.pid, &record.result, record.time) == 1)
            results++;
    }
    if (rc == -1)
        return EX_DATAERR;
    size_t open = 0;
    for (size_t i = 0; i < MAX_OPEN; i++)
        if (self->open [i]) {
            //  What it held is acknowledged to whichever ventilator asks.
            self->open [i]->unacked_size = 0;
            self->open [i]->duplicates = 0;
            open++;
        }
    if (results || self->reported)
        zp_info ("journal %s: %zu batches open with %" PRIu64 " results, %" PRIu64
                 " finished", self->config->journal, open, results, self->reported);
    //  A new output has the lines of what the last sink accepted, too.
    for (size_t i = 0; i < MAX_OPEN; i++)
        if (self->open [i] && self->config->format == SINK_FORMAT_NDJSON) {
            if (batch_write_result_lines (self->open [i], self->output))
                s_output_failed (self);
            self->unflushed = true;
        }
    s_flush_lines (self);
    //  Killed between its last result and its summary: finish it now.
    for (size_t i = 0; i < MAX_OPEN; i++)
        if (self->open [i] && batch_complete (self->open [i]))
            s_finish (self, self->open [i], true);
    if (self->config->batches && self->reported >= self->config->batches && !self->closing) {
        //  Every batch is reported: answer a ventilator that missed it, briefly.
        zp_info ("journal %s: every batch is reported already", self->config->journal);
        s_close (self, INT64_MAX, true);
    }
    return self->status;
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
    //  A summary of many results is megabytes: into a pipe (jq, a script)
    //  it goes in 64 KiB steps, each waiting for the reader, unless the
    //  pipe holds more. Best effort: the limit is /proc/sys/fs/pipe-max-size.
    struct stat info;
    if (fstat (fileno (self->output), &info) == 0 && S_ISFIFO (info.st_mode))
        fcntl (fileno (self->output), F_SETPIPE_SZ, PIPE_BYTES);
    int status = 0;
    self->out = zchunk_new (NULL, 65536);
    self->stats = stats_new ();
    self->start_wall = zp_wall_s ();
    if (!self->out || !self->stats) {
        zp_error ("can't set up the sink: out of memory");
        status = EX_OSERR;
    }
    self->progress = progress_new (config->verbosity);
    if (!status && config->journal) {
        self->journal = journal_open (config->journal);
        status = self->journal ? s_replay (self) : EX_IOERR;
        self->stop = false;     //  a batch finished in the replay does not end us
    }
    if (!status) {
        self->router = zp_socket (ZMQ_ROUTER, NULL, true, (int64_t) ZP_MAX_FRAME_BYTES, &status);
        //  Set before binding: libzmq gives each peer's pipe the limit it has
        //  when the peer connects.
        if (self->router)
            zsock_set_rcvhwm (self->router, RECEIVE_HWM);
        if (self->router
        &&  (zp_curve_server (config->curve, self->router, config->bind, &status)
        ||   zp_attach (self->router, config->bind, true, &status)))
            zsock_destroy (&self->router);
        if (self->router && config->http && !(self->http = http_new (config->http, &status)))
            zsock_destroy (&self->router);
    }
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
                    if (self->open [i]->total_known)
                        zp_warn ("stopped with batch %016" PRIx64 " incomplete (%" PRIu64
                                 " of %" PRIu64 " results)", self->open [i]->id,
                                 self->open [i]->accepted, self->open [i]->total);
                    else
                        zp_warn ("stopped with batch %016" PRIx64 " incomplete (%" PRIu64
                                 " results; its stream had not ended)", self->open [i]->id,
                                 self->open [i]->accepted);
                    s_finish (self, self->open [i], false);
                    if (!status)
                        status = EX_TEMPFAIL;
                }
        }
    }
    for (size_t i = 0; i < MAX_OPEN; i++)
        batch_destroy (&self->open [i]);
    if (self->journal && config->fsync != SINK_FSYNC_NEVER && journal_sync (self->journal)
    &&  !status)
        status = EX_IOERR;
    journal_destroy (&self->journal);
    http_destroy (&self->http);
    progress_destroy (&self->progress);
    stats_destroy (&self->stats);
    zsock_destroy (&self->router);
    zchunk_destroy (&self->out);
    if (self->output != stdout && fclose (self->output) != 0 && !status) {
        zp_error ("can't write %s: %s", config->output, strerror (errno));
        status = EX_IOERR;
    }
    return status;
}
