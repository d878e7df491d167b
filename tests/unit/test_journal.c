/*  test_journal - the sink's journal: what is written is read back the
    same (bytes of every kind, batch meta, completions), a line cut short by
    a crash is dropped and cut off so appending goes on cleanly, and any
    other damage is refused with the line number.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "../../sink/journal.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path [64];

static void
s_setup (void)
{
    snprintf (path, sizeof path, "/tmp/zp-test-journal-%d.ndjson", (int) getpid ());
    unlink (path);
    //  The journal logs its complaints (czmq logs to stdout unless told):
    //  keep them out of the test log.
    cr_redirect_stdout ();
    cr_redirect_stderr ();
}

static void
s_teardown (void)
{
    unlink (path);
}

TestSuite (journal, .init = s_setup, .fini = s_teardown);

static void
s_write_file (const char *text)
{
    FILE *file = fopen (path, "wb");
    cr_assert_not_null (file);
    fputs (text, file);
    fclose (file);
}

static batch_meta_t
s_meta_sample (void)
{
    batch_meta_t meta = {
        .digest = UINT64_C (0xfedcba9876543210), .total_known = true, .total = 1000,
        .iterations = 50000, .rejected = 2, .started = true, .start_wall = 1700000000.5,
        .redelivered = 7, .worker_restarts = 1, .redelivered_before = 3,
        .worker_restarts_before = 2
    };
    return meta;
}

Test (journal, round_trip)
{
    journal_t *journal = journal_open (path);
    cr_assert_not_null (journal);
    journal_record_t record;
    cr_assert_eq (journal_next (journal, &record), 0, "a new journal is empty");

    batch_meta_t meta = s_meta_sample ();
    cr_assert_eq (journal_write_batch (journal, 42, &meta), 0);
    batch_meta_t unknown = { .iterations = 1 };
    cr_assert_eq (journal_write_batch (journal, UINT64_MAX, &unknown), 0);
    const char hex [] = "0123456789abcdef";
    zp_result_t plain = {
        .task = 3, .status = ZP_STATUS_OK, .iterations = 50000, .elapsed_ns = 123456789,
        .input = (const uint8_t *) "h\xc3\xa9llo", .input_size = 6,
        .output = (const uint8_t *) hex, .output_size = 16
    };
    cr_assert_eq (journal_write_result (journal, 42, "worker-1", 4242, 1700000001.25, &plain), 0);
    zp_result_t awkward = {
        .task = 999, .status = ZP_STATUS_FAILED, .iterations = 1, .elapsed_ns = 0,
        .input = (const uint8_t *) "\xff\x00 nul\x00", .input_size = 7,
        .output = (const uint8_t *) "", .output_size = 0
    };
    cr_assert_eq (journal_write_result (journal, 42, "", 1, 1700000002, &awkward), 0);
    zp_result_t nul = {
        .task = 0, .status = ZP_STATUS_OK, .iterations = 2,
        .input = (const uint8_t *) "a\0b", .input_size = 3,
        .output = (const uint8_t *) "\xe2\x82", .output_size = 2
    };
    cr_assert_eq (journal_write_result (journal, 42, "h", 2, 1700000003, &nul), 0);
    cr_assert_eq (journal_write_complete (journal, 42), 0);
    cr_assert (journal_dirty (journal));
    cr_assert_eq (journal_sync (journal), 0);
    cr_assert_not (journal_dirty (journal));
    journal_destroy (&journal);
    journal_destroy (&journal);
    cr_assert_null (journal);

    journal = journal_open (path);
    cr_assert_not_null (journal);
    cr_assert_eq (journal_next (journal, &record), 1);
    cr_assert_eq (record.type, JOURNAL_BATCH);
    cr_assert_eq (record.batch, 42);
    cr_assert (batch_meta_equal (&record.meta, &meta));
    cr_assert_eq (journal_next (journal, &record), 1);
    cr_assert_eq (record.batch, UINT64_MAX);
    cr_assert_not (record.meta.total_known);
    cr_assert_not (record.meta.started);

    cr_assert_eq (journal_next (journal, &record), 1);
    cr_assert_eq (record.type, JOURNAL_RESULT);
    cr_assert_eq (record.batch, 42);
    cr_assert_str_eq (record.host, "worker-1");
    cr_assert_eq (record.pid, 4242);
    cr_assert_float_eq (record.time, 1700000001.25, 1e-6);
    cr_assert_eq (record.result.task, 3);
    cr_assert_eq (record.result.status, ZP_STATUS_OK);
    cr_assert_eq (record.result.iterations, 50000);
    cr_assert_eq (record.result.elapsed_ns, 123456789);
    cr_assert_eq (record.result.input_size, 6);
    cr_assert_arr_eq (record.result.input, "h\xc3\xa9llo", 6);
    cr_assert_eq (record.result.output_size, 16);
    cr_assert_arr_eq (record.result.output, hex, 16);

    cr_assert_eq (journal_next (journal, &record), 1);
    cr_assert_eq (record.result.task, 999);
    cr_assert_eq (record.result.status, ZP_STATUS_FAILED);
    cr_assert_str_eq (record.host, "");
    cr_assert_eq (record.result.input_size, 7);
    cr_assert_arr_eq (record.result.input, "\xff\x00 nul\x00", 7);
    cr_assert_eq (record.result.output_size, 0);

    cr_assert_eq (journal_next (journal, &record), 1);
    cr_assert_eq (record.result.input_size, 3);
    cr_assert_arr_eq (record.result.input, "a\0b", 3);
    cr_assert_eq (record.result.output_size, 2);
    cr_assert_arr_eq (record.result.output, "\xe2\x82", 2);

    cr_assert_eq (journal_next (journal, &record), 1);
    cr_assert_eq (record.type, JOURNAL_COMPLETE);
    cr_assert_eq (record.batch, 42);
    cr_assert_eq (journal_next (journal, &record), 0);
    journal_destroy (&journal);
}

Test (journal, a_line_cut_short_is_dropped_and_appending_goes_on)
{
    s_write_file ("{\"type\":\"complete\",\"batch\":\"000000000000002a\"}\n"
                  "{\"type\":\"result\",\"batch\":\"0000");
    journal_t *journal = journal_open (path);
    cr_assert_not_null (journal);
    journal_record_t record;
    cr_assert_eq (journal_next (journal, &record), 1);
    cr_assert_eq (record.type, JOURNAL_COMPLETE);
    cr_assert_eq (journal_next (journal, &record), 0);
    cr_assert_eq (journal_write_complete (journal, 43), 0);
    journal_destroy (&journal);

    journal = journal_open (path);
    cr_assert_eq (journal_next (journal, &record), 1);
    cr_assert_eq (record.batch, 42);
    cr_assert_eq (journal_next (journal, &record), 1);
    cr_assert_eq (record.batch, 43);
    cr_assert_eq (journal_next (journal, &record), 0);
    journal_destroy (&journal);
}

static void
s_expect_damaged (const char *text)
{
    s_write_file (text);
    journal_t *journal = journal_open (path);
    cr_assert_not_null (journal);
    journal_record_t record;
    int rc;
    while ((rc = journal_next (journal, &record)) == 1)
        ;
    cr_assert_eq (rc, -1, "accepted a damaged journal: %s", text);
    journal_destroy (&journal);
}

Test (journal, damage_is_refused)
{
    s_expect_damaged ("not json\n");
    s_expect_damaged ("\n");
    s_expect_damaged ("[1, 2]\n");
    s_expect_damaged ("{\"batch\":\"000000000000002a\"}\n");
    s_expect_damaged ("{\"type\":\"complete\",\"batch\":\"2a\"}\n");
    s_expect_damaged ("{\"type\":\"complete\",\"batch\":\"000000000000002A\"}\n");
    s_expect_damaged ("{\"type\":\"complete\",\"batch\":\"0x0000000000002a\"}\n");
    s_expect_damaged ("{\"type\":\"party\",\"batch\":\"000000000000002a\"}\n");
    //  A damaged line before a good one is damage, not a crash
    s_expect_damaged ("{\"type\":\"comp\n{\"type\":\"complete\",\"batch\":\"000000000000002a\"}\n");
    //  A result without its output, with a bad status, with bad base64
    s_expect_damaged ("{\"type\":\"result\",\"batch\":\"000000000000002a\",\"task\":1,\"status\":0,"
                      "\"iterations\":1,\"elapsed_ns\":1,\"host\":\"h\",\"pid\":1,\"time\":1.0,"
                      "\"input\":\"x\"}\n");
    s_expect_damaged ("{\"type\":\"result\",\"batch\":\"000000000000002a\",\"task\":1,\"status\":2,"
                      "\"iterations\":1,\"elapsed_ns\":1,\"host\":\"h\",\"pid\":1,\"time\":1.0,"
                      "\"input\":\"x\",\"output\":\"y\"}\n");
    s_expect_damaged ("{\"type\":\"result\",\"batch\":\"000000000000002a\",\"task\":1,\"status\":0,"
                      "\"iterations\":1,\"elapsed_ns\":1,\"host\":\"h\",\"pid\":1,\"time\":1.0,"
                      "\"input_base64\":\"abc\",\"output\":\"y\"}\n");
    s_expect_damaged ("{\"type\":\"result\",\"batch\":\"000000000000002a\",\"task\":-1,\"status\":0,"
                      "\"iterations\":1,\"elapsed_ns\":1,\"host\":\"h\",\"pid\":1,\"time\":1.0,"
                      "\"input\":\"x\",\"output\":\"y\"}\n");
    //  A batch record without its counters
    s_expect_damaged ("{\"type\":\"batch\",\"batch\":\"000000000000002a\",\"digest\":"
                      "\"0000000000000001\",\"total\":3,\"iterations\":1,\"rejected\":0,"
                      "\"starttime\":null}\n");
}

Test (journal, base64_round_trips_every_length)
{
    journal_t *journal = journal_open (path);
    cr_assert_not_null (journal);
    uint8_t bytes [8] = { 0xff, 0xfe, 0x00, 0x80, 0xc0, 0xff, 0x01, 0xfa };
    for (size_t size = 1; size <= sizeof bytes; size++) {
        zp_result_t result = {
            .task = size, .status = ZP_STATUS_OK, .iterations = 1,
            .input = bytes, .input_size = size, .output = bytes, .output_size = size
        };
        cr_assert_eq (journal_write_result (journal, 1, "h", 1, 1.0, &result), 0);
    }
    journal_destroy (&journal);
    journal = journal_open (path);
    journal_record_t record;
    for (size_t size = 1; size <= sizeof bytes; size++) {
        cr_assert_eq (journal_next (journal, &record), 1);
        cr_assert_eq (record.result.input_size, size);
        cr_assert_arr_eq (record.result.input, bytes, size);
        cr_assert_eq (record.result.output_size, size);
    }
    journal_destroy (&journal);
}

//  Version 2: a result's attempts is journalled and read back; a record
//  written before it (no "attempts") reads as 1; a bad one is damage.
Test (journal, attempts)
{
    journal_t *journal = journal_open (path);
    cr_assert_not_null (journal);
    zp_result_t failed = {
        .task = 7, .status = ZP_STATUS_FAILED, .attempts = 3, .iterations = 1,
        .input = (const uint8_t *) "x", .input_size = 1,
        .output = (const uint8_t *) "crashed", .output_size = 7
    };
    cr_assert_eq (journal_write_result (journal, 1, "h", 1, 1.0, &failed), 0);
    journal_destroy (&journal);
    FILE *file = fopen (path, "a");
    cr_assert_not_null (file);
    fputs ("{\"type\":\"result\",\"batch\":\"0000000000000001\",\"task\":8,\"status\":0,"
           "\"iterations\":1,\"elapsed_ns\":1,\"host\":\"h\",\"pid\":1,\"time\":1.0,"
           "\"input\":\"y\",\"output\":\"z\"}\n", file);
    fclose (file);
    journal = journal_open (path);
    journal_record_t record;
    cr_assert_eq (journal_next (journal, &record), 1);
    cr_assert_eq (record.result.task, 7);
    cr_assert_eq (record.result.attempts, 3);
    cr_assert_eq (journal_next (journal, &record), 1);
    cr_assert_eq (record.result.task, 8);
    cr_assert_eq (record.result.attempts, 1);
    journal_destroy (&journal);
    unlink (path);
    s_expect_damaged ("{\"type\":\"result\",\"batch\":\"000000000000002a\",\"task\":1,\"status\":1,"
                      "\"attempts\":101,\"iterations\":1,\"elapsed_ns\":1,\"host\":\"h\","
                      "\"pid\":1,\"time\":1.0,\"input\":\"x\",\"output\":\"y\"}\n");
    s_expect_damaged ("{\"type\":\"result\",\"batch\":\"000000000000002a\",\"task\":1,\"status\":1,"
                      "\"attempts\":\"3\",\"iterations\":1,\"elapsed_ns\":1,\"host\":\"h\","
                      "\"pid\":1,\"time\":1.0,\"input\":\"x\",\"output\":\"y\"}\n");
}
