/* The fast epoch of a Dense chain, written once for a float type (JN_T,
 * JN_SFX, JN_EXP, JN_TANH as in jaxnet_net_impl.h). Included twice by
 * jaxnet_dense_chain_fast.c; no include guard on purpose. Notation: layer l
 * has n_in = sizes[l] inputs, n_out = sizes[l+1] outputs padded to
 * P = padded(n_out); wt (n_in, P) is w[l] transposed, a row per input;
 * B = JN_FAST_BLOCK. */

#include "jn_math_impl.h"

#ifdef JN_VECTOR_BYTES
/* JN_VECTOR_BYTES / sizeof(JN_T) lanes (GCC/Clang vector extensions; the plain
 * loops below are the fallback): a block is JN_SFX(NV) of them, kept in
 * registers. Element for element the same multiplies and adds as the loops. */
typedef JN_T JN_SFX(jn_vec) __attribute__((vector_size(JN_VECTOR_BYTES), aligned(sizeof(JN_T)),
                                           may_alias));
#define JN_NV (JN_FAST_BLOCK * (int)sizeof(JN_T) / JN_VECTOR_BYTES)
#define JN_VL (JN_VECTOR_BYTES / (int)sizeof(JN_T))  /* lanes per vector */
#endif

/* z (n,) = bias (n,) + sum over t < nnz of vx[t] * wt[ix[t] * P + (0..n)], t
 * ascending; n is JN_HALF, B or JN_WIDE B lanes, a constant where it is
 * inlined, so the n accumulators live in registers (JN_WIDE blocks of them
 * hide the adds' latency). */
JN_INLINE void JN_SFX(fast_dot)(JN_T *restrict z, const JN_T *restrict bias,
                                       const JN_T *restrict wt, int64_t P,
                                       const int32_t *restrict ix, const JN_T *restrict vx,
                                       int32_t nnz, const int n) {
#ifdef JN_VECTOR_BYTES
    typedef JN_SFX(jn_vec) V;
    V acc[JN_WIDE * JN_NV];
    for (int q = 0; q < n / JN_VL; q++) acc[q] = ((const V *)bias)[q];
    for (int32_t t = 0; t < nnz; t++) {
        const V *row = (const V *)(wt + (int64_t)ix[t] * P);
        const JN_T v = vx[t];
        for (int q = 0; q < n / JN_VL; q++) acc[q] += v * row[q];
    }
    for (int q = 0; q < n / JN_VL; q++) ((V *)z)[q] = acc[q];
#else
    JN_T acc[JN_WIDE * JN_FAST_BLOCK];
    for (int jj = 0; jj < n; jj++) acc[jj] = bias[jj];
    for (int32_t t = 0; t < nnz; t++) {
        const JN_T v = vx[t], *row = wt + (int64_t)ix[t] * P;
        for (int jj = 0; jj < n; jj++) acc[jj] += v * row[jj];
    }
    memcpy(z, acc, (size_t)n * sizeof(JN_T));
#endif
}

/* fast_dot for two rows at once: za (n,) from (ixa, vxa, na) and zb (n,) from
 * (ixb, vxb, nb), each row's sum the same operations in the same order as
 * fast_dot's, the two chains of adds interleaved: twice the independent
 * accumulators, so the adds' latency is hidden where one row's n lanes are
 * too few vectors to hide it (n is JN_HALF or B). */
JN_INLINE void JN_SFX(fast_dot2)(JN_T *restrict za, JN_T *restrict zb,
                                 const JN_T *restrict bias, const JN_T *restrict wt, int64_t P,
                                 const int32_t *restrict ixa, const JN_T *restrict vxa,
                                 int32_t na, const int32_t *restrict ixb,
                                 const JN_T *restrict vxb, int32_t nb, const int n) {
#ifdef JN_VECTOR_BYTES
    typedef JN_SFX(jn_vec) V;
    V a[JN_NV], b[JN_NV];
    for (int q = 0; q < n / JN_VL; q++) a[q] = b[q] = ((const V *)bias)[q];
    const int32_t both = na < nb ? na : nb;
    for (int32_t t = 0; t < both; t++) {
        const V *ra = (const V *)(wt + (int64_t)ixa[t] * P);
        const V *rb = (const V *)(wt + (int64_t)ixb[t] * P);
        const JN_T va = vxa[t], vb = vxb[t];
        for (int q = 0; q < n / JN_VL; q++) {
            a[q] += va * ra[q];
            b[q] += vb * rb[q];
        }
    }
    for (int32_t t = both; t < na; t++) {
        const V *ra = (const V *)(wt + (int64_t)ixa[t] * P);
        for (int q = 0; q < n / JN_VL; q++) a[q] += vxa[t] * ra[q];
    }
    for (int32_t t = both; t < nb; t++) {
        const V *rb = (const V *)(wt + (int64_t)ixb[t] * P);
        for (int q = 0; q < n / JN_VL; q++) b[q] += vxb[t] * rb[q];
    }
    for (int q = 0; q < n / JN_VL; q++) {
        ((V *)za)[q] = a[q];
        ((V *)zb)[q] = b[q];
    }
#else
    JN_SFX(fast_dot)(za, bias, wt, P, ixa, vxa, na, n);
    JN_SFX(fast_dot)(zb, bias, wt, P, ixb, vxb, nb, n);
#endif
}

/* y (B,) += c * x (B,). */
static inline void JN_SFX(fast_axpy_block)(JN_T *restrict y, JN_T c, const JN_T *restrict x) {
#ifdef JN_VECTOR_BYTES
    typedef JN_SFX(jn_vec) V;
    for (int q = 0; q < JN_NV; q++) ((V *)y)[q] += c * ((const V *)x)[q];
#else
    for (int jj = 0; jj < JN_FAST_BLOCK; jj++) y[jj] += c * x[jj];
#endif
}

