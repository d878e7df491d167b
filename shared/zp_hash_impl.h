/*  zp_hash_impl - private to zp_hash: what zp_hash.c shares with the
    multi-buffer kernels in zp_hash_avx2.c and zp_hash_avx512.c.

    Nothing outside those three files includes this header.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef ZP_HASH_IMPL_H_INCLUDED
#define ZP_HASH_IMPL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define ZP_HASH_MAX_LANES 8     //  AVX-512: 8 x 64-bit words per register

//  SHA-512 constants (FIPS 180-4, 4.2.3 and 5.3.5): the round constants and
//  the initial hash value. Static so that each kernel sees them as constants.
static const uint64_t zp_hash_k512 [80] = {
    0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL, 0xe9b5dba58189dbbcULL,
    0x3956c25bf348b538ULL, 0x59f111f1b605d019ULL, 0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL,
    0xd807aa98a3030242ULL, 0x12835b0145706fbeULL, 0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL,
    0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL, 0xc19bf174cf692694ULL,
    0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL, 0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL,
    0x2de92c6f592b0275ULL, 0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL,
    0x983e5152ee66dfabULL, 0xa831c66d2db43210ULL, 0xb00327c898fb213fULL, 0xbf597fc7beef0ee4ULL,
    0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL, 0x06ca6351e003826fULL, 0x142929670a0e6e70ULL,
    0x27b70a8546d22ffcULL, 0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL, 0x53380d139d95b3dfULL,
    0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL, 0x92722c851482353bULL,
    0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL, 0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL,
    0xd192e819d6ef5218ULL, 0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL,
    0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL, 0x2748774cdf8eeb99ULL, 0x34b0bcb5e19b48a8ULL,
    0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL, 0x5b9cca4f7763e373ULL, 0x682e6ff3d6b2b8a3ULL,
    0x748f82ee5defb2fcULL, 0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
    0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL, 0xc67178f2e372532bULL,
    0xca273eceea26619cULL, 0xd186b8c721c0c207ULL, 0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL,
    0x06f067aa72176fbaULL, 0x0a637dc5a2c898a6ULL, 0x113f9804bef90daeULL, 0x1b710b35131c471bULL,
    0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL, 0x431d67c49c100d4cULL,
    0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL, 0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL,
};

static const uint64_t zp_hash_iv512 [8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
    0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

//  A multi-buffer kernel advances every lane by exactly steps chain steps.
//  state holds the lanes' digests as SHA-512 words, lane-interleaved:
//  word w of lane l is state [w * lanes + l], lanes being the kernel's width.
//  kw2 is K [t] + W [t] of the constant second block of every step (the
//  padding block of a 128-byte message), see zp_hash.c. The kernels only
//  run after zp_hash.c has checked that the CPU has their instructions.
void
    zp_hash_avx2_steps (uint64_t *state, const uint64_t *kw2, uint64_t steps);
void
    zp_hash_avx512_steps (uint64_t *state, const uint64_t *kw2, uint64_t steps);

#endif


/*  The multi-buffer kernel, written once for any vector width.

    zp_hash_avx2.c and zp_hash_avx512.c each define the operations below in
    their own instructions and then include this header a second time, with
    ZP_HASH_KERNEL set to the name of the function to emit (it must not be
    set at the first inclusion, which declares). The text is outside the
    include guard on purpose. Everything it defines is static
    or that one function, so the code compiled for wider instructions stays
    inside the file built with them.

    The including file defines:
        ZP_HASH_KERNEL          name of the kernel function
        ZP_HASH_LANES           words per vector
        V                       vector type, ZP_HASH_LANES x uint64_t
        V_LOAD (p), V_STORE (p, v)          unaligned
        V_SET1 (x)              every word x
        V_SET2 (lo, hi)         lo, hi, lo, hi, ... (per 128 bits)
        V_ADD, V_AND            per 64-bit word
        V_XOR3 (a, b, c)        a ^ b ^ c
        V_ROR (x, n), V_SHR (x, n)          per 64-bit word, n constant
        V_CH (e, f, g)          (e & f) ^ (~e & g)
        V_MAJ (a, b, c)         (a & b) ^ (a & c) ^ (b & c); optional:
                                without it the template uses V_XOR, V_AND
        V_SELECT (m, a, b)      (m & a) | (~m & b)
        V_SHUFFLE8 (t, i)       bytes of t picked by i within 128 bits
                                (pshufb; no index here has its top bit set)
*/
#ifdef ZP_HASH_KERNEL

