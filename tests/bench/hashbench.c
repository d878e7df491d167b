/*  hashbench - chain steps per second, per core, for each way of running
    the zpipe hash chain. Not built by default; from the top of the tree:

        make -s build/shared/zp_hash.o build/shared/zp_hash_avx2.o \
                build/shared/zp_hash_avx512.o build/shared/zp_util.o
        cc -O2 -std=c17 -D_GNU_SOURCE -Ishared tests/bench/hashbench.c \
           build/shared/zp_hash*.o build/shared/zp_util.o -o build/hashbench \
           -lczmq -lzmq -lcrypto
        build/hashbench [ITERATIONS [CHAINS]]

    ITERATIONS defaults to 1000000 and CHAINS (per engine run) to 8. Each
    figure is single-threaded and timed in thread CPU seconds, so it is per
    core; each is the best of three runs, since on a shared machine the
    noise only ever makes a run slower. The OpenSSL variants show
    what the reference implementation's choices are worth: a reused context
    against the one-shot calls.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zp_hash.h"
#include "zp_util.h"

//  CPU time of this thread, not wall time (zp_cpu_us), in seconds.
static double
s_now (void)
{
    return (double) zp_cpu_us () / 1e6;
}

static void
s_hex (const unsigned char *digest, char *hex)
{
    static const char digits [] = "0123456789abcdef";
    for (size_t i = 0; i < 64; i++) {
        hex [2 * i] = digits [digest [i] >> 4];
        hex [2 * i + 1] = digits [digest [i] & 15];
    }
}

#define RUNS 3

static void
s_report (const char *what, uint64_t steps, double seconds, const char *hex)
{
    printf ("%-34s %8.3f M steps/s  (%llu steps, %.2f s CPU)  %.16s...\n", what,
            (double) steps / seconds / 1e6, (unsigned long long) steps, seconds, hex);
}

//  The low-level one-shot, deprecated in OpenSSL 3 but still the shortest path.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void
s_lowlevel (uint64_t iterations)
{
    unsigned char digest [64];
    char hex [128];
    double best = 1e300;
    for (int run = 0; run < RUNS; run++) {
        double start = s_now ();
        SHA512 ((const unsigned char *) "bench", 5, digest);
        for (uint64_t i = 1; i < iterations; i++) {
            s_hex (digest, hex);
            SHA512 ((const unsigned char *) hex, 128, digest);
        }
        double seconds = s_now () - start;
        best = seconds < best? seconds: best;
    }
    s_hex (digest, hex);
    s_report ("OpenSSL SHA512 () one-shot", iterations, best, hex);
}
#pragma GCC diagnostic pop

//  What not to do: EVP_Digest with the legacy EVP_sha512 () every step,
//  which makes OpenSSL 3 fetch the algorithm and allocate every time.
static void
s_evp_oneshot (uint64_t iterations)
{
    unsigned char digest [64];
    char hex [128];
    double start = s_now ();
    EVP_Digest ("bench", 5, digest, NULL, EVP_sha512 (), NULL);
    for (uint64_t i = 1; i < iterations; i++) {
        s_hex (digest, hex);
        EVP_Digest (hex, 128, digest, NULL, EVP_sha512 (), NULL);
    }
    s_hex (digest, hex);
    s_report ("OpenSSL EVP_Digest () every step", iterations, s_now () - start, hex);
}

static void
s_engine (zp_engine_kind_t kind, uint64_t iterations, size_t chains)
{
    zp_engine_t *engine = zp_engine_new (kind);
    if (!engine) {
        static const char *names [] = { "auto", "openssl", "avx2", "avx512" };
        printf ("engine %s: not supported on this CPU\n", names [kind]);
        return;
    }
    char hex [ZP_HASH_HEX_SIZE];
    double best = 1e300;
    for (int run = 0; run < RUNS; run++) {
        double start = s_now ();
        size_t loaded = 0, taken = 0;
        while (taken < chains) {
            while (loaded < chains && zp_engine_free (engine) > 0) {
                char input [32];
                int size = snprintf (input, sizeof input, "bench %zu", loaded);
                zp_engine_load (engine, input, (size_t) size, iterations, loaded);
                loaded++;
            }
            zp_engine_run (engine, 100000);
            uint64_t tag;
            while (zp_engine_take (engine, &tag, hex) == 0)
                taken++;
        }
        double seconds = s_now () - start;
        best = seconds < best? seconds: best;
    }
    char what [64];
    snprintf (what, sizeof what, "engine %s (%zu lanes, %zu chains)",
              zp_engine_name (engine), zp_engine_lanes (engine), chains);
    s_report (what, iterations * chains, best, hex);
    zp_engine_destroy (&engine);
}

int
main (int argc, char *argv [])
{
    uint64_t iterations = argc > 1? strtoull (argv [1], NULL, 10): 1000000;
    size_t chains = argc > 2? (size_t) strtoull (argv [2], NULL, 10): 8;
    if (iterations == 0 || chains == 0) {
        fprintf (stderr, "usage: hashbench [ITERATIONS [CHAINS]]\n");
        return 64;
    }
    char hex [ZP_HASH_HEX_SIZE];
    double best = 1e300;
    for (int run = 0; run < RUNS; run++) {
        double start = s_now ();
        zp_hash_chain ("bench", 5, iterations, hex);
        double seconds = s_now () - start;
        best = seconds < best? seconds: best;
    }
    s_report ("zp_hash_chain (EVP, reused ctx)", iterations, best, hex);
    s_lowlevel (iterations);
    s_evp_oneshot (iterations / 10 + 1);
    s_engine (ZP_ENGINE_OPENSSL, iterations, 2);
    s_engine (ZP_ENGINE_AVX2, iterations, chains);
    s_engine (ZP_ENGINE_AVX512, iterations, chains);
    return 0;
}