/* For t < nnz: wt[ix[t] * P + (0..n)] += (-eta vx[t]) * d (n,); n as fast_dot's. */
JN_INLINE void JN_SFX(fast_axpy_rows)(JN_T *restrict wt, int64_t P,
                                             const int32_t *restrict ix, const JN_T *restrict vx,
                                             int32_t nnz, JN_T eta, const JN_T *restrict d,
                                             const int n) {
#ifdef JN_VECTOR_BYTES
    typedef JN_SFX(jn_vec) V;
    V dv[JN_WIDE * JN_NV];
    for (int q = 0; q < n / JN_VL; q++) dv[q] = ((const V *)d)[q];
    for (int32_t t = 0; t < nnz; t++) {
        V *row = (V *)(wt + (int64_t)ix[t] * P), r[JN_WIDE * JN_NV];
        const JN_T c = -eta * vx[t];
        for (int q = 0; q < n / JN_VL; q++) r[q] = row[q];
        for (int q = 0; q < n / JN_VL; q++) r[q] += c * dv[q];
        for (int q = 0; q < n / JN_VL; q++) row[q] = r[q];
    }
#else
    for (int32_t t = 0; t < nnz; t++) {
        const JN_T c = -eta * vx[t];
        JN_T *row = wt + (int64_t)ix[t] * P;
        for (int jj = 0; jj < n; jj++) row[jj] += c * d[jj];
    }
#endif
}

/* fast_dot and fast_axpy_rows over n lanes (a run of a layer's outputs,
 * from a multiple of JN_HALF): JN_WIDE blocks while they last, then blocks,
 * then a half block; returns the lanes taken. The bodies are out of line:
 * inlined into the callers' loops, GCC derived every row's address from the
 * outer loops' indices again (callgrind: 8 % more instructions an epoch). */
static inline int64_t JN_SFX(fast_lanes)(int64_t n) {
    return n >= JN_WIDE * JN_FAST_BLOCK ? JN_WIDE * JN_FAST_BLOCK
         : n >= JN_FAST_BLOCK           ? JN_FAST_BLOCK
                                        : JN_HALF;
}

#define JN_OUT_OF_LINE(name, lanes)                                                             \
    JN_NOINLINE void JN_SFX(fast_dot_##name)(JN_T *restrict z, const JN_T *restrict bias,      \
                                             const JN_T *restrict wt, int64_t P,               \
                                             const int32_t *restrict ix,                       \
                                             const JN_T *restrict vx, int32_t nnz) {           \
        JN_SFX(fast_dot)(z, bias, wt, P, ix, vx, nnz, lanes);                                  \
    }                                                                                          \
    JN_NOINLINE void JN_SFX(fast_rows_##name)(JN_T *restrict wt, int64_t P,                    \
                                              const int32_t *restrict ix,                      \
                                              const JN_T *restrict vx, int32_t nnz, JN_T eta,  \
                                              const JN_T *restrict d) {                        \
        JN_SFX(fast_axpy_rows)(wt, P, ix, vx, nnz, eta, d, lanes);                             \
    }
JN_OUT_OF_LINE(wide, JN_WIDE * JN_FAST_BLOCK)
JN_OUT_OF_LINE(block, JN_FAST_BLOCK)
JN_OUT_OF_LINE(half, JN_HALF)
#undef JN_OUT_OF_LINE

#define JN_OUT_OF_LINE(name, lanes)                                                             \
    JN_NOINLINE void JN_SFX(fast_dot2_##name)(JN_T *restrict za, JN_T *restrict zb,            \
                                              const JN_T *restrict bias,                       \
                                              const JN_T *restrict wt, int64_t P,              \
                                              const int32_t *restrict ixa,                     \
                                              const JN_T *restrict vxa, int32_t na,            \
                                              const int32_t *restrict ixb,                     \
                                              const JN_T *restrict vxb, int32_t nb) {          \
        JN_SFX(fast_dot2)(za, zb, bias, wt, P, ixa, vxa, na, ixb, vxb, nb, lanes);              \
    }
JN_OUT_OF_LINE(block, JN_FAST_BLOCK)
JN_OUT_OF_LINE(half, JN_HALF)
#undef JN_OUT_OF_LINE

/* z (n,) as fast_dot, n from fast_lanes. */
static inline void JN_SFX(fast_dot_n)(JN_T *z, const JN_T *bias, const JN_T *wt, int64_t P,
                                      const int32_t *ix, const JN_T *vx, int32_t nnz, int64_t n) {
    if (n == JN_WIDE * JN_FAST_BLOCK) JN_SFX(fast_dot_wide)(z, bias, wt, P, ix, vx, nnz);
    else if (n == JN_FAST_BLOCK) JN_SFX(fast_dot_block)(z, bias, wt, P, ix, vx, nnz);
    else JN_SFX(fast_dot_half)(z, bias, wt, P, ix, vx, nnz);
}

/* wt += as fast_axpy_rows, n from fast_lanes. */
static inline void JN_SFX(fast_axpy_n)(JN_T *wt, int64_t P, const int32_t *ix, const JN_T *vx,
                                       int32_t nnz, JN_T eta, const JN_T *d, int64_t n) {
    if (n == JN_WIDE * JN_FAST_BLOCK) JN_SFX(fast_rows_wide)(wt, P, ix, vx, nnz, eta, d);
    else if (n == JN_FAST_BLOCK) JN_SFX(fast_rows_block)(wt, P, ix, vx, nnz, eta, d);
    else JN_SFX(fast_rows_half)(wt, P, ix, vx, nnz, eta, d);
}

typedef struct {
    const jn_fast_layout *F;
    unsigned char *base;        /* the work buffer's 64-byte-aligned start */
    const int64_t *sizes;
    int64_t n_layers;
    const jn_config *cfg;
    int velocity;               /* velocities given: v = mu v - eta g, p += v */
    int sparse;                 /* layer 0's rows packed without their zeros (else every entry) */
    const int64_t *pstart;      /* inputs packed once (jn_fast_pack_*), else NULL: row k's */
    const int32_t *pidx;        /* list is pidx, pval [pstart[k], pstart[k + 1]) */
    const JN_T *pval;
} JN_SFX(fast_net);

#define JN_AT(net, field, type) ((type *)((net)->base + (net)->F->field))