#define S_BSIG0(x)  V_XOR3 (V_ROR (x, 28), V_ROR (x, 34), V_ROR (x, 39))
#define S_BSIG1(x)  V_XOR3 (V_ROR (x, 14), V_ROR (x, 18), V_ROR (x, 41))
#define S_SSIG0(x)  V_XOR3 (V_ROR (x, 1), V_ROR (x, 8), V_SHR (x, 7))
#define S_SSIG1(x)  V_XOR3 (V_ROR (x, 19), V_ROR (x, 61), V_SHR (x, 6))

//  Maj: with three-input logic it is one instruction (V_MAJ). Without, we
//  use Maj (a, b, c) = ((a ^ b) & (b ^ c)) ^ b and keep a ^ b for the next
//  round, where it is b ^ c: three instructions instead of four. bc_ must
//  hold b ^ c when a block starts (S_MAJ_START).
#ifdef V_MAJ
#   define S_MAJ_START(b, c) ((void) 0)
#   define S_MAJ(a, b, c)   V_MAJ (a, b, c)
#else
#   define S_MAJ_START(b, c) (bc_ = V_XOR (b, c))
#   define S_MAJ(a, b, c)   s_maj (a, b, &bc_)
static inline V
s_maj (V a, V b, V *bc)
{
    V ab = V_XOR (a, b);
    V maj = V_XOR (V_AND (ab, *bc), b);
    *bc = ab;
    return maj;
}
#endif

//  One SHA-512 round. Instead of shifting eight variables every round, the
//  callers rotate the names they pass, so that a..h come back after 8 rounds.
#define S_ROUND(a, b, c, d, e, f, g, h, kw) do { \
    V t1_ = V_ADD (V_ADD (h, S_BSIG1 (e)), V_ADD (V_CH (e, f, g), kw)); \
    V t2_ = V_ADD (S_BSIG0 (a), S_MAJ (a, b, c)); \
    d = V_ADD (d, t1_); \
    h = V_ADD (t1_, t2_); \
} while (0)

//  Round t + j of the first block, whose schedule w [] is a ring of 16:
//  from round 16 on, W [t + j] replaces W [t + j - 16] before it is used.
#define S_W(j)  w [(t + (j)) & 15]
#define S_ROUND1(j, a, b, c, d, e, f, g, h) \
    S_ROUND (a, b, c, d, e, f, g, h, V_ADD (S_W (j), V_SET1 (zp_hash_k512 [t + (j)])))

#define S_ROUND1_SCHEDULE(j, a, b, c, d, e, f, g, h) do { \
    S_W (j) = V_ADD (V_ADD (S_SSIG1 (S_W ((j) + 14)), S_W ((j) + 9)), \
                     V_ADD (S_SSIG0 (S_W ((j) + 1)), S_W (j))); \
    S_ROUND1 (j, a, b, c, d, e, f, g, h); \
} while (0)

//  Eight rounds, the names back in place at the end. Eight, not sixteen:
//  the loop body is then small enough for the op cache.
#define S_ROUNDS8(round) do { \
    round (0, a, b, c, d, e, f, g, h); \
    round (1, h, a, b, c, d, e, f, g); \
    round (2, g, h, a, b, c, d, e, f); \
    round (3, f, g, h, a, b, c, d, e); \
    round (4, e, f, g, h, a, b, c, d); \
    round (5, d, e, f, g, h, a, b, c); \
    round (6, c, d, e, f, g, h, a, b); \
    round (7, b, c, d, e, f, g, h, a); \
} while (0)

//  Round t + j of the padding block, whose K + W is precomputed.
#define S_ROUND2(j, a, b, c, d, e, f, g, h) \
    S_ROUND (a, b, c, d, e, f, g, h, V_SET1 (kw2 [t + (j)]))

//  Eight hex characters, as one big-endian message word, of the four bytes
//  of every word of x that index picks, twice each: the high nibble of a
//  byte goes to the odd byte, the low nibble to the even byte below it.
static inline V
s_hex_word (V x, V index, V odd_bytes, V low_nibbles, V digits)
{
    V bytes = V_SHUFFLE8 (x, index);
    V nibbles = V_AND (V_SELECT (odd_bytes, V_SHR (bytes, 4), bytes), low_nibbles);
    return V_SHUFFLE8 (digits, nibbles);
}

