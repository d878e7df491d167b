/*  journal - the sink's record of what it has (NDJSON).

    Reading and writing share one FILE opened "a+": reads start at the
    beginning, every write goes to the end whatever the read position. A
    record is one json_dumps line written with one fwrite and an fflush,
    so a killed sink leaves at most one line cut short, at the very end.

    Byte strings (task input and output) are JSON strings when they are
    valid UTF-8 (NUL included, as \u0000) and base64 otherwise, as in the
    summary; numbers are JSON integers; ids and digests 16 hex digits.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "journal.h"
#include "zp_util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _journal_t {
    char *path;
    FILE *file;
    char *line;                 //  getline's buffer
    size_t line_capacity;
    uint64_t lineno;
    off_t good_end;             //  end of the last whole line read
    uint8_t *input, *output;    //  decoded byte strings of the last result
    size_t input_capacity, output_capacity;
    bool dirty, failed;
};

journal_t *
journal_open (const char *path)
{
    journal_t *self = (journal_t *) calloc (1, sizeof (journal_t));
    if (!self) {
        zp_error ("out of memory opening the journal %s", path);
        return NULL;
    }
    self->path = strdup (path);
    int fd = open (path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0)
        self->file = fdopen (fd, "a+");
    if (!self->path || !self->file) {
        zp_error ("can't open the journal %s: %s", path, strerror (errno));
        if (fd >= 0 && !self->file)
            close (fd);
        journal_destroy (&self);
        return NULL;
    }
    rewind (self->file);
    return self;
}

void
journal_destroy (journal_t **self_p)
{
    if (self_p && *self_p) {
        journal_t *self = *self_p;
        if (self->file)
            fclose (self->file);
        free (self->path);
        free (self->line);
        free (self->input);
        free (self->output);
        free (self);
        *self_p = NULL;
    }
}

//  --- Reading -------------------------------------------------------------------

static int
s_bad (journal_t *self, const char *what)
{
    zp_error ("journal %s line %" PRIu64 ": %s", self->path, self->lineno, what);
    return -1;
}

static bool
s_hex_member (json_t *object, const char *key, uint64_t *value)
{
    const char *text = json_string_value (json_object_get (object, key));
    if (!text || strlen (text) != 16)
        return false;
    uint64_t number = 0;
    for (const char *c = text; *c; c++) {
        int digit = *c >= '0' && *c <= '9' ? *c - '0'
                  : *c >= 'a' && *c <= 'f' ? *c - 'a' + 10 : -1;
        if (digit < 0)
            return false;
        number = number << 4 | (uint64_t) digit;
    }
    *value = number;
    return true;
}

static bool
s_count_member (json_t *object, const char *key, uint64_t *value)
{
    json_t *member = json_object_get (object, key);
    if (!json_is_integer (member) || json_integer_value (member) < 0)
        return false;
    *value = (uint64_t) json_integer_value (member);
    return true;
}

//  A byte string: "<key>" as a string, or "<key>_base64". Decoded into
//  *buffer (grown as needed). Returns false if neither is there or valid.
static bool
s_bytes_member (json_t *object, const char *key, uint8_t **buffer, size_t *capacity,
                size_t *size)
{
    json_t *member = json_object_get (object, key);
    const char *text;
    size_t length;
    bool base64 = false;
    if (json_is_string (member)) {
        text = json_string_value (member);
        length = json_string_length (member);
    }
    else {
        char name [64];
        snprintf (name, sizeof name, "%s_base64", key);
        member = json_object_get (object, name);
        if (!json_is_string (member))
            return false;
        text = json_string_value (member);
        length = json_string_length (member);
        base64 = true;
    }
    size_t need = base64 ? length / 4 * 3 + 3 : length + 1;
    if (need > *capacity) {
        uint8_t *grown = (uint8_t *) realloc (*buffer, need);
        if (!grown)
            return false;
        *buffer = grown;
        *capacity = need;
    }
    if (!base64) {
        memcpy (*buffer, text, length);
        *size = length;
        return true;
    }
    if (length % 4)
        return false;
    int decoded = length ? EVP_DecodeBlock (*buffer, (const unsigned char *) text, (int) length) : 0;
    if (decoded < 0)
        return false;
    //  EVP_DecodeBlock counts the padding as data
    size_t padding = 0;
    if (length >= 1 && text [length - 1] == '=')
        padding++;
    if (length >= 2 && text [length - 2] == '=')
        padding++;
    *size = (size_t) decoded - padding;
    return true;
}

static int
s_parse (journal_t *self, json_t *object, journal_record_t *record)
{
    memset (record, 0, sizeof *record);
    const char *type = json_string_value (json_object_get (object, "type"));
    if (!type)
        return s_bad (self, "no \"type\"");
    if (!s_hex_member (object, "batch", &record->batch))
        return s_bad (self, "\"batch\" is not 16 hex digits");
    if (streq (type, "complete")) {
        record->type = JOURNAL_COMPLETE;
        return 1;
    }
    if (streq (type, "batch")) {
        record->type = JOURNAL_BATCH;
        batch_meta_t *meta = &record->meta;
        json_t *total = json_object_get (object, "total");
        json_t *start = json_object_get (object, "starttime");
        if (!s_hex_member (object, "digest", &meta->digest)
        ||  !s_count_member (object, "iterations", &meta->iterations)
        ||  !s_count_member (object, "rejected", &meta->rejected)
        ||  !s_count_member (object, "redelivered", &meta->redelivered)
        ||  !s_count_member (object, "worker_restarts", &meta->worker_restarts)
        ||  !s_count_member (object, "redelivered_before", &meta->redelivered_before)
        ||  !s_count_member (object, "worker_restarts_before", &meta->worker_restarts_before)
        ||  !(json_is_null (total) || s_count_member (object, "total", &meta->total))
        ||  !(json_is_null (start) || json_is_number (start)))
            return s_bad (self, "a batch record without its members");
        meta->total_known = !json_is_null (total);
        meta->started = !json_is_null (start);
        meta->start_wall = meta->started ? json_number_value (start) : 0;
        return 1;
    }
    if (streq (type, "result")) {
        record->type = JOURNAL_RESULT;
        zp_result_t *result = &record->result;
        uint64_t status, pid;
        const char *host = json_string_value (json_object_get (object, "host"));
        json_t *time = json_object_get (object, "time");
        if (!s_count_member (object, "task", &result->task)
        ||  !s_count_member (object, "status", &status) || status > ZP_STATUS_FAILED
        ||  !s_count_member (object, "iterations", &result->iterations)
        ||  !s_count_member (object, "elapsed_ns", &result->elapsed_ns)
        ||  !s_count_member (object, "pid", &pid) || pid > UINT32_MAX
        ||  !host || strlen (host) > 255 || !json_is_number (time))
            return s_bad (self, "a result record without its members");
        if (!s_bytes_member (object, "input", &self->input, &self->input_capacity,
                             &result->input_size)
        ||  !s_bytes_member (object, "output", &self->output, &self->output_capacity,
                             &result->output_size))
            return s_bad (self, "a result record without a valid input or output");
        result->status = (uint8_t) status;
        //  "attempts" came with protocol version 2: older journals have none.
        uint64_t attempts = 1;
        if (json_object_get (object, "attempts")
        &&  (!s_count_member (object, "attempts", &attempts) || attempts > ZP_MAX_ATTEMPTS))
            return s_bad (self, "a result record with bad \"attempts\"");
        result->attempts = (uint8_t) attempts;
        result->input = self->input;
        result->output = self->output;
        snprintf (record->host, sizeof record->host, "%s", host);
        record->pid = (uint32_t) pid;
        record->time = json_number_value (time);
        return 1;
    }
    return s_bad (self, "unknown \"type\"");
}

int
journal_next (journal_t *self, journal_record_t *record)
{
    errno = 0;
    ssize_t length = getline (&self->line, &self->line_capacity, self->file);
    if (length < 0) {
        if (ferror (self->file)) {
            zp_error ("can't read the journal %s: %s", self->path, strerror (errno));
            return -1;
        }
        fseeko (self->file, 0, SEEK_END);
        return 0;
    }
    self->lineno++;
    if (self->line [length - 1] != '\n') {
        //  Cut short by a crash: it never was a record. Cut it off, so the
        //  next record starts on a line of its own.
        zp_warn ("journal %s line %" PRIu64 ": cut short (the sink died writing it);"
                 " dropped", self->path, self->lineno);
        if (ftruncate (fileno (self->file), self->good_end) != 0) {
            zp_error ("can't truncate the journal %s: %s", self->path, strerror (errno));
            return -1;
        }
        fseeko (self->file, 0, SEEK_END);
        return 0;
    }
    self->good_end += length;
    json_error_t error;
    json_t *object = json_loadb (self->line, (size_t) length, JSON_ALLOW_NUL, &error);
    if (!json_is_object (object)) {
        json_decref (object);
        return s_bad (self, object ? "not a JSON object" : error.text);
    }
    int rc = s_parse (self, object, record);
    json_decref (object);
    return rc;
}

//  --- Writing -------------------------------------------------------------------

static int
s_write (journal_t *self, json_t *object)
{
    if (self->failed)
        return -1;
    char *text = object ? json_dumps (object, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref (object);
    if (!text) {
        zp_error ("out of memory writing the journal %s", self->path);
        self->failed = true;
        return -1;
    }
    size_t length = strlen (text);
    text [length] = '\n';       //  replaces the NUL; the length is known
    bool ok = fwrite (text, 1, length + 1, self->file) == length + 1 && fflush (self->file) == 0;
    free (text);
    if (!ok) {
        zp_error ("can't write the journal %s: %s", self->path, strerror (errno));
        self->failed = true;
        return -1;
    }
    self->dirty = true;
    return 0;
}

static void
s_hex (char *buffer, uint64_t value)
{
    snprintf (buffer, 17, "%016" PRIx64, value);
}

//  A byte string as "<key>" (valid UTF-8) or "<key>_base64".
static int
s_set_bytes (json_t *object, const char *key, const uint8_t *bytes, size_t size)
{
    json_t *string = json_stringn ((const char *) bytes, size);
    if (string)
        return json_object_set_new (object, key, string);
    size_t encoded_size = 4 * ((size + 2) / 3) + 1;
    unsigned char *encoded = (unsigned char *) malloc (encoded_size);
    if (!encoded)
        return -1;
    EVP_EncodeBlock (encoded, bytes, (int) size);
    char name [64];
    snprintf (name, sizeof name, "%s_base64", key);
    int rc = json_object_set_new (object, name, json_string ((const char *) encoded));
    free (encoded);
    return rc;
}

int
journal_write_batch (journal_t *self, uint64_t batch, const batch_meta_t *meta)
{
    char id [17], digest [17];
    s_hex (id, batch);
    s_hex (digest, meta->digest);
    json_t *object = json_pack ("{s:s, s:s, s:s, s:o, s:I, s:I, s:o, s:I, s:I, s:I, s:I}",
        "type", "batch", "batch", id, "digest", digest,
        "total", meta->total_known ? json_integer ((json_int_t) meta->total) : json_null (),
        "iterations", (json_int_t) meta->iterations,
        "rejected", (json_int_t) meta->rejected,
        "starttime", meta->started ? json_real (meta->start_wall) : json_null (),
        "redelivered", (json_int_t) meta->redelivered,
        "worker_restarts", (json_int_t) meta->worker_restarts,
        "redelivered_before", (json_int_t) meta->redelivered_before,
        "worker_restarts_before", (json_int_t) meta->worker_restarts_before);
    return s_write (self, object);
}

int
journal_write_result (journal_t *self, uint64_t batch, const char *host, uint32_t pid,
                      double time, const zp_result_t *result)
{
    char id [17];
    s_hex (id, batch);
    json_t *object = json_pack ("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:f}",
        "type", "result", "batch", id,
        "task", (json_int_t) result->task,
        "status", (json_int_t) result->status,
        "attempts", (json_int_t) result->attempts,
        "iterations", (json_int_t) result->iterations,
        "elapsed_ns", (json_int_t) result->elapsed_ns,
        "host", host, "pid", (json_int_t) pid, "time", time);
    if (object
    &&  (s_set_bytes (object, "input", result->input, result->input_size)
    ||   s_set_bytes (object, "output", result->output, result->output_size))) {
        json_decref (object);
        object = NULL;
    }
    return s_write (self, object);
}

int
journal_write_complete (journal_t *self, uint64_t batch)
{
    char id [17];
    s_hex (id, batch);
    return s_write (self, json_pack ("{s:s, s:s}", "type", "complete", "batch", id));
}

int
journal_sync (journal_t *self)
{
    if (!self->dirty)
        return 0;
    if (fsync (fileno (self->file)) != 0) {
        zp_error ("can't sync the journal %s: %s", self->path, strerror (errno));
        return -1;
    }
    self->dirty = false;
    return 0;
}

bool
journal_dirty (journal_t *self)
{
    return self->dirty;
}
