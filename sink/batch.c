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
    self->announced = true;
    self->iterations = message->iterations;
    self->rejected = message->rejected;
    self->digest = message->digest;
    self->redelivered = message->redelivered;
    self->worker_restarts = message->worker_restarts;
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
    uint64_t limit = self->total_known ? self->total : BATCH_UNANNOUNCED_LIMIT;
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
    self->steps += result->iterations;
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

//  One element of "data": {"<input>": "<output>"}, or, for an input that is
//  not valid UTF-8 (JSON cannot carry it as a string),
//  {"input_base64": "<base64>", "hash": "<output>"}.
static json_t *
s_data_entry (const uint8_t *input, size_t input_size, const uint8_t *output, size_t output_size)
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
    if (encoded) {
        EVP_EncodeBlock (encoded, input, (int) input_size);
        json_object_set_new (entry, "input_base64", json_string ((const char *) encoded));
        json_object_set (entry, "hash", value);
        free (encoded);
    }
    json_decref (value);
    return entry;
}

int
batch_write_summary (const batch_t *self, FILE *file, bool complete)
{
    //  "data" can hold millions of entries: it is written entry by entry
    //  instead of being built as one tree, so memory stays near the size
    //  of the results themselves.
    fputs ("{\n  \"data\": [", file);
    bool first = true;
    for (uint64_t id = 0; id < self->records_capacity; id++) {
        const batch_record_t *record = &self->records [id];
        if (!record->have)
            continue;
        const uint8_t *input = self->store + record->offset;
        json_t *entry = s_data_entry (input, record->input_size, input + record->input_size,
                                      record->output_size);
        if (!entry) {
            errno = ENOMEM;
            return -1;
        }
        fputs (first ? "\n    " : ",\n    ", file);
        first = false;
        json_dumpf (entry, file, JSON_PRESERVE_ORDER);
        json_decref (entry);
    }
    fputs (first ? "],\n" : "\n  ],\n", file);

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
    json_t *rest = json_pack ("{s:f, s:f, s:f, s:s, s:b, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I,"
                              " s:I, s:o}",
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
        "redelivered", (json_int_t) (self->redelivered_before + self->redelivered),
        "worker_restarts", (json_int_t) (self->worker_restarts_before + self->worker_restarts),
        //  A complete batch has a result for every task; an incomplete one
        //  has the rest still with its ventilator. Nothing is ever dropped.
        "lost", (json_int_t) (complete && self->total_known ? self->total - self->accepted : 0),
        "workers", workers);
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
