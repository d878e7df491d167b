/*  test_stream - the sink's side of streams: task ids a batch without its
    total accepts (BATCH without TOTAL counts the tasks so far, docs/protocol.md
    "Streams"), that such a batch is never complete, and the NDJSON lines of
    sink --format ndjson (one per result, one summary line).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "../../sink/batch.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char HASH [] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static zp_result_t
s_result (uint64_t task, const char *input, size_t input_size)
{
    zp_result_t result = {
        .task = task, .status = ZP_STATUS_OK, .iterations = 3, .elapsed_ns = 1000,
        .input = (const uint8_t *) input, .input_size = input_size,
        .output = (const uint8_t *) HASH, .output_size = 128
    };
    return result;
}

static void
s_announce (batch_t *batch, uint8_t flags, uint64_t total)
{
    zp_batch_t message = { .batch = batch->id, .flags = flags, .total = total,
                           .iterations = 3 };
    cr_assert_eq (batch_announce (batch, &message, 1e9), 0);
}

Test (stream, ids_up_to_the_count_so_far_plus_2_20)
{
    batch_t *batch = batch_new (7);
    s_announce (batch, ZP_BATCH_STARTED, 10);
    zp_result_t last = s_result (10 + BATCH_STREAM_AHEAD - 1, "a", 1);
    zp_result_t beyond = s_result (10 + BATCH_STREAM_AHEAD, "b", 1);
    cr_assert_eq (batch_accept (batch, "h", 1, &last, 1e9), 1);
    cr_assert_eq (batch_accept (batch, "h", 1, &beyond, 1e9), -1,
                  "a task id 2^20 beyond the count so far is refused");
    //  A later BATCH counts more tasks: the window moves with it.
    s_announce (batch, ZP_BATCH_STARTED, 11);
    cr_assert_eq (batch_accept (batch, "h", 1, &beyond, 1e9), 1);
    //  An older, smaller count does not take it back.
    s_announce (batch, ZP_BATCH_STARTED, 5);
    zp_result_t again = s_result (5 + BATCH_STREAM_AHEAD + 3, "c", 1);
    cr_assert_eq (batch_accept (batch, "h", 1, &again, 1e9), 1);
    batch_destroy (&batch);
}

Test (stream, unannounced_batches_keep_their_limit)
{
    batch_t *batch = batch_new (7);
    zp_result_t result = s_result (BATCH_UNANNOUNCED_LIMIT, "a", 1);
    cr_assert_eq (batch_accept (batch, "h", 1, &result, 1e9), -1);
    result.task = BATCH_UNANNOUNCED_LIMIT - 1;
    cr_assert_eq (batch_accept (batch, "h", 1, &result, 1e9), 1);
    batch_destroy (&batch);
}

Test (stream, never_complete_before_the_total)
{
    batch_t *batch = batch_new (7);
    s_announce (batch, ZP_BATCH_STARTED, 0);
    cr_assert_not (batch_complete (batch), "an empty stream so far is not an empty batch");
    for (uint64_t task = 0; task < 2; task++) {
        zp_result_t result = s_result (task, "x", 1);
        cr_assert_eq (batch_accept (batch, "h", 1, &result, 1e9), 1);
    }
    s_announce (batch, ZP_BATCH_STARTED, 2);
    cr_assert_not (batch_complete (batch), "every task so far is in, but the stream goes on");
    s_announce (batch, ZP_BATCH_STARTED | ZP_BATCH_TOTAL, 3);
    cr_assert_not (batch_complete (batch));
    zp_result_t result = s_result (2, "y", 1);
    cr_assert_eq (batch_accept (batch, "h", 1, &result, 1e9), 1);
    cr_assert (batch_complete (batch));
    batch_destroy (&batch);
}

Test (stream, a_total_below_a_held_id_is_refused)
{
    batch_t *batch = batch_new (7);
    s_announce (batch, ZP_BATCH_STARTED, 10);
    zp_result_t result = s_result (9, "x", 1);
    cr_assert_eq (batch_accept (batch, "h", 1, &result, 1e9), 1);
    zp_batch_t message = { .batch = 7, .flags = ZP_BATCH_TOTAL, .total = 9, .iterations = 3 };
    cr_assert_eq (batch_announce (batch, &message, 1e9), -1);
    batch_destroy (&batch);
}

//  Write with fn into memory and parse the one line back.
static json_t *
s_line (char **text)
{
    size_t size = strlen (*text);
    cr_assert_gt (size, 1);
    cr_assert_eq ((*text) [size - 1], '\n', "a line ends with LF");
    cr_assert_null (memchr (*text, '\n', size - 1), "one line: %s", *text);
    json_error_t error;
    json_t *line = json_loadb (*text, size, 0, &error);
    cr_assert_not_null (line, "not JSON: %s (%s)", *text, error.text);
    free (*text);
    *text = NULL;
    return line;
}

static json_t *
s_result_line (const zp_result_t *result)
{
    char *text;
    size_t size;
    FILE *file = open_memstream (&text, &size);
    cr_assert_eq (batch_write_result_line (0x0123456789abcdefULL, result, file), 0);
    fclose (file);
    return s_line (&text);
}

Test (ndjson, a_result_line)
{
    zp_result_t result = s_result (41, "tab\there \"quoted\"", 17);
    json_t *line = s_result_line (&result);
    cr_assert_eq (json_object_size (line), 4);
    cr_assert_str_eq (json_string_value (json_object_get (line, "batch")), "0123456789abcdef");
    cr_assert_eq (json_integer_value (json_object_get (line, "task")), 41);
    cr_assert_str_eq (json_string_value (json_object_get (line, "input")),
                      "tab\there \"quoted\"");
    cr_assert_str_eq (json_string_value (json_object_get (line, "hash")), HASH);
    json_decref (line);
}

Test (ndjson, input_not_utf8_is_base64)
{
    zp_result_t result = s_result (0, "\xff\x00" "a", 3);
    json_t *line = s_result_line (&result);
    cr_assert_null (json_object_get (line, "input"));
    cr_assert_str_eq (json_string_value (json_object_get (line, "input_base64")), "/wBh");
    cr_assert_str_eq (json_string_value (json_object_get (line, "hash")), HASH);
    json_decref (line);
}

Test (ndjson, a_failed_task_has_error)
{
    zp_result_t result = s_result (3, "in", 2);
    result.status = ZP_STATUS_FAILED;
    result.output = (const uint8_t *) "too many iterations";
    result.output_size = 19;
    json_t *line = s_result_line (&result);
    cr_assert_null (json_object_get (line, "hash"));
    cr_assert_str_eq (json_string_value (json_object_get (line, "input")), "in");
    cr_assert_str_eq (json_string_value (json_object_get (line, "error")),
                      "too many iterations");
    cr_assert_eq (json_integer_value (json_object_get (line, "task")), 3);
    json_decref (line);
}

Test (ndjson, a_hash_not_utf8_is_an_error)
{
    zp_result_t result = s_result (0, "a", 1);
    result.output = (const uint8_t *) "\xff";
    result.output_size = 1;
    char *text;
    size_t size;
    FILE *file = open_memstream (&text, &size);
    cr_assert_eq (batch_write_result_line (1, &result, file), -1);
    fclose (file);
    cr_assert_eq (size, 0, "nothing is written");
    free (text);
}

Test (ndjson, summary_line_and_the_held_results)
{
    batch_t *batch = batch_new (0x42);
    s_announce (batch, ZP_BATCH_STARTED | ZP_BATCH_TOTAL, 2);
    zp_result_t second = s_result (1, "two", 3), first = s_result (0, "one", 3);
    cr_assert_eq (batch_accept (batch, "h", 9, &second, 1e9 + 1), 1);
    cr_assert_eq (batch_accept (batch, "h", 9, &first, 1e9 + 2), 1);
    char *text;
    size_t size;
    FILE *file = open_memstream (&text, &size);
    cr_assert_eq (batch_write_result_lines (batch, file), 0);
    fclose (file);
    //  In task order, one line each.
    char *newline = strchr (text, '\n');
    cr_assert_not_null (newline);
    char *rest = strdup (newline + 1);
    newline [1] = 0;
    json_t *line = s_line (&text);
    cr_assert_eq (json_integer_value (json_object_get (line, "task")), 0);
    json_decref (line);
    line = s_line (&rest);
    cr_assert_eq (json_integer_value (json_object_get (line, "task")), 1);
    cr_assert_str_eq (json_string_value (json_object_get (line, "input")), "two");
    json_decref (line);

    file = open_memstream (&text, &size);
    cr_assert_eq (batch_write_summary_line (batch, file, true), 0);
    fclose (file);
    json_t *summary = s_line (&text);
    cr_assert_null (json_object_get (summary, "data"), "the results were lines already");
    cr_assert_null (json_object_get (summary, "task"), "a summary has no task");
    cr_assert (json_is_true (json_object_get (summary, "complete")));
    cr_assert_str_eq (json_string_value (json_object_get (summary, "batch")),
                      "0000000000000042");
    cr_assert_eq (json_integer_value (json_object_get (summary, "tasks")), 2);
    cr_assert_eq (json_integer_value (json_object_get (summary, "results")), 2);
    cr_assert_eq (json_integer_value (json_object_get (summary, "failed")), 0);
    cr_assert_not_null (json_object_get (summary, "totaltime_in_s"));
    json_decref (summary);
    batch_destroy (&batch);
}

//  The hand-written line is, byte for byte, what jansson writes.
Test (ndjson, the_line_is_what_jansson_writes)
{
    static const char *const inputs [] = {
        "plain", "with \"quotes\" and \\ backslash", "tab\tnewline\ncr\r",
        "control \x01\x1f\x7f", "h\xc3\xa9llo \xe6\x97\xa5\xf0\x9f\x98\x80", "/slash",
        "latin-1 caf\xe9", "overlong \xc0\xaf", "surrogate \xed\xa0\x80", "\xff"
    };
    size_t count = sizeof inputs / sizeof inputs [0];
    for (size_t i = 0; i <= count + 1; i++) {
        char *input;
        size_t input_size;
        if (i < count) {
            input = strdup (inputs [i]);
            input_size = strlen (input);
        }
        else {
            //  Longer than the writer's buffer; with a NUL, and once invalid.
            input_size = 100000;
            input = (char *) malloc (input_size);
            for (size_t k = 0; k < input_size; k++)
                input [k] = (char) ('a' + k % 26);
            input [5] = 0;
            if (i == count + 1)
                input [70000] = (char) 0xfe;
        }
        zp_result_t result = s_result (i * 1000003, input, input_size);
        char *text;
        size_t size;
        FILE *file = open_memstream (&text, &size);
        cr_assert_eq (batch_write_result_line (0xfedcba9876543210ULL, &result, file), 0);
        fclose (file);

        json_t *line = json_pack ("{s:s, s:I}", "batch", "fedcba9876543210",
                                  "task", (json_int_t) (i * 1000003));
        json_t *text_input = json_stringn (input, input_size);
        if (text_input)
            json_object_set_new (line, "input", text_input);
        else {
            unsigned char *encoded = (unsigned char *) malloc (4 * input_size / 3 + 8);
            EVP_EncodeBlock (encoded, (const unsigned char *) input, (int) input_size);
            json_object_set_new (line, "input_base64", json_string ((const char *) encoded));
            free (encoded);
        }
        json_object_set_new (line, "hash", json_string (HASH));
        char *expected = json_dumps (line, JSON_COMPACT | JSON_PRESERVE_ORDER);
        cr_assert_not_null (expected);
        cr_assert_eq (size, strlen (expected) + 1, "input %zu: %zu bytes, expected %zu", i,
                      size, strlen (expected) + 1);
        cr_assert (memcmp (text, expected, size - 1) == 0, "input %zu: got %.80s, expected %.80s",
                   i, text, expected);
        cr_assert_eq (text [size - 1], '\n');
        free (expected);
        json_decref (line);
        free (text);
        free (input);
    }
}
