/*  gen_corpus - writes the seed corpus of fuzz_proto into a directory.

    Run once, by hand, when the protocol changes (from the repo root):
        cc -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Ishared \
            $(pkg-config --cflags libczmq) tests/fuzz/gen_corpus.c \
            shared/zp_proto.c $(pkg-config --libs libczmq libzmq) \
            -o /tmp/gen_corpus && /tmp/gen_corpus tests/corpus/proto

    File names say what the replay test (tests/unit/test_corpus.c) expects:
    "ok-*" must decode, "bad-*" must be refused. Names without either prefix
    (inputs the fuzzer found) only have to pass the round-trip checks.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_dir;

static void
s_write (const char *name, const void *data, size_t size)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *file = fopen (path, "wb");
    if (!file || (size && fwrite (data, 1, size, file) != size) || fclose (file)) {
        fprintf (stderr, "gen_corpus: can't write %s\n", path);
        exit (EXIT_FAILURE);
    }
}

static void
s_write_chunk (const char *name, zchunk_t *buf)
{
    s_write (name, zchunk_data (buf), zchunk_size (buf));
}

int
main (int argc, char *argv [])
{
    if (argc != 2) {
        fprintf (stderr, "usage: gen_corpus directory\n");
        return EXIT_FAILURE;
    }
    s_dir = argv [1];
    zchunk_t *buf = zchunk_new (NULL, 0);

    zp_ready_t ready;
    memset (&ready, 0, sizeof ready);
    ready.flags = ZP_READY_HELD;
    ready.pid = 4242;
    strcpy (ready.host, "worker-1");
    strcpy (ready.engine, "sha512-chain");
    ready.capacity = 8;
    ready.received = 10;
    ready.finished = 8;
    ready.replaces = 4141;
    ready.running = 1;
    ready.held_n = 2;
    zp_ref_t held [2] = { { 77, 8 }, { 77, 9 } };
    zp_ready_encode (buf, &ready, held);
    s_write_chunk ("ok-ready-held.bin", buf);

    ready.flags = ZP_READY_LEAVING;
    ready.capacity = 0;
    ready.running = 0;
    zp_ready_encode (buf, &ready, held);
    s_write_chunk ("ok-ready-leaving.bin", buf);

    ready.flags = ZP_READY_DRAINING | ZP_READY_RETURN;
    zp_ready_encode (buf, &ready, held);
    s_write_chunk ("ok-ready-draining-return.bin", buf);

    ready.flags = ZP_READY_HELD | ZP_READY_RETURN;
    ready.capacity = 4;
    zp_ready_encode (buf, &ready, held);
    s_write_chunk ("bad-ready-held-and-return.bin", buf);

    ready.flags = ZP_READY_HELD;
    ready.running = 3;
    zp_ready_encode (buf, &ready, held);
    s_write_chunk ("bad-ready-running-above-held.bin", buf);

    ready.flags = 0;
    ready.running = 0;
    zp_ready_encode (buf, &ready, held);
    s_write_chunk ("bad-ready-held-without-flag.bin", buf);

    zp_tasks_begin (buf, 77);
    zp_tasks_add (buf, 0, 1, "hello", 5);
    zp_tasks_add (buf, 1, 1000, "", 0);
    zp_tasks_add (buf, 2, ZP_MAX_ITERATIONS, "a\0b", 3);
    s_write_chunk ("ok-tasks.bin", buf);
    //  The same, one byte short: a truncation in the last record
    s_write ("bad-tasks-truncated.bin", zchunk_data (buf), zchunk_size (buf) - 1);

    zp_tasks_begin (buf, 77);
    s_write_chunk ("bad-tasks-count-0.bin", buf);

    zp_tasks_begin (buf, 77);
    zp_tasks_add (buf, 0, 0, "x", 1);
    s_write_chunk ("bad-tasks-iterations-0.bin", buf);

    zp_results_begin (buf, 4242, "worker-1", 77);
    zp_result_t ok = {
        .task = 0, .status = ZP_STATUS_OK, .iterations = 1, .elapsed_ns = 1500,
        .input = (const uint8_t *) "hello", .input_size = 5,
        .output = (const uint8_t *) "9b71d224bd62f3785d96d46ad3ea3d73", .output_size = 32
    };
    zp_results_add (buf, &ok);
    zp_result_t failed = {
        .task = 1, .status = ZP_STATUS_FAILED, .attempts = 3, .iterations = 1000,
        .elapsed_ns = 0,
        .input = NULL, .input_size = 0,
        .output = (const uint8_t *) "empty input", .output_size = 11
    };
    zp_results_add (buf, &failed);
    s_write_chunk ("ok-results.bin", buf);

    zp_results_begin (buf, 4242, "worker-1", 77);
    failed.status = 2;
    zp_results_add (buf, &failed);
    s_write_chunk ("bad-results-status-2.bin", buf);
    //  Version 2: attempts above 100 (the byte after status)
    zp_results_begin (buf, 4242, "worker-1", 77);
    failed.status = ZP_STATUS_FAILED;
    zp_results_add (buf, &failed);
    zchunk_data (buf) [ZP_HEADER_SIZE + 4 + 1 + 8 + 8 + 4 + 8 + 1] = 101;
    s_write_chunk ("bad-results-attempts-101.bin", buf);
    //  A version-1 RESULTS (no attempts byte): refused by its version
    zp_results_begin (buf, 4242, "worker-1", 77);
    zp_results_add (buf, &ok);
    zchunk_data (buf) [2] = 1;
    s_write_chunk ("bad-results-version-1.bin", buf);

    zp_batch_t batch = {
        .batch = UINT64_C (0x1122334455667788),
        .flags = ZP_BATCH_STARTED | ZP_BATCH_TOTAL,
        .total = 3, .iterations = 1000, .started_us = 250000, .rejected = 1,
        .digest = UINT64_C (0x8877665544332211), .redelivered = 2, .worker_restarts = 1
    };
    zp_batch_encode (buf, &batch);
    s_write_chunk ("ok-batch.bin", buf);
    //  Another version and an unknown type, on an otherwise valid BATCH
    zchunk_data (buf) [2] = ZP_PROTO_VERSION + 1;
    s_write_chunk ("bad-version-3.bin", buf);
    zchunk_data (buf) [2] = ZP_PROTO_VERSION;
    zchunk_data (buf) [3] = 0x77;
    s_write_chunk ("bad-unknown-type.bin", buf);
    zchunk_data (buf) [3] = ZP_BATCH;
    zchunk_data (buf) [0] = 'z';
    s_write_chunk ("bad-signature.bin", buf);

    zp_ack_begin (buf, 77, ZP_ACK_SNAPSHOT, 2);
    zp_ack_add (buf, 0);
    zp_ack_add (buf, 1);
    s_write_chunk ("ok-ack.bin", buf);
    zchunk_extend (buf, "", 1);
    s_write_chunk ("bad-ack-trailing-byte.bin", buf);

    zp_ack_begin (buf, 77, ZP_ACK_COMPLETE, 3);
    s_write_chunk ("ok-ack-empty.bin", buf);

    zp_ack_begin (buf, 78, ZP_ACK_SNAPSHOT | ZP_ACK_ADOPT, 1);
    zp_ack_add (buf, 2);
    s_write_chunk ("ok-ack-adopt.bin", buf);

    zp_stats_t stats;
    memset (&stats, 0, sizeof stats);
    stats.pid = 4242;
    strcpy (stats.host, "worker-1");
    strcpy (stats.engine, "avx2");
    stats.interval_ms = 1000;
    stats.uptime_ms = 61500;
    stats.tasks = 12;
    stats.steps = 12000000;
    stats.steps_per_s = 4300000;
    stats.rss_bytes = 9 << 20;
    stats.held = 4;
    stats.running = 2;
    zp_stats_encode (buf, &stats, held);
    s_write_chunk ("ok-stats.bin", buf);
    stats.flags = ZP_STATS_LEAVING;
    stats.held = 0;
    stats.running = 0;
    zp_stats_encode (buf, &stats, NULL);
    s_write_chunk ("ok-stats-leaving.bin", buf);
    stats.flags = 0;
    stats.held = 1;
    stats.running = 2;
    zp_stats_encode (buf, &stats, held);
    s_write_chunk ("bad-stats-running-above-held.bin", buf);
    stats.held = 2;
    stats.interval_ms = 0;
    zp_stats_encode (buf, &stats, held);
    s_write_chunk ("bad-stats-interval-0.bin", buf);
    stats.interval_ms = 1000;
    zp_stats_encode (buf, &stats, held);
    s_write ("bad-stats-truncated.bin", zchunk_data (buf), zchunk_size (buf) - 1);

    s_write ("bad-empty.bin", "", 0);
    s_write ("bad-header-only.bin", "ZP\x02", 3);

    zchunk_destroy (&buf);
    return EXIT_SUCCESS;
}
