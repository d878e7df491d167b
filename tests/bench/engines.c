/*  engines - per-core chain steps per second of every hash engine this CPU
    and this build support, and of OpenSSL with one reused EVP context, as
    one JSON document on stdout. Built by `make bench` (build/bench/engines)
    and run by scripts/bench; usable by hand:

        build/bench/engines [-n ITERATIONS] [-r REPEAT] [-i INPUT] [-e ENGINE]

    Every engine runs the same chain (INPUT, ITERATIONS steps, default
    "bench" and 1,000,000) in every one of its lanes at once, which is how a
    worker process runs the default workload, and its result must equal the
    OpenSSL reference's: a mismatch is reported and the exit status is 1.
    Each figure is single-threaded and timed in thread CPU seconds, so it
    is per core and does not count the time slices other processes on a
    shared machine take; the wall seconds are reported beside it. With
    REPEAT > 1 the fastest run counts, the usual way to filter out what
    neighbours cost in caches and frequency.

    With -e ENGINE only that engine runs ("auto" for the one a worker would
    pick), without the reference: its lanes are checked against each other
    and "matches_reference" is null. scripts/bench runs it beside each
    pipeline run, one copy per worker process, for what the engine alone
    does on those cores at that moment.

    Engines are found by asking zp_engine_supported about every kind, not
    from a list here, so engines added to zp_hash later are measured
    without changing this file.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/

#include <getopt.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "zp_hash.h"

//  Kinds probed with zp_engine_supported: well past the last one today.
#define MAX_KIND 32

typedef struct {
    double cpu_s;
    double wall_s;
} times_t;

static double
s_clock (clockid_t clock)
{
    struct timespec ts;
    clock_gettime (clock, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static times_t
s_now (void)
{
    return (times_t) { s_clock (CLOCK_THREAD_CPUTIME_ID), s_clock (CLOCK_MONOTONIC) };
}

static times_t
s_since (times_t start)
{
    times_t now = s_now ();
    return (times_t) { now.cpu_s - start.cpu_s, now.wall_s - start.wall_s };
}

//  Hex by byte pairs from a 512-byte table, as a careful OpenSSL program
//  would do it (zp_hash does the same), so that the reference is not slowed
//  by its hex encoding: the comparison is about SHA-512.
static char s_pairs [512];

static void
s_hex_init (void)
{
    static const char digits [] = "0123456789abcdef";
    for (size_t i = 0; i < 256; i++) {
        s_pairs [2 * i] = digits [i >> 4];
        s_pairs [2 * i + 1] = digits [i & 15];
    }
}

static void
s_hex (const unsigned char digest [64], char hex [ZP_HASH_HEX_SIZE])
{
    for (size_t i = 0; i < 64; i++)
        memcpy (hex + 2 * i, s_pairs + 2 * digest [i], 2);
}

//  The reference, written here rather than taken from zp_hash_chain so that
//  it stays what it claims whatever zp_hash becomes: one EVP context,
//  initialised for SHA-512 once and reused (a NULL type keeps its digest),
//  no allocation per step. Returns -1 if OpenSSL failed.
static int
s_openssl_chain (const char *input, uint64_t iterations, char hex [ZP_HASH_HEX_SIZE],
                 times_t *took)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    if (!ctx || !EVP_DigestInit_ex2 (ctx, EVP_sha512 (), NULL)) {
        EVP_MD_CTX_free (ctx);
        return -1;
    }
    //  Cache-line aligned: on this bench's first machine (AMD EPYC, OpenSSL
    //  3.0) the same loop was 5-7 % slower with the buffers where the
    //  compiler happened to put them.
    _Alignas (64) unsigned char digest [64];
    _Alignas (64) char buffer [ZP_HASH_HEX_SIZE];
    int ok = 1;
    times_t start = s_now ();
    ok &= EVP_DigestUpdate (ctx, input, strlen (input));
    ok &= EVP_DigestFinal_ex (ctx, digest, NULL);
    for (uint64_t step = 1; step < iterations && ok; step++) {
        s_hex (digest, buffer);
        ok &= EVP_DigestInit_ex2 (ctx, NULL, NULL);
        ok &= EVP_DigestUpdate (ctx, buffer, sizeof buffer);
        ok &= EVP_DigestFinal_ex (ctx, digest, NULL);
    }
    s_hex (digest, hex);
    *took = s_since (start);
    EVP_MD_CTX_free (ctx);
    return ok ? 0 : -1;
}

//  Fill every lane with the chain and run the engine until all are done,
//  in slices of the length a worker process uses. Returns the number of
//  lanes whose result differs from expected, or -1 if the engine failed.
//  With learn, the first lane's result is copied to expected and expected
//  of the others.
static int
s_engine_chain (zp_engine_t *engine, const char *input, uint64_t iterations,
                char expected [ZP_HASH_HEX_SIZE], bool learn, times_t *took)
{
    size_t lanes = zp_engine_lanes (engine);
    times_t start = s_now ();
    for (size_t l = 0; l < lanes; l++)
        if (zp_engine_load (engine, input, strlen (input), iterations, l))
            return -1;
    size_t taken = 0;
    int wrong = 0;
    while (taken < lanes) {
        zp_engine_run (engine, 4096);
        uint64_t tag;
        char hex [ZP_HASH_HEX_SIZE];
        while (zp_engine_take (engine, &tag, hex) == 0) {
            if (learn && taken == 0)
                memcpy (expected, hex, ZP_HASH_HEX_SIZE);
            taken++;
            wrong += memcmp (hex, expected, ZP_HASH_HEX_SIZE) != 0;
        }
    }
    *took = s_since (start);
    return wrong;
}

//  s_engine_chain repeat times; the fastest run's times go to best. With
//  learn, the first run's first lane sets expected. Returns the lanes whose
//  result differed, over all runs, or -1 if the engine failed (said here).
static int
s_engine_best (zp_engine_t *engine, const char *input, uint64_t iterations, unsigned repeat,
               char expected [ZP_HASH_HEX_SIZE], bool learn, times_t *best)
{
    int wrong = 0;
    for (unsigned r = 0; r < repeat; r++) {
        times_t took;
        int rc = s_engine_chain (engine, input, iterations, expected, learn && r == 0, &took);
        if (rc < 0) {
            fprintf (stderr, "engines: engine %s failed\n", zp_engine_name (engine));
            return -1;
        }
        wrong += rc;
        if (r == 0 || took.cpu_s < best->cpu_s)
            *best = took;
    }
    return wrong;
}

//  matches: 1 the result is the reference's, 0 it is not, -1 not compared.
static void
s_print_result (bool *first, const char *name, const char *kind, size_t lanes,
                uint64_t iterations, times_t took, const char hex [ZP_HASH_HEX_SIZE],
                int matches)
{
    uint64_t steps = iterations * lanes;
    printf ("%s\n    {\"name\": \"%s\", \"kind\": \"%s\", \"lanes\": %zu, \"steps\": %llu, "
            "\"cpu_s\": %.6f, \"wall_s\": %.6f, \"steps_per_s\": %.1f, "
            "\"steps_per_s_wall\": %.1f, \"result\": \"%.*s\", \"matches_reference\": %s}",
            *first ? "" : ",", name, kind, lanes, (unsigned long long) steps,
            took.cpu_s, took.wall_s, (double) steps / took.cpu_s,
            (double) steps / took.wall_s, ZP_HASH_HEX_SIZE, hex,
            matches < 0 ? "null" : matches ? "true" : "false");
    *first = false;
}

//  -e: one engine alone, every lane busy, its lanes compared with each
//  other. Returns the exit status.
static int
s_only (const char *name, const char *input, uint64_t iterations, unsigned repeat)
{
    zp_engine_kind_t kind;
    if (zp_engine_kind_parse (name, &kind) || !zp_engine_supported (kind)) {
        fprintf (stderr, "engines: engine %s is unknown or not supported here\n", name);
        return EX_USAGE;
    }
    zp_engine_t *engine = zp_engine_new (kind);
    if (!engine) {
        fprintf (stderr, "engines: can't create engine %s\n", name);
        return EX_SOFTWARE;
    }
    times_t best = { 0, 0 };
    char result [ZP_HASH_HEX_SIZE];
    int wrong = s_engine_best (engine, input, iterations, repeat, result, true, &best);
    if (wrong < 0) {
        zp_engine_destroy (&engine);
        return EX_SOFTWARE;
    }
    printf ("{\n  \"input\": \"%s\",\n  \"iterations\": %llu,\n  \"repeat\": %u,\n"
            "  \"results\": [", input, (unsigned long long) iterations, repeat);
    bool first = true;
    s_print_result (&first, zp_engine_name (engine), "engine", zp_engine_lanes (engine),
                    iterations, best, result, -1);
    printf ("\n  ]\n}\n");
    zp_engine_destroy (&engine);
    if (wrong) {
        fprintf (stderr, "engines: engine %s: lanes disagree\n", name);
        return 1;
    }
    return 0;
}

static void
s_usage (FILE *file)
{
    fprintf (file, "usage: engines [-n ITERATIONS] [-r REPEAT] [-i INPUT] [-e ENGINE]\n"
                   "  per-core SHA-512 chain steps/s of every supported engine, as JSON;\n"
                   "  -e: only that engine (auto|openssl|avx2|avx512), no reference\n");
}

int
main (int argc, char *argv [])
{
    uint64_t iterations = 1000000;
    unsigned repeat = 1;
    const char *input = "bench";
    const char *only = NULL;
    int opt;
    while ((opt = getopt (argc, argv, "n:r:i:e:h")) != -1) {
        switch (opt) {
            case 'e': only = optarg; break;
            case 'n': iterations = strtoull (optarg, NULL, 10); break;
            case 'r': repeat = (unsigned) strtoul (optarg, NULL, 10); break;
            case 'i': input = optarg; break;
            case 'h': s_usage (stdout); return 0;
            default: s_usage (stderr); return EX_USAGE;
        }
    }
    if (optind != argc || iterations < 2 || repeat == 0 || strchr (input, '"')
    ||  strchr (input, '\\')) {
        s_usage (stderr);
        return EX_USAGE;
    }
    if (only)
        return s_only (only, input, iterations, repeat);

    //  The reference, which also gives the result every engine must match.
    s_hex_init ();
    char expected [ZP_HASH_HEX_SIZE];
    times_t best = { 0, 0 };
    for (unsigned r = 0; r < repeat; r++) {
        times_t took;
        if (s_openssl_chain (input, iterations, expected, &took)) {
            fprintf (stderr, "engines: OpenSSL SHA-512 failed\n");
            return EX_SOFTWARE;
        }
        if (r == 0 || took.cpu_s < best.cpu_s)
            best = took;
    }
    zp_engine_t *automatic = zp_engine_new (ZP_ENGINE_AUTO);
    printf ("{\n  \"input\": \"%s\",\n  \"iterations\": %llu,\n  \"repeat\": %u,\n"
            "  \"auto\": \"%s\",\n  \"results\": [", input, (unsigned long long) iterations,
            repeat, automatic ? zp_engine_name (automatic) : "");
    zp_engine_destroy (&automatic);
    bool first = true;
    s_print_result (&first, "openssl-evp", "reference", 1, iterations, best, expected, true);

    int status = 0;
    char unsupported [1024] = "";
    for (int k = ZP_ENGINE_OPENSSL; k < MAX_KIND; k++) {
        zp_engine_kind_t kind = (zp_engine_kind_t) k;
        if (!zp_engine_supported (kind)) {
            //  Only the kinds zp_hash.h names today can be named here.
            const char *name = kind == ZP_ENGINE_AVX2 ? "avx2"
                             : kind == ZP_ENGINE_AVX512 ? "avx512" : NULL;
            if (name)
                snprintf (unsupported + strlen (unsupported),
                          sizeof unsupported - strlen (unsupported), "%s\"%s\"",
                          *unsupported ? ", " : "", name);
            continue;
        }
        zp_engine_t *engine = zp_engine_new (kind);
        if (!engine) {
            fprintf (stderr, "engines: engine kind %d is supported but cannot be created\n", k);
            status = 1;
            continue;
        }
        best = (times_t) { 0, 0 };
        int wrong = s_engine_best (engine, input, iterations, repeat, expected, false, &best);
        if (wrong < 0)
            return EX_SOFTWARE;
        if (wrong) {
            fprintf (stderr, "engines: engine %s: %d results differ from OpenSSL's\n",
                     zp_engine_name (engine), wrong);
            status = 1;
        }
        char hex [ZP_HASH_HEX_SIZE];
        memcpy (hex, expected, sizeof hex);
        if (wrong)
            memset (hex, '?', sizeof hex);
        s_print_result (&first, zp_engine_name (engine), "engine", zp_engine_lanes (engine),
                        iterations, best, hex, wrong == 0);
        zp_engine_destroy (&engine);
    }
    printf ("\n  ],\n  \"unsupported\": [%s]\n}\n", unsupported);
    return status;
}
