/*  zp_proto - the zpipe wire protocol, version 2 (docs/protocol.md).

    The decoder walks the frame once with a bounded reader and checks every
    rule of the spec before it reports success; the iterators then walk the
    same bytes again without checks, because the decoder has already proved
    that every record is whole. The encoders never check values (the caller
    keeps the limits), they only lay bytes out, so tests can use them to build
    messages that break the rules.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_proto.h"

#include <assert.h>
#include <string.h>

//  Fixed sizes on the wire, used to reject a count that the bytes left
//  cannot possibly hold before walking any record.
#define S_TASK_MIN   (8 + 8 + 4)                //  task, iterations, input length
#define S_RESULT_MIN (8 + 1 + 1 + 8 + 8 + 4 + 4)    //  ... input and output lengths
#define S_HELD_SIZE  (8 + 8)
#define S_ID_SIZE    8
#define S_STR8_MAX   255

//  Offsets of the record counts that *_add updates in place.
#define S_TASKS_COUNT_AT   (ZP_HEADER_SIZE + 8)
#define S_ACK_COUNT_AT     (ZP_HEADER_SIZE + 8 + 1 + 8)
#define S_RESULTS_HOST_AT  (ZP_HEADER_SIZE + 4)     //  the str8 length byte

//  One static reason per version byte, so that the log line says which
//  version a peer speaks without the decoder formatting (or allocating)
//  anything. The index of ZP_PROTO_VERSION is never used: that one is ours.
#define S_V "unsupported version "
#define S_TEN(prefix) \
    prefix "0", prefix "1", prefix "2", prefix "3", prefix "4", \
    prefix "5", prefix "6", prefix "7", prefix "8", prefix "9"
static const char *const s_bad_version [] = {
    S_TEN (S_V),
    S_TEN (S_V "1"),  S_TEN (S_V "2"),  S_TEN (S_V "3"),  S_TEN (S_V "4"),
    S_TEN (S_V "5"),  S_TEN (S_V "6"),  S_TEN (S_V "7"),  S_TEN (S_V "8"),
    S_TEN (S_V "9"),
    S_TEN (S_V "10"), S_TEN (S_V "11"), S_TEN (S_V "12"), S_TEN (S_V "13"),
    S_TEN (S_V "14"), S_TEN (S_V "15"), S_TEN (S_V "16"), S_TEN (S_V "17"),
    S_TEN (S_V "18"), S_TEN (S_V "19"),
    S_TEN (S_V "20"), S_TEN (S_V "21"), S_TEN (S_V "22"), S_TEN (S_V "23"),
    S_TEN (S_V "24"),
    S_V "250", S_V "251", S_V "252", S_V "253", S_V "254", S_V "255"
};
_Static_assert (sizeof s_bad_version / sizeof s_bad_version [0] == 256,
                "one reason per version byte");
#undef S_TEN
#undef S_V


//  --------------------------------------------------------------------------
//  Big-endian loads and stores. Byte by byte, so alignment and host byte
//  order never matter.

static uint32_t
s_load_u32 (const uint8_t *p)
{
    return (uint32_t) p [0] << 24 | (uint32_t) p [1] << 16
         | (uint32_t) p [2] << 8  | (uint32_t) p [3];
}

static uint64_t
s_load_u64 (const uint8_t *p)
{
    return (uint64_t) s_load_u32 (p) << 32 | s_load_u32 (p + 4);
}

static uint8_t *
s_put_u8 (uint8_t *p, uint8_t value)
{
    *p = value;
    return p + 1;
}

static uint8_t *
s_put_u32 (uint8_t *p, uint32_t value)
{
    p [0] = (uint8_t) (value >> 24);
    p [1] = (uint8_t) (value >> 16);
    p [2] = (uint8_t) (value >> 8);
    p [3] = (uint8_t) value;
    return p + 4;
}

static uint8_t *
s_put_u64 (uint8_t *p, uint64_t value)
{
    s_put_u32 (p, (uint32_t) (value >> 32));
    return s_put_u32 (p + 4, (uint32_t) value);
}

static uint8_t *
s_put_str8 (uint8_t *p, const char *string)
{
    //  Truncate rather than wrap the length byte: a 256-byte name must not
    //  go out as a 0-byte one followed by 256 bytes of garbage.
    size_t size = strnlen (string, S_STR8_MAX);
    p = s_put_u8 (p, (uint8_t) size);
    memcpy (p, string, size);
    return p + size;
}

static uint8_t *
s_put_header (uint8_t *p, uint8_t type)
{
    p [0] = 'Z';
    p [1] = 'P';
    p [2] = ZP_PROTO_VERSION;
    p [3] = type;
    return p + ZP_HEADER_SIZE;
}


//  --------------------------------------------------------------------------
//  A bounded reader over one frame. Every getter compares against the bytes
//  left before it touches them, and never forms a pointer past the end, so
//  no length or count in the frame can make the decoder read outside it.

typedef struct {
    const uint8_t *ptr;
    size_t left;
} reader_t;

static bool
s_get_u8 (reader_t *r, uint8_t *value)
{
    if (r->left < 1)
        return false;
    *value = r->ptr [0];
    r->ptr += 1;
    r->left -= 1;
    return true;
}

static bool
s_get_u32 (reader_t *r, uint32_t *value)
{
    if (r->left < 4)
        return false;
    *value = s_load_u32 (r->ptr);
    r->ptr += 4;
    r->left -= 4;
    return true;
}

static bool
s_get_u64 (reader_t *r, uint64_t *value)
{
    if (r->left < 8)
        return false;
    *value = s_load_u64 (r->ptr);
    r->ptr += 8;
    r->left -= 8;
    return true;
}

static bool
s_skip (reader_t *r, size_t size)
{
    if (r->left < size)
        return false;
    r->ptr += size;
    r->left -= size;
    return true;
}

//  Reads a str8 into dest (256 bytes, NUL-terminated). Returns NULL, or the
//  caller's reason for the way it failed.
static const char *
s_get_str8 (reader_t *r, char *dest, const char *truncated, const char *has_nul)
{
    uint8_t size;
    if (!s_get_u8 (r, &size) || r->left < size)
        return truncated;
    //  A NUL would silently shorten the C string we hand out, so that two
    //  different wire names could log as the same one.
    if (memchr (r->ptr, 0, size))
        return has_nul;
    memcpy (dest, r->ptr, size);
    dest [size] = 0;
    s_skip (r, size);
    return NULL;
}

static bool
s_iterations_ok (uint64_t iterations)
{
    return iterations >= 1 && iterations <= ZP_MAX_ITERATIONS;
}


//  --------------------------------------------------------------------------
//  One decoder per type. Each returns NULL when the body is valid and ends
//  exactly at the end of the frame, or a static reason naming the message
//  and the rule it broke. Checks come in wire order, so the reason names
//  the first thing that is wrong.

static const char *
s_decode_ready (reader_t *r, zp_ready_t *self)
{
    if (!s_get_u8 (r, &self->flags) || !s_get_u32 (r, &self->pid))
        return "READY: truncated before host";
    if (self->flags & ~(ZP_READY_LEAVING | ZP_READY_HELD | ZP_READY_DRAINING | ZP_READY_RETURN))
        return "READY: undefined flag bits set";
    if ((self->flags & ZP_READY_HELD) && (self->flags & ZP_READY_RETURN))
        return "READY: HELD and RETURN both set";
    const char *why = s_get_str8 (r, self->host,
        "READY: truncated in host", "READY: host contains NUL");
    if (why)
        return why;
    why = s_get_str8 (r, self->engine,
        "READY: truncated in engine", "READY: engine contains NUL");
    if (why)
        return why;
    if (!s_get_u32 (r, &self->capacity)
    ||  !s_get_u64 (r, &self->received)
    ||  !s_get_u64 (r, &self->finished)
    ||  !s_get_u32 (r, &self->replaces)
    ||  !s_get_u32 (r, &self->running)
    ||  !s_get_u32 (r, &self->held_n))
        return "READY: truncated before held list";
    if (self->capacity == 0 && !(self->flags & (ZP_READY_LEAVING | ZP_READY_DRAINING)))
        return "READY: capacity 0 without LEAVING or DRAINING";
    //  Running totals: nothing is finished that was not received. A peer
    //  that says otherwise would make the ventilator's credit sum wrap.
    if (self->finished > self->received)
        return "READY: finished above received";
    //  Without one of these flags the sender makes no statement about what
    //  it holds, so a list would be meaningless; refuse it rather than guess.
    if (self->held_n > 0
    &&  !(self->flags & (ZP_READY_HELD | ZP_READY_LEAVING | ZP_READY_RETURN)))
        return "READY: held list without HELD, LEAVING or RETURN flag";
    if (self->held_n > ZP_MAX_RECORDS)
        return "READY: held_n above 2^20";
    if (self->running > 0 && !(self->flags & ZP_READY_HELD))
        return "READY: running without HELD flag";
    if (self->running > self->held_n)
        return "READY: running above held_n";
    self->held = r->ptr;
    if (!s_skip (r, (size_t) self->held_n * S_HELD_SIZE))
        return "READY: held_n exceeds entries present";
    return r->left? "READY: trailing bytes": NULL;
}

static const char *
s_decode_tasks (reader_t *r, zp_tasks_t *self)
{
    if (!s_get_u64 (r, &self->batch) || !s_get_u32 (r, &self->count))
        return "TASKS: truncated before records";
    if (self->count == 0)
        return "TASKS: count 0";
    if (self->count > ZP_MAX_RECORDS)
        return "TASKS: count above 2^20";
    if (r->left / S_TASK_MIN < self->count)
        return "TASKS: count exceeds records present";
    self->records = r->ptr;
    for (uint32_t index = 0; index < self->count; index++) {
        uint64_t task, iterations;
        uint32_t input_size;
        if (!s_get_u64 (r, &task)
        ||  !s_get_u64 (r, &iterations)
        ||  !s_get_u32 (r, &input_size))
            return "TASKS: record truncated";
        if (!s_iterations_ok (iterations))
            return "TASKS: iterations out of range";
        if (!s_skip (r, input_size))
            return "TASKS: input length past end of frame";
    }
    return r->left? "TASKS: trailing bytes": NULL;
}

static const char *
s_decode_results (reader_t *r, zp_results_t *self)
{
    if (!s_get_u32 (r, &self->pid))
        return "RESULTS: truncated before host";
    const char *why = s_get_str8 (r, self->host,
        "RESULTS: truncated in host", "RESULTS: host contains NUL");
    if (why)
        return why;
    if (!s_get_u64 (r, &self->batch) || !s_get_u32 (r, &self->count))
        return "RESULTS: truncated before records";
    if (self->count == 0)
        return "RESULTS: count 0";
    if (self->count > ZP_MAX_RECORDS)
        return "RESULTS: count above 2^20";
    if (r->left / S_RESULT_MIN < self->count)
        return "RESULTS: count exceeds records present";
    self->records = r->ptr;
    for (uint32_t index = 0; index < self->count; index++) {
        uint64_t task, iterations, elapsed_ns;
        uint8_t status, attempts;
        uint32_t size;
        if (!s_get_u64 (r, &task)
        ||  !s_get_u8 (r, &status)
        ||  !s_get_u8 (r, &attempts)
        ||  !s_get_u64 (r, &iterations)
        ||  !s_get_u64 (r, &elapsed_ns)
        ||  !s_get_u32 (r, &size))
            return "RESULTS: record truncated";
        if (status != ZP_STATUS_OK && status != ZP_STATUS_FAILED)
            return "RESULTS: status neither 0 nor 1";
        if (attempts > ZP_MAX_ATTEMPTS)
            return "RESULTS: attempts above 100";
        if (!s_iterations_ok (iterations))
            return "RESULTS: iterations out of range";
        if (!s_skip (r, size))
            return "RESULTS: input length past end of frame";
        if (!s_get_u32 (r, &size))
            return "RESULTS: record truncated";
        if (!s_skip (r, size))
            return "RESULTS: output length past end of frame";
    }
    return r->left? "RESULTS: trailing bytes": NULL;
}

static const char *
s_decode_batch (reader_t *r, zp_batch_t *self)
{
    if (!s_get_u64 (r, &self->batch)
    ||  !s_get_u8 (r, &self->flags)
    ||  !s_get_u64 (r, &self->total)
    ||  !s_get_u64 (r, &self->iterations)
    ||  !s_get_u64 (r, &self->started_us)
    ||  !s_get_u64 (r, &self->rejected)
    ||  !s_get_u64 (r, &self->digest)
    ||  !s_get_u64 (r, &self->redelivered)
    ||  !s_get_u64 (r, &self->worker_restarts))
        return "BATCH: truncated";
    if (self->flags & ~(ZP_BATCH_STARTED | ZP_BATCH_TOTAL | ZP_BATCH_RESUME | ZP_BATCH_CLOSED))
        return "BATCH: undefined flag bits set";
    if (!s_iterations_ok (self->iterations))
        return "BATCH: iterations out of range";
    return r->left? "BATCH: trailing bytes": NULL;
}

static const char *
s_decode_ack (reader_t *r, zp_ack_t *self)
{
    if (!s_get_u64 (r, &self->batch)
    ||  !s_get_u8 (r, &self->flags)
    ||  !s_get_u64 (r, &self->accepted)
    ||  !s_get_u32 (r, &self->count))
        return "ACK: truncated before ids";
    if (self->flags & ~(ZP_ACK_COMPLETE | ZP_ACK_SNAPSHOT | ZP_ACK_ADOPT))
        return "ACK: undefined flag bits set";
    if (self->count > ZP_MAX_ACK_IDS)
        return "ACK: count above 65536";
    self->ids = r->ptr;
    if (!s_skip (r, (size_t) self->count * S_ID_SIZE))
        return "ACK: count exceeds ids present";
    return r->left? "ACK: trailing bytes": NULL;
}

static const char *
s_decode_stats (reader_t *r, zp_stats_t *self)
{
    if (!s_get_u8 (r, &self->flags) || !s_get_u32 (r, &self->pid))
        return "STATS: truncated before host";
    if (self->flags & ~ZP_STATS_LEAVING)
        return "STATS: undefined flag bits set";
    const char *why = s_get_str8 (r, self->host,
        "STATS: truncated in host", "STATS: host contains NUL");
    if (why)
        return why;
    why = s_get_str8 (r, self->engine,
        "STATS: truncated in engine", "STATS: engine contains NUL");
    if (why)
        return why;
    if (!s_get_u32 (r, &self->interval_ms)
    ||  !s_get_u64 (r, &self->uptime_ms)
    ||  !s_get_u64 (r, &self->tasks)
    ||  !s_get_u64 (r, &self->steps)
    ||  !s_get_u64 (r, &self->steps_per_s)
    ||  !s_get_u64 (r, &self->rss_bytes)
    ||  !s_get_u32 (r, &self->held)
    ||  !s_get_u32 (r, &self->running))
        return "STATS: truncated before running list";
    //  The sink takes a process as gone after three silent intervals: an
    //  interval of 0 would make every process gone at once.
    if (self->interval_ms == 0)
        return "STATS: interval 0";
    if (self->running > self->held)
        return "STATS: running above held";
    if (self->running > ZP_MAX_RECORDS)
        return "STATS: running above 2^20";
    self->tasks_running = r->ptr;
    if (!s_skip (r, (size_t) self->running * S_HELD_SIZE))
        return "STATS: running exceeds entries present";
    return r->left? "STATS: trailing bytes": NULL;
}

static const char *
s_decode (const uint8_t *data, size_t size, zp_msg_t *msg)
{
    if (size == 0)
        return "empty frame";
    if (!data)
        return "no data";
    if (size < ZP_HEADER_SIZE)
        return "truncated header";
    if (data [0] != 'Z' || data [1] != 'P')
        return "bad signature";
    if (data [2] != ZP_PROTO_VERSION)
        return s_bad_version [data [2]];

    reader_t reader = { data + ZP_HEADER_SIZE, size - ZP_HEADER_SIZE };
    msg->type = data [3];
    switch (msg->type) {
        case ZP_READY:
            return s_decode_ready (&reader, &msg->u.ready);
        case ZP_TASKS:
            return s_decode_tasks (&reader, &msg->u.tasks);
        case ZP_RESULTS:
            return s_decode_results (&reader, &msg->u.results);
        case ZP_BATCH:
            return s_decode_batch (&reader, &msg->u.batch);
        case ZP_ACK:
            return s_decode_ack (&reader, &msg->u.ack);
        case ZP_STATS:
            return s_decode_stats (&reader, &msg->u.stats);
        default:
            return "unknown type";
    }
}


//  --------------------------------------------------------------------------
//  Decode one frame into msg

int
zp_msg_decode (const void *data, size_t size, zp_msg_t *msg, const char **reason)
{
    assert (msg);
    msg->cursor = NULL;
    msg->remaining = 0;
    const char *why = s_decode ((const uint8_t *) data, size, msg);
    if (why) {
        //  Type 0 is no message type, so iterators and accessors on a
        //  message that failed to decode find nothing instead of garbage.
        msg->type = 0;
        if (reason)
            *reason = why;
        return -1;
    }
    if (msg->type == ZP_TASKS) {
        msg->cursor = msg->u.tasks.records;
        msg->remaining = msg->u.tasks.count;
    }
    else
    if (msg->type == ZP_RESULTS) {
        msg->cursor = msg->u.results.records;
        msg->remaining = msg->u.results.count;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Iterate over the records of a decoded TASKS message

bool
zp_msg_next_task (zp_msg_t *msg, zp_task_t *task)
{
    assert (msg);
    assert (task);
    if (msg->type != ZP_TASKS || msg->remaining == 0)
        return false;
    const uint8_t *p = msg->cursor;
    task->task = s_load_u64 (p);
    task->iterations = s_load_u64 (p + 8);
    task->input_size = s_load_u32 (p + 16);
    task->input = p + S_TASK_MIN;
    msg->cursor = task->input + task->input_size;
    msg->remaining--;
    return true;
}


//  --------------------------------------------------------------------------
//  Iterate over the records of a decoded RESULTS message

bool
zp_msg_next_result (zp_msg_t *msg, zp_result_t *result)
{
    assert (msg);
    assert (result);
    if (msg->type != ZP_RESULTS || msg->remaining == 0)
        return false;
    const uint8_t *p = msg->cursor;
    result->task = s_load_u64 (p);
    result->status = p [8];
    result->attempts = p [9];
    result->iterations = s_load_u64 (p + 10);
    result->elapsed_ns = s_load_u64 (p + 18);
    result->input_size = s_load_u32 (p + 26);
    result->input = p + 30;
    p = result->input + result->input_size;
    result->output_size = s_load_u32 (p);
    result->output = p + 4;
    msg->cursor = result->output + result->output_size;
    msg->remaining--;
    return true;
}


//  --------------------------------------------------------------------------
//  Entry index of a decoded READY's held list

zp_ref_t
zp_msg_held (const zp_msg_t *msg, uint32_t index)
{
    assert (msg);
    assert (msg->type == ZP_READY);
    assert (index < msg->u.ready.held_n);
    const uint8_t *p = msg->u.ready.held + (size_t) index * S_HELD_SIZE;
    zp_ref_t ref = { s_load_u64 (p), s_load_u64 (p + 8) };
    return ref;
}


//  --------------------------------------------------------------------------
//  Entry index of a decoded ACK's id list

uint64_t
zp_msg_ack_id (const zp_msg_t *msg, uint32_t index)
{
    assert (msg);
    assert (msg->type == ZP_ACK);
    assert (index < msg->u.ack.count);
    return s_load_u64 (msg->u.ack.ids + (size_t) index * S_ID_SIZE);
}


//  --------------------------------------------------------------------------
//  Entry index of a decoded STATS's running list

zp_ref_t
zp_msg_stats_running (const zp_msg_t *msg, uint32_t index)
{
    assert (msg);
    assert (msg->type == ZP_STATS);
    assert (index < msg->u.stats.running);
    const uint8_t *p = msg->u.stats.tasks_running + (size_t) index * S_HELD_SIZE;
    zp_ref_t ref = { s_load_u64 (p), s_load_u64 (p + 8) };
    return ref;
}


//  --------------------------------------------------------------------------
//  Human name of a message type

const char *
zp_msg_type_name (uint8_t type)
{
    switch (type) {
        case ZP_READY:   return "READY";
        case ZP_TASKS:   return "TASKS";
        case ZP_RESULTS: return "RESULTS";
        case ZP_BATCH:   return "BATCH";
        case ZP_ACK:     return "ACK";
        case ZP_STATS:   return "STATS";
        default:         return "unknown";
    }
}


//  --------------------------------------------------------------------------
//  Encoding helpers

//  Resets buf to hold exactly the given bytes. zchunk_set keeps the buffer
//  (it only moves the size), so a warmed-up chunk is reused without a
//  malloc; zchunk_extend grows it when this message is the largest yet.
static void
s_restart (zchunk_t *buf, const uint8_t *bytes, size_t size)
{
    assert (buf);
    zchunk_set (buf, NULL, 0);
    zchunk_extend (buf, bytes, size);
}

static void
s_append (zchunk_t *buf, const void *bytes, size_t size)
{
    //  zchunk_extend would memcpy from NULL for an empty blob
    if (size > 0)
        zchunk_extend (buf, bytes, size);
}

//  Where the record count of the message in buf sits, or 0 when buf does not
//  hold the start of a TASKS, RESULTS or ACK message.
static size_t
s_count_offset (zchunk_t *buf)
{
    size_t size = zchunk_size (buf);
    const uint8_t *data = zchunk_data (buf);
    if (size < ZP_HEADER_SIZE
    ||  data [0] != 'Z' || data [1] != 'P' || data [2] != ZP_PROTO_VERSION)
        return 0;
    size_t offset;
    if (data [3] == ZP_TASKS)
        offset = S_TASKS_COUNT_AT;
    else
    if (data [3] == ZP_ACK)
        offset = S_ACK_COUNT_AT;
    else
    if (data [3] == ZP_RESULTS && size > S_RESULTS_HOST_AT)
        offset = S_RESULTS_HOST_AT + 1 + (size_t) data [S_RESULTS_HOST_AT] + 8;
    else
        return 0;
    return offset + 4 <= size? offset: 0;
}

//  Counts one more record in the message that buf holds. Appending to a
//  message of another type, or past the limit, is a bug in the caller: the
//  frame it would send is one every receiver drops.
static void
s_count_record (zchunk_t *buf, uint8_t type, uint32_t limit)
{
    assert (buf);
    assert (zchunk_size (buf) >= ZP_HEADER_SIZE);
    assert (zchunk_data (buf) [3] == type);
    size_t offset = s_count_offset (buf);
    assert (offset);
    uint8_t *p = zchunk_data (buf) + offset;
    uint32_t count = s_load_u32 (p);
    assert (count < limit);
    s_put_u32 (p, count + 1);
}


//  --------------------------------------------------------------------------
//  Encode a READY message

void
zp_ready_encode (zchunk_t *buf, const zp_ready_t *ready, const zp_ref_t *held)
{
    assert (ready);
    assert (held || ready->held_n == 0);
    uint8_t fixed [ZP_HEADER_SIZE + 1 + 4 + 2 * (1 + S_STR8_MAX) + 4 + 8 + 8 + 4 + 4 + 4];
    uint8_t *p = s_put_header (fixed, ZP_READY);
    p = s_put_u8 (p, ready->flags);
    p = s_put_u32 (p, ready->pid);
    p = s_put_str8 (p, ready->host);
    p = s_put_str8 (p, ready->engine);
    p = s_put_u32 (p, ready->capacity);
    p = s_put_u64 (p, ready->received);
    p = s_put_u64 (p, ready->finished);
    p = s_put_u32 (p, ready->replaces);
    p = s_put_u32 (p, ready->running);
    p = s_put_u32 (p, ready->held_n);
    s_restart (buf, fixed, (size_t) (p - fixed));

    for (uint32_t index = 0; index < ready->held_n; index++) {
        uint8_t entry [S_HELD_SIZE];
        s_put_u64 (s_put_u64 (entry, held [index].batch), held [index].task);
        zchunk_extend (buf, entry, sizeof entry);
    }
}


//  --------------------------------------------------------------------------
//  Start a TASKS message with no tasks

void
zp_tasks_begin (zchunk_t *buf, uint64_t batch)
{
    uint8_t fixed [ZP_HEADER_SIZE + 8 + 4];
    uint8_t *p = s_put_header (fixed, ZP_TASKS);
    p = s_put_u64 (p, batch);
    s_put_u32 (p, 0);
    s_restart (buf, fixed, sizeof fixed);
}


//  --------------------------------------------------------------------------
//  Append one task to the TASKS message in buf

void
zp_tasks_add (zchunk_t *buf, uint64_t task, uint64_t iterations,
              const void *input, size_t input_size)
{
    assert (input || input_size == 0);
    assert (input_size <= UINT32_MAX);
    s_count_record (buf, ZP_TASKS, ZP_MAX_RECORDS);

    uint8_t fixed [S_TASK_MIN];
    uint8_t *p = s_put_u64 (fixed, task);
    p = s_put_u64 (p, iterations);
    s_put_u32 (p, (uint32_t) input_size);
    zchunk_extend (buf, fixed, sizeof fixed);
    s_append (buf, input, input_size);
}


//  --------------------------------------------------------------------------
//  Start a RESULTS message with no results

void
zp_results_begin (zchunk_t *buf, uint32_t pid, const char *host, uint64_t batch)
{
    assert (host);
    uint8_t fixed [ZP_HEADER_SIZE + 4 + 1 + S_STR8_MAX + 8 + 4];
    uint8_t *p = s_put_header (fixed, ZP_RESULTS);
    p = s_put_u32 (p, pid);
    p = s_put_str8 (p, host);
    p = s_put_u64 (p, batch);
    p = s_put_u32 (p, 0);
    s_restart (buf, fixed, (size_t) (p - fixed));
}


//  --------------------------------------------------------------------------
//  Append one result to the RESULTS message in buf

void
zp_results_add (zchunk_t *buf, const zp_result_t *result)
{
    assert (result);
    assert (result->input || result->input_size == 0);
    assert (result->output || result->output_size == 0);
    assert (result->input_size <= UINT32_MAX);
    assert (result->output_size <= UINT32_MAX);
    s_count_record (buf, ZP_RESULTS, ZP_MAX_RECORDS);

    assert (result->attempts <= ZP_MAX_ATTEMPTS);
    uint8_t fixed [8 + 1 + 1 + 8 + 8 + 4];
    uint8_t *p = s_put_u64 (fixed, result->task);
    p = s_put_u8 (p, result->status);
    p = s_put_u8 (p, result->attempts);
    p = s_put_u64 (p, result->iterations);
    p = s_put_u64 (p, result->elapsed_ns);
    s_put_u32 (p, (uint32_t) result->input_size);
    zchunk_extend (buf, fixed, sizeof fixed);
    s_append (buf, result->input, result->input_size);

    uint8_t length [4];
    s_put_u32 (length, (uint32_t) result->output_size);
    zchunk_extend (buf, length, sizeof length);
    s_append (buf, result->output, result->output_size);
}


//  --------------------------------------------------------------------------
//  Encode a BATCH message

void
zp_batch_encode (zchunk_t *buf, const zp_batch_t *batch)
{
    assert (batch);
    uint8_t fixed [ZP_HEADER_SIZE + 8 + 1 + 8 + 8 + 8 + 8 + 8 + 8 + 8];
    uint8_t *p = s_put_header (fixed, ZP_BATCH);
    p = s_put_u64 (p, batch->batch);
    p = s_put_u8 (p, batch->flags);
    p = s_put_u64 (p, batch->total);
    p = s_put_u64 (p, batch->iterations);
    p = s_put_u64 (p, batch->started_us);
    p = s_put_u64 (p, batch->rejected);
    p = s_put_u64 (p, batch->digest);
    p = s_put_u64 (p, batch->redelivered);
    s_put_u64 (p, batch->worker_restarts);
    s_restart (buf, fixed, sizeof fixed);
}


//  --------------------------------------------------------------------------
//  Start an ACK message with no ids

void
zp_ack_begin (zchunk_t *buf, uint64_t batch, uint8_t flags, uint64_t accepted)
{
    uint8_t fixed [ZP_HEADER_SIZE + 8 + 1 + 8 + 4];
    uint8_t *p = s_put_header (fixed, ZP_ACK);
    p = s_put_u64 (p, batch);
    p = s_put_u8 (p, flags);
    p = s_put_u64 (p, accepted);
    s_put_u32 (p, 0);
    s_restart (buf, fixed, sizeof fixed);
}


//  --------------------------------------------------------------------------
//  Append one task id to the ACK message in buf

void
zp_ack_add (zchunk_t *buf, uint64_t task)
{
    s_count_record (buf, ZP_ACK, ZP_MAX_ACK_IDS);
    uint8_t id [S_ID_SIZE];
    s_put_u64 (id, task);
    zchunk_extend (buf, id, sizeof id);
}


//  --------------------------------------------------------------------------
//  Encode a STATS message

void
zp_stats_encode (zchunk_t *buf, const zp_stats_t *stats, const zp_ref_t *running)
{
    assert (stats);
    assert (running || stats->running == 0);
    uint8_t fixed [ZP_HEADER_SIZE + 1 + 4 + 2 * (1 + S_STR8_MAX) + 4 + 8 * 6 + 4 + 4];
    uint8_t *p = s_put_header (fixed, ZP_STATS);
    p = s_put_u8 (p, stats->flags);
    p = s_put_u32 (p, stats->pid);
    p = s_put_str8 (p, stats->host);
    p = s_put_str8 (p, stats->engine);
    p = s_put_u32 (p, stats->interval_ms);
    p = s_put_u64 (p, stats->uptime_ms);
    p = s_put_u64 (p, stats->tasks);
    p = s_put_u64 (p, stats->steps);
    p = s_put_u64 (p, stats->steps_per_s);
    p = s_put_u64 (p, stats->rss_bytes);
    p = s_put_u32 (p, stats->held);
    p = s_put_u32 (p, stats->running);
    s_restart (buf, fixed, (size_t) (p - fixed));
    for (uint32_t index = 0; index < stats->running; index++) {
        uint8_t entry [S_HELD_SIZE];
        s_put_u64 (s_put_u64 (entry, running [index].batch), running [index].task);
        zchunk_extend (buf, entry, sizeof entry);
    }
}


//  --------------------------------------------------------------------------
//  Number of records appended since the last *_begin

uint32_t
zp_msg_records (zchunk_t *buf)
{
    assert (buf);
    size_t offset = s_count_offset (buf);
    return offset? s_load_u32 (zchunk_data (buf) + offset): 0;
}
