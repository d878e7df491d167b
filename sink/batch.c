/*  batch - one batch as the sink puts it together.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "batch.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

batch_t *
batch_new (uint64_t id)
{
    batch_t *self = (batch_t *) calloc (1, sizeof (batch_t));
    if (self)
        self->id = id;
    return self;
}

void
batch_destroy (batch_t **self_p)
{
    if (self_p && *self_p) {
        batch_t *self = *self_p;
        free (self->records);
        free (self->store);
        free (self->workers);
        free (self->unacked);
        free (self);
        *self_p = NULL;
    }
}

//  Make room for task ids below count. Returns 0 or -1.
static int
s_reserve_records (batch_t *self, uint64_t count)
{
    if (count <= self->records_capacity)
        return 0;
    uint64_t capacity = self->records_capacity ? self->records_capacity : 1024;
    while (capacity < count)
        capacity *= 2;
    if (self->total_known && capacity > self->total)
        capacity = self->total;
    batch_record_t *records = (batch_record_t *) realloc (self->records,
                                                          capacity * sizeof (batch_record_t));
    if (!records)
        return -1;
    memset (records + self->records_capacity, 0,
            (capacity - self->records_capacity) * sizeof (batch_record_t));
    self->records = records;
    self->records_capacity = capacity;
    return 0;
}

int
batch_announce (batch_t *self, const zp_batch_t *message, double now_wall)
{
    //  A batch that completes before dispatch begins (no tasks at all)
    //  still has a start: the moment it became known.
    if (!self->announced && !self->started && self->accepted == 0)
        self->start_wall = now_wall;
    self->announced = true;
    self->iterations = message->iterations;
    self->rejected = message->rejected;
    self->digest = message->digest;
    self->redelivered = message->redelivered;
    self->worker_restarts = message->worker_restarts;
    if (!(message->flags & ZP_BATCH_TOTAL) && message->total > self->so_far)
        self->so_far = message->total;
    if ((message->flags & ZP_BATCH_TOTAL) && !self->total_known) {
        for (uint64_t id = message->total; id < self->records_capacity; id++)
            if (self->records [id].have)
                return -1;
        self->total_known = true;
        self->total = message->total;
    }
    if ((message->flags & ZP_BATCH_STARTED) && !self->started) {
        //  The ventilator's clock says how long ago dispatch began; ours
        //  says when that was. No two machines' clocks need agree.
        self->started = true;
        self->start_wall = now_wall - (double) message->started_us / 1e6;
    }
    return 0;
}

void
batch_carry_counters (batch_t *self)
{
    self->redelivered_before += self->redelivered;
    self->worker_restarts_before += self->worker_restarts;
    self->redelivered = 0;
    self->worker_restarts = 0;
}

void
batch_meta (const batch_t *self, batch_meta_t *meta)
{
    memset (meta, 0, sizeof *meta);
    meta->digest = self->digest;
    meta->total_known = self->total_known;
    meta->total = self->total_known ? self->total : 0;
    meta->iterations = self->iterations;
    meta->rejected = self->rejected;
    meta->started = self->started;
    meta->start_wall = self->started ? self->start_wall : 0;
    meta->redelivered = self->redelivered;
    meta->worker_restarts = self->worker_restarts;
    meta->redelivered_before = self->redelivered_before;
    meta->worker_restarts_before = self->worker_restarts_before;
}

bool
batch_meta_equal (const batch_meta_t *a, const batch_meta_t *b)
{
    return a->digest == b->digest && a->total_known == b->total_known
        && a->total == b->total && a->iterations == b->iterations
        && a->rejected == b->rejected && a->started == b->started
        && a->start_wall == b->start_wall && a->redelivered == b->redelivered
        && a->worker_restarts == b->worker_restarts
        && a->redelivered_before == b->redelivered_before
        && a->worker_restarts_before == b->worker_restarts_before;
}

void
batch_restore (batch_t *self, const batch_meta_t *meta)
{
    self->announced = true;
    self->digest = meta->digest;
    if (meta->total_known && !self->total_known) {
        self->total_known = true;
        self->total = meta->total;
    }
    self->iterations = meta->iterations;
    self->rejected = meta->rejected;
    if (meta->started) {
        self->started = true;
        self->start_wall = meta->start_wall;
    }
    self->redelivered = meta->redelivered;
    self->worker_restarts = meta->worker_restarts;
    self->redelivered_before = meta->redelivered_before;
    self->worker_restarts_before = meta->worker_restarts_before;
    self->journaled = *meta;
}

static int
s_worker_index (batch_t *self, const char *host, uint32_t pid, uint32_t *index)
{
    for (size_t i = 0; i < self->workers_size; i++)
        if (self->workers [i].pid == pid && streq (self->workers [i].host, host)) {
            *index = (uint32_t) i;
            return 0;
        }
    if (self->workers_size == self->workers_capacity) {
        size_t capacity = self->workers_capacity ? self->workers_capacity * 2 : 16;
        batch_worker_t *workers = (batch_worker_t *) realloc (self->workers,
                                                              capacity * sizeof (batch_worker_t));
        if (!workers)
            return -1;
        self->workers = workers;
        self->workers_capacity = capacity;
    }
    batch_worker_t *worker = &self->workers [self->workers_size];
    memset (worker, 0, sizeof *worker);
    snprintf (worker->host, sizeof worker->host, "%s", host);
    worker->pid = pid;
    *index = (uint32_t) self->workers_size++;
    return 0;
}

int
batch_accept (batch_t *self, const char *host, uint32_t pid, const zp_result_t *result,
              double now_wall)
{
    uint64_t limit = self->total_known ? self->total
                   : self->announced ? self->so_far + BATCH_STREAM_AHEAD
                   : BATCH_UNANNOUNCED_LIMIT;
    if (result->task >= limit)
        return -1;
    if (result->task < self->records_capacity && self->records [result->task].have) {
        self->duplicates++;
        return 0;
    }
    if (s_reserve_records (self, result->task + 1))
        return -1;
    size_t need = result->input_size + result->output_size;
    if (self->store_size + need > self->store_capacity) {
        size_t capacity = self->store_capacity ? self->store_capacity : 65536;
        while (capacity < self->store_size + need)
            capacity *= 2;
        uint8_t *store = (uint8_t *) realloc (self->store, capacity);
        if (!store)
            return -1;
        self->store = store;
        self->store_capacity = capacity;
    }
    if (self->unacked_size == self->unacked_capacity) {
        size_t capacity = self->unacked_capacity ? self->unacked_capacity * 2 : 1024;
        uint64_t *unacked = (uint64_t *) realloc (self->unacked, capacity * sizeof (uint64_t));
        if (!unacked)
            return -1;
        self->unacked = unacked;
        self->unacked_capacity = capacity;
    }
    uint32_t worker;
    if (s_worker_index (self, host, pid, &worker))
        return -1;

    batch_record_t *record = &self->records [result->task];
    record->offset = self->store_size;
    record->input_size = (uint32_t) result->input_size;
    record->output_size = (uint32_t) result->output_size;
    record->status = result->status;
    record->worker = worker;
    record->have = true;
    if (result->input_size)
        memcpy (self->store + self->store_size, result->input, result->input_size);
    if (result->output_size)
        memcpy (self->store + self->store_size + result->input_size, result->output,
                result->output_size);
    self->store_size += need;
    self->unacked [self->unacked_size++] = result->task;
    self->accepted++;
    if (result->status == ZP_STATUS_OK)
        self->steps += result->iterations;   //  a refused task ran no steps
    self->workers [worker].tasks++;
    self->workers [worker].busy_ns += result->elapsed_ns;
    if (now_wall > self->end_wall)
        self->end_wall = now_wall;
    if (!self->started && self->accepted == 1) {
        //  Until the ventilator says when dispatch began, the first result
        //  is the best estimate.
        self->start_wall = now_wall - (double) result->elapsed_ns / 1e9;
    }
    return 1;
}

bool
batch_complete (const batch_t *self)
{
    return self->total_known && self->accepted == self->total;
}

//  --- The "data" array -------------------------------------------------------
//  Written by hand rather than through jansson: a json_t per entry (two
//  allocations, a hash table, a UTF-8 check, a dump through callbacks into
//  stdio's 4 KiB buffer) cost about 2.4 us an entry, most of the time
//  between the last tiny result and the summary (scripts/bench). The bytes
//  are exactly what json_dumpf (entry, file, JSON_PRESERVE_ORDER) wrote;
//  tests/unit/test_batch.c holds the two against each other.

#define OUT_SIZE 65536

//  Entries are put together in one buffer that goes out in big blocks.
typedef struct {
    FILE *file;
    char *data;
    size_t used;
} out_t;

static void
s_out_flush (out_t *out)
{
    if (out->used)
        fwrite (out->data, 1, out->used, out->file);
    out->used = 0;
}

//  Room for size more bytes (size <= OUT_SIZE); returns where they go.
static char *
s_out_room (out_t *out, size_t size)
{
    if (out->used + size > OUT_SIZE)
        s_out_flush (out);
    return out->data + out->used;
}

static void
s_out_bytes (out_t *out, const void *bytes, size_t size)
{
    if (out->used + size > OUT_SIZE)
        s_out_flush (out);
    if (size >= OUT_SIZE)
        fwrite (bytes, 1, size, out->file);
    else {
        memcpy (out->data + out->used, bytes, size);
        out->used += size;
    }
}

#define s_out_literal(out, text) s_out_bytes ((out), (text), sizeof (text) - 1)

//  How many leading bytes are printable ASCII other than " and \ (DEL
//  included, as in jansson): bytes that need neither a UTF-8 check nor
//  escaping, which is every byte of a UUID and of a hash. Eight at a time
//  with the has-a-byte-below-n tricks (exact for "is there any such
//  byte"), the tail one at a time: a loop of compares over 164 bytes an
//  entry was most of the writer's time.
static size_t
s_plain_prefix (const uint8_t *bytes, size_t size)
{
    const uint64_t ones = UINT64_C (0x0101010101010101);
    const uint64_t highs = UINT64_C (0x8080808080808080);
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t x;
        memcpy (&x, bytes + i, 8);
        uint64_t quote = x ^ (ones * '"');
        uint64_t backslash = x ^ (ones * '\\');
        uint64_t special = x                                //  >= 0x80
                         | ((x - ones * 0x20) & ~x)         //  < 0x20
                         | ((quote - ones) & ~quote)        //  == '"'
                         | ((backslash - ones) & ~backslash);
        if (special & highs)
            break;
    }
    while (i < size && bytes [i] >= 0x20 && bytes [i] < 0x80
           && bytes [i] != '"' && bytes [i] != '\\')
        i++;
    return i;
}

//  True if the bytes are UTF-8 as jansson and RFC 3629 have it: no
//  overlong forms, no surrogates, nothing above U+10FFFF; NUL is a
//  character like any other.
static bool
s_utf8_valid (const uint8_t *bytes, size_t size)
{
    size_t i = 0;
    while (i < size) {
        uint8_t byte = bytes [i];
        if (byte < 0x80) {
            i++;
            continue;
        }
        //  The lead byte gives the length, its payload bits and the least
        //  code point that length may encode (less is an overlong form).
        size_t length = byte >= 0xc2 && byte <= 0xdf ? 2
                      : byte >= 0xe0 && byte <= 0xef ? 3
                      : byte >= 0xf0 && byte <= 0xf4 ? 4 : 0;
        if (length == 0)
            return false;
        static const uint32_t least_of [5] = { 0, 0, 0x80, 0x800, 0x10000 };
        uint32_t least = least_of [length];
        uint32_t point = byte & (0x7fu >> length);
        if (length > size - i)
            return false;
        for (size_t k = 1; k < length; k++) {
            if ((bytes [i + k] & 0xc0) != 0x80)
                return false;
            point = point << 6 | (bytes [i + k] & 0x3fu);
        }
        if (point < least || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff))
            return false;
        i += length;
    }
    return true;
}

//  A JSON string of UTF-8 bytes, escaped as jansson escapes without flags:
//  \" \\ \b \f \n \r \t, other control characters as \u00XX (capital hex
//  digits), everything else as it is. The first plain bytes (see
//  s_plain_prefix) go in one copy, then runs between escapes do.
static void
s_out_string (out_t *out, const uint8_t *bytes, size_t size, size_t plain)
{
    static const char digits [] = "0123456789ABCDEF";
    s_out_literal (out, "\"");
    size_t start = 0;
    for (size_t i = plain; i < size; i++) {
        uint8_t byte = bytes [i];
        if (byte >= 0x20 && byte != '"' && byte != '\\')
            continue;
        s_out_bytes (out, bytes + start, i - start);
        start = i + 1;
        char *p = s_out_room (out, 6);
        char *q = p;
        *q++ = '\\';
        switch (byte) {
            case '"':  *q++ = '"'; break;
            case '\\': *q++ = '\\'; break;
            case '\b': *q++ = 'b'; break;
            case '\f': *q++ = 'f'; break;
            case '\n': *q++ = 'n'; break;
            case '\r': *q++ = 'r'; break;
            case '\t': *q++ = 't'; break;
            default:
                *q++ = 'u';
                *q++ = '0';
                *q++ = '0';
                *q++ = digits [byte >> 4];
                *q++ = digits [byte & 15];
                break;
        }
        out->used += (size_t) (q - p);
    }
    s_out_bytes (out, bytes + start, size - start);
    s_out_literal (out, "\"");
}

//  Base64 in pieces of whole 3-byte groups, which concatenate to exactly
//  the encoding of the whole (only the last piece can need padding).
static void
s_out_base64 (out_t *out, const uint8_t *bytes, size_t size)
{
    const size_t piece = OUT_SIZE / 4 * 3 - 3;
    for (size_t at = 0; at < size; at += piece) {
        size_t take = size - at < piece ? size - at : piece;
        char *p = s_out_room (out, 4 * ((take + 2) / 3) + 1);
        out->used += (size_t) EVP_EncodeBlock ((unsigned char *) p, bytes + at, (int) take);
    }
}

//  One element of "data": {"<input>": "<output>"}, or, for an input that is
//  not valid UTF-8 (JSON cannot carry it as a string),
//  {"input_base64": "<base64>", "hash": "<output>"}. Returns -1 (EILSEQ)
//  for an output that is not valid UTF-8, which jansson refused too.
static int
s_out_entry (out_t *out, const uint8_t *input, size_t input_size,
             const uint8_t *output, size_t output_size)
{
    //  What follows a plain prefix starts on a character boundary.
    size_t output_plain = s_plain_prefix (output, output_size);
    if (!s_utf8_valid (output + output_plain, output_size - output_plain)) {
        errno = EILSEQ;
        return -1;
    }
    size_t input_plain = s_plain_prefix (input, input_size);
    if (s_utf8_valid (input + input_plain, input_size - input_plain)) {
        s_out_literal (out, "{");
        s_out_string (out, input, input_size, input_plain);
        s_out_literal (out, ": ");
    }
    else {
        s_out_literal (out, "{\"input_base64\": \"");
        s_out_base64 (out, input, input_size);
        s_out_literal (out, "\", \"hash\": ");
    }
    s_out_string (out, output, output_size, output_plain);
    s_out_literal (out, "}");
    return 0;
}

//  One element of "data" for a task that failed: {"input": "<input>",
//  "error": "<reason>"}, "input_base64" for an input that is not UTF-8.
static json_t *
s_failed_entry (const uint8_t *input, size_t input_size, const uint8_t *reason,
                size_t reason_size)
{
    json_t *entry = json_object ();
    if (!entry)
        return NULL;
    json_t *text = json_stringn ((const char *) input, input_size);
    if (text)
        json_object_set_new (entry, "input", text);
    else {
        size_t encoded_size = 4 * ((input_size + 2) / 3) + 1;
        unsigned char *encoded = (unsigned char *) malloc (encoded_size);
        if (!encoded) {
            json_decref (entry);
            return NULL;
        }
        EVP_EncodeBlock (encoded, input, (int) input_size);
        json_object_set_new (entry, "input_base64", json_string ((const char *) encoded));
        free (encoded);
    }
    //  A reason that is not UTF-8 (it comes from a worker) is shown as hex.
    json_t *why = json_stringn ((const char *) reason, reason_size);
    if (!why) {
        char *hex = (char *) malloc (2 * reason_size + 1);
        if (hex) {
            for (size_t i = 0; i < reason_size; i++)
                snprintf (hex + 2 * i, 3, "%02x", reason [i]);
            hex [2 * reason_size] = 0;
            why = json_string (hex);
            free (hex);
        }
    }
    json_object_set_new (entry, "error", why ? why : json_null ());
    return entry;
}

//  The summary's members after "data" (README, "Output"), in their order.
static json_t *
s_summary_members (const batch_t *self, bool complete, uint64_t failed)
{
    double total_s = self->accepted ? self->end_wall - self->start_wall : 0;
    if (total_s < 0)
        total_s = 0;
    char batch_hex [17];
    snprintf (batch_hex, sizeof batch_hex, "%016" PRIx64, self->id);
    json_t *workers = json_array ();
    for (size_t i = 0; i < self->workers_size; i++)
        json_array_append_new (workers, json_pack ("{s:s, s:I, s:I, s:f}",
            "host", self->workers [i].host,
            "pid", (json_int_t) self->workers [i].pid,
            "tasks", (json_int_t) self->workers [i].tasks,
            "busy_s", (double) self->workers [i].busy_ns / 1e9));
    //  A complete batch has a result for every task; an incomplete one has
    //  the rest still with its ventilator. Nothing is ever dropped.
    uint64_t lost = complete && self->total_known ? self->total - self->accepted : 0;
    uint64_t redelivered = (uint64_t) self->redelivered_before + self->redelivered;
    uint64_t worker_restarts = (uint64_t) self->worker_restarts_before + self->worker_restarts;
    json_t *rest = json_pack ("{s:f, s:f, s:f, s:s, s:b, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I,"
                              " s:I, s:o, s:I, s:I, s:I}",
        "starttime", self->start_wall,
        "endtime", self->accepted ? self->end_wall : self->start_wall,
        "totaltime_in_s", total_s,
        "batch", batch_hex,
        "complete", complete,
        "tasks", (json_int_t) (self->total_known ? self->total : self->accepted),
        "results", (json_int_t) self->accepted,
        "iterations", (json_int_t) self->iterations,
        "hashes_per_second", total_s > 0 ? (double) self->steps / total_s : 0.0,
        "rejected", (json_int_t) self->rejected,
        "duplicates", (json_int_t) self->duplicates,
        "redelivered", (json_int_t) redelivered,
        "worker_restarts", (json_int_t) worker_restarts,
        "lost", (json_int_t) lost,
        "workers", workers,
        "failed", (json_int_t) failed,
        "rejected_messages", (json_int_t) self->rejected_messages,
        "refused_connections", (json_int_t) self->refused_connections);
    return rest;
}

int
batch_write_summary (const batch_t *self, FILE *file, bool complete)
{
    uint64_t failed = 0;
    //  "data" can hold millions of entries: it is written entry by entry
    //  instead of being built as one tree, so memory stays near the size
    //  of the results themselves.
    out_t out = { .file = file, .data = (char *) malloc (OUT_SIZE) };
    if (!out.data) {
        errno = ENOMEM;
        return -1;
    }
    s_out_literal (&out, "{\n  \"data\": [");
    bool first = true;
    for (uint64_t id = 0; id < self->records_capacity; id++) {
        const batch_record_t *record = &self->records [id];
        if (!record->have)
            continue;
        if (first)
            s_out_literal (&out, "\n    ");
        else
            s_out_literal (&out, ",\n    ");
        first = false;
        const uint8_t *input = self->store + record->offset;
        if (record->status == ZP_STATUS_OK) {
            if (s_out_entry (&out, input, record->input_size, input + record->input_size,
                             record->output_size)) {
                s_out_flush (&out);
                free (out.data);
                return -1;
            }
            continue;
        }
        //  Failed tasks are rare: jansson writes them.
        failed++;
        json_t *entry = s_failed_entry (input, record->input_size, input + record->input_size,
                                        record->output_size);
        s_out_flush (&out);
        if (!entry) {
            free (out.data);
            errno = ENOMEM;
            return -1;
        }
        json_dumpf (entry, file, JSON_PRESERVE_ORDER);
        json_decref (entry);
    }
    s_out_flush (&out);
    free (out.data);
    fputs (first ? "],\n" : "\n  ],\n", file);

    json_t *rest = s_summary_members (self, complete, failed);
    char *text = rest ? json_dumps (rest, JSON_INDENT (2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref (rest);
    if (!text) {
        errno = ENOMEM;
        return -1;
    }
    //  text is "{\n  \"starttime\": ...\n}": the members continue ours.
    fputs (text + 2, file);
    fputc ('\n', file);
    free (text);
    return fflush (file) == 0 && !ferror (file) ? 0 : -1;
}

//  --- NDJSON (sink --format ndjson) -------------------------------------------

//  One result as one line: {"batch", "task", "input" (or "input_base64"),
//  "hash"}, or "error" instead of "hash" for a task that failed.
static int
s_write_line (uint64_t batch, uint64_t task, uint8_t status, const uint8_t *input,
              size_t input_size, const uint8_t *output, size_t output_size, FILE *file)
{
    if (status == ZP_STATUS_OK) {
        //  By hand, as the summary's entries are (see above): jansson took
        //  about 2.5 us a line, most of an ndjson sink's time on tiny tasks.
        //  The bytes are what json_dumpf (line, file, JSON_COMPACT |
        //  JSON_PRESERVE_ORDER) writes (tests/unit/test_stream.c).
        size_t output_plain = s_plain_prefix (output, output_size);
        if (!s_utf8_valid (output + output_plain, output_size - output_plain)) {
            //  As in the summary: a hash that is not UTF-8 is not a hash.
            errno = EILSEQ;
            return -1;
        }
        static char buffer [OUT_SIZE];      //  the sink is single-threaded
        out_t out = { .file = file, .data = buffer };
        char head [64];
        int size = snprintf (head, sizeof head, "{\"batch\":\"%016" PRIx64 "\",\"task\":%"
                             PRIu64 ",", batch, task);
        s_out_bytes (&out, head, (size_t) size);
        size_t input_plain = s_plain_prefix (input, input_size);
        if (s_utf8_valid (input + input_plain, input_size - input_plain)) {
            s_out_literal (&out, "\"input\":");
            s_out_string (&out, input, input_size, input_plain);
        }
        else {
            s_out_literal (&out, "\"input_base64\":\"");
            s_out_base64 (&out, input, input_size);
            s_out_literal (&out, "\"");
        }
        s_out_literal (&out, ",\"hash\":");
        s_out_string (&out, output, output_size, output_plain);
        s_out_literal (&out, "}\n");
        s_out_flush (&out);
        return ferror (file) ? -1 : 0;
    }
    //  Failed tasks are rare: jansson writes them.
    char batch_hex [17];
    snprintf (batch_hex, sizeof batch_hex, "%016" PRIx64, batch);
    json_t *entry = s_failed_entry (input, input_size, output, output_size);
    json_t *line = json_pack ("{s:s, s:I}", "batch", batch_hex, "task", (json_int_t) task);
    if (!entry || !line || json_object_update (line, entry)) {
        json_decref (entry);
        json_decref (line);
        errno = ENOMEM;
        return -1;
    }
    json_decref (entry);
    int rc = json_dumpf (line, file, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref (line);
    if (rc || fputc ('\n', file) == EOF)
        return -1;
    return 0;
}

int
batch_write_result_line (uint64_t batch, const zp_result_t *result, FILE *file)
{
    return s_write_line (batch, result->task, result->status, result->input,
                         result->input_size, result->output, result->output_size, file);
}

int
batch_write_result_lines (const batch_t *self, FILE *file)
{
    for (uint64_t id = 0; id < self->records_capacity; id++) {
        const batch_record_t *record = &self->records [id];
        if (!record->have)
            continue;
        const uint8_t *input = self->store + record->offset;
        if (s_write_line (self->id, id, record->status, input, record->input_size,
                          input + record->input_size, record->output_size, file))
            return -1;
    }
    return 0;
}

int
batch_write_summary_line (const batch_t *self, FILE *file, bool complete)
{
    uint64_t failed = 0;
    for (uint64_t id = 0; id < self->records_capacity; id++)
        if (self->records [id].have && self->records [id].status != ZP_STATUS_OK)
            failed++;
    json_t *summary = s_summary_members (self, complete, failed);
    if (!summary) {
        errno = ENOMEM;
        return -1;
    }
    int rc = json_dumpf (summary, file, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref (summary);
    if (rc || fputc ('\n', file) == EOF)
        return -1;
    return fflush (file) == 0 && !ferror (file) ? 0 : -1;
}
