/*  ventilator - reads or generates task strings and hands them to workers.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef VENTILATOR_H_INCLUDED
#define VENTILATOR_H_INCLUDED

#include "zp_curve.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *bind;           //  task endpoint (ROUTER, bound)
    const char *sink;           //  sink's endpoint (DEALER, connected)
    const char *input;          //  file of strings, "-" for stdin, NULL to generate
    uint64_t count;             //  UUIDv4 strings to generate when input is NULL
    uint64_t iterations;        //  chain length of every task
    uint64_t max_length;        //  longest input line accepted, bytes
    uint64_t min_workers;       //  worker processes to wait for before dispatching
    uint64_t heartbeat_ms;      //  a worker silent this long is dead
    zp_curve_t *curve;          //  CURVE keys, or plain text (never NULL)
    uint64_t task_timeout_s;    //  a lease older than this is sent again
    bool resume;                //  continue the sink's open batch of this input
    int verbosity;
} ventilator_config_t;

//  Run one batch to completion. Returns a sysexits code: 0 when the sink
//  has every task, EX_DATAERR when that is so but input lines were rejected,
//  EX_TEMPFAIL when stopped by a signal first.
int
    ventilator_run (const ventilator_config_t *config);

#endif
