/*  core - the ventilator's decisions, without sockets, clocks or input.

    The core is fed events: a decoded READY from a worker connection, a
    decoded ACK from the sink, the timer, input that grew or ended, each
    with the time it happened. It answers through the io table its owner
    gives it: messages to send to a worker connection or to the sink, and
    log lines. A send returns at once whether the socket took the message,
    as zmq_send with ZMQ_DONTWAIT does on a ROUTER_MANDATORY socket: a task
    that did not go out is not leased. Nothing else leaves the core, so the
    shell (ventilator.c) and the simulator (tests/sim) drive the same code.

    It decides what ledger.h only records: which process gets how many
    tasks (credit, a protocol maximum, a fair share of what waits), when a
    lease or a report runs out, which stragglers are copied, when a worker
    or the sink has been silent too long, what a SNAPSHOT says was lost,
    and when the batch is done.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef VCORE_H_INCLUDED
#define VCORE_H_INCLUDED

#include "ledger.h"
#include "zp_proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The timer's period the core expects, and how often BATCH goes to the
//  sink (the ventilator's heartbeat to it, answered by its ACK).
#define VCORE_TICK_US   50000
#define VCORE_PULSE_US  1000000
//  A sink that has not answered for this long is away; a worker connection
//  taken as dead is forgotten after FORGET_US of silence.
#define VCORE_SINK_SILENT_US 3000000
#define VCORE_FORGET_US      60000000
//  A task its holder finished must be acknowledged within this, counted
//  while the sink answers, or its result is taken as lost.
#define VCORE_REPORT_TIMEOUT_US 5000000
//  What any process may hold before it has finished a task (credit).
#define VCORE_START_CREDIT 32
//  A process whose results do not reach the sink gets no tasks this long.
#define VCORE_QUARANTINE_US 10000000

//  Log levels of the io table's log call.
#define VCORE_ERROR 0
#define VCORE_WARN  1
#define VCORE_INFO  2
#define VCORE_DEBUG 3

typedef struct {
    //  An encoded message (size bytes, owned by the core, valid during the
    //  call) for the worker connection with that routing id, or the sink.
    //  Return true if the socket took it.
    bool (*to_worker) (void *arg, const uint8_t *id, size_t id_size,
                       const uint8_t *data, size_t size);
    bool (*to_sink) (void *arg, const uint8_t *data, size_t size);
    void (*log) (void *arg, int level, const char *line);
    void *arg;
} vcore_io_t;

typedef struct {
    uint64_t iterations;        //  chain length of every task
    uint64_t min_workers;       //  processes to wait for before dispatching
    int64_t heartbeat_us;       //  a worker silent this long is dead
    int64_t task_timeout_us;    //  a lease older than this ends; 0: never
    bool resume;                //  continue the sink's open batch of this input
    const char *bind, *sink;    //  endpoints, for log lines only
    const char *input_name;     //  what a stream is read from, for log lines
} vcore_config_t;

typedef struct _vcore_t vcore_t;

//  Create a core for batch id over the tasks in ledger (the caller's, which
//  must outlive the core; the caller may add tasks, then calls
//  vcore_input). ended: the ledger holds every task already (a file or
//  generated strings), otherwise a stream fills it. config and io are
//  copied; their strings must outlive the core. NULL if out of memory.
vcore_t *
    vcore_new (const vcore_config_t *config, const vcore_io_t *io, ledger_t *ledger,
               uint64_t batch, bool ended, int64_t now_us);
void
    vcore_destroy (vcore_t **self_p);

//  Input: the ledger has grown (rejected: input lines refused so far), or
//  with ended, the stream ended and every task is in it.
void
    vcore_input (vcore_t *self, uint64_t rejected, bool ended, int64_t now_us);

//  The link to the sink is up (the socket turned writable): the first BATCH
//  goes now rather than at the next tick. Returns true once it has gone.
bool
    vcore_sink_up (vcore_t *self, int64_t now_us);

//  A READY (decoded) from the worker connection with that routing id, an
//  ACK (decoded) from the sink. They record; the caller calls
//  vcore_dispatch after a burst of them (when it has drained its socket),
//  so that a thousand READYs cost one pass over the workers, not a
//  thousand.
void
    vcore_on_ready (vcore_t *self, const uint8_t *id, size_t id_size, zp_msg_t *msg,
                    int64_t now_us);
void
    vcore_on_ack (vcore_t *self, zp_msg_t *msg, int64_t now_us);

//  The timer, every VCORE_TICK_US or so.
void
    vcore_on_tick (vcore_t *self, int64_t now_us);

//  Hand out what can go out now. The timer and vcore_input end with it.
void
    vcore_dispatch (vcore_t *self, int64_t now_us);

//  The sink has every result and heard that we know: the batch is done.
bool
    vcore_complete (vcore_t *self);

//  The batch id (which a --resume ventilator may change to the sink's),
//  worker restarts seen, worker connections known now.
uint64_t
    vcore_batch (vcore_t *self);
uint64_t
    vcore_worker_restarts (vcore_t *self);
size_t
    vcore_workers (vcore_t *self);

#endif
