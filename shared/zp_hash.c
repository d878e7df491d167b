/*  zp_hash - the iterated SHA-512 chain and the engines that run it.

    Every step after the first hashes exactly 128 bytes (the hex of the
    previous digest), so the multi-buffer kernels only ever see two SHA-512
    blocks per step: the 128 hex characters, and a padding block that never
    changes. The first step hashes the caller's input, of any length, and is
    always done here with OpenSSL.

    The engines keep the lanes' digests as SHA-512 words, lane-interleaved
    (see zp_hash_impl.h), which is what the SIMD kernels want; the OpenSSL
    engine uses the same layout with one lane so that the bookkeeping below
    is shared by all of them.

    Two ways into OpenSSL. zp_hash_chain, the reference, uses EVP with one
    context for the whole chain. But OpenSSL 3.0's EVP_DigestInit_ex2 frees
    and allocates the provider's context on every call (checked with
    valgrind on 3.0.19: one allocation per step, whichever way the context
    is reused or copied), so the engines use the low-level SHA512_Init/
    Update/Final instead: deprecated since 3.0 but present in every 3.x,
    allocation-free, about 20% faster here, and an independent path that
    the tests compare with the reference.

    This file is compiled for the baseline instruction set. It decides which
    kernel may run; the kernels live in files built with -mavx2 or -mavx512*
    and are only called after zp_engine_supported said yes.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/

#include "zp_hash.h"
#include "zp_hash_impl.h"
#include "zp_util.h"

#include <endian.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#define SHA512_SIZE 64

typedef void (kernel_fn) (uint64_t *state, const uint64_t *kw2, uint64_t steps);

typedef struct {
    bool busy;                  //  loaded and not yet taken
    uint64_t remaining;         //  steps still to run; 0 when finished
    uint64_t tag;               //  the caller's
    uint64_t result [8];        //  the final digest, saved when finished,
                                //  since the kernels clobber idle lanes
} lane_t;

struct _zp_engine_t {
    zp_engine_kind_t kind;      //  never AUTO once created
    size_t lanes;
    kernel_fn *kernel;          //  NULL for the OpenSSL engine
    uint64_t *state;            //  8 * lanes words, 64-byte aligned
    uint64_t kw2 [80];          //  K + W of the constant padding block
    lane_t lane [ZP_HASH_MAX_LANES];
};

//  "00" "01" ... "ff": one table load per byte instead of two per nibble.
#define S_HEX_ROW(x) \
    #x "0" #x "1" #x "2" #x "3" #x "4" #x "5" #x "6" #x "7" \
    #x "8" #x "9" #x "a" #x "b" #x "c" #x "d" #x "e" #x "f"
static const char s_hex_pairs [] =
    S_HEX_ROW (0) S_HEX_ROW (1) S_HEX_ROW (2) S_HEX_ROW (3)
    S_HEX_ROW (4) S_HEX_ROW (5) S_HEX_ROW (6) S_HEX_ROW (7)
    S_HEX_ROW (8) S_HEX_ROW (9) S_HEX_ROW (a) S_HEX_ROW (b)
    S_HEX_ROW (c) S_HEX_ROW (d) S_HEX_ROW (e) S_HEX_ROW (f);

static void
s_hex_encode (const uint8_t digest [SHA512_SIZE], char hex [ZP_HASH_HEX_SIZE])
{
    for (size_t i = 0; i < SHA512_SIZE; i++)
        memcpy (hex + 2 * i, s_hex_pairs + 2 * digest [i], 2);
}

//  Log the OpenSSL error queue's oldest entry once, naming the call that
//  failed, and clear the queue so that the next failure is reported fresh.
static void
s_log_openssl (const char *call)
{
    unsigned long code = ERR_get_error ();
    char reason [256];
    ERR_error_string_n (code, reason, sizeof reason);
    zp_error ("zp_hash: %s failed: %s", call, reason);
    ERR_clear_error ();
}

//  Hash input into digest with a context that has been initialised for
//  SHA-512 once already: passing a NULL type reuses its digest, so OpenSSL
//  does not fetch the algorithm again (it does still re-create its provider
//  context, see the top of this file).
static int
s_digest (EVP_MD_CTX *ctx, const void *input, size_t size,
          uint8_t digest [SHA512_SIZE])
{
    if (!EVP_DigestInit_ex2 (ctx, NULL, NULL)) {
        s_log_openssl ("EVP_DigestInit_ex2");
        return -1;
    }
    if (!EVP_DigestUpdate (ctx, input, size)) {
        s_log_openssl ("EVP_DigestUpdate");
        return -1;
    }
    if (!EVP_DigestFinal_ex (ctx, digest, NULL)) {
        s_log_openssl ("EVP_DigestFinal_ex");
        return -1;
    }
    return 0;
}

//  A context ready for s_digest, or NULL (logged).
static EVP_MD_CTX *
s_ctx_new (void)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    if (!ctx) {
        s_log_openssl ("EVP_MD_CTX_new");
        return NULL;
    }
    //  EVP_sha512 () is fetched from the default provider here, once per
    //  context, not once per step.
    if (!EVP_DigestInit_ex2 (ctx, EVP_sha512 (), NULL)) {
        s_log_openssl ("EVP_DigestInit_ex2 (SHA-512)");
        EVP_MD_CTX_free (ctx);
        return NULL;
    }
    return ctx;
}

//  Run steps chain steps on digest in place: digest = sha512 (hex (digest)).
static int
s_chain_steps (EVP_MD_CTX *ctx, uint8_t digest [SHA512_SIZE], uint64_t steps)
{
    char hex [ZP_HASH_HEX_SIZE];
    for (uint64_t step = 0; step < steps; step++) {
        s_hex_encode (digest, hex);
        if (s_digest (ctx, hex, sizeof hex, digest))
            return -1;
    }
    return 0;
}

//  The same, without EVP: for the engines (see the top of this file).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void
s_sha512 (const void *input, size_t size, uint8_t digest [SHA512_SIZE])
{
    //  These cannot fail: they only touch the context on our stack.
    SHA512_CTX ctx;
    SHA512_Init (&ctx);
    SHA512_Update (&ctx, input, size);
    SHA512_Final (digest, &ctx);
}
#pragma GCC diagnostic pop

static void
s_sha512_steps (uint8_t digest [SHA512_SIZE], uint64_t steps)
{
    char hex [ZP_HASH_HEX_SIZE];
    for (uint64_t step = 0; step < steps; step++) {
        s_hex_encode (digest, hex);
        s_sha512 (hex, sizeof hex, digest);
    }
}

int
zp_hash_chain (const void *input, size_t size, uint64_t iterations,
               char hex [ZP_HASH_HEX_SIZE])
{
    assert (input || size == 0);
    assert (hex);
    if (iterations == 0)
        return -1;

    EVP_MD_CTX *ctx = s_ctx_new ();
    if (!ctx)
        return -1;
    uint8_t digest [SHA512_SIZE];
    int rc = s_digest (ctx, input, size, digest);
    if (rc == 0)
        rc = s_chain_steps (ctx, digest, iterations - 1);
    if (rc == 0)
        s_hex_encode (digest, hex);
    EVP_MD_CTX_free (ctx);
    return rc;
}


//  --------------------------------------------------------------------------
//  Engines

static const char *s_kind_names [] = {
    [ZP_ENGINE_AUTO] = "auto",
    [ZP_ENGINE_OPENSSL] = "openssl",
    [ZP_ENGINE_AVX2] = "avx2",
    [ZP_ENGINE_AVX512] = "avx512"
};

int
zp_engine_kind_parse (const char *name, zp_engine_kind_t *kind)
{
    assert (kind);
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof s_kind_names / sizeof s_kind_names [0]; i++) {
        if (streq (name, s_kind_names [i])) {
            *kind = (zp_engine_kind_t) i;
            return 0;
        }
    }
    return -1;
}

bool
zp_engine_supported (zp_engine_kind_t kind)
{
    switch (kind) {
        case ZP_ENGINE_AUTO:
        case ZP_ENGINE_OPENSSL:
            return true;
#if defined (__x86_64__)
        //  __builtin_cpu_supports also checks that the OS saves the wider
        //  registers (XCR0), not only the CPUID bits.
        case ZP_ENGINE_AVX2:
            __builtin_cpu_init ();
            return __builtin_cpu_supports ("avx2")
                && __builtin_cpu_supports ("bmi2");
        case ZP_ENGINE_AVX512:
            __builtin_cpu_init ();
            return __builtin_cpu_supports ("avx512f")
                && __builtin_cpu_supports ("avx512vl")
                && __builtin_cpu_supports ("avx512bw")
                && __builtin_cpu_supports ("bmi2");
#endif
        default:
            return false;
    }
}

//  The message schedule of the second block of every step after the first:
//  a 128-byte message is followed by a whole block of padding, 0x80, zeros,
//  and the message length in bits (1024) as a 128-bit big-endian number.
//  Its schedule never changes, so it is expanded once and K added to it.
static void
s_padding_schedule (uint64_t kw2 [80])
{
#define S_ROTR(x,n) (((x) >> (n)) | ((x) << (64 - (n))))
    uint64_t w [80] = { [0] = 0x8000000000000000ULL, [15] = 1024 };
    for (size_t t = 16; t < 80; t++) {
        uint64_t s0 = S_ROTR (w [t - 15], 1) ^ S_ROTR (w [t - 15], 8) ^ (w [t - 15] >> 7);
        uint64_t s1 = S_ROTR (w [t - 2], 19) ^ S_ROTR (w [t - 2], 61) ^ (w [t - 2] >> 6);
        w [t] = s1 + w [t - 7] + s0 + w [t - 16];
    }
    for (size_t t = 0; t < 80; t++)
        kw2 [t] = zp_hash_k512 [t] + w [t];
#undef S_ROTR
}

zp_engine_t *
zp_engine_new (zp_engine_kind_t kind)
{
    if (kind == ZP_ENGINE_AUTO)
        kind = zp_engine_supported (ZP_ENGINE_AVX512)? ZP_ENGINE_AVX512:
               zp_engine_supported (ZP_ENGINE_AVX2)? ZP_ENGINE_AVX2:
                                                     ZP_ENGINE_OPENSSL;
    if (!zp_engine_supported (kind))
        return NULL;

    zp_engine_t *self = (zp_engine_t *) calloc (1, sizeof (zp_engine_t));
    if (!self) {
        zp_error ("zp_hash: out of memory creating the %s engine", s_kind_names [kind]);
        return NULL;
    }
    self->kind = kind;
    switch (kind) {
        case ZP_ENGINE_AVX2:
            self->lanes = 4;
            self->kernel = zp_hash_avx2_steps;
            break;
        case ZP_ENGINE_AVX512:
            self->lanes = 8;
            self->kernel = zp_hash_avx512_steps;
            break;
        default:
            self->lanes = 1;
            self->kernel = NULL;
            break;
    }
    s_padding_schedule (self->kw2);
    //  The kernels read and write whole registers of 4 or 8 words; 64-byte
    //  alignment keeps every one of those inside a cache line.
    self->state = (uint64_t *) aligned_alloc (64, 8 * ZP_HASH_MAX_LANES * sizeof (uint64_t));
    if (!self->state) {
        zp_error ("zp_hash: out of memory creating the %s engine", s_kind_names [kind]);
        zp_engine_destroy (&self);
        return NULL;
    }
    //  The kernels also compute idle lanes; give them defined contents.
    memset (self->state, 0, 8 * ZP_HASH_MAX_LANES * sizeof (uint64_t));
    return self;
}

void
zp_engine_destroy (zp_engine_t **self_p)
{
    assert (self_p);
    zp_engine_t *self = *self_p;
    if (self) {
        free (self->state);
        free (self);
        *self_p = NULL;
    }
}

const char *
zp_engine_name (const zp_engine_t *self)
{
    assert (self);
    return s_kind_names [self->kind];
}

size_t
zp_engine_lanes (const zp_engine_t *self)
{
    assert (self);
    return self->lanes;
}

size_t
zp_engine_free (const zp_engine_t *self)
{
    assert (self);
    return self->lanes - zp_engine_busy (self);
}

size_t
zp_engine_busy (const zp_engine_t *self)
{
    assert (self);
    size_t busy = 0;
    for (size_t l = 0; l < self->lanes; l++)
        busy += self->lane [l].busy;
    return busy;
}

//  Move one lane's digest between bytes and the interleaved state words.
static void
s_lane_put (zp_engine_t *self, size_t l, const uint8_t digest [SHA512_SIZE])
{
    //  SHA-512 words are big-endian: one load and byte swap each.
    for (size_t w = 0; w < 8; w++) {
        uint64_t word;
        memcpy (&word, digest + 8 * w, sizeof word);
        self->state [w * self->lanes + l] = be64toh (word);
    }
}

static void
s_lane_get (const zp_engine_t *self, size_t l, uint8_t digest [SHA512_SIZE])
{
    for (size_t w = 0; w < 8; w++) {
        uint64_t word = htobe64 (self->state [w * self->lanes + l]);
        memcpy (digest + 8 * w, &word, sizeof word);
    }
}

static void
s_lane_finish (zp_engine_t *self, size_t l)
{
    for (size_t w = 0; w < 8; w++)
        self->lane [l].result [w] = self->state [w * self->lanes + l];
}

int
zp_engine_load (zp_engine_t *self, const void *input, size_t size,
                uint64_t iterations, uint64_t tag)
{
    assert (self);
    assert (input || size == 0);
    if (iterations == 0)
        return -1;
    size_t l = 0;
    while (l < self->lanes && self->lane [l].busy)
        l++;
    if (l == self->lanes)
        return -1;

    uint8_t digest [SHA512_SIZE];
    s_sha512 (input, size, digest);
    s_lane_put (self, l, digest);
    lane_t *lane = &self->lane [l];
    lane->busy = true;
    lane->tag = tag;
    lane->remaining = iterations - 1;
    if (lane->remaining == 0)
        s_lane_finish (self, l);
    return 0;
}

//  The OpenSSL engine's one lane.
static void
s_openssl_run (zp_engine_t *self, uint64_t steps)
{
    lane_t *lane = &self->lane [0];
    if (!lane->busy || lane->remaining == 0)
        return;
    uint64_t todo = lane->remaining < steps? lane->remaining: steps;
    uint8_t digest [SHA512_SIZE];
    s_lane_get (self, 0, digest);
    s_sha512_steps (digest, todo);
    s_lane_put (self, 0, digest);
    lane->remaining -= todo;
    if (lane->remaining == 0)
        s_lane_finish (self, 0);
}

//  The SIMD engines run all lanes in lockstep, in slices that end whenever
//  some lane's chain ends, so that its digest can be saved before the next
//  slice overwrites it. Idle and finished lanes compute garbage meanwhile.
static void
s_kernel_run (zp_engine_t *self, uint64_t steps)
{
    while (steps > 0) {
        uint64_t slice = steps;
        bool running = false;
        for (size_t l = 0; l < self->lanes; l++) {
            lane_t *lane = &self->lane [l];
            if (lane->busy && lane->remaining > 0) {
                running = true;
                if (lane->remaining < slice)
                    slice = lane->remaining;
            }
        }
        if (!running)
            break;
        self->kernel (self->state, self->kw2, slice);
        for (size_t l = 0; l < self->lanes; l++) {
            lane_t *lane = &self->lane [l];
            if (lane->busy && lane->remaining > 0) {
                lane->remaining -= slice;
                if (lane->remaining == 0)
                    s_lane_finish (self, l);
            }
        }
        steps -= slice;
    }
}

size_t
zp_engine_run (zp_engine_t *self, uint64_t steps)
{
    assert (self);
    if (self->kernel)
        s_kernel_run (self, steps);
    else
        s_openssl_run (self, steps);

    size_t finished = 0;
    for (size_t l = 0; l < self->lanes; l++)
        finished += self->lane [l].busy && self->lane [l].remaining == 0;
    return finished;
}

int
zp_engine_take (zp_engine_t *self, uint64_t *tag, char hex [ZP_HASH_HEX_SIZE])
{
    assert (self);
    assert (tag);
    assert (hex);
    for (size_t l = 0; l < self->lanes; l++) {
        lane_t *lane = &self->lane [l];
        if (lane->busy && lane->remaining == 0) {
            uint8_t digest [SHA512_SIZE];
            for (size_t w = 0; w < 8; w++) {
                uint64_t word = htobe64 (lane->result [w]);
                memcpy (digest + 8 * w, &word, sizeof word);
            }
            s_hex_encode (digest, hex);
            *tag = lane->tag;
            lane->busy = false;
            return 0;
        }
    }
    return -1;
}
