/* jaxnet_dense_chain_fast: the fast epoch of a Dense chain (see
 * jaxnet_dense_chain_fast.h). The float64 and float32 kernels are one
 * template, jaxnet_dense_chain_fast_impl.h, included twice. Portable C11:
 * the speed comes from fixed-width inner loops over JN_FAST_BLOCK outputs that
 * the compiler vectorises and keeps in registers, not from intrinsics; OpenMP
 * pragmas are ignored by a compiler built without it. */
#define _POSIX_C_SOURCE 200809L /* sched_yield */
#include "jaxnet_dense_chain_fast.h"
#include "jn_common.h"
#include "jn_simd.h"

#include <math.h>
#include <string.h>

int jn_fast_parallel(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Blocks per wide work item: wide layers are processed JN_WIDE blocks (128
 * outputs) at a time, whose accumulators still fit in registers and whose
 * independent adds hide each other's latency. */
#define JN_WIDE 4

/* The smallest run of outputs a thread owns when a layer's outputs are shared
 * out (a 64-byte cache line of float32, 2 of float64): half a block. */
#define JN_HALF (JN_FAST_BLOCK / 2)

/* uint8 rows are packed 16 pixels at a time with AVX-512 where the compiler
 * targets it (-march=native on such a machine); else 32 pixels are tested at
 * once with AVX2 (JN_AVX2) and 8 with a 64-bit word (JN_WORD_CTZ, GCC/Clang
 * on a little-endian machine), their non-zero pixels found by counting
 * trailing zeros of the mask; else byte by byte. */
#if defined(__AVX512F__) && !defined(JAXNET_PLAIN)
#include <immintrin.h>
#define JN_AVX512 1
#elif defined(__AVX2__) && !defined(JAXNET_PLAIN)
#include <immintrin.h>
#define JN_AVX2 1
#endif
#ifdef JN_AVX2
/* Entry m (an 8-bit mask): the positions of m's set bits, ascending, 3 bits
 * each from bit 0 (m = 0b1010: 1 | 3 << 3): the permutation that moves 8
 * lanes' selected values to the front (float32 packing with AVX2). Made by
 * for m in 0..255: sum of b << 3 i over the i-th set bit b of m. */
static const uint32_t jn_compress8[256] = {
    0x000000, 0x000000, 0x000001, 0x000008, 0x000002, 0x000010, 0x000011, 0x000088,
    0x000003, 0x000018, 0x000019, 0x0000c8, 0x00001a, 0x0000d0, 0x0000d1, 0x000688,
    0x000004, 0x000020, 0x000021, 0x000108, 0x000022, 0x000110, 0x000111, 0x000888,
    0x000023, 0x000118, 0x000119, 0x0008c8, 0x00011a, 0x0008d0, 0x0008d1, 0x004688,
    0x000005, 0x000028, 0x000029, 0x000148, 0x00002a, 0x000150, 0x000151, 0x000a88,
    0x00002b, 0x000158, 0x000159, 0x000ac8, 0x00015a, 0x000ad0, 0x000ad1, 0x005688,
    0x00002c, 0x000160, 0x000161, 0x000b08, 0x000162, 0x000b10, 0x000b11, 0x005888,
    0x000163, 0x000b18, 0x000b19, 0x0058c8, 0x000b1a, 0x0058d0, 0x0058d1, 0x02c688,
    0x000006, 0x000030, 0x000031, 0x000188, 0x000032, 0x000190, 0x000191, 0x000c88,
    0x000033, 0x000198, 0x000199, 0x000cc8, 0x00019a, 0x000cd0, 0x000cd1, 0x006688,
    0x000034, 0x0001a0, 0x0001a1, 0x000d08, 0x0001a2, 0x000d10, 0x000d11, 0x006888,
    0x0001a3, 0x000d18, 0x000d19, 0x0068c8, 0x000d1a, 0x0068d0, 0x0068d1, 0x034688,
    0x000035, 0x0001a8, 0x0001a9, 0x000d48, 0x0001aa, 0x000d50, 0x000d51, 0x006a88,
    0x0001ab, 0x000d58, 0x000d59, 0x006ac8, 0x000d5a, 0x006ad0, 0x006ad1, 0x035688,
    0x0001ac, 0x000d60, 0x000d61, 0x006b08, 0x000d62, 0x006b10, 0x006b11, 0x035888,
    0x000d63, 0x006b18, 0x006b19, 0x0358c8, 0x006b1a, 0x0358d0, 0x0358d1, 0x1ac688,
    0x000007, 0x000038, 0x000039, 0x0001c8, 0x00003a, 0x0001d0, 0x0001d1, 0x000e88,
    0x00003b, 0x0001d8, 0x0001d9, 0x000ec8, 0x0001da, 0x000ed0, 0x000ed1, 0x007688,
    0x00003c, 0x0001e0, 0x0001e1, 0x000f08, 0x0001e2, 0x000f10, 0x000f11, 0x007888,
    0x0001e3, 0x000f18, 0x000f19, 0x0078c8, 0x000f1a, 0x0078d0, 0x0078d1, 0x03c688,
    0x00003d, 0x0001e8, 0x0001e9, 0x000f48, 0x0001ea, 0x000f50, 0x000f51, 0x007a88,
    0x0001eb, 0x000f58, 0x000f59, 0x007ac8, 0x000f5a, 0x007ad0, 0x007ad1, 0x03d688,
    0x0001ec, 0x000f60, 0x000f61, 0x007b08, 0x000f62, 0x007b10, 0x007b11, 0x03d888,
    0x000f63, 0x007b18, 0x007b19, 0x03d8c8, 0x007b1a, 0x03d8d0, 0x03d8d1, 0x1ec688,
    0x00003e, 0x0001f0, 0x0001f1, 0x000f88, 0x0001f2, 0x000f90, 0x000f91, 0x007c88,
    0x0001f3, 0x000f98, 0x000f99, 0x007cc8, 0x000f9a, 0x007cd0, 0x007cd1, 0x03e688,
    0x0001f4, 0x000fa0, 0x000fa1, 0x007d08, 0x000fa2, 0x007d10, 0x007d11, 0x03e888,
    0x000fa3, 0x007d18, 0x007d19, 0x03e8c8, 0x007d1a, 0x03e8d0, 0x03e8d1, 0x1f4688,
    0x0001f5, 0x000fa8, 0x000fa9, 0x007d48, 0x000faa, 0x007d50, 0x007d51, 0x03ea88,
    0x000fab, 0x007d58, 0x007d59, 0x03eac8, 0x007d5a, 0x03ead0, 0x03ead1, 0x1f5688,
    0x000fac, 0x007d60, 0x007d61, 0x03eb08, 0x007d62, 0x03eb10, 0x03eb11, 0x1f5888,
    0x007d63, 0x03eb18, 0x03eb19, 0x1f58c8, 0x03eb1a, 0x1f58d0, 0x1f58d1, 0xfac688
};
#endif
#if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JN_WORD_CTZ 1
#endif

/* z (n,) <- 1 / (1 + e^-z) in float32 (the fast path's sigmoid). With AVX2 and
 * FMA, 8 lanes at a time, the last few through a masked load and store, so
 * every lane sees the same operations wherever it sits: e^-z as Cephes's expf
 * (x = k ln 2 + r with |r| <= ln 2 / 2 and k an integer, e^r by its degree-5
 * polynomial, 2^k put into the exponent bits), then the scalar sigmoid's
 * division. It is within JN_SIGMOID_ULPS of the scalar 1 / (1 + expf(-z)),
 * which test_jaxnet_dense_chain_fast.c checks over a sweep of floats. Where
 * e^-z would pass 2^127.5 (z < -88.3762, where the scalar gives 0 or a
 * subnormal below 4.2e-39) it gives 0, and where it would fall below 2^-126
 * (z > 87) the exponent is held there (1 + e^-z rounds to 1 all the same);
 * NaN stays NaN. Without AVX2 and FMA, the scalar sigmoid itself (0 there too). */
void jn__fast_sigmoid_f32(float *z, int64_t n) {
#if defined(__AVX2__) && defined(__FMA__) && !defined(JAXNET_PLAIN)
    const __m256 lo = _mm256_set1_ps(-87.0f), hi = _mm256_set1_ps(88.3762f);
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f), one = _mm256_set1_ps(1.0f);
    const __m256 ln2_hi = _mm256_set1_ps(0.693359375f), ln2_lo = _mm256_set1_ps(-2.12194440e-4f);
    const __m256 p0 = _mm256_set1_ps(1.9875691500e-4f), p1 = _mm256_set1_ps(1.3981999507e-3f);
    const __m256 p2 = _mm256_set1_ps(8.3334519073e-3f), p3 = _mm256_set1_ps(4.1665795894e-2f);
    const __m256 p4 = _mm256_set1_ps(1.6666665459e-1f), p5 = _mm256_set1_ps(5.0000001201e-1f);
    for (int64_t j = 0; j < n; j += 8) {
        const int left = n - j < 8 ? (int)(n - j) : 8;
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left),
                                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256 x0 = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_maskload_ps(z + j, mask));
        /* maxps and minps return their second operand where either is NaN */
        const __m256 x = _mm256_min_ps(hi, _mm256_max_ps(lo, x0));
        const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, log2e),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m256 r = _mm256_fnmadd_ps(k, ln2_lo, _mm256_fnmadd_ps(k, ln2_hi, x));
        __m256 y = _mm256_fmadd_ps(p0, r, p1);
        y = _mm256_fmadd_ps(y, r, p2);
        y = _mm256_fmadd_ps(y, r, p3);
        y = _mm256_fmadd_ps(y, r, p4);
        y = _mm256_fmadd_ps(y, r, p5);
        y = _mm256_add_ps(_mm256_fmadd_ps(y, _mm256_mul_ps(r, r), r), one);
        const __m256i two_k = _mm256_slli_epi32(
            _mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
        const __m256 e = _mm256_mul_ps(y, _mm256_castsi256_ps(two_k));
        const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, e));
        _mm256_maskstore_ps(z + j, mask,
                            _mm256_andnot_ps(_mm256_cmp_ps(x0, hi, _CMP_GT_OQ), s));
    }