void
ZP_HASH_KERNEL (uint64_t *state, const uint64_t *kw2, uint64_t steps)
{
    //  Within each 128 bits: the bytes of the high half of the first word,
    //  then of the second word; the same for the low halves.
    const V index_high = V_SET2 (0x0707060605050404ULL, 0x0f0f0e0e0d0d0c0cULL);
    const V index_low = V_SET2 (0x0303020201010000ULL, 0x0b0b0a0a09090808ULL);
    const V odd_bytes = V_SET1 (0xff00ff00ff00ff00ULL);
    const V low_nibbles = V_SET1 (0x0f0f0f0f0f0f0f0fULL);
    const V digits = V_SET2 (0x3736353433323130ULL, 0x6665646362613938ULL);

    V hash [8];
    for (size_t i = 0; i < 8; i++)
        hash [i] = V_LOAD (state + i * ZP_HASH_LANES);
#ifndef V_MAJ
    V bc_;
#endif

    for (uint64_t step = 0; step < steps; step++) {
        //  The 128 hex characters of the digest are the first block: each
        //  digest word gives two message words, its high half first.
        V w [16];
        for (size_t i = 0; i < 8; i++) {
            w [2 * i] = s_hex_word (hash [i], index_high, odd_bytes, low_nibbles, digits);
            w [2 * i + 1] = s_hex_word (hash [i], index_low, odd_bytes, low_nibbles, digits);
        }
        V a = V_SET1 (zp_hash_iv512 [0]), b = V_SET1 (zp_hash_iv512 [1]);
        V c = V_SET1 (zp_hash_iv512 [2]), d = V_SET1 (zp_hash_iv512 [3]);
        V e = V_SET1 (zp_hash_iv512 [4]), f = V_SET1 (zp_hash_iv512 [5]);
        V g = V_SET1 (zp_hash_iv512 [6]), h = V_SET1 (zp_hash_iv512 [7]);
        S_MAJ_START (b, c);
        for (size_t t = 0; t < 16; t += 8)
            S_ROUNDS8 (S_ROUND1);
        for (size_t t = 16; t < 80; t += 8)
            S_ROUNDS8 (S_ROUND1_SCHEDULE);
        hash [0] = V_ADD (a, V_SET1 (zp_hash_iv512 [0]));
        hash [1] = V_ADD (b, V_SET1 (zp_hash_iv512 [1]));
        hash [2] = V_ADD (c, V_SET1 (zp_hash_iv512 [2]));
        hash [3] = V_ADD (d, V_SET1 (zp_hash_iv512 [3]));
        hash [4] = V_ADD (e, V_SET1 (zp_hash_iv512 [4]));
        hash [5] = V_ADD (f, V_SET1 (zp_hash_iv512 [5]));
        hash [6] = V_ADD (g, V_SET1 (zp_hash_iv512 [6]));
        hash [7] = V_ADD (h, V_SET1 (zp_hash_iv512 [7]));

        //  The padding block, chained from the first block's result.
        a = hash [0]; b = hash [1]; c = hash [2]; d = hash [3];
        e = hash [4]; f = hash [5]; g = hash [6]; h = hash [7];
        S_MAJ_START (b, c);
        for (size_t t = 0; t < 80; t += 8)
            S_ROUNDS8 (S_ROUND2);
        hash [0] = V_ADD (hash [0], a);
        hash [1] = V_ADD (hash [1], b);
        hash [2] = V_ADD (hash [2], c);
        hash [3] = V_ADD (hash [3], d);
        hash [4] = V_ADD (hash [4], e);
        hash [5] = V_ADD (hash [5], f);
        hash [6] = V_ADD (hash [6], g);
        hash [7] = V_ADD (hash [7], h);
    }
    for (size_t i = 0; i < 8; i++)
        V_STORE (state + i * ZP_HASH_LANES, hash [i]);
}

#undef S_BSIG0
#undef S_BSIG1
#undef S_SSIG0
#undef S_SSIG1
#undef S_MAJ_START
#undef S_MAJ
#undef S_ROUND
#undef S_ROUND1
#undef S_ROUND1_SCHEDULE
#undef S_W
#undef S_ROUNDS8
#undef S_ROUND2

#endif
