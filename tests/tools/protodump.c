/*  protodump - fixed messages from the C encoders (shared/zp_proto.c), in hex,
    for tests/python/test_proto.py: the Python worker's encoders must produce
    the same bytes, and its decoder must read the TASKS.

        protodump

    Prints one line per message, "NAME HEX". The values are fixed here and
    repeated in the Python test: change both together.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_proto.h"

#include <stdio.h>

#define S_BATCH UINT64_C (0x0123456789abcdef)

static void
s_print (const char *name, zchunk_t *buf)
{
    printf ("%s ", name);
    for (size_t i = 0; i < zchunk_size (buf); i++)
        printf ("%02x", zchunk_data (buf) [i]);
    printf ("\n");
}

int
main (void)
{
    zchunk_t *buf = zchunk_new (NULL, 4096);
    if (!buf)
        return 1;

    zp_ref_t held [] = { { S_BATCH, 5 }, { S_BATCH, 6 } };
    zp_ready_t ready = {
        .flags = ZP_READY_HELD, .pid = 4242, .host = "host-a", .engine = "python/sha512-chain",
        .capacity = 2, .received = 7, .finished = 5, .replaces = 4141, .running = 1,
        .held_n = 2
    };
    zp_ready_encode (buf, &ready, held);
    s_print ("READY_HELD", buf);

    zp_ready_t back = {
        .flags = ZP_READY_RETURN | ZP_READY_DRAINING, .pid = 4242, .host = "host-a",
        .engine = "python/sha512-chain", .capacity = 0, .received = 7, .finished = 6,
        .held_n = 1
    };
    zp_ready_encode (buf, &back, held + 1);
    s_print ("READY_RETURN", buf);

    zp_ready_t leaving = {
        .flags = ZP_READY_LEAVING | ZP_READY_DRAINING, .pid = 4242, .host = "host-a",
        .engine = "python/sha512-chain", .capacity = 0, .received = 7, .finished = 7,
        .held_n = 1
    };
    zp_ready_encode (buf, &leaving, held);
    s_print ("READY_LEAVING", buf);

    //  One ok result (input with a NUL, any bytes out) and one failed.
    static const uint8_t input [] = { 'i', 'n', 0, 'p', 'u', 't' };
    static const char output [] = "e3b0c44298fc1c149afbf4c8996fb924";
    static const char reason [] = "ValueError: boom";
    zp_results_begin (buf, 4242, "host-a", S_BATCH);
    zp_result_t ok = {
        .task = 5, .status = ZP_STATUS_OK, .attempts = 1, .iterations = 1000,
        .elapsed_ns = 123456789, .input = input, .input_size = sizeof input,
        .output = (const uint8_t *) output, .output_size = sizeof output - 1
    };
    zp_results_add (buf, &ok);
    zp_result_t failed = {
        .task = 6, .status = ZP_STATUS_FAILED, .attempts = 1, .iterations = 1000,
        .elapsed_ns = 42, .input = NULL, .input_size = 0,
        .output = (const uint8_t *) reason, .output_size = sizeof reason - 1
    };
    zp_results_add (buf, &failed);
    s_print ("RESULTS", buf);

    zp_stats_t stats = {
        .flags = 0, .pid = 4242, .host = "host-a", .engine = "python/sha512-chain",
        .interval_ms = 1000, .uptime_ms = 5000, .tasks = 5, .steps = 5000,
        .steps_per_s = 1000, .rss_bytes = 12345678, .held = 2, .running = 1
    };
    zp_stats_encode (buf, &stats, held);
    s_print ("STATS", buf);

    zp_stats_t last = {
        .flags = ZP_STATS_LEAVING, .pid = 4242, .host = "host-a",
        .engine = "python/sha512-chain", .interval_ms = 1000, .uptime_ms = 6000,
        .tasks = 7, .steps = 7000, .rss_bytes = 0
    };
    zp_stats_encode (buf, &last, NULL);
    s_print ("STATS_LEAVING", buf);

    //  For the Python decoder: two tasks, one input with a NUL and a 0xff,
    //  one empty.
    static const uint8_t task_input [] = { 'z', 'p', 0, 0xff };
    zp_tasks_begin (buf, S_BATCH);
    zp_tasks_add (buf, 5, 1000, task_input, sizeof task_input);
    zp_tasks_add (buf, 6, 1, NULL, 0);
    s_print ("TASKS", buf);

    zchunk_destroy (&buf);
    return 0;
}