/* w, b (and vw, vb) into the transposed, padded layout; pad lanes are 0. */
static void JN_SFX(fast_load)(const JN_SFX(fast_net) *net, JN_T *const *w, JN_T *const *b,
                              JN_T *const *vw, JN_T *const *vb) {
    for (int64_t l = 0; l < net->n_layers; l++) {
        const int64_t n_in = net->sizes[l], n_out = net->sizes[l + 1], P = padded(n_out);
        JN_T *wt = JN_AT(net, wt[l], JN_T), *vt = JN_AT(net, vt[l], JN_T);
        JN_T *bp = JN_AT(net, bp[l], JN_T), *vbp = JN_AT(net, vbp[l], JN_T);
        memset(wt, 0, (size_t)(n_in * P) * sizeof(JN_T));
        memset(bp, 0, (size_t)P * sizeof(JN_T));
        memset(vt, 0, (size_t)(n_in * P) * sizeof(JN_T));
        memset(vbp, 0, (size_t)P * sizeof(JN_T));
        if (l > 0) memset(JN_AT(net, wn[l], JN_T), 0, (size_t)(n_out * padded(n_in)) * sizeof(JN_T));
        for (int64_t j = 0; j < n_out; j++) {
            for (int64_t k = 0; k < n_in; k++) wt[k * P + j] = w[l][j * n_in + k];
            bp[j] = b[l][j];
            if (vw) {
                for (int64_t k = 0; k < n_in; k++) vt[k * P + j] = vw[l][j * n_in + k];
                vbp[j] = vb[l][j];
            }
        }
    }
}

/* Columns [k0, k1) of wn[l] (n_out, padded(n_in)) = w[l] from wt[l], for BP2's
 * row form (l >= 1); the pad lanes stay the 0 fast_load wrote. */
static void JN_SFX(fast_refresh_natural)(const JN_SFX(fast_net) *net, int64_t l, int64_t k0,
                                         int64_t k1) {
    const int64_t n_in = net->sizes[l], n_out = net->sizes[l + 1];
    const int64_t P = padded(n_out), Pin = padded(n_in);
    const JN_T *wt = JN_AT(net, wt[l], JN_T);
    JN_T *wn = JN_AT(net, wn[l], JN_T);
    for (int64_t j = 0; j < n_out; j++)
        for (int64_t k = k0; k < k1; k++) wn[j * Pin + k] = wt[k * P + j];
}

/* The inverse of fast_load, after a successful epoch. */
static void JN_SFX(fast_store)(const JN_SFX(fast_net) *net, JN_T *const *w, JN_T *const *b,
                               JN_T *const *vw, JN_T *const *vb) {
    for (int64_t l = 0; l < net->n_layers; l++) {
        const int64_t n_in = net->sizes[l], n_out = net->sizes[l + 1], P = padded(n_out);
        const JN_T *wt = JN_AT(net, wt[l], JN_T), *vt = JN_AT(net, vt[l], JN_T);
        const JN_T *bp = JN_AT(net, bp[l], JN_T), *vbp = JN_AT(net, vbp[l], JN_T);
        for (int64_t j = 0; j < n_out; j++) {
            for (int64_t k = 0; k < n_in; k++) w[l][j * n_in + k] = wt[k * P + j];
            b[l][j] = bp[j];
            if (vw) {
                for (int64_t k = 0; k < n_in; k++) vw[l][j * n_in + k] = vt[k * P + j];
                vb[l][j] = vbp[j];
            }
        }
    }
}

#ifdef JN_AVX512
/* The uint8 packing of fast_pack_input, 16 pixels at a time with AVX-512:
 * widen, test for non-zero, compress the indices and the values (p * scale,
 * the same float operations as the table) into registers and store them
 * whole (the row's slots beyond c are free: c <= k). Returns where it
 * stopped (a multiple of 16); *c is the count so far. */
static int64_t JN_SFX(fast_pack_avx512)(int32_t *restrict ix, JN_T *restrict vx, int32_t *c,
                                        const uint8_t *restrict src, int64_t n0, JN_T scale) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int64_t k = 0;
    int32_t cc = *c;
    for (; k + 16 <= n0; k += 16) {
        const __m512i pix = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(src + k)));
        const __mmask16 nz = _mm512_test_epi32_mask(pix, pix);
        if (!nz) continue;
        _mm512_storeu_si512(ix + cc, _mm512_maskz_compress_epi32(
            nz, _mm512_add_epi32(iota, _mm512_set1_epi32((int)k))));
#if JN_IS_DOUBLE
        const __m512d lo = _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(pix)),
                                         _mm512_set1_pd(scale));
        const __m512d hi = _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(pix, 1)),
                                         _mm512_set1_pd(scale));
        const int nlo = __builtin_popcount(nz & 0xff);
        _mm512_storeu_pd(vx + cc, _mm512_maskz_compress_pd((__mmask8)(nz & 0xff), lo));
        _mm512_storeu_pd(vx + cc + nlo, _mm512_maskz_compress_pd((__mmask8)(nz >> 8), hi));
#else
        _mm512_storeu_ps(vx + cc, _mm512_maskz_compress_ps(
            nz, _mm512_mul_ps(_mm512_cvtepi32_ps(pix), _mm512_set1_ps(scale))));
#endif
        cc += __builtin_popcount(nz);
    }
    *c = cc;
    return k;
}
#endif

#if defined(JN_AVX2) || defined(JN_WORD_CTZ)
/* Appends pixel k0 + q, as (index, scaled value), for each set bit q of mask
 * (ascending; the bits of src[k0 + q] != 0 for q < 32) to the row's lists at
 * *c. */
JN_INLINE void JN_SFX(fast_pack_bits)(int32_t *restrict ix, JN_T *restrict vx, int32_t *c,
                                      uint32_t mask, const uint8_t *restrict src, int64_t k0,
                                      const JN_T *restrict scaled) {
    int32_t cc = *c;
    for (; mask; mask &= mask - 1) {
        const int64_t k = k0 + __builtin_ctz(mask);
        ix[cc] = (int32_t)k;
        vx[cc++] = scaled[src[k]];
    }
    *c = cc;
}
#endif

#ifdef JN_AVX2
/* The uint8 packing of fast_pack_input, 32 pixels tested at once with AVX2;
 * only their non-zero ones are visited (float64), or each 8 with a non-zero
 * one is widened, scaled (p * scale, the same float operation as the table)
 * and its non-zero lanes moved to the front by one permutation and stored
 * whole (float32; the row's slots beyond c are free: c <= k). Returns where
 * it stopped (a multiple of 32); *c is the count so far. */