#else
    for (int64_t j = 0; j < n; j++) z[j] = -z[j] > 88.3762f ? 0.0f : 1.0f / (1.0f + expf(-z[j]));
#endif
}

/* Byte offsets of everything in the work buffer (from its 64-byte-aligned start). */
typedef struct {
    size_t wt[JN_MAX_LAYERS], vt[JN_MAX_LAYERS];    /* (n_in, P) transposed, padded weights */
    size_t bp[JN_MAX_LAYERS], vbp[JN_MAX_LAYERS];   /* (P,) padded biases, their velocities */
    size_t wn[JN_MAX_LAYERS];                       /* l >= 1: w[l] (n_out, padded(n_in)), for BP2 */
    size_t act[JN_MAX_LAYERS + 1];                  /* a[l] (m, P_l), l >= 1 */
    size_t d[JN_MAX_LAYERS];                        /* deltas (m, P) of layer l's outputs */
    size_t idx[JN_MAX_LAYERS], val[JN_MAX_LAYERS];  /* packed non-zero inputs (m, n_in) */
    size_t nnz[JN_MAX_LAYERS];                      /* (m,) entries per packed row */
    size_t rix[JN_MAX_LAYERS], rvx[JN_MAX_LAYERS];  /* (m,) each row's list (its slot, or */
                                                    /* for layer 0 its lists packed once) */
    size_t rows;                                    /* (m,) the data rows of the mini-batch */
    size_t total;
} jn_fast_layout;

