/*  test_proto - the wire protocol: every message round trips, every rule of
    docs/protocol.md that a decoder enforces refuses the message that breaks
    it, with the reason that names the rule.

    Malformed messages are built by encoding a valid one (the encoders do not
    check values, so out-of-range values go straight through them) and then
    patching bytes at the offsets the spec gives. Rejections are decoded from
    an exact-size heap copy, so a SANITIZE=address build catches any read
    past the end of the frame.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_proto.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Wire offsets, from the tables in docs/protocol.md
#define READY_FLAGS_AT     4
#define READY_HOST_AT      9        //  str8 length byte
#define TASKS_COUNT_AT     12
#define TASKS_RECORDS_AT   16
#define TASK_INPUT_LEN_AT  16       //  within a task record
#define RESULTS_HOST_AT    8
#define BATCH_FLAGS_AT     12
#define BATCH_SIZE         69
#define ACK_FLAGS_AT       12
#define ACK_COUNT_AT       21
#define ACK_IDS_AT         25

static zchunk_t *buf;

static void
s_setup (void)
{
    //  Start empty, so every test also exercises the chunk growing
    buf = zchunk_new (NULL, 0);
    cr_assert_not_null (buf);
}

static void
s_teardown (void)
{
    zchunk_destroy (&buf);
}

TestSuite (proto, .init = s_setup, .fini = s_teardown);

//  For the tests that expect an assert: keep its message out of the log,
//  where it would read like a failure.
static void
s_setup_quiet (void)
{
    s_setup ();
    cr_redirect_stderr ();
}


//  --------------------------------------------------------------------------
//  Helpers

static zp_msg_t
s_decode_ok (zchunk_t *chunk)
{
    zp_msg_t msg;
    const char *reason = NULL;
    int rc = zp_msg_decode (zchunk_data (chunk), zchunk_size (chunk), &msg, &reason);
    cr_assert_eq (rc, 0, "valid message refused: %s", reason? reason: "(no reason)");
    return msg;
}

//  Decodes size bytes from an exact-size copy and requires a rejection; with
//  expected not NULL, also requires that reason.
static void
s_expect_reject (const void *data, size_t size, const char *expected)
{
    uint8_t *copy = malloc (size? size: 1);
    cr_assert_not_null (copy);
    if (size)
        memcpy (copy, data, size);
    zp_msg_t msg;
    msg.type = ZP_TASKS;
    const char *reason = NULL;
    int rc = zp_msg_decode (copy, size, &msg, &reason);
    cr_assert_eq (rc, -1, "accepted a bad message (%zu bytes), expected '%s'",
                  size, expected? expected: "any rejection");
    cr_assert_not_null (reason, "rejection without a reason");
    cr_assert_gt (strlen (reason), 0);
    if (expected)
        cr_assert_str_eq (reason, expected);
    cr_assert_eq (msg.type, 0, "a rejected message keeps a type");
    free (copy);
}

static void
s_expect_reject_buf (const char *expected)
{
    s_expect_reject (zchunk_data (buf), zchunk_size (buf), expected);
}

static void
s_patch_u8 (size_t offset, uint8_t value)
{
    cr_assert_lt (offset, zchunk_size (buf));
    zchunk_data (buf) [offset] = value;
}

static void
s_patch_u32 (size_t offset, uint32_t value)
{
    cr_assert_leq (offset + 4, zchunk_size (buf));
    for (int shift = 24, index = 0; shift >= 0; shift -= 8, index++)
        zchunk_data (buf) [offset + (size_t) index] = (uint8_t) (value >> shift);
}

static void
s_append_byte (uint8_t value)
{
    zchunk_extend (buf, &value, 1);
}

static const zp_ref_t s_held [3] = { { 7, 0 }, { 7, 1 }, { 9, 12345 } };

static void
s_ready_sample (zp_ready_t *ready)
{
    memset (ready, 0, sizeof *ready);
    ready->flags = ZP_READY_HELD;
    ready->pid = 4242;
    strcpy (ready->host, "worker-1.example.org");
    strcpy (ready->engine, "sha512-avx2");
    ready->capacity = 8;
    ready->received = 100;
    ready->finished = 95;
    ready->replaces = 4141;
    ready->running = 2;
    ready->held_n = 3;
}

static void
s_encode_ready_sample (void)
{
    zp_ready_t ready;
    s_ready_sample (&ready);
    zp_ready_encode (buf, &ready, s_held);
}

//  Offset of READY's capacity for the sample host and engine
static size_t
s_ready_capacity_at (void)
{
    return READY_HOST_AT + 1 + strlen ("worker-1.example.org")
         + 1 + strlen ("sha512-avx2");
}

//  Offsets after capacity: received, finished, replaces, running, held_n
#define READY_RUNNING_AFTER_CAPACITY (4 + 8 + 8 + 4)
#define READY_HELD_N_AFTER_CAPACITY  (4 + 8 + 8 + 4 + 4)

static void
s_encode_tasks_sample (void)
{
    zp_tasks_begin (buf, UINT64_C (0x0123456789abcdef));
    zp_tasks_add (buf, 0, 1, "abc", 3);
    zp_tasks_add (buf, 1, 1000, NULL, 0);
    zp_tasks_add (buf, 2, ZP_MAX_ITERATIONS, "a\0b", 3);
}

static const char s_hex [] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void
s_encode_results_sample (void)
{
    zp_results_begin (buf, 4242, "worker-1", 77);
    zp_result_t ok = {
        .task = 3, .status = ZP_STATUS_OK, .attempts = 2, .iterations = 5, .elapsed_ns = 12345,
        .input = (const uint8_t *) "line", .input_size = 4,
        .output = (const uint8_t *) s_hex, .output_size = 128
    };
    zp_results_add (buf, &ok);
    zp_result_t failed = {
        .task = 4, .status = ZP_STATUS_FAILED, .attempts = ZP_MAX_ATTEMPTS, .iterations = 1,
        .elapsed_ns = 0,
        .input = NULL, .input_size = 0,
        .output = (const uint8_t *) "too long", .output_size = 8
    };
    zp_results_add (buf, &failed);
}

//  Offset of the first result record for the sample host "worker-1"
#define RESULTS_RECORDS_AT (RESULTS_HOST_AT + 1 + 8 + 8 + 4)

static void
s_encode_batch_sample (void)
{
    zp_batch_t batch = {
        .batch = UINT64_C (0xfeedfacecafebeef),
        .flags = ZP_BATCH_STARTED | ZP_BATCH_TOTAL | ZP_BATCH_RESUME | ZP_BATCH_CLOSED,
        .total = 1000, .iterations = 10, .started_us = 1500000, .rejected = 2,
        .digest = UINT64_C (0x0102030405060708), .redelivered = 17, .worker_restarts = 3
    };
    zp_batch_encode (buf, &batch);
}

static void
s_encode_ack_sample (void)
{
    zp_ack_begin (buf, 77, ZP_ACK_SNAPSHOT, 3);
    zp_ack_add (buf, 0);
    zp_ack_add (buf, 1);
    zp_ack_add (buf, UINT64_MAX);
}


//  --------------------------------------------------------------------------
//  Round trips

Test (proto, ready_round_trip)
{
    s_encode_ready_sample ();
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.type, ZP_READY);
    zp_ready_t *ready = &msg.u.ready;
    cr_assert_eq (ready->flags, ZP_READY_HELD);
    cr_assert_eq (ready->pid, 4242);
    cr_assert_str_eq (ready->host, "worker-1.example.org");
    cr_assert_str_eq (ready->engine, "sha512-avx2");
    cr_assert_eq (ready->capacity, 8);
    cr_assert_eq (ready->received, 100);
    cr_assert_eq (ready->finished, 95);
    cr_assert_eq (ready->replaces, 4141);
    cr_assert_eq (ready->running, 2);
    cr_assert_eq (ready->held_n, 3);
    for (uint32_t index = 0; index < 3; index++) {
        zp_ref_t ref = zp_msg_held (&msg, index);
        cr_assert_eq (ref.batch, s_held [index].batch);
        cr_assert_eq (ref.task, s_held [index].task);
    }
    //  READY is not one of the record messages
    cr_assert_eq (zp_msg_records (buf), 0);
}

Test (proto, ready_edge_values)
{
    zp_ready_t ready;
    memset (&ready, 0, sizeof ready);
    ready.flags = ZP_READY_HELD | ZP_READY_LEAVING;
    ready.pid = UINT32_MAX;
    memset (ready.host, 'h', 255);
    ready.engine [0] = 0;
    ready.capacity = UINT32_MAX;
    ready.received = UINT64_MAX;
    ready.finished = 0;
    ready.replaces = UINT32_MAX;
    ready.running = 2;
    ready.held_n = 2;
    zp_ref_t held [2] = { { 0, 0 }, { UINT64_MAX, UINT64_MAX } };
    zp_ready_encode (buf, &ready, held);

    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.ready.flags, ZP_READY_HELD | ZP_READY_LEAVING);
    cr_assert_eq (msg.u.ready.pid, UINT32_MAX);
    cr_assert_eq (strlen (msg.u.ready.host), 255);
    cr_assert_str_eq (msg.u.ready.host, ready.host);
    cr_assert_str_eq (msg.u.ready.engine, "");
    cr_assert_eq (msg.u.ready.capacity, UINT32_MAX);
    cr_assert_eq (msg.u.ready.received, UINT64_MAX);
    cr_assert_eq (msg.u.ready.finished, 0);
    cr_assert_eq (msg.u.ready.replaces, UINT32_MAX);
    cr_assert_eq (msg.u.ready.running, 2);
    cr_assert_eq (zp_msg_held (&msg, 0).batch, 0);
    cr_assert_eq (zp_msg_held (&msg, 0).task, 0);
    cr_assert_eq (zp_msg_held (&msg, 1).batch, UINT64_MAX);
    cr_assert_eq (zp_msg_held (&msg, 1).task, UINT64_MAX);
}

Test (proto, ready_truncates_long_names)
{
    //  A name filling all 256 bytes of the struct, no NUL: the encoder must
    //  send 255 bytes, never wrap the length byte to 0.
    zp_ready_t ready;
    s_ready_sample (&ready);
    ready.held_n = 0;
    ready.running = 0;
    memset (ready.host, 'x', sizeof ready.host);
    memset (ready.engine, 'e', sizeof ready.engine);
    zp_ready_encode (buf, &ready, NULL);
    cr_assert_eq (zchunk_data (buf) [READY_HOST_AT], 255);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (strlen (msg.u.ready.host), 255);
    cr_assert_eq (strlen (msg.u.ready.engine), 255);
    cr_assert_eq (msg.u.ready.capacity, 8);
}

Test (proto, ready_leaving_hands_back_with_capacity_zero)
{
    zp_ready_t ready;
    s_ready_sample (&ready);
    ready.flags = ZP_READY_LEAVING;
    ready.capacity = 0;
    ready.running = 0;
    zp_ready_encode (buf, &ready, s_held);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.ready.flags, ZP_READY_LEAVING);
    cr_assert_eq (msg.u.ready.capacity, 0);
    cr_assert_eq (msg.u.ready.held_n, 3);
    cr_assert_eq (zp_msg_held (&msg, 2).task, 12345);
}

Test (proto, ready_empty_lists)
{
    //  A heartbeat of a process holding nothing, and a plain credit update
    zp_ready_t ready;
    s_ready_sample (&ready);
    ready.held_n = 0;
    ready.running = 0;
    zp_ready_encode (buf, &ready, NULL);
    cr_assert_eq (s_decode_ok (buf).u.ready.held_n, 0);

    ready.flags = 0;
    zp_ready_encode (buf, &ready, NULL);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.ready.flags, 0);
    cr_assert_eq (msg.u.ready.held_n, 0);
}

Test (proto, tasks_round_trip)
{
    s_encode_tasks_sample ();
    cr_assert_eq (zp_msg_records (buf), 3);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.type, ZP_TASKS);
    cr_assert_eq (msg.u.tasks.batch, UINT64_C (0x0123456789abcdef));
    cr_assert_eq (msg.u.tasks.count, 3);

    zp_task_t task;
    cr_assert (zp_msg_next_task (&msg, &task));
    cr_assert_eq (task.task, 0);
    cr_assert_eq (task.iterations, 1);
    cr_assert_eq (task.input_size, 3);
    cr_assert_arr_eq (task.input, "abc", 3);

    cr_assert (zp_msg_next_task (&msg, &task));
    cr_assert_eq (task.task, 1);
    cr_assert_eq (task.iterations, 1000);
    cr_assert_eq (task.input_size, 0);

    cr_assert (zp_msg_next_task (&msg, &task));
    cr_assert_eq (task.task, 2);
    cr_assert_eq (task.iterations, ZP_MAX_ITERATIONS);
    cr_assert_eq (task.input_size, 3);
    cr_assert_arr_eq (task.input, "a\0b", 3);

    //  The end stays the end
    cr_assert_not (zp_msg_next_task (&msg, &task));
    cr_assert_not (zp_msg_next_task (&msg, &task));
}

Test (proto, tasks_edge_ids)
{
    zp_tasks_begin (buf, UINT64_MAX);
    zp_tasks_add (buf, UINT64_MAX, 1, "\0", 1);
    zp_tasks_add (buf, 0, 1, "", 0);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.tasks.batch, UINT64_MAX);
    zp_task_t task;
    cr_assert (zp_msg_next_task (&msg, &task));
    cr_assert_eq (task.task, UINT64_MAX);
    cr_assert_eq (task.input_size, 1);
    cr_assert_eq (task.input [0], 0);
    cr_assert (zp_msg_next_task (&msg, &task));
    cr_assert_eq (task.task, 0);
    cr_assert_eq (task.input_size, 0);

    zp_tasks_begin (buf, 0);
    zp_tasks_add (buf, 0, 1, NULL, 0);
    msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.tasks.batch, 0);
    cr_assert_eq (msg.u.tasks.count, 1);
}

Test (proto, tasks_many_records)
{
    const uint32_t count = 5000;
    uint8_t input [64];
    for (size_t index = 0; index < sizeof input; index++)
        input [index] = (uint8_t) (index * 37);
    zp_tasks_begin (buf, 9);
    for (uint32_t index = 0; index < count; index++)
        zp_tasks_add (buf, index, index + 1, input, index % sizeof input);
    cr_assert_eq (zp_msg_records (buf), count);

    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.tasks.count, count);
    zp_task_t task;
    uint32_t seen = 0;
    while (zp_msg_next_task (&msg, &task)) {
        cr_assert_eq (task.task, seen);
        cr_assert_eq (task.iterations, seen + 1);
        cr_assert_eq (task.input_size, seen % sizeof input);
        cr_assert_arr_eq (task.input, input, task.input_size);
        seen++;
    }
    cr_assert_eq (seen, count);
}

Test (proto, tasks_max_records)
{
    zp_tasks_begin (buf, 1);
    for (uint32_t index = 0; index < ZP_MAX_RECORDS; index++)
        zp_tasks_add (buf, index, 1, NULL, 0);
    cr_assert_eq (zp_msg_records (buf), ZP_MAX_RECORDS);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.tasks.count, ZP_MAX_RECORDS);

    //  One more record, counted in place: over the limit
    s_patch_u32 (TASKS_COUNT_AT, ZP_MAX_RECORDS + 1);
    uint8_t record [20] = { 0 };
    record [15] = 1;        //  iterations 1
    zchunk_extend (buf, record, sizeof record);
    s_expect_reject_buf ("TASKS: count above 2^20");
}

Test (proto, results_round_trip)
{
    s_encode_results_sample ();
    cr_assert_eq (zp_msg_records (buf), 2);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.type, ZP_RESULTS);
    cr_assert_eq (msg.u.results.pid, 4242);
    cr_assert_str_eq (msg.u.results.host, "worker-1");
    cr_assert_eq (msg.u.results.batch, 77);
    cr_assert_eq (msg.u.results.count, 2);

    zp_result_t result;
    cr_assert (zp_msg_next_result (&msg, &result));
    cr_assert_eq (result.task, 3);
    cr_assert_eq (result.status, ZP_STATUS_OK);
    cr_assert_eq (result.attempts, 2);
    cr_assert_eq (result.iterations, 5);
    cr_assert_eq (result.elapsed_ns, 12345);
    cr_assert_eq (result.input_size, 4);
    cr_assert_arr_eq (result.input, "line", 4);
    cr_assert_eq (result.output_size, 128);
    cr_assert_arr_eq (result.output, s_hex, 128);

    cr_assert (zp_msg_next_result (&msg, &result));
    cr_assert_eq (result.task, 4);
    cr_assert_eq (result.status, ZP_STATUS_FAILED);
    cr_assert_eq (result.attempts, ZP_MAX_ATTEMPTS);
    cr_assert_eq (result.iterations, 1);
    cr_assert_eq (result.elapsed_ns, 0);
    cr_assert_eq (result.input_size, 0);
    cr_assert_eq (result.output_size, 8);
    cr_assert_arr_eq (result.output, "too long", 8);

    cr_assert_not (zp_msg_next_result (&msg, &result));
}

Test (proto, results_edge_values)
{
    char host [300];
    memset (host, 'r', sizeof host - 1);
    host [sizeof host - 1] = 0;
    zp_results_begin (buf, UINT32_MAX, host, UINT64_MAX);
    zp_result_t max = {
        .task = UINT64_MAX, .status = ZP_STATUS_OK,
        .iterations = ZP_MAX_ITERATIONS, .elapsed_ns = UINT64_MAX,
        .input = (const uint8_t *) "\0\0\0", .input_size = 3,
        .output = (const uint8_t *) "\0x", .output_size = 2
    };
    zp_results_add (buf, &max);
    zp_result_t empty = { .task = 0, .status = ZP_STATUS_FAILED, .iterations = 1 };
    zp_results_add (buf, &empty);
    //  The count lives after a 255-byte host here
    cr_assert_eq (zp_msg_records (buf), 2);

    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.results.pid, UINT32_MAX);
    cr_assert_eq (strlen (msg.u.results.host), 255);
    cr_assert_eq (msg.u.results.batch, UINT64_MAX);
    zp_result_t result;
    cr_assert (zp_msg_next_result (&msg, &result));
    cr_assert_eq (result.task, UINT64_MAX);
    cr_assert_eq (result.iterations, ZP_MAX_ITERATIONS);
    cr_assert_eq (result.elapsed_ns, UINT64_MAX);
    cr_assert_eq (result.input_size, 3);
    cr_assert_arr_eq (result.input, "\0\0\0", 3);
    cr_assert_eq (result.output_size, 2);
    cr_assert_arr_eq (result.output, "\0x", 2);
    cr_assert (zp_msg_next_result (&msg, &result));
    cr_assert_eq (result.task, 0);
    cr_assert_eq (result.status, ZP_STATUS_FAILED);
    cr_assert_eq (result.input_size, 0);
    cr_assert_eq (result.output_size, 0);
    cr_assert_not (zp_msg_next_result (&msg, &result));
}

Test (proto, results_many_records)
{
    const uint32_t count = 3000;
    zp_results_begin (buf, 1, "", 5);
    for (uint32_t index = 0; index < count; index++) {
        zp_result_t result = {
            .task = index, .status = (uint8_t) (index & 1),
            .iterations = index + 1, .elapsed_ns = (uint64_t) index * 1000,
            .input = (const uint8_t *) s_hex, .input_size = index % 7,
            .output = (const uint8_t *) s_hex, .output_size = index % 129
        };
        zp_results_add (buf, &result);
    }
    cr_assert_eq (zp_msg_records (buf), count);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_str_eq (msg.u.results.host, "");
    zp_result_t result;
    uint32_t seen = 0;
    while (zp_msg_next_result (&msg, &result)) {
        cr_assert_eq (result.task, seen);
        cr_assert_eq (result.status, seen & 1);
        cr_assert_eq (result.iterations, seen + 1);
        cr_assert_eq (result.elapsed_ns, (uint64_t) seen * 1000);
        cr_assert_eq (result.input_size, seen % 7);
        cr_assert_eq (result.output_size, seen % 129);
        cr_assert_arr_eq (result.output, s_hex, result.output_size);
        seen++;
    }
    cr_assert_eq (seen, count);
}

Test (proto, batch_round_trip)
{
    s_encode_batch_sample ();
    cr_assert_eq (zchunk_size (buf), BATCH_SIZE);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.type, ZP_BATCH);
    cr_assert_eq (msg.u.batch.batch, UINT64_C (0xfeedfacecafebeef));
    cr_assert_eq (msg.u.batch.flags,
                  ZP_BATCH_STARTED | ZP_BATCH_TOTAL | ZP_BATCH_RESUME | ZP_BATCH_CLOSED);
    cr_assert_eq (msg.u.batch.total, 1000);
    cr_assert_eq (msg.u.batch.iterations, 10);
    cr_assert_eq (msg.u.batch.started_us, 1500000);
    cr_assert_eq (msg.u.batch.rejected, 2);
    cr_assert_eq (msg.u.batch.digest, UINT64_C (0x0102030405060708));
    cr_assert_eq (msg.u.batch.redelivered, 17);
    cr_assert_eq (msg.u.batch.worker_restarts, 3);
    cr_assert_eq (zp_msg_records (buf), 0);
}

Test (proto, batch_edge_values)
{
    zp_batch_t batch = {
        .batch = UINT64_MAX, .flags = 0, .total = UINT64_MAX,
        .iterations = ZP_MAX_ITERATIONS, .started_us = UINT64_MAX, .rejected = UINT64_MAX,
        .digest = UINT64_MAX, .redelivered = UINT64_MAX, .worker_restarts = UINT64_MAX
    };
    zp_batch_encode (buf, &batch);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.batch.batch, UINT64_MAX);
    cr_assert_eq (msg.u.batch.flags, 0);
    cr_assert_eq (msg.u.batch.total, UINT64_MAX);
    cr_assert_eq (msg.u.batch.iterations, ZP_MAX_ITERATIONS);
    cr_assert_eq (msg.u.batch.started_us, UINT64_MAX);
    cr_assert_eq (msg.u.batch.rejected, UINT64_MAX);
    cr_assert_eq (msg.u.batch.digest, UINT64_MAX);
    cr_assert_eq (msg.u.batch.redelivered, UINT64_MAX);
    cr_assert_eq (msg.u.batch.worker_restarts, UINT64_MAX);

    batch = (zp_batch_t) { .batch = 0, .iterations = 1 };
    zp_batch_encode (buf, &batch);
    msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.batch.batch, 0);
    cr_assert_eq (msg.u.batch.iterations, 1);
    cr_assert_eq (msg.u.batch.total, 0);
}

Test (proto, ack_round_trip)
{
    s_encode_ack_sample ();
    cr_assert_eq (zp_msg_records (buf), 3);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.type, ZP_ACK);
    cr_assert_eq (msg.u.ack.batch, 77);
    cr_assert_eq (msg.u.ack.flags, ZP_ACK_SNAPSHOT);
    cr_assert_eq (msg.u.ack.accepted, 3);
    cr_assert_eq (msg.u.ack.count, 3);
    cr_assert_eq (zp_msg_ack_id (&msg, 0), 0);
    cr_assert_eq (zp_msg_ack_id (&msg, 1), 1);
    cr_assert_eq (zp_msg_ack_id (&msg, 2), UINT64_MAX);
}

Test (proto, ack_adopt)
{
    zp_ack_begin (buf, 99, ZP_ACK_SNAPSHOT | ZP_ACK_ADOPT, 1);
    zp_ack_add (buf, 4);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.ack.flags, ZP_ACK_SNAPSHOT | ZP_ACK_ADOPT);
    cr_assert_eq (zp_msg_ack_id (&msg, 0), 4);
    zp_ack_begin (buf, 99, ZP_ACK_COMPLETE | ZP_ACK_SNAPSHOT | ZP_ACK_ADOPT, 7);
    cr_assert_eq (s_decode_ok (buf).u.ack.flags,
                  ZP_ACK_COMPLETE | ZP_ACK_SNAPSHOT | ZP_ACK_ADOPT);
}

Test (proto, ack_without_ids)
{
    zp_ack_begin (buf, UINT64_MAX, ZP_ACK_COMPLETE | ZP_ACK_SNAPSHOT, UINT64_MAX);
    cr_assert_eq (zp_msg_records (buf), 0);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.ack.batch, UINT64_MAX);
    cr_assert_eq (msg.u.ack.flags, ZP_ACK_COMPLETE | ZP_ACK_SNAPSHOT);
    cr_assert_eq (msg.u.ack.accepted, UINT64_MAX);
    cr_assert_eq (msg.u.ack.count, 0);
}

Test (proto, ack_max_ids)
{
    zp_ack_begin (buf, 1, ZP_ACK_SNAPSHOT, ZP_MAX_ACK_IDS);
    for (uint64_t id = 0; id < ZP_MAX_ACK_IDS; id++)
        zp_ack_add (buf, id * 3);
    cr_assert_eq (zp_msg_records (buf), ZP_MAX_ACK_IDS);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.ack.count, ZP_MAX_ACK_IDS);
    for (uint32_t index = 0; index < ZP_MAX_ACK_IDS; index++)
        cr_assert_eq (zp_msg_ack_id (&msg, index), (uint64_t) index * 3);

    s_patch_u32 (ACK_COUNT_AT, ZP_MAX_ACK_IDS + 1);
    for (int index = 0; index < 8; index++)
        s_append_byte (0);
    s_expect_reject_buf ("ACK: count above 65536");
}


//  --------------------------------------------------------------------------
//  The encoders: chunk reuse and record counts

Test (proto, chunk_is_reused)
{
    //  Warm up on a large message, then encode it again: same buffer, no
    //  growth, so the hot path does not allocate.
    s_encode_tasks_sample ();
    for (int round = 0; round < 100; round++)
        zp_tasks_add (buf, 3, 1, s_hex, sizeof s_hex - 1);
    size_t max_size = zchunk_max_size (buf);
    const uint8_t *data = zchunk_data (buf);
    size_t size = zchunk_size (buf);

    s_encode_tasks_sample ();
    for (int round = 0; round < 100; round++)
        zp_tasks_add (buf, 3, 1, s_hex, sizeof s_hex - 1);
    cr_assert_eq (zchunk_size (buf), size);
    cr_assert_eq (zchunk_max_size (buf), max_size);
    cr_assert_eq (zchunk_data (buf), data);

    //  A smaller message after a big one: begin resets, nothing left over
    zchunk_t *fresh = zchunk_new (NULL, 0);
    s_encode_ack_sample ();
    zchunk_t *saved = buf;
    buf = fresh;
    s_encode_ack_sample ();
    buf = saved;
    cr_assert_eq (zchunk_size (buf), zchunk_size (fresh));
    cr_assert_arr_eq (zchunk_data (buf), zchunk_data (fresh), zchunk_size (fresh));
    zchunk_destroy (&fresh);
    s_decode_ok (buf);
}

Test (proto, records_counts_only_begun_messages)
{
    cr_assert_eq (zp_msg_records (buf), 0);
    zp_tasks_begin (buf, 1);
    cr_assert_eq (zp_msg_records (buf), 0);
    zp_tasks_add (buf, 0, 1, "x", 1);
    cr_assert_eq (zp_msg_records (buf), 1);
    zp_results_begin (buf, 1, "h", 1);
    cr_assert_eq (zp_msg_records (buf), 0);
    zp_ack_begin (buf, 1, 0, 0);
    zp_ack_add (buf, 5);
    zp_ack_add (buf, 6);
    cr_assert_eq (zp_msg_records (buf), 2);
    s_encode_batch_sample ();
    cr_assert_eq (zp_msg_records (buf), 0);
    zchunk_set (buf, "junk", 4);
    cr_assert_eq (zp_msg_records (buf), 0);
}

Test (proto, add_without_begin_aborts, .init = s_setup_quiet, .signal = SIGABRT)
{
    //  Appending a task to a BATCH is a bug in the caller
    s_encode_batch_sample ();
    zp_tasks_add (buf, 0, 1, "x", 1);
}

Test (proto, ack_add_past_limit_aborts, .init = s_setup_quiet, .signal = SIGABRT)
{
    zp_ack_begin (buf, 1, 0, 0);
    s_patch_u32 (ACK_COUNT_AT, ZP_MAX_ACK_IDS);
    zp_ack_add (buf, 1);
}


//  --------------------------------------------------------------------------
//  Decoder odds and ends

Test (proto, type_names)
{
    cr_assert_str_eq (zp_msg_type_name (ZP_READY), "READY");
    cr_assert_str_eq (zp_msg_type_name (ZP_TASKS), "TASKS");
    cr_assert_str_eq (zp_msg_type_name (ZP_RESULTS), "RESULTS");
    cr_assert_str_eq (zp_msg_type_name (ZP_BATCH), "BATCH");
    cr_assert_str_eq (zp_msg_type_name (ZP_ACK), "ACK");
    cr_assert_str_eq (zp_msg_type_name (ZP_STATS), "STATS");
    cr_assert_str_eq (zp_msg_type_name (0), "unknown");
    cr_assert_str_eq (zp_msg_type_name (7), "unknown");
    cr_assert_str_eq (zp_msg_type_name (0xff), "unknown");
}

Test (proto, iterators_refuse_other_types)
{
    s_encode_results_sample ();
    zp_msg_t msg = s_decode_ok (buf);
    zp_task_t task;
    cr_assert_not (zp_msg_next_task (&msg, &task));
    s_encode_tasks_sample ();
    msg = s_decode_ok (buf);
    zp_result_t result;
    cr_assert_not (zp_msg_next_result (&msg, &result));
    //  ... and the TASKS cursor was not moved by the wrong iterator
    cr_assert (zp_msg_next_task (&msg, &task));
    cr_assert_eq (task.task, 0);
}

Test (proto, failed_decode_leaves_nothing_to_iterate)
{
    s_encode_tasks_sample ();
    zp_msg_t msg = s_decode_ok (buf);
    s_append_byte (0);
    const char *reason = NULL;
    cr_assert_eq (zp_msg_decode (zchunk_data (buf), zchunk_size (buf), &msg, &reason), -1);
    cr_assert_eq (msg.type, 0);
    zp_task_t task;
    cr_assert_not (zp_msg_next_task (&msg, &task));
    //  reason is optional
    cr_assert_eq (zp_msg_decode (zchunk_data (buf), zchunk_size (buf), &msg, NULL), -1);
}


//  --------------------------------------------------------------------------
//  Header

Test (proto, empty_frame)
{
    s_expect_reject (NULL, 0, "empty frame");
    s_expect_reject ("", 0, "empty frame");
}

Test (proto, short_header)
{
    s_expect_reject ("Z", 1, "truncated header");
    s_expect_reject ("ZP", 2, "truncated header");
    s_expect_reject ("ZP\x01", 3, "truncated header");
}

Test (proto, bad_signature)
{
    s_encode_batch_sample ();
    s_patch_u8 (0, 'z');
    s_expect_reject_buf ("bad signature");
    s_encode_batch_sample ();
    s_patch_u8 (1, 'Q');
    s_expect_reject_buf ("bad signature");
    s_expect_reject ("\xff\x00\x01\x04", 4, "bad signature");
}

Test (proto, other_versions)
{
    //  Every version byte but ours, each with its own reason
    for (unsigned version = 0; version < 256; version++) {
        if (version == ZP_PROTO_VERSION)
            continue;
        s_encode_batch_sample ();
        s_patch_u8 (2, (uint8_t) version);
        char expected [40];
        snprintf (expected, sizeof expected, "unsupported version %u", version);
        s_expect_reject_buf (expected);
    }
}

Test (proto, unknown_types)
{
    const uint8_t types [] = { 0x00, 0x07, 0x08, 0x7f, 0x80, 0xff };
    for (size_t index = 0; index < sizeof types; index++) {
        s_encode_batch_sample ();
        s_patch_u8 (3, types [index]);
        s_expect_reject_buf ("unknown type");
    }
    //  A bare header of an unknown type
    s_expect_reject ("ZP\x02\x07", 4, "unknown type");
}


//  --------------------------------------------------------------------------
//  Every prefix of every valid message is refused, and so is one byte more

static void
s_every_prefix_refused (void)
{
    size_t size = zchunk_size (buf);
    s_decode_ok (buf);
    for (size_t length = 0; length < size; length++)
        s_expect_reject (zchunk_data (buf), length, NULL);
}

Test (proto, ready_prefixes)
{
    s_encode_ready_sample ();
    s_every_prefix_refused ();
}

Test (proto, tasks_prefixes)
{
    s_encode_tasks_sample ();
    s_every_prefix_refused ();
}

Test (proto, results_prefixes)
{
    s_encode_results_sample ();
    s_every_prefix_refused ();
}

Test (proto, batch_prefixes)
{
    s_encode_batch_sample ();
    s_every_prefix_refused ();
}

Test (proto, ack_prefixes)
{
    s_encode_ack_sample ();
    s_every_prefix_refused ();
    zp_ack_begin (buf, 1, 0, 0);
    s_every_prefix_refused ();
}

Test (proto, trailing_byte)
{
    s_encode_ready_sample ();
    s_append_byte (0);
    s_expect_reject_buf ("READY: trailing bytes");
    s_encode_tasks_sample ();
    s_append_byte (0);
    s_expect_reject_buf ("TASKS: trailing bytes");
    s_encode_results_sample ();
    s_append_byte (0);
    s_expect_reject_buf ("RESULTS: trailing bytes");
    s_encode_batch_sample ();
    s_append_byte (0);
    s_expect_reject_buf ("BATCH: trailing bytes");
    s_encode_ack_sample ();
    s_append_byte (0);
    s_expect_reject_buf ("ACK: trailing bytes");
    zp_ack_begin (buf, 1, 0, 0);
    s_append_byte (0);
    s_expect_reject_buf ("ACK: trailing bytes");
}


//  --------------------------------------------------------------------------
//  READY rules

Test (proto, ready_undefined_flags)
{
    const uint8_t flags [] = { 0x10, 0x20, 0x80, 0xff };
    for (size_t index = 0; index < sizeof flags; index++) {
        s_encode_ready_sample ();
        s_patch_u8 (READY_FLAGS_AT, flags [index]);
        s_expect_reject_buf ("READY: undefined flag bits set");
    }
}

Test (proto, ready_host_with_nul)
{
    s_encode_ready_sample ();
    s_patch_u8 (READY_HOST_AT + 1 + 6, 0);
    s_expect_reject_buf ("READY: host contains NUL");
    s_encode_ready_sample ();
    s_patch_u8 (READY_HOST_AT + 1, 0);
    s_expect_reject_buf ("READY: host contains NUL");
}

Test (proto, ready_engine_with_nul)
{
    s_encode_ready_sample ();
    size_t engine_at = READY_HOST_AT + 1 + strlen ("worker-1.example.org");
    s_patch_u8 (engine_at + strlen ("sha512-avx2"), 0);
    s_expect_reject_buf ("READY: engine contains NUL");
}

Test (proto, ready_host_length_past_end)
{
    zp_ready_t ready;
    s_ready_sample (&ready);
    strcpy (ready.host, "h");
    ready.engine [0] = 0;
    ready.held_n = 0;
    ready.running = 0;
    zp_ready_encode (buf, &ready, NULL);
    s_patch_u8 (READY_HOST_AT, 255);
    s_expect_reject_buf ("READY: truncated in host");
}

Test (proto, ready_capacity_zero_needs_leaving_or_draining)
{
    zp_ready_t ready;
    s_ready_sample (&ready);
    ready.capacity = 0;
    zp_ready_encode (buf, &ready, s_held);
    s_expect_reject_buf ("READY: capacity 0 without LEAVING or DRAINING");
    ready.flags = 0;
    ready.held_n = 0;
    ready.running = 0;
    zp_ready_encode (buf, &ready, NULL);
    s_expect_reject_buf ("READY: capacity 0 without LEAVING or DRAINING");
    ready.flags = ZP_READY_RETURN;
    zp_ready_encode (buf, &ready, NULL);
    s_expect_reject_buf ("READY: capacity 0 without LEAVING or DRAINING");
}

Test (proto, ready_draining_heartbeat_and_return)
{
    //  A draining process: capacity 0, its running tasks listed with HELD
    zp_ready_t ready;
    s_ready_sample (&ready);
    ready.flags = ZP_READY_DRAINING | ZP_READY_HELD;
    ready.capacity = 0;
    ready.running = 3;
    zp_ready_encode (buf, &ready, s_held);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.ready.flags, ZP_READY_DRAINING | ZP_READY_HELD);
    cr_assert_eq (msg.u.ready.capacity, 0);
    cr_assert_eq (msg.u.ready.running, 3);
    cr_assert_eq (msg.u.ready.held_n, 3);

    //  ... and what it hands back, listed with RETURN
    ready.flags = ZP_READY_DRAINING | ZP_READY_RETURN;
    ready.running = 0;
    zp_ready_encode (buf, &ready, s_held);
    msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.ready.flags, ZP_READY_DRAINING | ZP_READY_RETURN);
    cr_assert_eq (zp_msg_held (&msg, 1).task, 1);

    //  A process sent more than its credit returns the extra, capacity intact
    ready.flags = ZP_READY_RETURN;
    ready.capacity = 8;
    zp_ready_encode (buf, &ready, s_held);
    cr_assert_eq (s_decode_ok (buf).u.ready.flags, ZP_READY_RETURN);
}

Test (proto, ready_held_and_return_exclude_each_other)
{
    zp_ready_t ready;
    s_ready_sample (&ready);
    ready.flags = ZP_READY_HELD | ZP_READY_RETURN;
    ready.running = 0;
    zp_ready_encode (buf, &ready, s_held);
    s_expect_reject_buf ("READY: HELD and RETURN both set");
}

Test (proto, ready_finished_above_received)
{
    zp_ready_t ready;
    s_ready_sample (&ready);
    ready.received = 5;
    ready.finished = 5;
    zp_ready_encode (buf, &ready, s_held);
    s_decode_ok (buf);
    ready.finished = 6;
    zp_ready_encode (buf, &ready, s_held);
    s_expect_reject_buf ("READY: finished above received");
    //  The sum the ventilator computes would wrap: the most extreme case.
    ready.received = 0;
    ready.finished = UINT64_MAX;
    zp_ready_encode (buf, &ready, s_held);
    s_expect_reject_buf ("READY: finished above received");
}

Test (proto, ready_held_list_without_flag)
{
    zp_ready_t ready;
    s_ready_sample (&ready);
    ready.flags = 0;
    ready.running = 0;
    zp_ready_encode (buf, &ready, s_held);
    s_expect_reject_buf ("READY: held list without HELD, LEAVING or RETURN flag");
    ready.flags = ZP_READY_DRAINING;
    zp_ready_encode (buf, &ready, s_held);
    s_expect_reject_buf ("READY: held list without HELD, LEAVING or RETURN flag");
}

Test (proto, ready_running_rules)
{
    zp_ready_t ready;
    s_ready_sample (&ready);
    ready.running = 4;
    zp_ready_encode (buf, &ready, s_held);
    s_expect_reject_buf ("READY: running above held_n");
    ready.running = 1;
    ready.flags = ZP_READY_LEAVING;
    zp_ready_encode (buf, &ready, s_held);
    s_expect_reject_buf ("READY: running without HELD flag");
    //  Patched in place: every held entry running is fine, one more is not
    s_encode_ready_sample ();
    s_patch_u32 (s_ready_capacity_at () + READY_RUNNING_AFTER_CAPACITY, 3);
    s_decode_ok (buf);
    s_patch_u32 (s_ready_capacity_at () + READY_RUNNING_AFTER_CAPACITY, UINT32_MAX);
    s_expect_reject_buf ("READY: running above held_n");
}

Test (proto, ready_held_n_larger_than_list)
{
    s_encode_ready_sample ();
    s_patch_u32 (s_ready_capacity_at () + READY_HELD_N_AFTER_CAPACITY, 4);
    s_expect_reject_buf ("READY: held_n exceeds entries present");
    s_patch_u32 (s_ready_capacity_at () + READY_HELD_N_AFTER_CAPACITY, UINT32_MAX);
    s_expect_reject_buf ("READY: held_n above 2^20");
    s_patch_u32 (s_ready_capacity_at () + READY_HELD_N_AFTER_CAPACITY, ZP_MAX_RECORDS + 1);
    s_expect_reject_buf ("READY: held_n above 2^20");
    //  And a held_n smaller than the list leaves trailing bytes
    s_patch_u32 (s_ready_capacity_at () + READY_HELD_N_AFTER_CAPACITY, 2);
    s_expect_reject_buf ("READY: trailing bytes");
}


//  --------------------------------------------------------------------------
//  TASKS rules

Test (proto, tasks_count_zero)
{
    zp_tasks_begin (buf, 1);
    s_expect_reject_buf ("TASKS: count 0");
    //  count 0 followed by a record is no better
    zp_tasks_add (buf, 0, 1, "x", 1);
    s_patch_u32 (TASKS_COUNT_AT, 0);
    s_expect_reject_buf ("TASKS: count 0");
}

Test (proto, tasks_count_larger_than_records)
{
    s_encode_tasks_sample ();
    s_patch_u32 (TASKS_COUNT_AT, 4);
    s_expect_reject_buf ("TASKS: count exceeds records present");
    s_patch_u32 (TASKS_COUNT_AT, ZP_MAX_RECORDS);
    s_expect_reject_buf ("TASKS: count exceeds records present");

    //  Room for the count in bytes, but the blob of the first record eats it
    zp_tasks_begin (buf, 1);
    zp_tasks_add (buf, 0, 1, s_hex, 100);
    s_patch_u32 (TASKS_COUNT_AT, 2);
    s_expect_reject_buf ("TASKS: record truncated");
}

Test (proto, tasks_count_smaller_than_records)
{
    s_encode_tasks_sample ();
    s_patch_u32 (TASKS_COUNT_AT, 2);
    s_expect_reject_buf ("TASKS: trailing bytes");
}

Test (proto, tasks_count_above_limit)
{
    s_encode_tasks_sample ();
    s_patch_u32 (TASKS_COUNT_AT, ZP_MAX_RECORDS + 1);
    s_expect_reject_buf ("TASKS: count above 2^20");
    s_patch_u32 (TASKS_COUNT_AT, UINT32_MAX);
    s_expect_reject_buf ("TASKS: count above 2^20");
}

Test (proto, tasks_blob_past_end)
{
    zp_tasks_begin (buf, 1);
    zp_tasks_add (buf, 0, 1, "abc", 3);
    s_patch_u32 (TASKS_RECORDS_AT + TASK_INPUT_LEN_AT, 4);
    s_expect_reject_buf ("TASKS: input length past end of frame");
    s_patch_u32 (TASKS_RECORDS_AT + TASK_INPUT_LEN_AT, UINT32_MAX);
    s_expect_reject_buf ("TASKS: input length past end of frame");
    //  A shorter length leaves bytes that are no record
    s_patch_u32 (TASKS_RECORDS_AT + TASK_INPUT_LEN_AT, 2);
    s_expect_reject_buf ("TASKS: trailing bytes");
}

Test (proto, tasks_iterations_out_of_range)
{
    const uint64_t bad [] = { 0, ZP_MAX_ITERATIONS + 1, UINT64_MAX };
    for (size_t index = 0; index < sizeof bad / sizeof bad [0]; index++) {
        zp_tasks_begin (buf, 1);
        zp_tasks_add (buf, 0, 1, "a", 1);
        zp_tasks_add (buf, 1, bad [index], "b", 1);
        s_expect_reject_buf ("TASKS: iterations out of range");
    }
}


//  --------------------------------------------------------------------------
//  RESULTS rules

static void
s_encode_one_result (uint8_t status, uint64_t iterations)
{
    zp_results_begin (buf, 1, "worker-1", 2);
    zp_result_t result = {
        .task = 0, .status = status, .iterations = iterations,
        .input = (const uint8_t *) "in", .input_size = 2,
        .output = (const uint8_t *) "out", .output_size = 3
    };
    zp_results_add (buf, &result);
}

Test (proto, results_count_zero)
{
    zp_results_begin (buf, 1, "worker-1", 2);
    s_expect_reject_buf ("RESULTS: count 0");
}

Test (proto, results_count_mismatch)
{
    s_encode_results_sample ();
    size_t count_at = RESULTS_RECORDS_AT - 4;
    s_patch_u32 (count_at, 3);
    s_expect_reject_buf ("RESULTS: record truncated");
    s_patch_u32 (count_at, 100);
    s_expect_reject_buf ("RESULTS: count exceeds records present");
    s_patch_u32 (count_at, ZP_MAX_RECORDS + 1);
    s_expect_reject_buf ("RESULTS: count above 2^20");
    s_patch_u32 (count_at, 1);
    s_expect_reject_buf ("RESULTS: trailing bytes");
}

Test (proto, results_bad_status)
{
    const uint8_t bad [] = { 2, 3, 0x80, 0xff };
    for (size_t index = 0; index < sizeof bad; index++) {
        s_encode_one_result (bad [index], 1);
        s_expect_reject_buf ("RESULTS: status neither 0 nor 1");
    }
}

//  Version 2: attempts (a u8 after status) is 0 ... ZP_MAX_ATTEMPTS.
Test (proto, results_attempts)
{
    const uint8_t bad [] = { ZP_MAX_ATTEMPTS + 1, 0x80, 0xff };
    for (size_t index = 0; index < sizeof bad; index++) {
        s_encode_one_result (ZP_STATUS_FAILED, 1);
        s_patch_u8 (RESULTS_RECORDS_AT + 9, bad [index]);
        s_expect_reject_buf ("RESULTS: attempts above 100");
    }
    const uint8_t good [] = { 0, 1, ZP_MAX_ATTEMPTS };
    for (size_t index = 0; index < sizeof good; index++) {
        s_encode_one_result (ZP_STATUS_FAILED, 1);
        s_patch_u8 (RESULTS_RECORDS_AT + 9, good [index]);
        zp_msg_t msg = s_decode_ok (buf);
        zp_result_t result;
        cr_assert (zp_msg_next_result (&msg, &result));
        cr_assert_eq (result.attempts, good [index]);
    }
    //  A record cut right after status or inside attempts' neighbours
    s_encode_one_result (ZP_STATUS_OK, 1);
    zchunk_set (buf, zchunk_data (buf), RESULTS_RECORDS_AT + 9);
    s_expect_reject_buf ("RESULTS: count exceeds records present");
}

Test (proto, results_iterations_out_of_range)
{
    s_encode_one_result (ZP_STATUS_OK, 0);
    s_expect_reject_buf ("RESULTS: iterations out of range");
    s_encode_one_result (ZP_STATUS_FAILED, ZP_MAX_ITERATIONS + 1);
    s_expect_reject_buf ("RESULTS: iterations out of range");
}

Test (proto, results_host_with_nul)
{
    s_encode_one_result (ZP_STATUS_OK, 1);
    s_patch_u8 (RESULTS_HOST_AT + 1 + 3, 0);
    s_expect_reject_buf ("RESULTS: host contains NUL");
}

Test (proto, results_host_length_past_end)
{
    zp_results_begin (buf, 1, "", 2);
    s_patch_u8 (RESULTS_HOST_AT, 200);
    s_expect_reject_buf ("RESULTS: truncated in host");
}

Test (proto, results_blobs_past_end)
{
    //  Record: task 8, status 1, attempts 1, iterations 8, elapsed 8, input length 4
    size_t input_len_at = RESULTS_RECORDS_AT + 26;
    size_t output_len_at = input_len_at + 4 + 2;
    s_encode_one_result (ZP_STATUS_OK, 1);
    s_patch_u32 (input_len_at, 2 + 4 + 3 + 1);
    s_expect_reject_buf ("RESULTS: input length past end of frame");
    s_encode_one_result (ZP_STATUS_OK, 1);
    s_patch_u32 (input_len_at, 2 + 4 + 3);
    s_expect_reject_buf ("RESULTS: record truncated");
    s_encode_one_result (ZP_STATUS_OK, 1);
    s_patch_u32 (output_len_at, 4);
    s_expect_reject_buf ("RESULTS: output length past end of frame");
    s_patch_u32 (output_len_at, UINT32_MAX);
    s_expect_reject_buf ("RESULTS: output length past end of frame");
}


//  --------------------------------------------------------------------------
//  BATCH rules

Test (proto, batch_undefined_flags)
{
    const uint8_t flags [] = { 0x10, 0x20, 0x80, 0xff };
    for (size_t index = 0; index < sizeof flags; index++) {
        s_encode_batch_sample ();
        s_patch_u8 (BATCH_FLAGS_AT, flags [index]);
        s_expect_reject_buf ("BATCH: undefined flag bits set");
    }
}

Test (proto, batch_iterations_out_of_range)
{
    zp_batch_t batch = { .batch = 1, .iterations = 0 };
    zp_batch_encode (buf, &batch);
    s_expect_reject_buf ("BATCH: iterations out of range");
    batch.iterations = ZP_MAX_ITERATIONS + 1;
    zp_batch_encode (buf, &batch);
    s_expect_reject_buf ("BATCH: iterations out of range");
}


//  --------------------------------------------------------------------------
//  ACK rules

Test (proto, ack_undefined_flags)
{
    const uint8_t flags [] = { 0x08, 0x40, 0xff };
    for (size_t index = 0; index < sizeof flags; index++) {
        s_encode_ack_sample ();
        s_patch_u8 (ACK_FLAGS_AT, flags [index]);
        s_expect_reject_buf ("ACK: undefined flag bits set");
    }
}

Test (proto, ack_count_mismatch)
{
    s_encode_ack_sample ();
    s_patch_u32 (ACK_COUNT_AT, 4);
    s_expect_reject_buf ("ACK: count exceeds ids present");
    s_patch_u32 (ACK_COUNT_AT, 2);
    s_expect_reject_buf ("ACK: trailing bytes");
    s_patch_u32 (ACK_COUNT_AT, UINT32_MAX);
    s_expect_reject_buf ("ACK: count above 65536");
    //  A partial id
    s_encode_ack_sample ();
    s_append_byte (0);
    s_patch_u32 (ACK_COUNT_AT, 4);
    s_expect_reject_buf ("ACK: count exceeds ids present");
}


//  --------------------------------------------------------------------------
//  STATS (worker process -> sink): round trip, every field at its edges,
//  truncation anywhere, and each rule

//  Offsets for the sample host "worker-1" and engine "avx2"
#define STATS_FLAGS_AT     4
#define STATS_HOST_AT      9
#define STATS_ENGINE_AT    (STATS_HOST_AT + 1 + 8)
#define STATS_INTERVAL_AT  (STATS_ENGINE_AT + 1 + 4)
#define STATS_HELD_AT      (STATS_INTERVAL_AT + 4 + 8 * 5)
#define STATS_RUNNING_AT   (STATS_HELD_AT + 4)
#define STATS_LIST_AT      (STATS_RUNNING_AT + 4)

static void
s_stats_sample (zp_stats_t *stats)
{
    memset (stats, 0, sizeof *stats);
    stats->pid = 4242;
    strcpy (stats->host, "worker-1");
    strcpy (stats->engine, "avx2");
    stats->interval_ms = 1000;
    stats->uptime_ms = 61500;
    stats->tasks = 12;
    stats->steps = UINT64_C (12000000);
    stats->steps_per_s = 4300000;
    stats->rss_bytes = UINT64_C (9) << 20;
    stats->held = 5;
    stats->running = 3;
}

static void
s_encode_stats_sample (void)
{
    zp_stats_t stats;
    s_stats_sample (&stats);
    zp_stats_encode (buf, &stats, s_held);
}

Test (proto, stats_round_trip)
{
    s_encode_stats_sample ();
    cr_assert_eq (zchunk_size (buf), STATS_LIST_AT + 3 * 16);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.type, ZP_STATS);
    const zp_stats_t *stats = &msg.u.stats;
    cr_assert_eq (stats->flags, 0);
    cr_assert_eq (stats->pid, 4242);
    cr_assert_str_eq (stats->host, "worker-1");
    cr_assert_str_eq (stats->engine, "avx2");
    cr_assert_eq (stats->interval_ms, 1000);
    cr_assert_eq (stats->uptime_ms, 61500);
    cr_assert_eq (stats->tasks, 12);
    cr_assert_eq (stats->steps, 12000000);
    cr_assert_eq (stats->steps_per_s, 4300000);
    cr_assert_eq (stats->rss_bytes, UINT64_C (9) << 20);
    cr_assert_eq (stats->held, 5);
    cr_assert_eq (stats->running, 3);
    for (uint32_t index = 0; index < 3; index++) {
        zp_ref_t ref = zp_msg_stats_running (&msg, index);
        cr_assert_eq (ref.batch, s_held [index].batch);
        cr_assert_eq (ref.task, s_held [index].task);
    }
}

Test (proto, stats_edge_values)
{
    zp_stats_t stats;
    s_stats_sample (&stats);
    stats.flags = ZP_STATS_LEAVING;
    stats.pid = UINT32_MAX;
    memset (stats.host, 'h', 255);
    stats.host [255] = 0;
    stats.engine [0] = 0;
    stats.interval_ms = 1;
    stats.uptime_ms = UINT64_MAX;
    stats.tasks = UINT64_MAX;
    stats.steps = UINT64_MAX;
    stats.steps_per_s = UINT64_MAX;
    stats.rss_bytes = 0;
    stats.held = UINT32_MAX;
    stats.running = 0;
    zp_stats_encode (buf, &stats, NULL);
    zp_msg_t msg = s_decode_ok (buf);
    cr_assert_eq (msg.u.stats.flags, ZP_STATS_LEAVING);
    cr_assert_eq (msg.u.stats.pid, UINT32_MAX);
    cr_assert_eq (strlen (msg.u.stats.host), 255);
    cr_assert_str_eq (msg.u.stats.engine, "");
    cr_assert_eq (msg.u.stats.interval_ms, 1);
    cr_assert_eq (msg.u.stats.uptime_ms, UINT64_MAX);
    cr_assert_eq (msg.u.stats.steps_per_s, UINT64_MAX);
    cr_assert_eq (msg.u.stats.held, UINT32_MAX);
    cr_assert_eq (msg.u.stats.running, 0);
}

Test (proto, stats_prefixes)
{
    s_encode_stats_sample ();
    s_every_prefix_refused ();
}

Test (proto, stats_truncation_reasons)
{
    s_encode_stats_sample ();
    s_expect_reject (zchunk_data (buf), STATS_HOST_AT - 1, "STATS: truncated before host");
    s_expect_reject (zchunk_data (buf), STATS_HOST_AT + 3, "STATS: truncated in host");
    s_expect_reject (zchunk_data (buf), STATS_ENGINE_AT + 2, "STATS: truncated in engine");
    s_expect_reject (zchunk_data (buf), STATS_RUNNING_AT + 3,
                     "STATS: truncated before running list");
    s_expect_reject (zchunk_data (buf), zchunk_size (buf) - 1,
                     "STATS: running exceeds entries present");
}

Test (proto, stats_trailing_byte)
{
    s_encode_stats_sample ();
    s_append_byte (0);
    s_expect_reject_buf ("STATS: trailing bytes");
}

Test (proto, stats_undefined_flags)
{
    for (unsigned bit = 1; bit < 8; bit++) {
        s_encode_stats_sample ();
        s_patch_u8 (STATS_FLAGS_AT, (uint8_t) (1u << bit));
        s_expect_reject_buf ("STATS: undefined flag bits set");
    }
}

Test (proto, stats_names_with_nul)
{
    s_encode_stats_sample ();
    s_patch_u8 (STATS_HOST_AT + 3, 0);
    s_expect_reject_buf ("STATS: host contains NUL");
    s_encode_stats_sample ();
    s_patch_u8 (STATS_ENGINE_AT + 1, 0);
    s_expect_reject_buf ("STATS: engine contains NUL");
}

Test (proto, stats_interval_zero)
{
    s_encode_stats_sample ();
    s_patch_u32 (STATS_INTERVAL_AT, 0);
    s_expect_reject_buf ("STATS: interval 0");
    s_patch_u32 (STATS_INTERVAL_AT, 1);
    s_decode_ok (buf);
}

Test (proto, stats_running_rules)
{
    //  running may equal held, never exceed it
    s_encode_stats_sample ();
    s_patch_u32 (STATS_HELD_AT, 3);
    s_decode_ok (buf);
    s_patch_u32 (STATS_HELD_AT, 2);
    s_expect_reject_buf ("STATS: running above held");
    //  A count the entries do not back, above and below
    s_encode_stats_sample ();
    s_patch_u32 (STATS_RUNNING_AT, 4);
    s_expect_reject_buf ("STATS: running exceeds entries present");
    s_encode_stats_sample ();
    s_patch_u32 (STATS_RUNNING_AT, 2);
    s_expect_reject_buf ("STATS: trailing bytes");
    //  Past the protocol's limit, even with held that high
    s_encode_stats_sample ();
    s_patch_u32 (STATS_HELD_AT, UINT32_MAX);
    s_patch_u32 (STATS_RUNNING_AT, ZP_MAX_RECORDS + 1);
    s_expect_reject_buf ("STATS: running above 2^20");
}