static int64_t JN_SFX(fast_pack_avx2)(int32_t *restrict ix, JN_T *restrict vx, int32_t *c,
                                      const uint8_t *restrict src, int64_t n0,
                                      const JN_T *restrict scaled) {
    const __m256i zero = _mm256_setzero_si256();
#if !JN_IS_DOUBLE
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i shifts = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21);
    const __m256 scale = _mm256_set1_ps(scaled[1]);
#endif
    int64_t k = 0;
    for (; k + 32 <= n0; k += 32) {
        const __m256i pix = _mm256_loadu_si256((const __m256i *)(src + k));
        const uint32_t nz = ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(pix, zero));
#if JN_IS_DOUBLE
        JN_SFX(fast_pack_bits)(ix, vx, c, nz, src, k, scaled);
#else
        for (int g = 0; g < 32 && (nz >> g); g += 8) {
            const uint32_t m = (nz >> g) & 0xff;
            if (!m) continue;
            const __m256i perm = _mm256_and_si256(
                _mm256_srlv_epi32(_mm256_set1_epi32((int)jn_compress8[m]), shifts),
                _mm256_set1_epi32(7));
            const __m256i p32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(src + k + g)));
            const __m256i at = _mm256_add_epi32(iota, _mm256_set1_epi32((int)(k + g)));
            _mm256_storeu_si256((__m256i *)(ix + *c), _mm256_permutevar8x32_epi32(at, perm));
            _mm256_storeu_ps(vx + *c, _mm256_permutevar8x32_ps(
                _mm256_mul_ps(_mm256_cvtepi32_ps(p32), scale), perm));
            *c += __builtin_popcount(m);
        }
#endif
    }
    return k;
}
#endif

#ifdef JN_WORD_CTZ
/* The portable uint8 packing: 8 pixels tested at once as a 64-bit word (the
 * top bit of each non-zero byte, without carries between bytes), the
 * non-zero ones visited. Returns where it stopped (a multiple of 8 after k). */
static int64_t JN_SFX(fast_pack_words)(int32_t *restrict ix, JN_T *restrict vx, int32_t *c,
                                       const uint8_t *restrict src, int64_t k, int64_t n0,
                                       const JN_T *restrict scaled) {
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7full;
    for (; k + 8 <= n0; k += 8) {
        uint64_t word;
        memcpy(&word, src + k, sizeof word);
        const uint64_t top = (((word & low7) + low7) | word) & ~low7;  /* 0x80 per non-zero byte */
        for (uint64_t m = top; m; m &= m - 1) {
            const int64_t q = k + (__builtin_ctzll(m) >> 3);
            ix[*c] = (int32_t)q;
            vx[(*c)++] = scaled[src[q]];
        }
    }
    return k;
}
#endif

/* Packs one input row of n0 entries as an (index, value) list of its entries,
 * ascending, without the zeros unless `all` (then every entry): from uint8
 * pixels p (src8) as scaled[p] (the table of (JN_T)p * x_scale, so exactly the
 * float path's values), or from floats (srcf). Returns the list's length; *bad
 * is set where a float is NaN or Inf. ix and vx have room for n0 entries (the
 * vector packers store whole vectors: slots past the count are scratch).
 * Branch-free: whether a pixel is 0 is unpredictable, and a mispredicted
 * branch per input cost more than the arithmetic it skips. NaN counts as
 * non-zero. */
static int32_t JN_SFX(fast_pack_row)(int32_t *restrict ix, JN_T *restrict vx,
                                     const uint8_t *restrict src8, const JN_T *restrict srcf,
                                     int64_t n0, const JN_T *restrict scaled, int32_t all,
                                     int *bad) {
    int32_t c = 0;
    if (src8) {
        const uint8_t *src = src8;
        int64_t k = 0;
#ifdef JN_AVX512
        if (!all) k = JN_SFX(fast_pack_avx512)(ix, vx, &c, src, n0, scaled[1]);
#elif defined(JN_AVX2)
        if (!all) k = JN_SFX(fast_pack_avx2)(ix, vx, &c, src, n0, scaled);
#endif
#ifdef JN_WORD_CTZ
        if (!all) k = JN_SFX(fast_pack_words)(ix, vx, &c, src, k, n0, scaled);
#endif
        for (; !all && k + 8 <= n0; k += 8) {  /* 8 zero pixels at once: MNIST's margins */
            uint64_t word;
            memcpy(&word, src + k, sizeof word);
            if (!word) continue;
            for (int64_t q = k; q < k + 8; q++) {
                ix[c] = (int32_t)q;
                vx[c] = scaled[src[q]];
                c += src[q] != 0;
            }
        }
        for (; k < n0; k++) {
            ix[c] = (int32_t)k;
            vx[c] = scaled[src[k]];
            c += all | (src[k] != 0);
        }
    } else {
        int b = 0;
        for (int64_t k = 0; k < n0; k++) {
            ix[c] = (int32_t)k;
            vx[c] = srcf[k];
            b |= !isfinite(srcf[k]);
            c += all | (srcf[k] != 0);
        }
        *bad |= b;
    }
    return c;
}

/* Packs the mini-batch's input rows r0 <= r < r1 (data rows `rows`) into their
 * slots of the work buffer (fast_pack_row, zeros left out when net->sparse).
 * Returns the first position r whose float row holds NaN or Inf, else -1 (every
 * row is packed either way). */
static int64_t JN_SFX(fast_pack_input)(const JN_SFX(fast_net) *net, const JN_T *x,
                                       const uint8_t *x_u8, const JN_T *scaled, int64_t r0,
                                       int64_t r1) {
    const int64_t n0 = net->sizes[0], *rows = JN_AT(net, rows, int64_t);
    int32_t *idx = JN_AT(net, idx[0], int32_t), *nnz = JN_AT(net, nnz[0], int32_t);
    JN_T *val = JN_AT(net, val[0], JN_T);
    int64_t first_bad = -1;
    for (int64_t r = r0; r < r1; r++) {
        int bad = 0;
        nnz[r] = JN_SFX(fast_pack_row)(idx + r * n0, val + r * n0,
                                       x_u8 ? x_u8 + rows[r] * n0 : NULL,
                                       x_u8 ? NULL : x + rows[r] * n0, n0, scaled, !net->sparse,
                                       &bad);
        if (bad && first_bad < 0) first_bad = r;
    }
    return first_bad;
}

