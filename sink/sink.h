/*  sink - pulls results, puts each batch together and reports it.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef SINK_H_INCLUDED
#define SINK_H_INCLUDED

#include "http.h"
#include "zp_curve.h"

#include <stdint.h>

#define SINK_FSYNC_ALWAYS 0       //  before every acknowledgement
#define SINK_FSYNC_SECOND 1       //  at most once a second
#define SINK_FSYNC_NEVER  2       //  left to the operating system

#define SINK_FORMAT_JSON   0      //  one JSON document per batch, when it is complete
#define SINK_FORMAT_NDJSON 1      //  one line per result as it comes, a summary line

typedef struct {
    const char *bind;           //  result endpoint (ROUTER, bound)
    const char *output;         //  summary file, NULL for stdout
    int format;                 //  SINK_FORMAT_*
    const char *journal;        //  NDJSON journal to continue and append to, or NULL
    int fsync;                  //  SINK_FSYNC_*
    uint64_t batches;           //  batches to report before exiting, 0 = until signalled
    uint64_t max_batch_bytes;   //  most result bytes one batch may hold
    zp_curve_t *curve;          //  CURVE keys, or plain text (never NULL)
    const http_address_t *http; //  --http: serve /metrics, /status and / there, or NULL
    int verbosity;
} sink_config_t;

//  Serve until --batches batches are reported (those in the journal count)
//  or a signal comes. Returns a sysexits code: 0, EX_TEMPFAIL when stopped
//  with a batch incomplete, EX_DATAERR for a damaged journal, EX_IOERR when
//  the summary or the journal cannot be written, EX_UNAVAILABLE when the
//  result endpoint or the --http address cannot be bound.
int
    sink_run (const sink_config_t *config);

#endif