/* n rounded up to a whole number of blocks. */
static int64_t padded(int64_t n) {
    return (n + JN_FAST_BLOCK - 1) / JN_FAST_BLOCK * JN_FAST_BLOCK;
}

static int fast_layout(jn_fast_layout *F, const int64_t *sizes, int64_t n_layers, int64_t batch,
                       size_t es) {
    int err = jn__check_sizes(sizes, n_layers, batch);
    if (err) return err;
    size_t off = 0, t;
#define JN_PLACE(field, count_a, count_b, elem)                                        \
    do {                                                                              \
        off = (off + JN_ALIGN - 1) / JN_ALIGN * JN_ALIGN;                             \
        (field) = off;                                                                \
        if (jn__mul(&t, (size_t)(count_a), (size_t)(count_b)) || jn__mul(&t, t, (elem)) \
            || jn__add(&off, t))                                                      \
            return JN_ERR_OVERFLOW;                                                   \
    } while (0)
    for (int64_t l = 0; l < n_layers; l++) {
        const int64_t P = padded(sizes[l + 1]);
        JN_PLACE(F->wt[l], sizes[l], P, es);
        JN_PLACE(F->vt[l], sizes[l], P, es);
        JN_PLACE(F->bp[l], 1, P, es);
        JN_PLACE(F->vbp[l], 1, P, es);
        JN_PLACE(F->wn[l], l > 0 ? sizes[l + 1] : 0, padded(sizes[l]), es);
        JN_PLACE(F->act[l + 1], batch, P, es);
        JN_PLACE(F->d[l], batch, P, es);
        JN_PLACE(F->idx[l], batch, sizes[l], sizeof(int32_t));
        JN_PLACE(F->val[l], batch, sizes[l], es);
        JN_PLACE(F->nnz[l], batch, 1, sizeof(int32_t));
        JN_PLACE(F->rix[l], batch, 1, sizeof(int32_t *));
        JN_PLACE(F->rvx[l], batch, 1, sizeof(void *));
    }
    JN_PLACE(F->rows, batch, 1, sizeof(int64_t));
#undef JN_PLACE
    F->act[0] = 0;
    if (jn__add(&off, JN_ALIGN)) return JN_ERR_OVERFLOW;  /* room to align the start */
    F->total = off;
    return JN_OK;
}