/* Points the mini-batch's rows r0 <= r < r1 at their lists packed once
 * (net->pstart, pidx, pval): layer 0's row pointers and lengths. */
static void JN_SFX(fast_point_packed)(const JN_SFX(fast_net) *net, int64_t r0, int64_t r1) {
    const int64_t *rows = JN_AT(net, rows, int64_t);
    const int32_t **rix = JN_AT(net, rix[0], const int32_t *);
    const JN_T **rvx = JN_AT(net, rvx[0], const JN_T *);
    int32_t *nnz = JN_AT(net, nnz[0], int32_t);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t s = net->pstart[rows[r]];
        rix[r] = net->pidx + s;
        rvx[r] = net->pval + s;
        nnz[r] = (int32_t)(net->pstart[rows[r] + 1] - s);
    }
}

/* Every layer's row pointers at its rows' slots in the work buffer (layer 0's
 * are moved to the packed lists each step where they were packed once). */
static void JN_SFX(fast_point_slots)(const JN_SFX(fast_net) *net, int64_t batch) {
    for (int64_t l = 0; l < net->n_layers; l++) {
        const int64_t n_in = net->sizes[l];
        const int32_t **rix = JN_AT(net, rix[l], const int32_t *);
        const JN_T **rvx = JN_AT(net, rvx[l], const JN_T *);
        for (int64_t r = 0; r < batch; r++) {
            rix[r] = JN_AT(net, idx[l], int32_t) + r * n_in;
            rvx[r] = JN_AT(net, val[l], JN_T) + r * n_in;
        }
    }
}

/* Packs layer l's input rows r0 <= r < r1 of a[l] (m, padded(n_in)) for l >= 1,
 * without their zeros (a skipped zero adds exactly 0). */
static void JN_SFX(fast_pack_hidden)(const JN_SFX(fast_net) *net, int64_t l, int64_t r0,
                                     int64_t r1) {
    const int64_t n_in = net->sizes[l], Pin = padded(n_in);
    const JN_T *a = JN_AT(net, act[l], JN_T);
    int32_t *idx = JN_AT(net, idx[l], int32_t), *nnz = JN_AT(net, nnz[l], int32_t);
    JN_T *val = JN_AT(net, val[l], JN_T);
    for (int64_t r = r0; r < r1; r++) {
        int32_t *ix = idx + r * n_in, c = 0;
        JN_T *vx = val + r * n_in;
        for (int64_t k = 0; k < n_in; k++) {
            ix[c] = (int32_t)k;
            vx[c] = a[r * Pin + k];
            c += a[r * Pin + k] != 0;
        }
        nnz[r] = c;
    }
}

/* Forward through layer l for rows r0 <= r < r1 and outputs [c0, c1) (a
 * run from a multiple of JN_HALF): z = b + sum over the packed inputs of
 * value * wt row, a few blocks of outputs at a time held in registers, each
 * over every row (its weights stay in cache); then a = f(z) on those of the
 * n_out lanes (on all of them where [c0, c1) is every output: softmax). */
static void JN_SFX(fast_forward)(const JN_SFX(fast_net) *net, int64_t l, int64_t r0,
                                 int64_t r1, int64_t c0, int64_t c1) {
    const int64_t n_out = net->sizes[l + 1], P = padded(n_out);
    const JN_T *wt = JN_AT(net, wt[l], JN_T), *bp = JN_AT(net, bp[l], JN_T);
    const int32_t *const *ix = JN_AT(net, rix[l], const int32_t *const);
    const JN_T *const *vx = JN_AT(net, rvx[l], const JN_T *const);
    const int32_t *nnz = JN_AT(net, nnz[l], int32_t);
    JN_T *z = JN_AT(net, act[l + 1], JN_T);
    for (int64_t j0 = c0, n; j0 < c1; j0 += n) {
        n = JN_SFX(fast_lanes)(c1 - j0);
        int64_t r = r0;
        if (n < JN_WIDE * JN_FAST_BLOCK)  /* two rows at a time (fast_dot2) */
            for (; r + 1 < r1; r += 2) {
                const int64_t s = r + 1;
                if (n == JN_FAST_BLOCK)
                    JN_SFX(fast_dot2_block)(z + r * P + j0, z + s * P + j0, bp + j0, wt + j0, P,
                                            ix[r], vx[r], nnz[r], ix[s], vx[s], nnz[s]);
                else
                    JN_SFX(fast_dot2_half)(z + r * P + j0, z + s * P + j0, bp + j0, wt + j0, P,
                                           ix[r], vx[r], nnz[r], ix[s], vx[s], nnz[s]);
            }
        for (; r < r1; r++)
            JN_SFX(fast_dot_n)(z + r * P + j0, bp + j0, wt + j0, P, ix[r], vx[r], nnz[r], n);
    }
    const int act = l < net->n_layers - 1 ? net->cfg->activation : jn__output_activation(net->cfg);
    const int64_t e1 = c1 < n_out ? c1 : n_out;
    for (int64_t r = r0; r < r1 && c0 < e1; r++) {
#if !JN_IS_DOUBLE
        if (act == JN_ACT_SIGMOID) {
            jn__fast_sigmoid_f32(z + r * P + c0, e1 - c0);
            continue;
        }
#endif
        JN_SFX(activate)(z + r * P + c0, e1 - c0, act);
    }
}

/* BP1 into d[L-1] and BP2 down to d[0] for rows r0 <= r < r1 of a mini-batch of
 * m, as the reference (the same sums in the same order); pad lanes are 0. y
 * rows are read through `rows`. */
