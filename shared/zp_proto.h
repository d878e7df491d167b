/*  zp_proto - the zpipe wire protocol, version 2 (docs/protocol.md).

    Encoding appends to a czmq zchunk that the caller owns and reuses, so that
    the hot path does not allocate once the chunk has grown to its working size.
    Decoding is a pure function over the bytes of one frame: it validates the
    whole message (header, every length, every count, every range) before it
    returns, and then hands out views that point into the caller's frame. A
    decoded message is only valid while that frame is. Nothing here talks to a
    socket.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef ZP_PROTO_H_INCLUDED
#define ZP_PROTO_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZP_PROTO_VERSION 2
#define ZP_HEADER_SIZE 4

//  Message types
#define ZP_READY   0x01   //  worker process -> ventilator: credit, heartbeat
#define ZP_TASKS   0x02   //  ventilator -> worker process
#define ZP_RESULTS 0x03   //  worker process -> sink
#define ZP_BATCH   0x04   //  ventilator -> sink
#define ZP_ACK     0x05   //  sink -> ventilator (feedback)
#define ZP_STATS   0x06   //  worker process -> sink: what it is doing

//  READY flags
#define ZP_READY_LEAVING  0x01
#define ZP_READY_HELD     0x02
#define ZP_READY_DRAINING 0x04
#define ZP_READY_RETURN   0x08
//  BATCH flags
#define ZP_BATCH_STARTED 0x01
#define ZP_BATCH_TOTAL   0x02
#define ZP_BATCH_RESUME  0x04
#define ZP_BATCH_CLOSED  0x08
//  ACK flags
#define ZP_ACK_COMPLETE  0x01
#define ZP_ACK_SNAPSHOT  0x02
#define ZP_ACK_ADOPT     0x04
//  STATS flags
#define ZP_STATS_LEAVING 0x01
//  Result status
#define ZP_STATUS_OK     0
#define ZP_STATUS_FAILED 1

//  Protocol limits (docs/protocol.md, "Limits")
#define ZP_MAX_ITERATIONS (UINT64_C (1) << 40)
#define ZP_MAX_RECORDS    (UINT32_C (1) << 20)
#define ZP_MAX_ACK_IDS    65536
//  READY capacity a ventilator honours; a larger one is taken as this.
#define ZP_MAX_CAPACITY   65536
#define ZP_MAX_ATTEMPTS   100      //  RESULTS attempts, and worker --max-attempts

//  A task reference: which batch, which task.
typedef struct {
    uint64_t batch;
    uint64_t task;
} zp_ref_t;

//  One task, as carried by TASKS. input points into the frame.
typedef struct {
    uint64_t task;
    uint64_t iterations;
    const uint8_t *input;
    size_t input_size;
} zp_task_t;

//  One result, as carried by RESULTS. input and output point into the frame.
typedef struct {
    uint64_t task;
    uint8_t status;
    uint8_t attempts;           //  times started in a handler, this one included
    uint64_t iterations;
    uint64_t elapsed_ns;
    const uint8_t *input;
    size_t input_size;
    const uint8_t *output;
    size_t output_size;
} zp_result_t;

typedef struct {
    uint8_t flags;
    uint32_t pid;
    char host [256];            //  NUL-terminated copy; the wire form has no NUL
    char engine [256];
    uint32_t capacity;
    uint64_t received;
    uint64_t finished;
    uint32_t replaces;          //  pid of the dead process this one replaces, or 0
    uint32_t running;           //  with HELD: the first running entries are in the engine
    uint32_t held_n;
    const uint8_t *held;        //  held_n records; read them with zp_msg_held
} zp_ready_t;

typedef struct {
    uint64_t batch;
    uint32_t count;
    const uint8_t *records;     //  read them with zp_msg_next_task
} zp_tasks_t;

typedef struct {
    uint32_t pid;
    char host [256];
    uint64_t batch;
    uint32_t count;
    const uint8_t *records;     //  read them with zp_msg_next_result
} zp_results_t;

typedef struct {
    uint64_t batch;
    uint8_t flags;
    uint64_t total;
    uint64_t iterations;
    uint64_t started_us;
    uint64_t rejected;
    uint64_t digest;            //  content digest (docs/protocol.md, BATCH)
    uint64_t redelivered;       //  the ventilator process's counters
    uint64_t worker_restarts;
} zp_batch_t;

typedef struct {
    uint64_t batch;
    uint8_t flags;
    uint64_t accepted;
    uint32_t count;
    const uint8_t *ids;         //  count ids; read them with zp_msg_ack_id
} zp_ack_t;

//  What a worker process reports about itself (STATS), every heartbeat.
typedef struct {
    uint8_t flags;
    uint32_t pid;
    char host [256];
    char engine [256];
    uint32_t interval_ms;       //  how often it reports, >= 1
    uint64_t uptime_ms;
    uint64_t tasks;             //  tasks finished (results handed to its socket)
    uint64_t steps;             //  chain steps run since it started
    uint64_t steps_per_s;       //  over the last interval
    uint64_t rss_bytes;         //  resident memory, 0 if unknown
    uint32_t held;              //  tasks it holds now
    uint32_t running;           //  entries that follow: tasks in the engine, <= held
    const uint8_t *tasks_running;   //  read them with zp_msg_stats_running
} zp_stats_t;

//  A decoded message: type says which member of the union is valid.
typedef struct {
    uint8_t type;
    union {
        zp_ready_t ready;
        zp_tasks_t tasks;
        zp_results_t results;
        zp_batch_t batch;
        zp_ack_t ack;
        zp_stats_t stats;
    } u;
    //  Iteration cursor for zp_msg_next_task / zp_msg_next_result.
    const uint8_t *cursor;
    uint32_t remaining;
} zp_msg_t;

//  Decode one frame into msg. Returns 0 on success. Returns -1 if the frame
//  is not a valid version-2 message, and then sets *reason (when reason is not
//  NULL) to a static string saying why, for the log. Never reads outside
//  [data, data + size); never allocates.
int
    zp_msg_decode (const void *data, size_t size, zp_msg_t *msg, const char **reason);

//  Iterate over the records of a decoded TASKS or RESULTS message. Returns
//  true and fills the record while there is one, false at the end. The
//  records were validated by zp_msg_decode, so this cannot fail otherwise.
bool
    zp_msg_next_task (zp_msg_t *msg, zp_task_t *task);
bool
    zp_msg_next_result (zp_msg_t *msg, zp_result_t *result);

//  Entry index of a decoded READY's held list (index < held_n).
zp_ref_t
    zp_msg_held (const zp_msg_t *msg, uint32_t index);

//  Entry index of a decoded ACK's id list (index < count).
uint64_t
    zp_msg_ack_id (const zp_msg_t *msg, uint32_t index);

//  Entry index of a decoded STATS's running list (index < running).
zp_ref_t
    zp_msg_stats_running (const zp_msg_t *msg, uint32_t index);

//  Human name of a message type, "unknown" for others. Static string.
const char *
    zp_msg_type_name (uint8_t type);

//  --- Encoding -------------------------------------------------------------
//  Every *_begin resets buf and writes the header and fixed fields; every
//  *_add appends one record and updates the record count in place. The caller
//  then sends zchunk_data (buf), zchunk_size (buf) as one frame. The caller
//  keeps the limits (string lengths <= 255, counts <= ZP_MAX_RECORDS); an
//  encoder given a longer host or engine name truncates it to 255 bytes.

void
    zp_ready_encode (zchunk_t *buf, const zp_ready_t *ready, const zp_ref_t *held);
void
    zp_tasks_begin (zchunk_t *buf, uint64_t batch);
void
    zp_tasks_add (zchunk_t *buf, uint64_t task, uint64_t iterations,
                  const void *input, size_t input_size);
void
    zp_results_begin (zchunk_t *buf, uint32_t pid, const char *host, uint64_t batch);
void
    zp_results_add (zchunk_t *buf, const zp_result_t *result);
void
    zp_batch_encode (zchunk_t *buf, const zp_batch_t *batch);
void
    zp_ack_begin (zchunk_t *buf, uint64_t batch, uint8_t flags, uint64_t accepted);
void
    zp_ack_add (zchunk_t *buf, uint64_t task);
void
    zp_stats_encode (zchunk_t *buf, const zp_stats_t *stats, const zp_ref_t *running);

//  Number of records appended since the last *_begin (TASKS, RESULTS, ACK).
uint32_t
    zp_msg_records (zchunk_t *buf);

#endif
