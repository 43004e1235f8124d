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

/* uint8 rows are packed 16 pixels at a time with AVX-512 where the compiler
 * targets it (-march=native on such a machine); else byte by byte. */
#if defined(__AVX512F__) && !defined(JAXNET_PLAIN)
#include <immintrin.h>
#define JN_AVX512 1
#endif

/* Byte offsets of everything in the work buffer (from its 64-byte-aligned start). */
typedef struct {
    size_t wt[JN_MAX_LAYERS], vt[JN_MAX_LAYERS];    /* (n_in, P) transposed, padded weights */
    size_t bp[JN_MAX_LAYERS], vbp[JN_MAX_LAYERS];   /* (P,) padded biases, their velocities */
    size_t wn[JN_MAX_LAYERS];                       /* l >= 1: w[l] (n_out, padded(n_in)), for BP2 */
    size_t act[JN_MAX_LAYERS + 1];                  /* a[l] (m, P_l), l >= 1 */
    size_t d[JN_MAX_LAYERS];                        /* deltas (m, P) of layer l's outputs */
    size_t idx[JN_MAX_LAYERS], val[JN_MAX_LAYERS];  /* packed non-zero inputs (m, n_in) */
    size_t nnz[JN_MAX_LAYERS];                      /* (m,) entries per packed row */
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