static void JN_SFX(fast_deltas)(const JN_SFX(fast_net) *net, const JN_T *y, int64_t m,
                                int64_t r0, int64_t r1) {
    const int64_t L = net->n_layers, nL = net->sizes[L], PL = padded(nL);
    const int64_t *rows = JN_AT(net, rows, int64_t);
    const JN_T *aL = JN_AT(net, act[L], JN_T);
    JN_T *dL = JN_AT(net, d[L - 1], JN_T);
    const int cost = net->cfg->cost;
    memset(dL + r0 * PL, 0, (size_t)((r1 - r0) * PL) * sizeof(JN_T));
    for (int64_t r = r0; r < r1; r++) {                                     /* BP1 */
        const JN_T *yr = y + rows[r] * nL, *a = aL + r * PL;
        JN_T sy = 0;
        for (int64_t j = 0; j < nL; j++) sy += yr[j];
        for (int64_t j = 0; j < nL; j++)  /* quadratic: (a - y) f'(z) with the sigmoid's f' */
            dL[r * PL + j] = cost == JN_COST_QUADRATIC
                                 ? (a[j] - yr[j]) / (JN_T)m * (a[j] * (1 - a[j]))
                           : cost == JN_COST_CROSS_ENTROPY ? (a[j] - yr[j]) / (JN_T)m
                           : (a[j] * sy - yr[j]) / (JN_T)m;
    }
    for (int64_t l = L - 1; l > 0; l--) {                                   /* BP2 */
        const int64_t n_in = net->sizes[l], Pin = padded(n_in), n_out = net->sizes[l + 1];
        const int64_t P = padded(n_out);
        const JN_T *wn = JN_AT(net, wn[l], JN_T), *d = JN_AT(net, d[l], JN_T);
        const JN_T *a = JN_AT(net, act[l], JN_T);
        JN_T *dp = JN_AT(net, d[l - 1], JN_T);
        memset(dp + r0 * Pin, 0, (size_t)((r1 - r0) * Pin) * sizeof(JN_T));
        for (int64_t r = r0; r < r1; r++) {
            JN_T *dr = dp + r * Pin;  /* += d_j w[j, :] for j ascending: the reference's sums */
            for (int64_t j = 0; j < n_out; j++)
                for (int64_t k0 = 0; k0 < Pin; k0 += JN_FAST_BLOCK)
                    JN_SFX(fast_axpy_block)(dr + k0, d[r * P + j], wn + j * Pin + k0);
            for (int64_t k = 0; k < n_in; k++)
                dr[k] *= JN_SFX(activation_prime)(a[r * Pin + k], net->cfg->activation);
        }
    }
}

/* The update of layer l (BP3, BP4 and the step fused) by one thread, which
 * owns the weights of inputs [k0, k1) and outputs [c0, c1) (a run from a
 * multiple of JN_HALF) and the biases [b0, b1): the penalty and the momentum
 * decay over its weights, then for each row r ascending and each packed input
 * k of its range, wt[k] (or vt[k]) += (-eta a_k) d_r, a few blocks of outputs
 * at a time; its biases from the sum of d over rows. `search`: [k0, k1) is
 * not every input, so each row's stretch of its sorted list is found by
 * binary search. Every element sees the same operations in the same order
 * however the weights are shared out. */
static void JN_SFX(fast_update)(const JN_SFX(fast_net) *net, int64_t l, int64_t m, JN_T eta,
                                int64_t k0, int64_t k1, int64_t c0, int64_t c1, int64_t b0,
                                int64_t b1) {
    const int64_t n_in = net->sizes[l], P = padded(net->sizes[l + 1]);
    const int search = k0 > 0 || k1 < n_in;
    JN_T *wt = JN_AT(net, wt[l], JN_T), *vt = JN_AT(net, vt[l], JN_T);
    JN_T *bp = JN_AT(net, bp[l], JN_T), *vbp = JN_AT(net, vbp[l], JN_T);
    const JN_T *d = JN_AT(net, d[l], JN_T);
    const int32_t *const *rix = JN_AT(net, rix[l], const int32_t *const);
    const JN_T *const *rvx = JN_AT(net, rvx[l], const JN_T *const);
    const int32_t *nnz = JN_AT(net, nnz[l], int32_t);
    const int momentum = net->velocity;
    const JN_T mu = (JN_T)net->cfg->momentum;
    const JN_T scale = (JN_T)(net->cfg->lmbda > 0 ? net->cfg->lmbda / net->cfg->n_train : 0);
    const int reg = net->cfg->reg;
    JN_T *acc_base = momentum ? vt : wt;  /* where -eta a d^T goes */
    if (momentum || scale != 0)
        for (int64_t k = k0; k < k1; k++)
            for (int64_t e = k * P + c0; e < k * P + c1; e++) {
                const JN_T pen = scale != 0 ? JN_SFX(penalty)(wt[e], scale, reg) : 0;
                if (momentum) vt[e] = mu * vt[e] - eta * pen;
                else wt[e] -= eta * pen;
            }
    for (int64_t j0 = c0, n; j0 < c1; j0 += n) {
        n = JN_SFX(fast_lanes)(c1 - j0);
        for (int64_t r = 0; r < m; r++) {
            const int32_t *ix = rix[r];
            const int32_t lo = search ? fast_lower_bound(ix, nnz[r], k0) : 0;
            const int32_t hi = search ? fast_lower_bound(ix, nnz[r], k1) : nnz[r];
            JN_SFX(fast_axpy_n)(acc_base + j0, P, ix + lo, rvx[r] + lo, hi - lo, eta,
                                d + r * P + j0, n);
        }
    }
    if (momentum)
        for (int64_t k = k0; k < k1; k++)
            for (int64_t e = k * P + c0; e < k * P + c1; e++) wt[e] += vt[e];
    for (int64_t j0 = b0; j0 < b1; j0 += JN_HALF) {  /* b0, b1: multiples of JN_HALF */
        JN_T s[JN_HALF] = {0};                          /* each lane's sum over r ascending */
        for (int64_t r = 0; r < m; r++)
            for (int jj = 0; jj < JN_HALF; jj++) s[jj] += d[r * P + j0 + jj];
        for (int jj = 0; jj < JN_HALF; jj++) {
            const int64_t j = j0 + jj;
            if (momentum) bp[j] += (vbp[j] = mu * vbp[j] - eta * s[jj]);
            else bp[j] -= eta * s[jj];
        }
    }
    if (l > 0) JN_SFX(fast_refresh_natural)(net, l, k0, k1);
}

