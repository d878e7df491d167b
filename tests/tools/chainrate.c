/*  chainrate - how fast one task's chain advances on this machine, for the
    end-to-end tests (tests/e2e/lib.sh, iterations_for).

        chainrate [ENGINE [MILLISECONDS]]

    Runs the engine a worker process would run (ENGINE: auto, the default,
    openssl, avx2 or avx512) with every lane loaded, as a busy worker
    process runs it, for about MILLISECONDS (default 300) of its CPU time, and
    prints two numbers: the engine's lanes (chains it runs at once) and the
    chain steps per second that one chain made, the rate at which any one
    task of a batch moves. A fault case sizes its work from them, so that a
    task or a batch lasts the time the case needs on any CPU and with any
    engine. CPU time, not wall time: the rate of a process that has a core
    to itself, the fastest a worker process goes, whatever else the machine
    is doing while this measures. Work sized by it lasts at least the time a
    case asks for, longer on a busy machine: the safe side for a case that
    needs its batch to be still running when its fault takes effect.
    Exits 78 if the engine does not run on this CPU.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_hash.h"
#include "zp_util.h"

#include <stdlib.h>

//  Steps per engine run: short enough to stop near the deadline, long
//  enough that the clock read costs nothing.
#define SLICE 2000

int
main (int argc, char *argv [])
{
    zp_log_init ("chainrate", 1);
    zp_engine_kind_t kind = ZP_ENGINE_AUTO;
    if (argc > 1 && zp_engine_kind_parse (argv [1], &kind)) {
        fprintf (stderr, "chainrate: unknown engine '%s'\n", argv [1]);
        return EX_USAGE;
    }
    long ms = argc > 2 ? strtol (argv [2], NULL, 10) : 300;
    if (ms < 10 || ms > 60000) {
        fprintf (stderr, "chainrate: MILLISECONDS must be 10 ... 60000\n");
        return EX_USAGE;
    }
    zp_engine_t *engine = zp_engine_new (kind);
    if (!engine) {
        fprintf (stderr, "chainrate: the %s engine does not run on this CPU\n",
                 argc > 1 ? argv [1] : "auto");
        return EX_CONFIG;
    }
    for (size_t lane = 0; lane < zp_engine_lanes (engine); lane++)
        if (zp_engine_load (engine, "chainrate", 9, UINT64_MAX / 2, lane)) {
            fprintf (stderr, "chainrate: can't load lane %zu\n", lane);
            return EX_SOFTWARE;
        }
    //  One slice first, off the clock: page faults and the first cache
    //  misses are not the rate.
    zp_engine_run (engine, SLICE);
    uint64_t steps = 0;
    int64_t start = zp_cpu_us (), deadline = start + ms * 1000, now;
    do {
        zp_engine_run (engine, SLICE);
        steps += SLICE;
    } while ((now = zp_cpu_us ()) < deadline);
    printf ("%zu %.0f\n", zp_engine_lanes (engine), (double) steps * 1e6 / (double) (now - start));
    zp_engine_destroy (&engine);
    return 0;
}
