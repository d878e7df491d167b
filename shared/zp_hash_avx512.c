/*  zp_hash_avx512 - the chain kernel for AVX-512: eight chains side by side.

    Built with -mavx512f -mavx512vl -mavx512bw -mbmi2; zp_hash.c calls it
    only on a CPU that has them all. The kernel is the same template as the
    AVX2 one (zp_hash_impl.h), so the AVX2 tests exercise its logic; what is
    particular to this file is the mapping below: vprorq for the rotates, and
    vpternlogq for every three-input function, whose truth tables are the
    immediates (bit i of the immediate is the result for a = i >> 2 & 1,
    b = i >> 1 & 1, c = i & 1):
        0x96  a ^ b ^ c
        0xca  a ? b : c         (Ch, and the byte select)
        0xe8  majority (a, b, c)

    Defining ZP_HASH_AVX512_MODEL before including this file replaces
    <immintrin.h> with the includer's plain-C model of these intrinsics and
    renames the kernel: tests/unit/test_hash.c does that to run this very
    source on CPUs without AVX-512.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/

#ifndef ZP_HASH_AVX512_MODEL
#   include <immintrin.h>
#endif

#include "zp_hash_impl.h"

#ifndef ZP_HASH_AVX512_MODEL
#   define ZP_HASH_KERNEL   zp_hash_avx512_steps
#else
#   define ZP_HASH_KERNEL   zp_hash_avx512_model_steps
#endif
#define ZP_HASH_LANES       8

#define V                   __m512i
#define V_LOAD(p)           _mm512_loadu_si512 ((const void *) (p))
#define V_STORE(p, v)       _mm512_storeu_si512 ((void *) (p), (v))
#define V_SET1(x)           _mm512_set1_epi64 ((long long) (x))
#define V_SET2(lo, hi)      _mm512_set_epi64 ((long long) (hi), (long long) (lo), \
                                              (long long) (hi), (long long) (lo), \
                                              (long long) (hi), (long long) (lo), \
                                              (long long) (hi), (long long) (lo))
#define V_ADD(a, b)         _mm512_add_epi64 ((a), (b))
#define V_AND(a, b)         _mm512_and_si512 ((a), (b))
#define V_XOR3(a, b, c)     _mm512_ternarylogic_epi64 ((a), (b), (c), 0x96)
#define V_SHR(x, n)         _mm512_srli_epi64 ((x), (n))
#define V_ROR(x, n)         _mm512_ror_epi64 ((x), (n))
#define V_CH(e, f, g)       _mm512_ternarylogic_epi64 ((e), (f), (g), 0xca)
#define V_MAJ(a, b, c)      _mm512_ternarylogic_epi64 ((a), (b), (c), 0xe8)
#define V_SELECT(m, a, b)   _mm512_ternarylogic_epi64 ((m), (a), (b), 0xca)
#define V_SHUFFLE8(t, i)    _mm512_shuffle_epi8 ((t), (i))

//  Second inclusion: emits the kernel from the template.
#include "zp_hash_impl.h"