/* Asks for rows [s0, s1) of the mini-batch starting at `start` (the rows are
 * scattered over the data set: order is a shuffle), so they are in cache when
 * packed. */
static void JN_SFX(fast_prefetch)(const JN_SFX(fast_net) *net, const unsigned char *xb,
                                  size_t row_bytes, const JN_T *y, int64_t n_y,
                                  const int64_t *order, int64_t s0, int64_t s1) {
    for (int64_t r = s0; r < s1; r++) {
        if (net->pstart) {  /* the row's packed lists */
            const int64_t a = net->pstart[order[r]], e = net->pstart[order[r] + 1];
            for (int64_t t = a; t < e; t += 64 / (int64_t)sizeof(JN_T)) JN_PREFETCH(net->pval + t);
            for (int64_t t = a; t < e; t += 16) JN_PREFETCH(net->pidx + t);
        } else {
            for (size_t off = 0; off < row_bytes; off += 64)
                JN_PREFETCH(xb + (size_t)order[r] * row_bytes + off);
        }
        JN_PREFETCH(y + order[r] * n_y);
    }
}

/* The mini-batches of an epoch on one team of threads (one thread without
 * OpenMP): thread tid packs, runs forward and computes the deltas of its rows
 * [r0, r1) of each mini-batch, then (after a barrier) updates the weights of
 * its inputs; layer 0 is shared out by outputs instead where split0 says. Returns the mini-batch position of the first bad float row (the
 * epoch stops there, before its update), else -1. */
static int64_t JN_SFX(fast_epoch)(const JN_SFX(fast_net) *net, const JN_T *x,
                                  const uint8_t *x_u8, const JN_T *scaled, const JN_T *y,
                                  const int64_t *order, JN_T eta, int64_t n, int64_t batch,
                                  int jn_threads) {
    const int64_t L = net->n_layers, n_y = net->sizes[L];
    int64_t *rows = JN_AT(net, rows, int64_t), bad_at = -1;
    fast_barrier bar;
    fast_barrier_init(&bar);
    const size_t row_bytes = (size_t)net->sizes[0] * (x_u8 ? 1 : sizeof(JN_T));
    const unsigned char *xb = x_u8 ? (const unsigned char *)x_u8 : (const unsigned char *)x;
    JN_PARALLEL_REGION
    {
        const int64_t tid = JN_THREAD_ID, team = JN_TEAM_SIZE;
        /* With more than one thread and a layer after it (so its activation is
         * elementwise), layer 0's outputs are shared out in half blocks, each
         * thread's forward and update over every row: its weights stay in its
         * core's cache (split by rows, half of the wt rows a thread read had
         * been written by the other in the step before). */
        const int split0 = team > 1 && L > 1;
        const int64_t P0 = padded(net->sizes[1]), halves = P0 / JN_HALF;
        const int64_t c0 = split0 ? halves * tid / team * JN_HALF : 0;
        const int64_t c1 = split0 ? halves * (tid + 1) / team * JN_HALF : P0;
        for (int64_t start = 0; start < n; start += batch) {
            const int64_t m = n - start < batch ? n - start : batch;
            const int64_t r0 = m * tid / team, r1 = m * (tid + 1) / team;
            for (int64_t r = r0; r < r1; r++) rows[r] = order ? order[start + r] : start + r;
            if (order) {
                const int64_t next = n - start - m < batch ? n - start - m : batch;
                JN_SFX(fast_prefetch)(net, xb, row_bytes, y, n_y, order,
                                      start + m + next * tid / team,
                                      start + m + next * (tid + 1) / team);
            }
            int64_t bad = -1;
            if (net->pstart) JN_SFX(fast_point_packed)(net, r0, r1);
            else bad = JN_SFX(fast_pack_input)(net, x, x_u8, scaled, r0, r1);
            if (bad >= 0) {
                JN_CRITICAL
                if (bad_at < 0 || bad < bad_at) bad_at = bad;
            }
            if (split0) {
                fast_barrier_wait(&bar, team);  /* every row packed */
                if (bad_at >= 0) break;         /* every thread reads the same bad_at here */
                JN_SFX(fast_forward)(net, 0, 0, m, c0, c1);
                fast_barrier_wait(&bar, team);  /* a[1] whole */
            } else {
                JN_SFX(fast_forward)(net, 0, r0, r1, 0, P0);
            }
            for (int64_t l = 1; l < L; l++) {
                JN_SFX(fast_pack_hidden)(net, l, r0, r1);
                JN_SFX(fast_forward)(net, l, r0, r1, 0, padded(net->sizes[l + 1]));
            }
            JN_SFX(fast_deltas)(net, y, m, r0, r1);
            fast_barrier_wait(&bar, team);
            if (bad_at >= 0) break;  /* every thread reads the same bad_at here */
            for (int64_t l = 0; l < L; l++) {
                const int64_t n_in = net->sizes[l], P = padded(net->sizes[l + 1]);
                const int64_t blocks = P / JN_FAST_BLOCK;
                if (l == 0 && split0)
                    JN_SFX(fast_update)(net, 0, m, eta, 0, n_in, c0, c1, c0, c1);
                else
                    JN_SFX(fast_update)(net, l, m, eta, n_in * tid / team, n_in * (tid + 1) / team,
                                        0, P, blocks * tid / team * JN_FAST_BLOCK,
                                        blocks * (tid + 1) / team * JN_FAST_BLOCK);
            }
            fast_barrier_wait(&bar, team);
        }
    }
    return bad_at;
}

/* The checks and the epoch behind jn_fast_train_epoch_* and
 * jn_fast_train_epoch_packed_* (pstart NULL: pack each mini-batch's rows). */
