/* jaxnet_net_fast: the fast epoch of chapter 6's networks (see
 * jaxnet_net_fast.h): the byte layout of its work buffer and its checks; the
 * float64 and float32 kernels are one template, jaxnet_net_fast_impl.h (with
 * the product, jn_gemm_impl.h), included twice. Portable C11 with GCC/Clang
 * vector extensions (plain loops without them); OpenMP pragmas are ignored
 * by a compiler built without it. */

/* Multiply-adds are contracted to fused ones (one rounding, twice the
 * throughput) in this file only: the reference keeps its two roundings. */
#if defined(__clang__)
#pragma clang fp contract(fast)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=fast")
#endif

#include "jaxnet_net_fast.h"
#include "jaxnet_dense_chain_fast.h"
#include "jn_common.h"
#include "jn_simd.h"

#include <math.h>
#include <string.h>

/* A tile of the product: JN_CF_MR rows by JN_CF_NR vectors, MR * NR
 * accumulators plus NR loaded vectors in registers (32 with AVX-512, 16 with
 * AVX2 or SSE2/NEON pairs). */
#define JN_CF_MR 4
#if defined(JN_VECTOR_BYTES) && JN_VECTOR_BYTES == 64
#define JN_CF_NR 4
#else
#define JN_CF_NR 2
#endif

/* Products and updates smaller than this many multiply-adds run on one thread:
 * each parallel region costs a wake-up and a barrier (tens of microseconds on
 * a loaded machine), more than such a product takes. Results do not depend on it. */
#define JN_CF_PARALLEL_MACS (1 << 20)

/* A mini-batch is taken this many rows at a time: forward, backward, and each
 * gradient sum continued from the chunk before (the same chains of multiply-
 * adds as one pass: results do not depend on it; `make check` compares a build
 * with chunks of 1 and of 64 to the bit). An example's patches, routed deltas
 * and dC/d(patches) are ~400 KB in float32 for the two-ConvPool net (conv1's
 * patches alone 25 x 576 values, 58 KB), so 8 examples are about what a
 * core's L2 holds; measured, 4 to 16 were alike. */
#ifndef JN_CF_CHUNK
#define JN_CF_CHUNK 8
#endif

/* Every row is padded to a multiple of this many elements (a whole number of vectors). */
#define JN_CF_PAD 16

static int64_t pad(int64_t n) { return (n + JN_CF_PAD - 1) / JN_CF_PAD * JN_CF_PAD; }

/* One layer's sizes and where its arrays live (byte offsets from the work
 * buffer's aligned start), for chunks of B = min(batch_size, JN_CF_CHUNK) rows. Every layer:
 * in (B, niP) its input a[l] times the dropout factor (layer 0 and
 * dropout layers only; others read a[l] where it is), a (B, noP) its
 * activations, d (B, noP) its deltas, gb (n_out,). A ConvPool layer, with
 * S = hp wp pooled positions, P = p p S conv positions ordered (u, v, Y, X),
 * K = c k k, R = k + p - 1: ph (B, Q = c h p ceil(w/p)) every example's input
 * split by column phase, win (B, W = c R R S) its windows (the input at stride
 * p from each of R R offsets); both reused for their gradients;
 * ct (K, B Pp) every example's patches, zf (B, F, Pp) the
 * conv sums, idx (B, no) int32 each block's arg-max u p + v, dr
 * (F, B Pp) and drt (B Pp, Fp) the deltas routed to the arg-maxes,
 * gct (B, K, Pp) dC/d(patches) (l > 0), gwt (K, Fp) dC/dw transposed. A
 * Dense layer: wt (ni, noP) w transposed, wn (no, niP) w padded, gw (no, niP). */
typedef struct {
    int32_t kind, act;
    double dropout;
    int64_t ni, no, niP, noP;
    int64_t c, h, w, f, k, p, hp, wp, S, P, Pp, K, Fp, W, Q;
    size_t in, a, d, gb, idx, ph, win, ct, zf, dr, drt, gct, gwt, wt, wn, gw;
} jn_cf_layer;

typedef struct {
    jn_cf_layer L[JN_MAX_LAYERS];
    int64_t n_layers, batch;   /* batch: rows a chunk holds, min(batch_size, JN_CF_CHUNK) */
    size_t rows; /* (batch_size,) int64: the data rows of the mini-batch */
    size_t total;
} jn_cf_layout;

/* Places `a * b * elem` bytes at the next aligned offset. */
static int place(size_t *field, size_t *off, int64_t a, int64_t b, size_t elem) {
    size_t t;
    *off = (*off + JN_ALIGN - 1) / JN_ALIGN * JN_ALIGN;
    *field = *off;
    return jn__mul(&t, (size_t)a, (size_t)b) || jn__mul(&t, t, elem) || jn__add(off, t)
               ? JN_ERR_OVERFLOW : JN_OK;
}

/* The layer's sizes from its (already checked) description. */
static void cf_dims(jn_cf_layer *y, const jn_layer *s) {
    memset(y, 0, sizeof *y);
    y->kind = s->kind, y->act = s->activation, y->dropout = s->dropout;
    y->ni = s->c * s->h * s->w, y->niP = pad(y->ni);
    if (s->kind == JN_LAYER_DENSE) {
        y->no = s->n_out;
    } else {
        y->c = s->c, y->h = s->h, y->w = s->w, y->f = s->n_out, y->k = s->k, y->p = s->p;
        y->hp = (s->h - s->k + 1) / s->p, y->wp = (s->w - s->k + 1) / s->p;
        y->S = y->hp * y->wp, y->P = y->p * y->p * y->S, y->Pp = pad(y->P);
        y->K = s->c * s->k * s->k, y->Fp = pad(y->f), y->no = y->f * y->S;
        y->W = s->c * (s->k + s->p - 1) * (s->k + s->p - 1) * y->S;
        y->Q = s->c * s->h * s->p * ((s->w + s->p - 1) / s->p);
    }
    y->noP = pad(y->no);
}

