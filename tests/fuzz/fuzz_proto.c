/*  fuzz_proto - libFuzzer target for zp_msg_decode.

    Any bytes go in. A rejection must come with a reason and leave nothing to
    iterate. An accepted message is walked record by record and encoded
    again; because version 1 has exactly one encoding for every message, the
    re-encoding must be the input byte for byte, and it must decode to the
    same fields. Any difference aborts, which is what libFuzzer reports.

    Build and run (from the repo root):
        clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 \
            -D_DEFAULT_SOURCE -D_GNU_SOURCE -Ishared \
            $(pkg-config --cflags libczmq) tests/fuzz/fuzz_proto.c \
            shared/zp_proto.c $(pkg-config --libs libczmq libzmq) \
            -o /tmp/fuzz_proto
        mkdir -p /tmp/corpus_proto
        /tmp/fuzz_proto -max_total_time=60 /tmp/corpus_proto tests/corpus/proto
    (new inputs go to the first directory, so the seed corpus stays as is).

    tests/unit/test_corpus.c includes this file and replays the seed corpus
    through LLVMFuzzerTestOneInput under `make test`.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_proto"
#include "fuzz.h"

static bool
s_same_bytes (const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size)
{
    return a_size == b_size && (a_size == 0 || memcmp (a, b, a_size) == 0);
}

//  Encodes the decoded message msg into buf, walking its records.
static void
s_encode (zchunk_t *buf, zp_msg_t *msg)
{
    if (msg->type == ZP_READY) {
        zp_ready_t *ready = &msg->u.ready;
        zp_ref_t *held = NULL;
        if (ready->held_n) {
            held = malloc (ready->held_n * sizeof (zp_ref_t));
            s_require (held != NULL, "out of memory");
            for (uint32_t index = 0; index < ready->held_n; index++)
                held [index] = zp_msg_held (msg, index);
        }
        zp_ready_encode (buf, ready, held);
        free (held);
    }
    else
    if (msg->type == ZP_TASKS) {
        zp_tasks_begin (buf, msg->u.tasks.batch);
        zp_task_t task;
        uint32_t seen = 0;
        while (zp_msg_next_task (msg, &task)) {
            zp_tasks_add (buf, task.task, task.iterations, task.input, task.input_size);
            seen++;
        }
        s_require (seen == msg->u.tasks.count, "TASKS: iterated count differs");
        s_require (zp_msg_records (buf) == seen, "TASKS: zp_msg_records differs");
    }
    else
    if (msg->type == ZP_RESULTS) {
        zp_results_begin (buf, msg->u.results.pid, msg->u.results.host,
                          msg->u.results.batch);
        zp_result_t result;
        uint32_t seen = 0;
        while (zp_msg_next_result (msg, &result)) {
            s_require (result.status <= ZP_STATUS_FAILED, "RESULTS: bad status accepted");
            s_require (result.iterations >= 1
                    && result.iterations <= ZP_MAX_ITERATIONS,
                       "RESULTS: bad iterations accepted");
            zp_results_add (buf, &result);
            seen++;
        }
        s_require (seen == msg->u.results.count, "RESULTS: iterated count differs");
        s_require (zp_msg_records (buf) == seen, "RESULTS: zp_msg_records differs");
    }
    else
    if (msg->type == ZP_BATCH)
        zp_batch_encode (buf, &msg->u.batch);
    else
    if (msg->type == ZP_ACK) {
        zp_ack_begin (buf, msg->u.ack.batch, msg->u.ack.flags, msg->u.ack.accepted);
        for (uint32_t index = 0; index < msg->u.ack.count; index++)
            zp_ack_add (buf, zp_msg_ack_id (msg, index));
        s_require (zp_msg_records (buf) == msg->u.ack.count, "ACK: zp_msg_records differs");
    }
    else
    if (msg->type == ZP_STATS) {
        zp_stats_t *stats = &msg->u.stats;
        zp_ref_t *running = NULL;
        if (stats->running) {
            running = malloc (stats->running * sizeof (zp_ref_t));
            s_require (running != NULL, "out of memory");
            for (uint32_t index = 0; index < stats->running; index++)
                running [index] = zp_msg_stats_running (msg, index);
        }
        s_require (stats->interval_ms >= 1 && stats->running <= stats->held,
                   "STATS: bad values accepted");
        zp_stats_encode (buf, stats, running);
        free (running);
    }
    else
        s_require (false, "decoder accepted an unknown type");
}

//  Compares two decoded messages field by field, walking the records of
//  both in step.
static void
s_compare (zp_msg_t *a, zp_msg_t *b)
{
    s_require (a->type == b->type, "type differs");
    if (a->type == ZP_READY) {
        zp_ready_t *x = &a->u.ready, *y = &b->u.ready;
        s_require (x->flags == y->flags && x->pid == y->pid
                && strcmp (x->host, y->host) == 0
                && strcmp (x->engine, y->engine) == 0
                && x->capacity == y->capacity && x->received == y->received
                && x->finished == y->finished && x->replaces == y->replaces
                && x->running == y->running && x->held_n == y->held_n,
                   "READY: fields differ");
        for (uint32_t index = 0; index < x->held_n; index++) {
            zp_ref_t p = zp_msg_held (a, index), q = zp_msg_held (b, index);
            s_require (p.batch == q.batch && p.task == q.task, "READY: held differs");
        }
    }
    else
    if (a->type == ZP_TASKS) {
        s_require (a->u.tasks.batch == b->u.tasks.batch
                && a->u.tasks.count == b->u.tasks.count, "TASKS: fields differ");
        zp_task_t p, q;
        while (zp_msg_next_task (a, &p)) {
            s_require (zp_msg_next_task (b, &q), "TASKS: fewer records");
            s_require (p.task == q.task && p.iterations == q.iterations
                    && s_same_bytes (p.input, p.input_size, q.input, q.input_size),
                       "TASKS: record differs");
        }
        s_require (!zp_msg_next_task (b, &q), "TASKS: more records");
    }
    else
    if (a->type == ZP_RESULTS) {
        s_require (a->u.results.pid == b->u.results.pid
                && strcmp (a->u.results.host, b->u.results.host) == 0
                && a->u.results.batch == b->u.results.batch
                && a->u.results.count == b->u.results.count, "RESULTS: fields differ");
        zp_result_t p, q;
        while (zp_msg_next_result (a, &p)) {
            s_require (zp_msg_next_result (b, &q), "RESULTS: fewer records");
            s_require (p.task == q.task && p.status == q.status
                    && p.iterations == q.iterations && p.elapsed_ns == q.elapsed_ns
                    && s_same_bytes (p.input, p.input_size, q.input, q.input_size)
                    && s_same_bytes (p.output, p.output_size, q.output, q.output_size),
                       "RESULTS: record differs");
        }
        s_require (!zp_msg_next_result (b, &q), "RESULTS: more records");
    }
    else
    if (a->type == ZP_BATCH) {
        zp_batch_t *x = &a->u.batch, *y = &b->u.batch;
        s_require (x->batch == y->batch && x->flags == y->flags
                && x->total == y->total && x->iterations == y->iterations
                && x->started_us == y->started_us && x->rejected == y->rejected
                && x->digest == y->digest && x->redelivered == y->redelivered
                && x->worker_restarts == y->worker_restarts,
                   "BATCH: fields differ");
    }
    else
    if (a->type == ZP_ACK) {
        s_require (a->u.ack.batch == b->u.ack.batch
                && a->u.ack.flags == b->u.ack.flags
                && a->u.ack.accepted == b->u.ack.accepted
                && a->u.ack.count == b->u.ack.count, "ACK: fields differ");
        for (uint32_t index = 0; index < a->u.ack.count; index++)
            s_require (zp_msg_ack_id (a, index) == zp_msg_ack_id (b, index),
                       "ACK: id differs");
    }
    else
    if (a->type == ZP_STATS) {
        zp_stats_t *x = &a->u.stats, *y = &b->u.stats;
        s_require (x->flags == y->flags && x->pid == y->pid
                && strcmp (x->host, y->host) == 0
                && strcmp (x->engine, y->engine) == 0
                && x->interval_ms == y->interval_ms && x->uptime_ms == y->uptime_ms
                && x->tasks == y->tasks && x->steps == y->steps
                && x->steps_per_s == y->steps_per_s && x->rss_bytes == y->rss_bytes
                && x->held == y->held && x->running == y->running,
                   "STATS: fields differ");
        for (uint32_t index = 0; index < x->running; index++) {
            zp_ref_t p = zp_msg_stats_running (a, index), q = zp_msg_stats_running (b, index);
            s_require (p.batch == q.batch && p.task == q.task, "STATS: running differs");
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  One chunk for the whole run, as a stage would hold it
    static zchunk_t *buf = NULL;
    if (!buf) {
        buf = zchunk_new (NULL, 0);
        s_require (buf != NULL, "out of memory");
    }
    zp_msg_t msg;
    const char *reason = NULL;
    if (zp_msg_decode (data, size, &msg, &reason) != 0) {
        s_require (reason != NULL && *reason != 0, "rejection without a reason");
        s_require (msg.type == 0, "rejected message keeps a type");
        zp_task_t task;
        zp_result_t result;
        s_require (!zp_msg_next_task (&msg, &task)
                && !zp_msg_next_result (&msg, &result),
                   "rejected message has records");
        return 0;
    }
    //  Keep a copy with fresh cursors for the comparison below
    zp_msg_t first = msg;
    s_encode (buf, &msg);
    s_require (s_same_bytes (zchunk_data (buf), zchunk_size (buf), data, size),
               "re-encoding differs from the input");

    zp_msg_t again;
    s_require (zp_msg_decode (zchunk_data (buf), zchunk_size (buf), &again, &reason) == 0,
               "re-encoding does not decode");
    s_compare (&first, &again);
    return 0;
}