int jn_fast_work_bytes(size_t *out, const int64_t *sizes, int64_t n_layers, int64_t batch_size,
                       int64_t elem_size) {
    if (out == NULL) return JN_ERR_NULL;
    if (elem_size != sizeof(float) && elem_size != sizeof(double)) return JN_ERR_SIZE;
    jn_fast_layout F;
    int err = fast_layout(&F, sizes, n_layers, batch_size, (size_t)elem_size);
    if (!err) *out = F.total;
    return err;
}

/* Inputs packed once (jn_fast_pack_*): start (n + 1,) from 0, each row's
 * count in [0, n0]; else JN_ERR_SIZE. */
static int fast_check_start(const int64_t *start, int64_t n, int64_t n0) {
    if (start[0] != 0) return JN_ERR_SIZE;
    for (int64_t r = 0; r < n; r++)
        if (start[r + 1] < start[r] || start[r + 1] - start[r] > n0) return JN_ERR_SIZE;
    return JN_OK;
}

/* The first t in [0, n) with ix[t] >= k (ix ascending), else n: where a packed
 * row's inputs of a thread's range [k0, k1) begin and end. */
static inline int32_t fast_lower_bound(const int32_t *ix, int32_t n, int64_t k) {
    int32_t lo = 0, hi = n;
    while (lo < hi) {
        const int32_t mid = lo + (hi - lo) / 2;
        if (ix[mid] < k) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The barrier between an epoch's phases (its team's threads all arrive before
 * any leaves; what each wrote before is seen by all after), two per step. A
 * step at mini-batch 10 is ~10 us, so waiters spin on one cache line, and
 * after JN_SPINS pauses a partner that has not arrived has most likely lost
 * its core: they yield theirs (on a loaded machine, spinning longer or
 * OpenMP's own barrier kept the late partner from running: 4-40x slower
 * epochs, see csrc/README.md). */
#ifdef _OPENMP
#include <sched.h>
#include <stdatomic.h>
#ifndef JN_SPINS
#define JN_SPINS 100
#endif
#if defined(__x86_64__) || defined(__i386__)
#define JN_PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define JN_PAUSE() __asm__ __volatile__("yield")
#else
#define JN_PAUSE() ((void)0)
#endif
typedef struct {
    _Atomic int64_t arrived;  /* threads arrived in this round */
    _Atomic int64_t round;    /* rounds completed */
} fast_barrier;

static void fast_barrier_init(fast_barrier *bar) {
    atomic_init(&bar->arrived, 0);
    atomic_init(&bar->round, 0);
}

static void fast_barrier_wait(fast_barrier *bar, int64_t team) {
    if (team == 1) return;
    const int64_t round = atomic_load_explicit(&bar->round, memory_order_relaxed);
    if (atomic_fetch_add_explicit(&bar->arrived, 1, memory_order_acq_rel) == team - 1) {
        atomic_store_explicit(&bar->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&bar->round, round + 1, memory_order_release);
        return;
    }
    for (int spins = 0; atomic_load_explicit(&bar->round, memory_order_acquire) == round; spins++)
        if (spins < JN_SPINS) JN_PAUSE();
        else sched_yield();
}
#else
typedef int fast_barrier;
static void fast_barrier_init(fast_barrier *bar) { *bar = 0; }
static void fast_barrier_wait(fast_barrier *bar, int64_t team) { (void)bar; (void)team; }
#endif

#define JN_TEMPLATE "jaxnet_dense_chain_fast_impl.h"
#include "jn_twice.h"