static int JN_SFX(fast_train)(JN_T *const *w, JN_T *const *b, JN_T *const *vw, JN_T *const *vb,
                              const JN_T *x, const uint8_t *x_u8, JN_T x_scale,
                              const int64_t *pstart, const int32_t *pidx, const JN_T *pval,
                              const JN_T *y, const int64_t *order, JN_T eta,
                              const jn_config *cfg, const int64_t *sizes, int64_t n_layers,
                              int64_t n, int64_t batch_size, int64_t threads, int64_t sparse,
                              int64_t *bad_row, void *work, size_t work_bytes) {
    jn_fast_layout F;
    const jn_config *c;
    if (w == NULL || b == NULL || y == NULL || work == NULL || sizes == NULL
        || (pstart == NULL && (x == NULL) == (x_u8 == NULL))
        || (pstart != NULL && (pidx == NULL || pval == NULL)))
        return JN_ERR_NULL;
    if (threads < 1 || threads > JN_MAX_THREADS) return JN_ERR_THREADS;
    if (sparse != 0 && sparse != 1) return JN_ERR_CONFIG;
    if (n < 1) return JN_ERR_SIZE;
    if (batch_size < 1 || batch_size > n || (order == NULL && batch_size != n)) return JN_ERR_BATCH;
    int err = jn__check_config(&c, cfg);
    if (!err) err = fast_layout(&F, sizes, n_layers, batch_size, sizeof(JN_T));
    if (!err && order) err = jn__check_epoch(order, sizes, n_layers, n, batch_size);
    if (!err && pstart) err = fast_check_start(pstart, n, sizes[0]);
    if (err) return err;
    if (work_bytes < F.total) return JN_ERR_WORK;
    if ((vw == NULL) != (vb == NULL)) return JN_ERR_NULL;
    for (int64_t l = 0; l < n_layers; l++)
        if (w[l] == NULL || b[l] == NULL || (vw && (vw[l] == NULL || vb[l] == NULL)))
            return JN_ERR_NULL;
    if (!isfinite(eta) || (x_u8 && !isfinite(x_scale))) return JN_ERR_ETA;

    unsigned char *base = (unsigned char *)work;
    base += (JN_ALIGN - (uintptr_t)base % JN_ALIGN) % JN_ALIGN;
    const JN_SFX(fast_net) net = {&F, base, sizes, n_layers, c, vw != NULL, (int)sparse,
                                  pstart, pidx, pval};
    JN_SFX(fast_load)(&net, w, b, vw, vb);
    for (int64_t l = 1; l < n_layers; l++) JN_SFX(fast_refresh_natural)(&net, l, 0, sizes[l]);
    JN_SFX(fast_point_slots)(&net, batch_size);
    JN_T scaled[256];
    for (int p = 0; p < 256; p++) scaled[p] = (JN_T)p * x_scale;
    /* a thread per row at most: a thread without rows would only wait */
    const int jn_threads = (int)(threads < batch_size ? threads : batch_size);
    const int64_t bad = JN_SFX(fast_epoch)(&net, x, x_u8, scaled, y, order, eta, n, batch_size,
                                           jn_threads);
    if (bad >= 0) {  /* the parameters in w, b are untouched: the epoch works on copies */
        if (bad_row) *bad_row = JN_AT(&net, rows, int64_t)[bad];
        return JN_ERR_INPUT;
    }
    JN_SFX(fast_store)(&net, w, b, vw, vb);
    return JN_OK;
}

int JN_SFX(jn_fast_train_epoch)(JN_T *const *w, JN_T *const *b, JN_T *const *vw,
                                JN_T *const *vb, const JN_T *x, const uint8_t *x_u8,
                                JN_T x_scale, const JN_T *y, const int64_t *order, JN_T eta,
                                const jn_config *cfg, const int64_t *sizes, int64_t n_layers,
                                int64_t n, int64_t batch_size, int64_t threads, int64_t sparse,
                                int64_t *bad_row, void *work, size_t work_bytes) {
    return JN_SFX(fast_train)(w, b, vw, vb, x, x_u8, x_scale, NULL, NULL, NULL, y, order, eta,
                              cfg, sizes, n_layers, n, batch_size, threads, sparse, bad_row,
                              work, work_bytes);
}

int JN_SFX(jn_fast_train_epoch_packed)(JN_T *const *w, JN_T *const *b, JN_T *const *vw,
                                       JN_T *const *vb, const int64_t *start,
                                       const int32_t *idx, const JN_T *val, const JN_T *y,
                                       const int64_t *order, JN_T eta, const jn_config *cfg,
                                       const int64_t *sizes, int64_t n_layers, int64_t n,
                                       int64_t batch_size, int64_t threads, void *work,
                                       size_t work_bytes) {
    if (start == NULL) return JN_ERR_NULL;
    return JN_SFX(fast_train)(w, b, vw, vb, NULL, NULL, 1, start, idx, val, y, order, eta, cfg,
                              sizes, n_layers, n, batch_size, threads, 1, NULL, work, work_bytes);
}

int JN_SFX(jn_fast_pack)(int32_t *idx, JN_T *val, const int64_t *start, const JN_T *x,
                         const uint8_t *x_u8, JN_T x_scale, int64_t n, int64_t n0,
                         int64_t sparse, int64_t *bad_row) {
    if (idx == NULL || val == NULL || start == NULL || (x == NULL) == (x_u8 == NULL))
        return JN_ERR_NULL;
    if (sparse != 0 && sparse != 1) return JN_ERR_CONFIG;
    if (n < 1 || n0 < 1 || n0 > INT32_MAX) return JN_ERR_SIZE;
    size_t cells;
    if (jn__mul(&cells, (size_t)n, (size_t)n0)) return JN_ERR_OVERFLOW;
    int err = fast_check_start(start, n, n0);
    if (err) return err;
    if (x_u8 && !isfinite(x_scale)) return JN_ERR_ETA;
    JN_T scaled[256];
    for (int p = 0; p < 256; p++) scaled[p] = (JN_T)p * x_scale;
    for (int64_t r = 0; r < n; r++) {  /* a row may write up to n0 slots from its start */
        int bad = 0;
        const int32_t c = JN_SFX(fast_pack_row)(idx + start[r], val + start[r],
                                                x_u8 ? x_u8 + r * n0 : NULL,
                                                x_u8 ? NULL : x + r * n0, n0, scaled,
                                                !(int32_t)sparse, &bad);
        if (bad) {
            if (bad_row) *bad_row = r;
            return JN_ERR_INPUT;
        }
        if (c != start[r + 1] - start[r]) return JN_ERR_SIZE;
    }
    return JN_OK;
}

#undef JN_AT
#undef JN_NV
