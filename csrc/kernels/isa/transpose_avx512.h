// Register transposes of square blocks in zmm registers, shared by the AVX-512 units
// (gemm_isa.cpp, conv_isa.cpp). Include only where __AVX512F__ is defined; the functions
// live in the unit's ISA namespace.
#pragma once

#include <immintrin.h>

#include "kernels/common.h"

#ifndef FASTDL_ISA_NS
#error "FASTDL_ISA_NS must name the instruction set this unit is compiled for"
#endif

namespace fastdl::FASTDL_ISA_NS {

// GCC 12 warns inside its own _mm512_unpacklo_ps (the "undefined" pass-through operand of
// the masked builtin); a false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// r[i] = row i of a 16 x 16 block -> r[j] = column j.
FASTDL_INLINE void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4g + c], 128-bit lane L: column 4L + c of rows 4g .. 4g + 3
  for (int g = 0; g < 4; ++g) {
    const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 2]);
    const __m512d c = _mm512_castps_pd(t[4 * g + 1]), d = _mm512_castps_pd(t[4 * g + 3]);
    r[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    r[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    r[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    r[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  // a 4 x 4 transpose of 128-bit lanes, for each c
  for (int c = 0; c < 4; ++c) {
    const __m512 v0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);
    const __m512 v1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);
    const __m512 v2 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    const __m512 v3 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
    t[c] = _mm512_shuffle_f32x4(v0, v2, 0x88);
    t[8 + c] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
    t[4 + c] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// r[i] = row i of an 8 x 8 block of doubles -> r[j] = column j.
FASTDL_INLINE void transpose8(__m512d r[8]) {
  __m512d t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);      // columns 0 2 4 6 of a row pair
    t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);  // columns 1 3 5 7
  }
  // u[4h + 2p + s], 128-bit lanes: columns {c, c + 4} of rows 4h .. 4h + 3, with
  // c = 2s + p (p: the hi/lo unpack, s: which half of the lanes)
  for (int h = 0; h < 2; ++h) {
    for (int p = 0; p < 2; ++p) {
      u[4 * h + 2 * p] = _mm512_shuffle_f64x2(t[4 * h + p], t[4 * h + 2 + p], 0x88);
      u[4 * h + 2 * p + 1] = _mm512_shuffle_f64x2(t[4 * h + p], t[4 * h + 2 + p], 0xdd);
    }
  }
  for (int p = 0; p < 2; ++p) {
    for (int s = 0; s < 2; ++s) {
      const int c = 2 * s + p;
      r[c] = _mm512_shuffle_f64x2(u[2 * p + s], u[4 + 2 * p + s], 0x88);
      r[c + 4] = _mm512_shuffle_f64x2(u[2 * p + s], u[4 + 2 * p + s], 0xdd);
    }
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace fastdl::FASTDL_ISA_NS
