/*  zp_hash - the iterated SHA-512 chain and the engines that run it.

    The chain: h = input bytes; repeat N times: h = lowercase_hex (sha512 (h)).
    The result is the final 128 hex characters. It equals Python's
        for _ in range (n): h = hashlib.sha512 (h).hexdigest ().encode ()
    byte for byte, for any input bytes and any N >= 1.

    zp_hash_chain is the reference: one chain, OpenSSL EVP, one context reused
    for every step, no allocation per step.

    A zp_engine_t runs up to zp_engine_lanes () independent chains at once
    (8 with AVX-512, 4 with AVX2, 1 with OpenSSL). Chains are loaded into free
    lanes, advanced in slices with zp_engine_run, and taken out when finished;
    a lane is free again as soon as its chain has been taken, so chains of
    different lengths and arrival times share the lanes.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef ZP_HASH_H_INCLUDED
#define ZP_HASH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZP_HASH_HEX_SIZE 128    //  result size; no NUL is written

//  Run the whole chain with OpenSSL. Writes 128 lowercase hex characters to
//  hex (not NUL-terminated). Returns 0, or -1 if iterations is 0 or OpenSSL
//  failed (logged once).
int
    zp_hash_chain (const void *input, size_t size, uint64_t iterations,
                   char hex [ZP_HASH_HEX_SIZE]);

typedef enum {
    ZP_ENGINE_AUTO = 0,         //  the fastest this CPU supports
    ZP_ENGINE_OPENSSL,
    ZP_ENGINE_AVX2,
    ZP_ENGINE_AVX512
} zp_engine_kind_t;

typedef struct _zp_engine_t zp_engine_t;

//  Parse "auto", "openssl", "avx2", "avx512". Returns 0, or -1 for anything else.
int
    zp_engine_kind_parse (const char *name, zp_engine_kind_t *kind);

//  True if this CPU (and this build) can run that engine. AUTO and OPENSSL
//  are always supported.
bool
    zp_engine_supported (zp_engine_kind_t kind);

//  Create an engine of that kind (AUTO picks the fastest supported). Returns
//  NULL if this CPU cannot run it (the caller says so to the user). The
//  caller owns the engine and destroys it with zp_engine_destroy.
zp_engine_t *
    zp_engine_new (zp_engine_kind_t kind);

//  Destroy the engine; safe on NULL and twice; sets *self_p to NULL.
void
    zp_engine_destroy (zp_engine_t **self_p);

//  "openssl", "avx2" or "avx512". Static string.
const char *
    zp_engine_name (const zp_engine_t *self);

//  Number of lanes, and lanes free for zp_engine_load right now.
size_t
    zp_engine_lanes (const zp_engine_t *self);
size_t
    zp_engine_free (const zp_engine_t *self);

//  Load a chain into a free lane. The first step (hashing input, any length)
//  happens here; the caller's input buffer is not used after this returns.
//  tag is the caller's, returned with the result. Returns 0, or -1 if no lane
//  is free or iterations is 0.
int
    zp_engine_load (zp_engine_t *self, const void *input, size_t size,
                    uint64_t iterations, uint64_t tag);

//  Advance every loaded chain by up to steps chain steps. Returns the number
//  of chains that are finished and waiting for zp_engine_take.
size_t
    zp_engine_run (zp_engine_t *self, uint64_t steps);

//  Take one finished chain: fills tag and the 128 hex characters and frees
//  its lane. Returns 0, or -1 if no chain is finished.
int
    zp_engine_take (zp_engine_t *self, uint64_t *tag, char hex [ZP_HASH_HEX_SIZE]);

//  Number of chains loaded and not yet taken (running or finished).
size_t
    zp_engine_busy (const zp_engine_t *self);

#endif
