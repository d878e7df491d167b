/*  test_batch - the sink's summary writer: the "data" array it writes by
    hand must be, byte for byte, what jansson wrote before (json_dumpf of
    one object per entry, JSON_PRESERVE_ORDER), for every kind of input:
    plain, escaped, control characters, NUL, every way UTF-8 can be valid
    or not, and entries longer than the writer's buffer.

    s_reference below is the code the writer replaced, kept as the oracle.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "../../sink/batch.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The entry as the jansson version of batch.c made it.
static json_t *
s_reference (const uint8_t *input, size_t input_size, const uint8_t *output, size_t output_size)
{
    json_t *entry = json_object ();
    json_t *value = json_stringn ((const char *) output, output_size);
    if (!entry || !value) {
        json_decref (entry);
        json_decref (value);
        return NULL;
    }
    if (json_object_setn (entry, (const char *) input, input_size, value) == 0) {
        json_decref (value);
        return entry;
    }
    size_t encoded_size = 4 * ((input_size + 2) / 3) + 1;
    unsigned char *encoded = (unsigned char *) malloc (encoded_size);
    cr_assert_not_null (encoded);
    EVP_EncodeBlock (encoded, input, (int) input_size);
    json_object_set_new (entry, "input_base64", json_string ((const char *) encoded));
    json_object_set (entry, "hash", value);
    free (encoded);
    json_decref (value);
    return entry;
}

typedef struct {
    uint8_t *input, *output;
    size_t input_size, output_size;
} item_t;

//  The whole "data" part of a summary as jansson would have written it.
static char *
s_expected (const item_t *items, size_t count, size_t *size)
{
    char *text;
    FILE *file = open_memstream (&text, size);
    fputs ("{\n  \"data\": [", file);
    for (size_t i = 0; i < count; i++) {
        json_t *entry = s_reference (items [i].input, items [i].input_size,
                                     items [i].output, items [i].output_size);
        cr_assert_not_null (entry, "the reference refused item %zu", i);
        fputs (i ? ",\n    " : "\n    ", file);
        json_dumpf (entry, file, JSON_PRESERVE_ORDER);
        json_decref (entry);
    }
    fputs (count ? "\n  ],\n" : "],\n", file);
    fclose (file);
    return text;
}

static batch_t *
s_batch (const item_t *items, size_t count)
{
    batch_t *batch = batch_new (42);
    cr_assert_not_null (batch);
    zp_batch_t announce = { .batch = 42, .flags = ZP_BATCH_TOTAL, .total = count,
                            .iterations = 1 };
    cr_assert_eq (batch_announce (batch, &announce, 1e9), 0);
    for (size_t i = 0; i < count; i++) {
        zp_result_t result = {
            .task = i, .status = ZP_STATUS_OK, .iterations = 1, .elapsed_ns = 1,
            .input = items [i].input, .input_size = items [i].input_size,
            .output = items [i].output, .output_size = items [i].output_size
        };
        cr_assert_eq (batch_accept (batch, "host", 1, &result, 1e9), 1);
    }
    return batch;
}

//  Write the summary and compare its "data" part with jansson's.
static void
s_check (const item_t *items, size_t count)
{
    batch_t *batch = s_batch (items, count);
    char *text;
    size_t size;
    FILE *file = open_memstream (&text, &size);
    cr_assert_eq (batch_write_summary (batch, file, true), 0);
    fclose (file);
    size_t expected_size;
    char *expected = s_expected (items, count, &expected_size);
    cr_assert_geq (size, expected_size);
    if (memcmp (text, expected, expected_size) != 0) {
        size_t at = 0;
        while (text [at] == expected [at])
            at++;
        cr_assert_fail ("first difference at byte %zu: got \"%.40s\", expected \"%.40s\"",
                        at, text + at, expected + at);
    }
    //  The rest of the document follows at once. (jansson cannot read the
    //  whole back: it refuses NUL in keys, which it writes as \u0000.)
    cr_assert (strncmp (text + expected_size, "  \"starttime\": ", 15) == 0);
    cr_assert (size >= 2 && strcmp (text + size - 2, "}\n") == 0);
    free (text);
    free (expected);
    batch_destroy (&batch);
}

static item_t
s_item (const void *input, size_t input_size, const void *output, size_t output_size)
{
    item_t item = { malloc (input_size + 1), malloc (output_size + 1), input_size, output_size };
    memcpy (item.input, input, input_size);
    memcpy (item.output, output, output_size);
    return item;
}

static void
s_free (item_t *items, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free (items [i].input);
        free (items [i].output);
    }
}

#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" \
             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ITEM(literal) s_item (literal, sizeof literal - 1, HASH, 128)

Test (batch, fixed_cases)
{
    item_t items [] = {
        ITEM ("2f1c0a6e-8d7e-4a53-9d0e-4c1f3b0e6a11"),
        ITEM ("with \"quotes\" and \\backslashes\\"),
        ITEM ("\b\f\n\r\t and \x01\x1f\x7f controls"),
        ITEM ("nul\0inside"),
        ITEM ("\0"),
        ITEM ("slash / stays"),
        ITEM ("h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"),
        ITEM ("\xef\xbb\xbf BOM and \xe2\x80\xa8 separator"),
        ITEM ("latin-1 caf\xe9"),
        ITEM ("\xff\xfe\xfd"),
        ITEM ("lone \x80 continuation"),
        ITEM ("overlong \xc0\xaf and \xc1\xbf"),
        ITEM ("overlong three \xe0\x80\xaf"),
        ITEM ("overlong four \xf0\x80\x80\xaf"),
        ITEM ("surrogate \xed\xa0\x80"),
        ITEM ("past U+10FFFF \xf4\x90\x80\x80"),
        ITEM ("\xf5\x80\x80\x80"),
        ITEM ("truncated \xe2\x82"),
        ITEM ("truncated at the end \xf0\x9f\x98"),
        ITEM ("a"),
        ITEM ("ab"),
        ITEM ("\xc3"),
        ITEM ("{\"input_base64\": \"x\"}"),
    };
    size_t count = sizeof items / sizeof items [0];
    //  An output that needs escaping (a failure reason, say).
    free (items [1].output);
    items [1] = (item_t) { items [1].input, (uint8_t *) strdup ("why: \"\t\"\n"),
                           items [1].input_size, 10 };
    s_check (items, count);
    s_free (items, count);
}

Test (batch, empty_batch)
{
    s_check (NULL, 0);
}

//  Entries far longer than the writer's 64 KiB buffer, escaped and
//  base64, with lengths that are not multiples of 3 around its pieces.
Test (batch, long_entries)
{
    size_t sizes [] = { 65535, 65536, 65537, 49148, 49149, 49150, 200001 };
    size_t count = sizeof sizes / sizeof sizes [0];
    item_t items [2 * sizeof sizes / sizeof sizes [0]];
    for (size_t i = 0; i < count; i++) {
        uint8_t *bytes = malloc (sizes [i]);
        for (size_t b = 0; b < sizes [i]; b++)
            bytes [b] = (uint8_t) (b % 7 == 0 ? '\n' : b % 5 == 0 ? '"' : 'a' + b % 26);
        items [2 * i] = s_item (bytes, sizes [i], HASH, 128);
        bytes [sizes [i] / 2] = 0xff;       //  not UTF-8: base64
        items [2 * i + 1] = s_item (bytes, sizes [i], HASH, 128);
        free (bytes);
    }
    s_check (items, 2 * count);
    s_free (items, 2 * count);
}

//  Random short inputs drawn from bytes that stress the UTF-8 check.
Test (batch, random_inputs)
{
    static const uint8_t alphabet [] = {
        'a', 'Z', '0', ' ', '"', '\\', '/', 0, 1, 0x1f, 0x7f, '\n', '\t',
        0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed,
        0xef, 0xf0, 0xf4, 0xf5, 0xff
    };
    srand (20251126);
    enum { COUNT = 20000 };
    item_t *items = calloc (COUNT, sizeof (item_t));
    cr_assert_not_null (items);
    size_t valid = 0;
    for (size_t i = 0; i < COUNT; i++) {
        uint8_t bytes [40];
        size_t size = 1 + (size_t) rand () % sizeof bytes;
        //  Mostly ASCII (the first 13), or nearly every string would be
        //  invalid UTF-8 at this length.
        for (size_t b = 0; b < size; b++)
            bytes [b] = alphabet [(size_t) rand () % (rand () % 16 ? 13 : sizeof alphabet)];
        items [i] = s_item (bytes, size, HASH, 128);
        json_t *probe = json_stringn ((const char *) bytes, size);
        valid += probe != NULL;
        json_decref (probe);
    }
    //  Both kinds must be well represented for the test to mean anything.
    cr_assert_gt (valid, COUNT / 20);
    cr_assert_lt (valid, COUNT - COUNT / 20);
    s_check (items, COUNT);
    s_free (items, COUNT);
    free (items);
}

//  The writer scans eight bytes at a time: one special byte at every
//  position of plain strings of several lengths, in keys and in outputs.
Test (batch, special_byte_everywhere)
{
    static const uint8_t specials [] = { '"', '\\', 0x00, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xc3, 0xff };
    enum { LONGEST = 26 };
    size_t count = 0;
    item_t *items = calloc (sizeof specials * LONGEST * LONGEST * 2, sizeof (item_t));
    cr_assert_not_null (items);
    for (size_t length = 1; length <= LONGEST; length++)
        for (size_t at = 0; at < length; at++)
            for (size_t k = 0; k < sizeof specials; k++) {
                uint8_t bytes [LONGEST + 1];
                memset (bytes, 'x', length);
                bytes [at] = specials [k];
                if (specials [k] == 0xc3 && at + 1 < length)
                    bytes [at + 1] = 0xa9;      //  a whole two-byte character
                items [count++] = s_item (bytes, length, HASH, 128);
                if (specials [k] < 0x80)        //  outputs must be UTF-8
                    items [count++] = s_item ("key", 3, bytes, length);
            }
    s_check (items, count);
    s_free (items, count);
    free (items);
}

//  A handler's output can be any bytes: one that is not UTF-8 is written
//  as "output_base64", and the summary stays valid JSON.
static json_t *
s_summary_of (batch_t *batch)
{
    char *text;
    size_t size;
    FILE *file = open_memstream (&text, &size);
    cr_assert_eq (batch_write_summary (batch, file, true), 0);
    fclose (file);
    json_error_t error;
    json_t *summary = json_loadb (text, size, 0, &error);
    cr_assert_not_null (summary, "not JSON: %s: %s", error.text, text);
    free (text);
    return summary;
}

Test (batch, output_not_utf8)
{
    item_t items [2] = {
        s_item ("input", 5, "\xff\x00ok", 4),
        s_item ("\xfe", 1, "\x80", 1)
    };
    batch_t *batch = s_batch (items, 2);
    json_t *summary = s_summary_of (batch);
    json_t *first = json_array_get (json_object_get (summary, "data"), 0);
    json_t *second = json_array_get (json_object_get (summary, "data"), 1);
    cr_assert_str_eq (json_string_value (json_object_get (first, "input")), "input");
    //  base64 of ff 00 6f 6b, and of 80; fe is "/g=="
    cr_assert_str_eq (json_string_value (json_object_get (first, "output_base64")), "/wBvaw==");
    cr_assert_eq (json_object_size (first), 2);
    cr_assert_str_eq (json_string_value (json_object_get (second, "input_base64")), "/g==");
    cr_assert_str_eq (json_string_value (json_object_get (second, "output_base64")), "gA==");
    cr_assert_eq (json_object_size (second), 2);
    json_decref (summary);
    batch_destroy (&batch);
    s_free (items, 2);
}

//  A failed task is listed with its reason and its attempts.
Test (batch, failed_with_attempts)
{
    batch_t *batch = batch_new (42);
    zp_batch_t announce = { .batch = 42, .flags = ZP_BATCH_TOTAL, .total = 2, .iterations = 1 };
    cr_assert_eq (batch_announce (batch, &announce, 1e9), 0);
    zp_result_t ok = { .task = 0, .status = ZP_STATUS_OK, .attempts = 2, .iterations = 1,
                       .input = (const uint8_t *) "a", .input_size = 1,
                       .output = (const uint8_t *) "b", .output_size = 1 };
    zp_result_t failed = { .task = 1, .status = ZP_STATUS_FAILED, .attempts = 3,
                           .iterations = 1, .input = (const uint8_t *) "boom", .input_size = 4,
                           .output = (const uint8_t *) "crashed", .output_size = 7 };
    cr_assert_eq (batch_accept (batch, "host", 1, &ok, 1e9), 1);
    cr_assert_eq (batch_accept (batch, "host", 1, &failed, 1e9), 1);
    json_t *summary = s_summary_of (batch);
    json_t *data = json_object_get (summary, "data");
    //  The seed's shape for the success, reason and attempts for the failure
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (data, 0), "a")), "b");
    cr_assert_eq (json_object_size (json_array_get (data, 0)), 1);
    json_t *entry = json_array_get (data, 1);
    cr_assert_str_eq (json_string_value (json_object_get (entry, "input")), "boom");
    cr_assert_str_eq (json_string_value (json_object_get (entry, "error")), "crashed");
    cr_assert_eq (json_integer_value (json_object_get (entry, "attempts")), 3);
    cr_assert_eq (json_integer_value (json_object_get (summary, "failed")), 1);
    json_decref (summary);
    batch_destroy (&batch);
}
