/*  zp_hash_avx2 - the chain kernel for AVX2: four chains side by side.

    Built with -mavx2 -mbmi2; zp_hash.c calls it only on a CPU that has
    both. The kernel itself is the template in zp_hash_impl.h; this file
    only says how each vector operation is done with AVX2, which has no
    64-bit rotate and no three-input logic, so those take several
    instructions here.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/

#include <immintrin.h>

#include "zp_hash_impl.h"

#define ZP_HASH_KERNEL      zp_hash_avx2_steps
#define ZP_HASH_LANES       4

#define V                   __m256i
#define V_LOAD(p)           _mm256_loadu_si256 ((const __m256i *) (p))
#define V_STORE(p, v)       _mm256_storeu_si256 ((__m256i *) (p), (v))
#define V_SET1(x)           _mm256_set1_epi64x ((long long) (x))
#define V_SET2(lo, hi)      _mm256_set_epi64x ((long long) (hi), (long long) (lo), \
                                               (long long) (hi), (long long) (lo))
#define V_ADD(a, b)         _mm256_add_epi64 ((a), (b))
#define V_AND(a, b)         _mm256_and_si256 ((a), (b))
#define V_XOR(a, b)         _mm256_xor_si256 ((a), (b))
#define V_XOR3(a, b, c)     V_XOR (V_XOR ((a), (b)), (c))
#define V_SHR(x, n)         _mm256_srli_epi64 ((x), (n))
//  A rotate is two shifts and an or, except by whole bytes (sigma0's 8),
//  which one byte shuffle does: result byte i is byte i + 1 of the word.
#define S_ROR8_INDEX        _mm256_set_epi64x (0x080f0e0d0c0b0a09LL, 0x0007060504030201LL, \
                                               0x080f0e0d0c0b0a09LL, 0x0007060504030201LL)
#define V_ROR(x, n)         ((n) == 8? _mm256_shuffle_epi8 ((x), S_ROR8_INDEX): \
                             _mm256_or_si256 (_mm256_srli_epi64 ((x), (n)), \
                                              _mm256_slli_epi64 ((x), 64 - (n))))
//  ((f ^ g) & e) ^ g picks f where e is set and g elsewhere, in three
//  instructions instead of four.
#define V_CH(e, f, g)       V_XOR (V_AND (V_XOR ((f), (g)), (e)), (g))
//  No V_MAJ: the template's carried form takes three instructions a round.
#define V_SELECT(m, a, b)   _mm256_or_si256 (V_AND ((m), (a)), _mm256_andnot_si256 ((m), (b)))
#define V_SHUFFLE8(t, i)    _mm256_shuffle_epi8 ((t), (i))

//  Second inclusion: emits zp_hash_avx2_steps from the template (the first
//  one, above, declared it).
#include "zp_hash_impl.h"