static int cf_layout(jn_cf_layout *F, const jn_layer *layers, int64_t n_layers, int64_t batch,
                     size_t es) {
    size_t nf, ni;   /* the reference's checks of the chain: kinds, sizes, overflow */
    int rc = jn_net_epoch_work_size(&nf, &ni, layers, n_layers, batch);
    if (rc) return rc;
    size_t off = 0;
    const int64_t B = batch < JN_CF_CHUNK ? batch : JN_CF_CHUNK;
    F->n_layers = n_layers, F->batch = B;
    for (int64_t l = 0; l < n_layers; l++) {
        jn_cf_layer *y = &F->L[l];
        cf_dims(y, &layers[l]);
        int64_t BPp;
        if (__builtin_mul_overflow(B, y->Pp, &BPp)) return JN_ERR_OVERFLOW;
        const int own_in = l == 0 || y->dropout > 0, conv = y->kind == JN_LAYER_CONVPOOL;
        if (place(&y->in, &off, own_in ? B : 0, y->niP, es) || place(&y->a, &off, B, y->noP, es)
            || place(&y->d, &off, B, y->noP, es) || place(&y->gb, &off, 1, layers[l].n_out, es))
            return JN_ERR_OVERFLOW;
        if (conv && (place(&y->idx, &off, B, y->no, sizeof(int32_t))
                     || place(&y->ph, &off, B, y->Q, es) || place(&y->win, &off, B, y->W, es)
                     || place(&y->ct, &off, y->K, BPp, es)
                     || place(&y->zf, &off, B * y->f, y->Pp, es)
                     || place(&y->dr, &off, y->f, BPp, es) || place(&y->drt, &off, BPp, y->Fp, es)
                     || place(&y->gct, &off, l > 0 ? B * y->K : 0, y->Pp, es)
                     || place(&y->gwt, &off, y->K, y->Fp, es)))
            return JN_ERR_OVERFLOW;
        if (!conv && (place(&y->wt, &off, y->ni, y->noP, es)
                      || place(&y->wn, &off, y->no, y->niP, es)
                      || place(&y->gw, &off, y->no, y->niP, es)))
            return JN_ERR_OVERFLOW;
    }
    if (place(&F->rows, &off, batch, 1, sizeof(int64_t)) || jn__add(&off, JN_ALIGN))
        return JN_ERR_OVERFLOW;   /* the last: room to align the start */
    F->total = off;
    return JN_OK;
}

int jn_convfast_work_bytes(size_t *out, const jn_layer *layers, int64_t n_layers,
                           int64_t batch_size, int64_t elem_size) {
    if (out == NULL) return JN_ERR_NULL;
    if (elem_size != sizeof(float) && elem_size != sizeof(double)) return JN_ERR_SIZE;
    jn_cf_layout F;
    int rc = cf_layout(&F, layers, n_layers, batch_size, (size_t)elem_size);
    if (!rc) *out = F.total;
    return rc;
}

/* The epoch's checks, before anything is touched: pointers, threads, config
 * and output layer, the layout and the buffer, eta and x_scale, the order,
 * the masks' pointers and sizes. */
static int cf_check(jn_cf_layout *F, const jn_config **cfg, const void *const *w,
                    const void *const *b, const void *const *vw, const void *const *vb,
                    const void *x, const void *x_u8, double x_scale, const void *y,
                    const int64_t *order, const void *const *masks, double eta,
                    const jn_layer *layers, int64_t n_layers, int64_t n, int64_t batch_size,
                    int64_t threads, const void *work, size_t work_bytes, size_t es) {
    if (!w || !b || !y || !work || !layers || (x == NULL) == (x_u8 == NULL)) return JN_ERR_NULL;
    if ((vw == NULL) != (vb == NULL)) return JN_ERR_NULL;
    if (threads < 1 || threads > JN_MAX_THREADS) return JN_ERR_THREADS;
    if (n < 1) return JN_ERR_SIZE;
    if (batch_size < 1 || batch_size > n) return JN_ERR_BATCH;
    int rc = jn__check_config(cfg, *cfg);
    if (!rc) rc = cf_layout(F, layers, n_layers, batch_size, es);
    if (!rc) rc = jn__check_output(*cfg, layers[n_layers - 1].activation);
    if (rc) return rc;
    for (int64_t l = 0; l < n_layers; l++) {
        if (!w[l] || !b[l] || (vw && (!vw[l] || !vb[l]))) return JN_ERR_NULL;
        if (masks && layers[l].dropout > 0 && !masks[l]) return JN_ERR_NULL;
    }
    if (!isfinite(eta) || (x_u8 && !isfinite(x_scale))) return JN_ERR_ETA;
    if (work_bytes < F->total) return JN_ERR_WORK;
    const int64_t io[2] = {F->L[0].ni, F->L[n_layers - 1].no};
    rc = jn__check_epoch(order, io, 1, n, batch_size);
    size_t t;
    for (int64_t l = 0; !rc && masks && l < n_layers; l++)   /* every mask's (n, ni) in range */
        if (jn__mul(&t, (size_t)n, (size_t)F->L[l].ni)) rc = JN_ERR_OVERFLOW;
    return rc;
}

#define JN_TEMPLATE "jaxnet_net_fast_impl.h"
#include "jn_twice.h"
