/*  worker - a supervisor that forks one worker process per core; each
    process pulls tasks from the ventilator, runs the SHA-512 chain and
    pushes the results to the sink.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef WORKER_H_INCLUDED
#define WORKER_H_INCLUDED

#include "zp_curve.h"
#include "zp_hash.h"

#include <stdint.h>

typedef struct {
    const char *ventilator;     //  task endpoint (DEALER, connected)
    const char *sink;           //  result endpoint (DEALER, connected)
    uint64_t processes;         //  worker processes to run
    int engine;                 //  zp_engine_kind_t
    uint64_t heartbeat_ms;      //  READY at least this often
    uint64_t max_iterations;    //  longer tasks are refused (a failed result)
    zp_curve_t *curve;          //  CURVE keys, or plain text (never NULL)
    uint64_t task_timeout_s;    //  a stop takes at most this long
    int verbosity;
    //  Set by the supervisor for each process it starts:
    uint32_t replaces;          //  pid of the dead process this one replaces, or 0
    int supervisor;             //  the supervisor's pid: when it is gone, stop at once
} worker_config_t;

//  Run the supervisor until SIGINT or SIGTERM. Returns a sysexits code.
int
    worker_run (const worker_config_t *config);

//  One worker process: the loop that pulls, hashes and pushes. The first
//  SIGTERM makes it drain (hand back what it has not started, finish what
//  it runs for at most half of --task-timeout), a second one, or the end of
//  its supervisor, makes it hand back everything and stop at once. SIGINT
//  and SIGHUP are the supervisor's to handle. Returns a sysexits code.
int
    worker_process_run (const worker_config_t *config);

#endif
