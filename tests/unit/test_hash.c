/*  test_hash - zp_hash: the chain against Python's hashlib, and every engine
    against the chain.

    Expected values are computed at test time by tests/ref/chain.py (set
    ZP_CHAIN_PY to its path if the tests do not run from the top of the
    tree). Random tests use fixed seeds, printed when they fail.

    The AVX-512 kernel cannot run on a CPU without AVX-512, so besides the
    engine tests (which skip there) the very source of zp_hash_avx512.c is
    compiled below against a plain-C model of the intrinsics it uses, and
    checked step for step; see "AVX-512 model".

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zp_hash.h"

#define MAX_CHAINS 64

//  --------------------------------------------------------------------------
//  Helpers

typedef struct {
    const uint8_t *data;
    size_t size;
    uint64_t iterations;
    char expected [ZP_HASH_HEX_SIZE + 1];
} vector_t;

//  SplitMix64: small, and the same sequence everywhere for a seed.
static uint64_t
s_random (uint64_t *seed)
{
    uint64_t z = (*seed += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t
s_random_below (uint64_t *seed, uint64_t limit)
{
    return s_random (seed) % limit;
}

static void
s_random_bytes (uint64_t *seed, uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++)
        data [i] = (uint8_t) s_random (seed);
}

//  tests/ref/chain.py: $ZP_CHAIN_PY, else from the top of the tree, else
//  from where this binary sits in it (build/tests/test_hash).
static void
s_script_path (char *path, size_t size)
{
    const char *script = getenv ("ZP_CHAIN_PY");
    if (script) {
        snprintf (path, size, "%s", script);
        return;
    }
    snprintf (path, size, "tests/ref/chain.py");
    if (access (path, R_OK) == 0)
        return;
    char self [4096];
    ssize_t length = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (length > 0) {
        self [length] = 0;
        char *slash = strrchr (self, '/');
        if (slash)
            *slash = 0;
        snprintf (path, size, "%s/../../tests/ref/chain.py", self);
    }
}

//  Fill vector [i].expected from Python, all in one run of chain.py.
static void
s_python (vector_t *vector, size_t count)
{
    char script [4200];
    s_script_path (script, sizeof script);
    cr_assert (access (script, R_OK) == 0,
               "cannot read %s: run from the top of the tree or set ZP_CHAIN_PY", script);

    char input_path [] = "/tmp/zp_test_hash_XXXXXX";
    int fd = mkstemp (input_path);
    cr_assert (fd >= 0, "mkstemp failed");
    FILE *input = fdopen (fd, "w");
    cr_assert (input);
    for (size_t i = 0; i < count; i++) {
        fprintf (input, "%llu ", (unsigned long long) vector [i].iterations);
        for (size_t b = 0; b < vector [i].size; b++)
            fprintf (input, "%02x", vector [i].data [b]);
        fputc ('\n', input);
    }
    cr_assert (fclose (input) == 0);

    char command [4400];
    snprintf (command, sizeof command, "python3 %s < %s", script, input_path);
    FILE *output = popen (command, "r");
    cr_assert (output, "popen (%s) failed", command);
    char line [ZP_HASH_HEX_SIZE + 8];
    size_t read = 0;
    while (read < count && fgets (line, sizeof line, output)) {
        cr_assert (strlen (line) == ZP_HASH_HEX_SIZE + 1 && line [ZP_HASH_HEX_SIZE] == '\n',
                   "chain.py printed a malformed line: %s", line);
        memcpy (vector [read].expected, line, ZP_HASH_HEX_SIZE);
        vector [read].expected [ZP_HASH_HEX_SIZE] = 0;
        read++;
    }
    int status = pclose (output);
    unlink (input_path);
    cr_assert (status == 0, "%s failed (status %d)", command, status);
    cr_assert (read == count, "chain.py gave %zu results for %zu chains", read, count);
}

static void
s_assert_chain (const vector_t *vector)
{
    char hex [ZP_HASH_HEX_SIZE + 1] = { 0 };
    cr_assert (zp_hash_chain (vector->data, vector->size, vector->iterations, hex) == 0);
    cr_assert_str_eq (hex, vector->expected, "zp_hash_chain, %zu bytes, N = %llu",
                      vector->size, (unsigned long long) vector->iterations);
}

//  Run the vectors through the engine, as many at a time as it has lanes,
//  and compare each result with its expected value.
static void
s_assert_engine (zp_engine_t *engine, const vector_t *vector, size_t count)
{
    size_t loaded = 0, taken = 0;
    while (taken < count) {
        while (loaded < count && zp_engine_free (engine) > 0) {
            cr_assert (zp_engine_load (engine, vector [loaded].data, vector [loaded].size,
                                       vector [loaded].iterations, loaded) == 0);
            loaded++;
        }
        zp_engine_run (engine, 100000);
        uint64_t tag;
        char hex [ZP_HASH_HEX_SIZE + 1] = { 0 };
        while (zp_engine_take (engine, &tag, hex) == 0) {
            cr_assert (tag < loaded, "engine %s returned unknown tag %llu",
                       zp_engine_name (engine), (unsigned long long) tag);
            cr_assert_str_eq (hex, vector [tag].expected, "engine %s, %zu bytes, N = %llu",
                              zp_engine_name (engine), vector [tag].size,
                              (unsigned long long) vector [tag].iterations);
            taken++;
        }
    }
    cr_assert (zp_engine_busy (engine) == 0);
}

static const zp_engine_kind_t s_kinds [] = {
    ZP_ENGINE_OPENSSL, ZP_ENGINE_AVX2, ZP_ENGINE_AVX512
};
#define KIND_COUNT (sizeof s_kinds / sizeof s_kinds [0])


//  --------------------------------------------------------------------------
//  The chain against Python

//  The known answer, so that a broken reference script cannot hide a
//  broken chain: SHA-512 ("abc") from FIPS 180-4's examples.
Test (hash, fips_abc)
{
    char hex [ZP_HASH_HEX_SIZE + 1] = { 0 };
    cr_assert (zp_hash_chain ("abc", 3, 1, hex) == 0);
    cr_assert_str_eq (hex,
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

Test (hash, zero_iterations_refused)
{
    char hex [ZP_HASH_HEX_SIZE] = { 0 };
    cr_assert (zp_hash_chain ("abc", 3, 0, hex) == -1);
}

//  Inputs around the block boundaries: a message of 111 bytes is the
//  longest that still gets its padding in its own block, 112 the shortest
//  that needs another; 127/128/129 straddle the block size.
static uint8_t s_long [100 * 1024];
static uint8_t s_boundary [5][129];
static const size_t s_boundary_size [5] = { 111, 112, 127, 128, 129 };
static const uint8_t s_binary [] = { 0, 0, 1, 0, 0xff, 0x80, 0, 0x7f, 0, 0 };

static size_t
s_inputs (vector_t *vector)
{
    uint64_t seed = 1;
    s_random_bytes (&seed, s_long, sizeof s_long);
    for (size_t i = 0; i < 5; i++)
        s_random_bytes (&seed, s_boundary [i], s_boundary_size [i]);
    static const char *ascii = "The quick brown fox jumps over the lazy dog";
    static const char *utf8 = "Gr\xc3\xbc\xc3\x9f" "e, \xe4\xb8\x96\xe7\x95\x8c \xe2\x9c\x93";
    size_t count = 0;
    vector [count++] = (vector_t) { (const uint8_t *) "", 0, 0, "" };
    vector [count++] = (vector_t) { (const uint8_t *) ascii, strlen (ascii), 0, "" };
    vector [count++] = (vector_t) { (const uint8_t *) utf8, strlen (utf8), 0, "" };
    vector [count++] = (vector_t) { s_binary, sizeof s_binary, 0, "" };
    vector [count++] = (vector_t) { s_long, sizeof s_long, 0, "" };
    for (size_t i = 0; i < 5; i++)
        vector [count++] = (vector_t) { s_boundary [i], s_boundary_size [i], 0, "" };
    return count;
}

Test (hash, chain_matches_python, .timeout = 30)
{
    vector_t input [16];
    size_t inputs = s_inputs (input);
    static const uint64_t iterations [] = { 1, 2, 3, 1000 };
    vector_t vector [MAX_CHAINS];
    size_t count = 0;
    for (size_t n = 0; n < 4; n++)
        for (size_t i = 0; i < inputs; i++) {
            vector [count] = input [i];
            vector [count++].iterations = iterations [n];
        }
    s_python (vector, count);
    for (size_t i = 0; i < count; i++)
        s_assert_chain (&vector [i]);
}

//  Long chains, through the chain and through every engine this CPU has,
//  the 100k chains side by side in the lanes.
Test (hash, long_chains_match_python, .timeout = 60)
{
    vector_t input [16];
    s_inputs (input);
    vector_t vector [4] = { input [0], input [1], input [3], input [8] };
    vector [0].iterations = 100000;
    vector [1].iterations = 100000;
    vector [2].iterations = 99999;
    vector [3].iterations = 100001;
    s_python (vector, 4);
    for (size_t i = 0; i < 4; i++)
        s_assert_chain (&vector [i]);
    for (size_t k = 0; k < KIND_COUNT; k++) {
        zp_engine_t *engine = zp_engine_new (s_kinds [k]);
        if (engine) {
            s_assert_engine (engine, vector, 4);
            zp_engine_destroy (&engine);
        }
    }
}

//  Every engine, against Python directly, on the short vectors.
Test (hash, engines_match_python, .timeout = 30)
{
    vector_t input [16];
    size_t inputs = s_inputs (input);
    vector_t vector [MAX_CHAINS];
    size_t count = 0;
    for (size_t n = 1; n <= 3; n++)
        for (size_t i = 0; i < inputs; i++) {
            vector [count] = input [i];
            vector [count++].iterations = n == 3? 1000 + i: n;
        }
    s_python (vector, count);
    size_t tested = 0;
    for (size_t k = 0; k < KIND_COUNT; k++) {
        zp_engine_t *engine = zp_engine_new (s_kinds [k]);
        if (engine) {
            s_assert_engine (engine, vector, count);
            zp_engine_destroy (&engine);
            tested++;
        }
    }
    cr_assert (tested >= 1);
}


//  --------------------------------------------------------------------------
//  Engine selection

Test (engine, parse)
{
    static const struct {
        const char *name;
        zp_engine_kind_t kind;
    } good [] = {
        { "auto", ZP_ENGINE_AUTO }, { "openssl", ZP_ENGINE_OPENSSL },
        { "avx2", ZP_ENGINE_AVX2 }, { "avx512", ZP_ENGINE_AVX512 }
    };
    for (size_t i = 0; i < 4; i++) {
        zp_engine_kind_t kind = (zp_engine_kind_t) 99;
        cr_assert (zp_engine_kind_parse (good [i].name, &kind) == 0, "%s", good [i].name);
        cr_assert (kind == good [i].kind, "%s", good [i].name);
    }
    static const char *bad [] = { "", "avx", "AVX2", "avx2 ", "openssl3", "avx512f", "sse" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        zp_engine_kind_t kind = ZP_ENGINE_AVX2;
        cr_assert (zp_engine_kind_parse (bad [i], &kind) == -1, "'%s' accepted", bad [i]);
        cr_assert (kind == ZP_ENGINE_AVX2, "'%s' changed the kind", bad [i]);
    }
    zp_engine_kind_t kind;
    cr_assert (zp_engine_kind_parse (NULL, &kind) == -1);
}

Test (engine, always_supported)
{
    cr_assert (zp_engine_supported (ZP_ENGINE_AUTO));
    cr_assert (zp_engine_supported (ZP_ENGINE_OPENSSL));
    cr_assert (!zp_engine_supported ((zp_engine_kind_t) 42));
    cr_assert_null (zp_engine_new ((zp_engine_kind_t) 42));
}

//  What each engine is, when this CPU has it.
Test (engine, new_names_and_lanes)
{
    static const char *names [] = { "openssl", "avx2", "avx512" };
    static const size_t lanes [] = { 1, 4, 8 };
    for (size_t k = 0; k < KIND_COUNT; k++) {
        zp_engine_t *engine = zp_engine_new (s_kinds [k]);
        cr_assert ((engine != NULL) == zp_engine_supported (s_kinds [k]), "%s", names [k]);
        if (engine) {
            cr_assert_str_eq (zp_engine_name (engine), names [k]);
            cr_assert (zp_engine_lanes (engine) == lanes [k]);
            cr_assert (zp_engine_free (engine) == lanes [k]);
            cr_assert (zp_engine_busy (engine) == 0);
            zp_engine_destroy (&engine);
            cr_assert_null (engine);
            zp_engine_destroy (&engine);
        }
    }
}

//  AUTO is the fastest supported engine.
Test (engine, auto_picks_fastest)
{
    zp_engine_t *engine = zp_engine_new (ZP_ENGINE_AUTO);
    cr_assert_not_null (engine);
    const char *expected = zp_engine_supported (ZP_ENGINE_AVX512)? "avx512":
                           zp_engine_supported (ZP_ENGINE_AVX2)? "avx2": "openssl";
    cr_assert_str_eq (zp_engine_name (engine), expected);
    zp_engine_destroy (&engine);
}

//  The CPU's own word, asked independently of zp_hash.
Test (engine, supported_follows_cpu)
{
    __builtin_cpu_init ();
    bool avx2 = __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("bmi2");
    bool avx512 = __builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512vl")
               && __builtin_cpu_supports ("avx512bw");
    cr_assert (zp_engine_supported (ZP_ENGINE_AVX2) == avx2);
    cr_assert (!zp_engine_supported (ZP_ENGINE_AVX512) || avx512);
}

Test (engine, avx512_refused_without_cpu)
{
    if (zp_engine_supported (ZP_ENGINE_AVX512))
        cr_skip_test ("this CPU has AVX-512: the refusal cannot be tested here");
    cr_assert_null (zp_engine_new (ZP_ENGINE_AVX512));
}

Test (engine, avx2_refused_without_cpu)
{
    if (zp_engine_supported (ZP_ENGINE_AVX2))
        cr_skip_test ("this CPU has AVX2: the refusal cannot be tested here");
    cr_assert_null (zp_engine_new (ZP_ENGINE_AVX2));
}


//  --------------------------------------------------------------------------
//  Engine behaviour, for each kind: a model-based random test. The model
//  knows each chain's remaining steps; every operation's result is checked
//  against it, and every result against zp_hash_chain.

typedef struct {
    uint8_t data [300];
    size_t size;
    uint64_t iterations;
    uint64_t remaining;         //  per the model
    bool loaded, taken;
} chain_t;

static void
s_engine_random (zp_engine_kind_t kind, uint64_t seed, size_t chain_count,
                 uint64_t max_iterations)
{
    zp_engine_t *engine = zp_engine_new (kind);
    if (!engine)
        cr_skip_test ("this CPU cannot run the engine");
    size_t lanes = zp_engine_lanes (engine);
    uint64_t first_seed = seed;

    chain_t *chain = (chain_t *) calloc (chain_count, sizeof (chain_t));
    cr_assert (chain);
    for (size_t i = 0; i < chain_count; i++) {
        chain [i].size = (size_t) s_random_below (&seed, 301);
        s_random_bytes (&seed, chain [i].data, chain [i].size);
        //  One in four is very short, so that lanes refill often.
        chain [i].iterations = 1 + s_random_below (&seed,
            s_random_below (&seed, 4) == 0? 10: max_iterations);
    }
    static const uint64_t budgets [] = { 1, 2, 7, 13, 64, 333, 1000, 5000 };
    uint64_t tag;
    char hex [ZP_HASH_HEX_SIZE + 1] = { 0 };
    size_t next = 0, taken = 0;
    while (taken < chain_count) {
        //  Load a random number of chains, while others are half done.
        size_t busy = 0;
        for (size_t i = 0; i < next; i++)
            busy += chain [i].loaded && !chain [i].taken;
        cr_assert (zp_engine_busy (engine) == busy, "seed %llu", (unsigned long long) first_seed);
        cr_assert (zp_engine_free (engine) == lanes - busy);
        size_t loads = (size_t) s_random_below (&seed, lanes - busy + 1);
        if (busy == 0 && loads == 0)
            loads = 1;
        for (size_t l = 0; l < loads && next < chain_count; l++, next++) {
            chain_t *c = &chain [next];
            cr_assert (zp_engine_load (engine, c->data, c->size, c->iterations, next) == 0);
            c->loaded = true;
            c->remaining = c->iterations - 1;
        }
        if (zp_engine_free (engine) == 0)
            cr_assert (zp_engine_load (engine, "x", 1, 5, 9999) == -1, "load into a full engine");

        uint64_t budget = budgets [s_random_below (&seed, 8)];
        size_t finished = zp_engine_run (engine, budget);
        size_t expected = 0;
        for (size_t i = 0; i < next; i++) {
            chain_t *c = &chain [i];
            if (c->loaded && !c->taken) {
                c->remaining -= c->remaining < budget? c->remaining: budget;
                expected += c->remaining == 0;
            }
        }
        cr_assert (finished == expected, "%s: run (%llu) says %zu finished, model %zu, seed %llu",
                   zp_engine_name (engine), (unsigned long long) budget, finished, expected,
                   (unsigned long long) first_seed);

        //  Take some of the finished ones now, and leave the rest waiting
        //  through the next runs: their results must survive them.
        size_t takes = finished == 0? 0: (size_t) s_random_below (&seed, finished + 1);
        for (size_t t = 0; t < takes; t++) {
            cr_assert (zp_engine_take (engine, &tag, hex) == 0);
            cr_assert (tag < next, "unknown tag %llu", (unsigned long long) tag);
            chain_t *c = &chain [tag];
            cr_assert (c->loaded && !c->taken && c->remaining == 0,
                       "chain %llu taken before it finished", (unsigned long long) tag);
            char expected_hex [ZP_HASH_HEX_SIZE + 1] = { 0 };
            cr_assert (zp_hash_chain (c->data, c->size, c->iterations, expected_hex) == 0);
            cr_assert_str_eq (hex, expected_hex, "%s: %zu bytes, N = %llu, seed %llu",
                              zp_engine_name (engine), c->size,
                              (unsigned long long) c->iterations,
                              (unsigned long long) first_seed);
            c->taken = true;
            taken++;
        }
        if (takes == finished)
            cr_assert (zp_engine_take (engine, &tag, hex) == -1, "take with nothing finished");
    }
    cr_assert (zp_engine_busy (engine) == 0);
    cr_assert (zp_engine_run (engine, 10) == 0);
    cr_assert (zp_engine_take (engine, &tag, hex) == -1);
    free (chain);
    zp_engine_destroy (&engine);
}

Test (engine, openssl_random, .timeout = 30)
{
    s_engine_random (ZP_ENGINE_OPENSSL, 11, 40, 5000);
}

Test (engine, avx2_random, .timeout = 30)
{
    s_engine_random (ZP_ENGINE_AVX2, 12, 150, 5000);
}

Test (engine, avx2_random_short, .timeout = 30)
{
    s_engine_random (ZP_ENGINE_AVX2, 13, 300, 40);
}

Test (engine, avx512_random, .timeout = 30)
{
    s_engine_random (ZP_ENGINE_AVX512, 14, 150, 5000);
}

Test (engine, avx512_random_short, .timeout = 30)
{
    s_engine_random (ZP_ENGINE_AVX512, 15, 300, 40);
}

Test (engine, load_zero_iterations_refused)
{
    for (size_t k = 0; k < KIND_COUNT; k++) {
        zp_engine_t *engine = zp_engine_new (s_kinds [k]);
        if (engine) {
            cr_assert (zp_engine_load (engine, "abc", 3, 0, 1) == -1);
            cr_assert (zp_engine_busy (engine) == 0);
            zp_engine_destroy (&engine);
        }
    }
}

//  N = 1 is finished as soon as it is loaded: the first step is the load.
Test (engine, one_iteration_finishes_at_load)
{
    for (size_t k = 0; k < KIND_COUNT; k++) {
        zp_engine_t *engine = zp_engine_new (s_kinds [k]);
        if (engine) {
            cr_assert (zp_engine_load (engine, "abc", 3, 1, 77) == 0);
            cr_assert (zp_engine_run (engine, 0) == 1);
            uint64_t tag = 0;
            char hex [ZP_HASH_HEX_SIZE + 1] = { 0 };
            cr_assert (zp_engine_take (engine, &tag, hex) == 0);
            cr_assert (tag == 77);
            cr_assert (strncmp (hex, "ddaf35a193617aba", 16) == 0, "%s", zp_engine_name (engine));
            zp_engine_destroy (&engine);
        }
    }
}


//  --------------------------------------------------------------------------
//  AVX-512 model: the intrinsics zp_hash_avx512.c uses, in plain C, as the
//  Intel Intrinsics Guide defines them, so that its kernel can be run here.
//  These names belong to the compiler's headers, which this file does not
//  include; that is the point.

typedef struct { uint64_t q [8]; } __m512i;

//  Not inlined: the kernel is one long function, and with every model call
//  expanded in it gcc gives up tracking variables for the debugger.
#define S_MODEL static __attribute__ ((noinline))

S_MODEL __m512i
_mm512_loadu_si512 (const void *p)
{
    __m512i r;
    memcpy (r.q, p, sizeof r.q);
    return r;
}

S_MODEL void
_mm512_storeu_si512 (void *p, __m512i a)
{
    memcpy (p, a.q, sizeof a.q);
}

S_MODEL __m512i
_mm512_set1_epi64 (long long x)
{
    __m512i r;
    for (size_t i = 0; i < 8; i++)
        r.q [i] = (uint64_t) x;
    return r;
}

//  Arguments from the highest element down, as Intel's _set_ functions do.
S_MODEL __m512i
_mm512_set_epi64 (long long e7, long long e6, long long e5, long long e4,
                  long long e3, long long e2, long long e1, long long e0)
{
    __m512i r = { { (uint64_t) e0, (uint64_t) e1, (uint64_t) e2, (uint64_t) e3,
                    (uint64_t) e4, (uint64_t) e5, (uint64_t) e6, (uint64_t) e7 } };
    return r;
}

S_MODEL __m512i
_mm512_add_epi64 (__m512i a, __m512i b)
{
    for (size_t i = 0; i < 8; i++)
        a.q [i] += b.q [i];
    return a;
}

S_MODEL __m512i
_mm512_and_si512 (__m512i a, __m512i b)
{
    for (size_t i = 0; i < 8; i++)
        a.q [i] &= b.q [i];
    return a;
}

S_MODEL __m512i
_mm512_srli_epi64 (__m512i a, unsigned int count)
{
    for (size_t i = 0; i < 8; i++)
        a.q [i] = count > 63? 0: a.q [i] >> count;
    return a;
}

S_MODEL __m512i
_mm512_ror_epi64 (__m512i a, int count)
{
    unsigned int n = (unsigned int) count & 63;
    for (size_t i = 0; i < 8; i++)
        a.q [i] = n == 0? a.q [i]: (a.q [i] >> n) | (a.q [i] << (64 - n));
    return a;
}

//  For every bit: the bit of imm at index (a << 2) | (b << 1) | c.
S_MODEL __m512i
_mm512_ternarylogic_epi64 (__m512i a, __m512i b, __m512i c, int imm)
{
    __m512i r = { { 0 } };
    for (size_t i = 0; i < 8; i++)
        for (unsigned int bit = 0; bit < 64; bit++) {
            unsigned int index = (unsigned int) ((a.q [i] >> bit & 1) << 2
                               | (b.q [i] >> bit & 1) << 1 | (c.q [i] >> bit & 1));
            r.q [i] |= (uint64_t) ((unsigned int) imm >> index & 1) << bit;
        }
    return r;
}

//  Within each 16 bytes: byte j is a's byte (b [j] & 15), or 0 if b [j]
//  has its top bit set.
S_MODEL __m512i
_mm512_shuffle_epi8 (__m512i a, __m512i b)
{
    uint8_t ab [64], bb [64], rb [64];
    memcpy (ab, a.q, 64);
    memcpy (bb, b.q, 64);
    for (size_t j = 0; j < 64; j++)
        rb [j] = (bb [j] & 0x80)? 0: ab [(j & ~(size_t) 15) + (bb [j] & 15)];
    __m512i r;
    memcpy (r.q, rb, 64);
    return r;
}

#define ZP_HASH_AVX512_MODEL
void
    zp_hash_avx512_model_steps (uint64_t *state, const uint64_t *kw2, uint64_t steps);
#include "zp_hash_avx512.c"

//  The padding block's K + W, computed here independently of zp_hash.c.
static void
s_model_kw2 (uint64_t kw2 [80])
{
    uint64_t w [80] = { 0 };
    w [0] = 1ULL << 63;
    w [15] = 128 * 8;
    for (size_t t = 16; t < 80; t++) {
        uint64_t x = w [t - 15], y = w [t - 2];
        uint64_t s0 = (x >> 1 | x << 63) ^ (x >> 8 | x << 56) ^ (x >> 7);
        uint64_t s1 = (y >> 19 | y << 45) ^ (y >> 61 | y << 3) ^ (y >> 6);
        w [t] = w [t - 16] + s0 + w [t - 7] + s1;
    }
    for (size_t t = 0; t < 80; t++)
        kw2 [t] = zp_hash_k512 [t] + w [t];
}

static uint64_t
s_parse_word (const char *hex)
{
    uint64_t word = 0;
    for (size_t i = 0; i < 16; i++) {
        char c = hex [i];
        word = word << 4 | (uint64_t) (c <= '9'? c - '0': c - 'a' + 10);
    }
    return word;
}

Test (avx512_model, kernel_matches_chain)
{
    uint64_t kw2 [80];
    s_model_kw2 (kw2);
    uint64_t seed = 21;
    uint8_t data [8][200];
    size_t size [8];
    uint64_t state [8 * 8];
    char hex [ZP_HASH_HEX_SIZE + 1] = { 0 };
    //  Each lane starts from a different input's first digest.
    for (size_t l = 0; l < 8; l++) {
        size [l] = (size_t) s_random_below (&seed, 200);
        s_random_bytes (&seed, data [l], size [l]);
        cr_assert (zp_hash_chain (data [l], size [l], 1, hex) == 0);
        for (size_t w = 0; w < 8; w++)
            state [w * 8 + l] = s_parse_word (hex + 16 * w);
    }
    //  Slices of 1 step then 2: the kernel must keep its state between calls.
    uint64_t done = 1;
    for (uint64_t slice = 1; slice <= 2; slice++) {
        zp_hash_avx512_model_steps (state, kw2, slice);
        done += slice;
        for (size_t l = 0; l < 8; l++) {
            char expected [ZP_HASH_HEX_SIZE + 1] = { 0 };
            cr_assert (zp_hash_chain (data [l], size [l], done, expected) == 0);
            for (size_t w = 0; w < 8; w++)
                snprintf (hex + 16 * w, 17, "%016llx", (unsigned long long) state [w * 8 + l]);
            cr_assert_str_eq (hex, expected, "lane %zu after %llu steps", l,
                              (unsigned long long) done);
        }
    }
}

//  And the model itself, against values worked out by hand, so that a
//  wrong model cannot agree with a wrong kernel.
Test (avx512_model, intrinsics_model)
{
    __m512i a = _mm512_set1_epi64 ((long long) 0xff00ff00f0f0ccccULL);
    __m512i b = _mm512_set1_epi64 ((long long) 0xffff0000ff00aaaaULL);
    __m512i c = _mm512_set1_epi64 ((long long) 0xf0f0f0f0aaaa0f0fULL);
    cr_assert (_mm512_ternarylogic_epi64 (a, b, c, 0x96).q [3] == (0xff00ff00f0f0ccccULL
               ^ 0xffff0000ff00aaaaULL ^ 0xf0f0f0f0aaaa0f0fULL));
    cr_assert (_mm512_ternarylogic_epi64 (a, b, c, 0xca).q [5]
               == ((0xff00ff00f0f0ccccULL & 0xffff0000ff00aaaaULL)
                 | (~0xff00ff00f0f0ccccULL & 0xf0f0f0f0aaaa0f0fULL)));
    uint64_t x = 0xff00ff00f0f0ccccULL, y = 0xffff0000ff00aaaaULL, z = 0xf0f0f0f0aaaa0f0fULL;
    cr_assert (_mm512_ternarylogic_epi64 (a, b, c, 0xe8).q [0]
               == ((x & y) | (x & z) | (y & z)));
    cr_assert (_mm512_ror_epi64 (_mm512_set1_epi64 (1), 1).q [7] == 1ULL << 63);
    cr_assert (_mm512_srli_epi64 (_mm512_set1_epi64 (-1), 60).q [1] == 15);
    __m512i s = _mm512_set_epi64 (7, 6, 5, 4, 3, 2, 1, 0);
    cr_assert (s.q [0] == 0 && s.q [7] == 7);
    //  Bytes 0..63 shuffled by "byte 0 of my 16" and a zeroing index.
    uint8_t bytes [64], index [64];
    for (size_t j = 0; j < 64; j++) {
        bytes [j] = (uint8_t) j;
        index [j] = j == 17? 0x80: 0;
    }
    __m512i r = _mm512_shuffle_epi8 (_mm512_loadu_si512 (bytes), _mm512_loadu_si512 (index));
    uint8_t out [64];
    _mm512_storeu_si512 (out, r);
    cr_assert (out [0] == 0 && out [16] == 16 && out [17] == 0 && out [63] == 48);
}
