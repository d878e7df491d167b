/*  test_core - the ventilator's core driven in-process, event by event, on
    a clock the test sets: no sockets, no sleeping. Each case is one of the
    decisions issue 12 found wrong with the real executables: dispatch only
    once the sink knows the batch, credit capped so a greedy peer holds a
    start credit and not the batch, nothing sent twice in a clean run, loss
    found by id in a SNAPSHOT (not by count), a silent worker's tasks going
    to others, and the sink's silence logged both ways.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "../../ventilator/core.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <stdio.h>
#include <string.h>

#define WORKERS 4

//  What the core sent, as the test's network saw it.
typedef struct {
    uint64_t held [WORKERS][4096];  //  task ids each worker has, in order
    size_t held_n [WORKERS];
    uint64_t received [WORKERS];
    uint64_t sends [WORKERS];       //  task copies sent, all told
    int batches;                    //  BATCH messages to the sink
    uint8_t last_batch_flags;
    bool sink_down;
    char log [64][200];
    size_t log_n;
} net_t;

static net_t net;
static ledger_t *ledger;
static vcore_t *core;
static zchunk_t *buf;
static int64_t now;

static bool
s_to_worker (void *arg, const uint8_t *id, size_t id_size, const uint8_t *data, size_t size)
{
    (void) arg;
    cr_assert_eq (id_size, 1);
    size_t w = id [0];
    cr_assert (w < WORKERS);
    zp_msg_t msg;
    cr_assert_eq (zp_msg_decode (data, size, &msg, NULL), 0);
    cr_assert_eq (msg.type, ZP_TASKS);
    zp_task_t task;
    while (zp_msg_next_task (&msg, &task)) {
        net.held [w][net.held_n [w]++] = task.task;
        net.received [w]++;
        net.sends [w]++;
    }
    return true;
}

static bool
s_to_sink (void *arg, const uint8_t *data, size_t size)
{
    (void) arg;
    if (net.sink_down)
        return false;
    zp_msg_t msg;
    cr_assert_eq (zp_msg_decode (data, size, &msg, NULL), 0);
    cr_assert_eq (msg.type, ZP_BATCH);
    net.batches++;
    net.last_batch_flags = msg.u.batch.flags;
    return true;
}

static void
s_log (void *arg, int level, const char *line)
{
    (void) arg;
    (void) level;
    if (net.log_n < 64)
        snprintf (net.log [net.log_n++], sizeof net.log [0], "%s", line);
}

static bool
s_logged (const char *words)
{
    for (size_t i = 0; i < net.log_n; i++)
        if (strstr (net.log [i], words))
            return true;
    return false;
}

static void
s_setup (uint64_t tasks)
{
    memset (&net, 0, sizeof net);
    now = 1000000;
    ledger = ledger_new ();
    buf = zchunk_new (NULL, 65536);
    cr_assert (ledger && buf);
    for (uint64_t id = 0; id < tasks; id++) {
        char input [32];
        int size = snprintf (input, sizeof input, "task-%04u", (unsigned) id);
        cr_assert_eq (ledger_add (ledger, input, (size_t) size), 0);
    }
    vcore_config_t config = {
        .iterations = 1000, .min_workers = 1, .heartbeat_us = 3000000,
        .task_timeout_us = 60000000, .bind = "tcp://test:1", .sink = "tcp://test:2",
        .input_name = "test"
    };
    vcore_io_t io = { s_to_worker, s_to_sink, s_log, NULL };
    core = vcore_new (&config, &io, ledger, 42, true, now);
    cr_assert_not_null (core);
    cr_assert (vcore_sink_up (core, now));
}

static void
s_teardown (void)
{
    vcore_destroy (&core);
    vcore_destroy (&core);
    cr_assert_null (core);
    ledger_destroy (&ledger);
    zchunk_destroy (&buf);
}

//  An ACK from the sink: ids first..first+count-1, accepted in all.
static void
s_ack (uint8_t flags, uint64_t first, uint64_t count, uint64_t accepted)
{
    zp_ack_begin (buf, 42, flags, accepted);
    for (uint64_t id = first; id < first + count; id++)
        zp_ack_add (buf, id);
    zp_msg_t msg;
    cr_assert_eq (zp_msg_decode (zchunk_data (buf), zchunk_size (buf), &msg, NULL), 0);
    vcore_on_ack (core, &msg, now);
    vcore_dispatch (core, now);
}

//  A READY from worker w, finishing its first done held tasks first (their
//  results go to the sink: the test acknowledges them when it likes).
static void
s_ready (size_t w, uint32_t capacity, size_t done, bool held)
{
    static uint64_t finished [WORKERS];  //  each test is its own process
    cr_assert (done <= net.held_n [w]);
    memmove (net.held [w], net.held [w] + done, (net.held_n [w] - done) * sizeof (uint64_t));
    net.held_n [w] -= done;
    finished [w] += done;
    zp_ready_t ready = {
        .flags = held ? ZP_READY_HELD : 0, .pid = (uint32_t) (100 + w), .capacity = capacity,
        .received = net.received [w], .finished = finished [w],
        .held_n = held ? (uint32_t) net.held_n [w] : 0
    };
    snprintf (ready.host, sizeof ready.host, "host");
    snprintf (ready.engine, sizeof ready.engine, "test");
    zp_ref_t refs [4096];
    for (size_t i = 0; i < ready.held_n; i++)
        refs [i] = (zp_ref_t) { 42, net.held [w][i] };
    zp_ready_encode (buf, &ready, refs);
    zp_msg_t msg;
    cr_assert_eq (zp_msg_decode (zchunk_data (buf), zchunk_size (buf), &msg, NULL), 0);
    uint8_t id = (uint8_t) w;
    vcore_on_ready (core, &id, 1, &msg, now);
    vcore_dispatch (core, now);
}

TestSuite (core, .fini = s_teardown);

Test (core, nothing_goes_before_the_sink_knows_the_batch)
{
    s_setup (10);
    s_ready (0, 4, 0, true);
    cr_assert_eq (net.received [0], 0, "sent before the sink's SNAPSHOT");
    s_ack (ZP_ACK_SNAPSHOT, 0, 0, 0);
    cr_assert_eq (net.received [0], 4, "credit 4, got %lu", (unsigned long) net.received [0]);
    cr_assert (net.last_batch_flags & ZP_BATCH_STARTED);
}

//  Issue 12, failure 4: READY capacity 2^32-1, never finishing, heartbeats
//  with HELD. It holds the start credit; the honest worker does the batch.
Test (core, a_greedy_peer_holds_its_start_credit_not_the_batch)
{
    s_setup (800);
    s_ack (ZP_ACK_SNAPSHOT, 0, 0, 0);
    s_ready (0, UINT32_MAX, 0, true);
    cr_assert_eq (net.received [0], VCORE_START_CREDIT);
    s_ready (1, 8, 0, true);
    uint64_t acked = 0;
    for (int round = 0; round < 2000 && acked < 800 - VCORE_START_CREDIT; round++) {
        now += 10000;
        size_t done = net.held_n [1];
        s_ready (1, 8, done, false);
        s_ack (0, 0, 0, acked);         //  a heartbeat ACK
        if (round % 100 == 0) {
            s_ready (0, UINT32_MAX, 0, true);
            vcore_on_tick (core, now);
        }
        acked += done;
        cr_assert_leq (net.held_n [0], VCORE_START_CREDIT, "greedy peer holds %zu",
                       net.held_n [0]);
    }
    cr_assert_eq (net.received [0], VCORE_START_CREDIT, "greedy peer was sent %lu",
                  (unsigned long) net.received [0]);
    cr_assert_eq (net.received [1], 800 - VCORE_START_CREDIT);
}

//  Issue 12, failure 5: nothing disturbed, nothing is sent twice, and the
//  batch completes.
Test (core, a_clean_run_sends_each_task_once)
{
    s_setup (1000);
    s_ack (ZP_ACK_SNAPSHOT, 0, 0, 0);
    s_ready (0, 16, 0, true);
    s_ready (1, 16, 0, true);
    uint64_t finished = 0;
    zp_ack_begin (buf, 42, 0, 0);
    for (int round = 0; round < 10000 && finished < 1000; round++) {
        now += 20000;
        for (size_t w = 0; w < 2; w++) {
            size_t done = net.held_n [w] < 3 ? net.held_n [w] : 3;
            uint64_t ids [3];
            memcpy (ids, net.held [w], done * sizeof ids [0]);
            s_ready (w, 16, done, round % 50 == 0);
            for (size_t i = 0; i < done; i++) {
                zp_ack_begin (buf, 42, 0, ++finished);
                zp_ack_add (buf, ids [i]);
                zp_msg_t msg;
                cr_assert_eq (zp_msg_decode (zchunk_data (buf), zchunk_size (buf), &msg, NULL), 0);
                vcore_on_ack (core, &msg, now);
            }
        }
        vcore_on_tick (core, now);
    }
    cr_assert_eq (finished, 1000);
    cr_assert_eq (net.sends [0] + net.sends [1], 1000, "sent %lu copies for 1000 tasks",
                  (unsigned long) (net.sends [0] + net.sends [1]));
    cr_assert_eq (ledger_redelivered (ledger), 0);
    cr_assert_eq (ledger_done (ledger), 1000);
    s_ack (ZP_ACK_COMPLETE | ZP_ACK_SNAPSHOT, 0, 0, 1000);
    cr_assert (vcore_complete (core));
    cr_assert (net.last_batch_flags & ZP_BATCH_CLOSED);
}

//  Issue 12, failures 2 and 3: a new sink (or one on a journal missing its
//  tail) has results the workers still held, so its count is as high as
//  before; only the ids show that 0..4 were lost.
Test (core, loss_is_found_by_id_not_by_count)
{
    s_setup (20);
    s_ack (ZP_ACK_SNAPSHOT, 0, 0, 0);
    s_ready (0, 20, 0, true);
    cr_assert_eq (net.received [0], 20);
    s_ready (0, 20, 10, false);         //  0..9 finished
    s_ack (0, 0, 10, 10);
    cr_assert_eq (ledger_done (ledger), 10);
    s_ready (0, 20, 5, false);          //  10..14 finished, on their way
    s_ack (ZP_ACK_SNAPSHOT, 5, 10, 10); //  a new sink: 5..14, as many as before
    cr_assert_eq (ledger_done (ledger), 10);
    cr_assert (s_logged ("but not 5 it had acknowledged"));
    for (uint64_t id = 0; id < 5; id++)
        cr_assert_neq (ledger_state (ledger, id), LEDGER_DONE, "task %lu kept as done",
                       (unsigned long) id);
    cr_assert_eq (net.received [0], 25, "the 5 lost tasks go out again");
}

Test (core, a_silent_worker_s_tasks_go_to_others)
{
    s_setup (8);
    s_ack (ZP_ACK_SNAPSHOT, 0, 0, 0);
    s_ready (0, 8, 0, true);
    cr_assert_eq (net.received [0], 8);
    now += 500000;
    s_ready (1, 8, 0, true);
    cr_assert_eq (net.received [1], 0);
    for (int i = 0; i < 60; i++) {
        now += 50000;
        s_ready (1, 8, 0, i % 20 == 0);
        s_ack (0, 0, 0, 0);
        vcore_on_tick (core, now);
    }
    cr_assert (s_logged ("went silent"));
    cr_assert_eq (net.received [1], 8, "worker 1 has %lu", (unsigned long) net.received [1]);
}

//  Issue 12, failure 7: the sink's silence is logged, and its return.
Test (core, the_sink_s_silence_is_logged_both_ways)
{
    s_setup (4);
    s_ack (ZP_ACK_SNAPSHOT, 0, 0, 0);
    for (int i = 0; i < 70; i++) {
        now += 50000;
        vcore_on_tick (core, now);
    }
    cr_assert (s_logged ("has been silent for 3 s"));
    cr_assert_not (s_logged ("answers again"));
    s_ack (0, 0, 0, 0);
    cr_assert (s_logged ("answers again, after 3.5 s"));
}
