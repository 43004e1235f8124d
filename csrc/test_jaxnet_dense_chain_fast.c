/* The Dense chains' fast path (jaxnet_dense_chain_fast.h) against the
 * reference, with a fixed seed. Exits non-zero on any failure.  make -C csrc
 * check / asan-check run it with test_jaxnet_dense_chain. */
#include "jaxnet_dense_chain_fast.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jn_common.h"
#include "jn_test.h"

/* float64: the fast path adds each example's a d^T to w in turn where the
 * reference sums them first; one step differs by a few ulps of the update. */
#define STEP64_RTOL 1e-12
/* A whole epoch (many steps) carries those differences forward. */
#define EPOCH64_RTOL 1e-10
/* float32: the same argument with float32's 2^-24 (measured ~1e-6). */
#define EPOCH32_RTOL 1e-4


#define L 2
static const int64_t SIZES[L + 1] = {37, 45, 6};  /* 45 outputs: a block and a padded one */
enum { N = 23 };                                  /* batch 5: a smaller last mini-batch of 3 */

typedef struct {
    double *w[L], *b[L], *vw[L], *vb[L];
} params64;

static params64 make(int momentum) {
    params64 p;
    for (int l = 0; l < L; l++) {
        const size_t nw = (size_t)(SIZES[l] * SIZES[l + 1]), nb = (size_t)SIZES[l + 1];
        p.w[l] = malloc(nw * sizeof(double));
        p.b[l] = malloc(nb * sizeof(double));
        p.vw[l] = momentum ? calloc(nw, sizeof(double)) : NULL;
        p.vb[l] = momentum ? calloc(nb, sizeof(double)) : NULL;
        for (size_t i = 0; i < nw; i++) p.w[l][i] = uniform() - 0.5;
        for (size_t i = 0; i < nb; i++) p.b[l][i] = uniform() - 0.5;
    }
    return p;
}

static params64 copy(const params64 *s) {
    params64 p;
    for (int l = 0; l < L; l++) {
        const size_t nw = (size_t)(SIZES[l] * SIZES[l + 1]), nb = (size_t)SIZES[l + 1];
        p.w[l] = malloc(nw * sizeof(double));
        p.b[l] = malloc(nb * sizeof(double));
        memcpy(p.w[l], s->w[l], nw * sizeof(double));
        memcpy(p.b[l], s->b[l], nb * sizeof(double));
        p.vw[l] = p.vb[l] = NULL;
        if (s->vw[0]) {
            p.vw[l] = malloc(nw * sizeof(double));
            p.vb[l] = malloc(nb * sizeof(double));
            memcpy(p.vw[l], s->vw[l], nw * sizeof(double));
            memcpy(p.vb[l], s->vb[l], nb * sizeof(double));
        }
    }
    return p;
}

static void release(params64 *p) {
    for (int l = 0; l < L; l++) {
        free(p->w[l]); free(p->b[l]); free(p->vw[l]); free(p->vb[l]);
    }
}

/* max |a - b| / max |b| over every weight and bias (and velocity). */
static double rel(const params64 *a, const params64 *b) {
    double diff = 0, scale = 0;
    for (int l = 0; l < L; l++) {
        const size_t nw = (size_t)(SIZES[l] * SIZES[l + 1]), nb = (size_t)SIZES[l + 1];
        for (size_t i = 0; i < nw + nb; i++) {
            const double x = i < nw ? a->w[l][i] : a->b[l][i - nw];
            const double y = i < nw ? b->w[l][i] : b->b[l][i - nw];
            diff = fmax(diff, fabs(x - y));
            scale = fmax(scale, fabs(y));
        }
    }
    return isnan(diff) ? INFINITY : diff / scale;
}

/* x (N, n0) in [0, 1) with a fraction `zeros` of exact zeros, but row 2 all
 * zeros and row 5 none; its uint8 twin (pixels p standing for p / 256). */
static void data(double *x, uint8_t *x8, double *y, double zeros) {
    for (int i = 0; i < N * SIZES[0]; i++) {
        const int row = i / (int)SIZES[0];
        const double u = uniform();
        x8[i] = row == 2 || (row != 5 && u < zeros) ? 0 : (uint8_t)(1 + uniform() * 254);
        x[i] = (double)x8[i] * (1.0 / 256);
    }
    for (int i = 0; i < N * SIZES[L]; i++) y[i] = 0;
    for (int i = 0; i < N; i++) y[i * SIZES[L] + (int)(uniform() * (double)SIZES[L])] = 1;
}

static int64_t ORDER[N];

static int reference_epoch(params64 *p, const double *x, const double *y, const jn_config *c,
                           int64_t batch) {
    size_t len;
    jn_work_size(&len, SIZES, L, batch);
    double *work = malloc(len * sizeof(double));
    int err = jn_train_epoch_f64(p->w, p->b, p->vw[0] ? p->vw : NULL, p->vb[0] ? p->vb : NULL,
                                 x, y, ORDER, 0.7, c, SIZES, L, N, batch, work, len);
    free(work);
    return err;
}

static int fast_epoch(params64 *p, const double *x, const uint8_t *x8, const double *y,
                      const jn_config *c, int64_t batch, int64_t threads, int64_t sparse,
                      const int64_t *order, int64_t *bad) {
    size_t len;
    int err = jn_fast_work_bytes(&len, SIZES, L, batch, sizeof(double));
    if (err) return err;
    void *work = malloc(len);
    err = jn_fast_train_epoch_f64(p->w, p->b, p->vw[0] ? p->vw : NULL, p->vb[0] ? p->vb : NULL,
                                  x8 ? NULL : x, x8, 1.0 / 256, y, order, 0.7, c, SIZES, L,
                                  order ? N : batch, batch, threads, sparse, bad, work, len);
    free(work);
    return err;
}

/* Each row's count of entries (its non-zero ones where sparse), summed from 0:
 * the start jn_fast_pack_f64 asks for. */
static void counts(int64_t *start, const double *x, int64_t sparse) {
    start[0] = 0;
    for (int r = 0; r < N; r++) {
        int64_t c = 0;
        for (int k = 0; k < SIZES[0]; k++) c += !sparse || x[r * SIZES[0] + k] != 0;
        start[r + 1] = start[r] + c;
    }
}

/* fast_epoch over inputs packed once (jn_fast_pack_f64 with `sparse`, from
 * uint8 pixels or floats, then jn_fast_train_epoch_packed_f64). */
static int packed_epoch(params64 *p, const double *x, const uint8_t *x8, const double *y,
                        const jn_config *c, int64_t batch, int64_t threads, int64_t sparse) {
    int64_t start[N + 1];
    counts(start, x, sparse);
    int32_t *idx = malloc((size_t)(start[N] + SIZES[0]) * sizeof(int32_t));
    double *val = malloc((size_t)(start[N] + SIZES[0]) * sizeof(double));
    size_t len;
    int err = jn_fast_pack_f64(idx, val, start, x8 ? NULL : x, x8, 1.0 / 256, N, SIZES[0], sparse,
                               NULL);
    if (!err) err = jn_fast_work_bytes(&len, SIZES, L, batch, sizeof(double));
    void *work = err ? NULL : malloc(len);
    if (!err)
        err = jn_fast_train_epoch_packed_f64(p->w, p->b, p->vw[0] ? p->vw : NULL,
                                             p->vb[0] ? p->vb : NULL, start, idx, val, y, ORDER,
                                             0.7, c, SIZES, L, N, batch, threads, work, len);
    free(work);
    free(idx);
    free(val);
    return err;
}

/* Every cost x activation x regularisation x momentum, three zero fractions
 * (none, MNIST-like, all): fast == reference to STEP64 for a step, EPOCH64 for
 * an epoch with a smaller last mini-batch; uint8 == float, the dense first
 * layer == the sparse one, 2 and 3 threads == 1 thread and the rows packed
 * once (sparse or dense lists, uint8 or floats, 1 to 3 threads) == packed each
 * step, exactly. */
static void test_fast_equals_reference(void) {
    double x[N * 37], y[N * 6];
    uint8_t x8[N * 37];
    const double zeros[] = {0.0, 0.8, 1.0};
    for (int z = 0; z < 3; z++) {
        data(x, x8, y, zeros[z]);
        for (int cfg_i = 0; cfg_i < 3 * 3 * 3 * 2; cfg_i++) {
            const int cost = cfg_i % 3, act = cfg_i / 3 % 3, reg = cfg_i / 9 % 3;
            const int momentum = cfg_i / 27;
            const jn_config c = {cost, act, reg == 2 ? JN_REG_L1 : JN_REG_L2, reg ? 3.0 : 0.0,
                                 40.0, momentum ? 0.6 : 0.0};
            params64 start = make(momentum);
            params64 ref = copy(&start), fast = copy(&start), fast8 = copy(&start),
                     two = copy(&start), three = copy(&start), dense = copy(&start),
                     dense2 = copy(&start), pk = copy(&start), pk2 = copy(&start),
                     pk3 = copy(&start);
            int err = reference_epoch(&ref, x, y, &c, 5);
            err |= fast_epoch(&fast, x, NULL, y, &c, 5, 1, 1, ORDER, NULL);
            err |= fast_epoch(&fast8, x, x8, y, &c, 5, 1, 1, ORDER, NULL);
            err |= fast_epoch(&two, x, x8, y, &c, 5, 2, 1, ORDER, NULL);
            err |= fast_epoch(&three, x, x8, y, &c, 5, 3, 1, ORDER, NULL);
            err |= fast_epoch(&dense, x, x8, y, &c, 5, 1, 0, ORDER, NULL);
            err |= fast_epoch(&dense2, x, NULL, y, &c, 5, 2, 0, ORDER, NULL);
            err |= packed_epoch(&pk, x, x8, y, &c, 5, 1, 1);
            err |= packed_epoch(&pk2, x, NULL, y, &c, 5, 2, 1);
            err |= packed_epoch(&pk3, x, x8, y, &c, 5, 3, 0);
            CHECK(err == JN_OK, "epochs ran (config %d)", cfg_i);
            double r = rel(&fast, &ref);
            CHECK(r <= EPOCH64_RTOL, "zeros %.1f config %d: fast vs reference epoch %.3e",
                  zeros[z], cfg_i, r);
            CHECK(rel(&start, &ref) > 1e-6, "config %d: the epoch did not move", cfg_i);
            CHECK(rel(&fast8, &fast) == 0, "config %d: uint8 inputs differ from floats", cfg_i);
            CHECK(rel(&two, &fast8) == 0, "config %d: 2 threads differ from 1", cfg_i);
            CHECK(rel(&three, &fast8) == 0, "config %d: 3 threads differ from 1", cfg_i);
            CHECK(rel(&dense, &fast8) == 0, "config %d: dense first layer differs", cfg_i);
            CHECK(rel(&dense2, &fast8) == 0, "config %d: dense, 2 threads, floats differ", cfg_i);
            CHECK(rel(&pk, &fast8) == 0, "config %d: packed once (uint8) differs", cfg_i);
            CHECK(rel(&pk2, &fast8) == 0, "config %d: packed once (floats, 2 threads) differs",
                  cfg_i);
            CHECK(rel(&pk3, &fast8) == 0, "config %d: packed once (dense, 3 threads) differs",
                  cfg_i);
            /* one step (order NULL: rows 0..4) against jn_sgd_step */
            params64 s_ref = copy(&start), s_fast = copy(&start);
            size_t len;
            jn_work_size(&len, SIZES, L, 5);
            double *work = malloc(len * sizeof(double));
            err = jn_sgd_step_f64(s_ref.w, s_ref.b, momentum ? s_ref.vw : NULL,
                                  momentum ? s_ref.vb : NULL, x, y, 0.7, &c, SIZES, L, 5, work, len);
            err |= fast_epoch(&s_fast, x, NULL, y, &c, 5, 1, 1, NULL, NULL);
            CHECK(err == JN_OK, "steps ran");
            r = rel(&s_fast, &s_ref);
            CHECK(r <= STEP64_RTOL, "config %d: fast vs reference step %.3e", cfg_i, r);
            free(work);
            release(&start); release(&ref); release(&fast); release(&fast8); release(&two);
            release(&three); release(&dense); release(&dense2);
            release(&pk); release(&pk2); release(&pk3);
            release(&s_ref); release(&s_fast);
        }
    }
}

/* float32 against the float64 reference, MNIST-like inputs, chapter 1. */
static void test_float32(void) {
    double x[N * 37], y[N * 6];
    uint8_t x8[N * 37];
    data(x, x8, y, 0.8);
    params64 p = make(0), ref = copy(&p);
    CHECK(reference_epoch(&ref, x, y, NULL, 5) == JN_OK, "reference epoch");
    float *w[L], *b[L];
    float yf[N * 6];
    for (int i = 0; i < N * 6; i++) yf[i] = (float)y[i];
    for (int l = 0; l < L; l++) {
        const size_t nw = (size_t)(SIZES[l] * SIZES[l + 1]), nb = (size_t)SIZES[l + 1];
        w[l] = malloc(nw * sizeof(float));
        b[l] = malloc(nb * sizeof(float));
        for (size_t i = 0; i < nw; i++) w[l][i] = (float)p.w[l][i];
        for (size_t i = 0; i < nb; i++) b[l][i] = (float)p.b[l][i];
    }
    size_t len;
    jn_fast_work_bytes(&len, SIZES, L, 5, sizeof(float));
    void *work = malloc(len);
    int err = jn_fast_train_epoch_f32(w, b, NULL, NULL, NULL, x8, 1.0f / 256, yf, ORDER, 0.7f,
                                      NULL, SIZES, L, N, 5, 1, 1, NULL, work, len);
    CHECK(err == JN_OK, "float32 fast epoch: %s", jn_strerror(err));
    double diff = 0, scale = 0;
    for (int l = 0; l < L; l++)
        for (int64_t i = 0; i < SIZES[l] * SIZES[l + 1]; i++) {
            diff = fmax(diff, fabs((double)w[l][i] - ref.w[l][i]));
            scale = fmax(scale, fabs(ref.w[l][i]));
        }
    CHECK(diff / scale <= EPOCH32_RTOL, "float32 fast vs float64 reference %.3e", diff / scale);
    for (int l = 0; l < L; l++) { free(w[l]); free(b[l]); }
    free(work);
    release(&p); release(&ref);
}

/* A NaN input: JN_ERR_INPUT naming its row, parameters untouched; NaN in uint8
 * cannot occur. Bad arguments: the reference's error codes. */
static void test_errors(void) {
    double x[N * 37], y[N * 6];
    uint8_t x8[N * 37];
    data(x, x8, y, 0.5);
    params64 p = make(0), before = copy(&p);
    x[17 * 37 + 3] = NAN;
    x[8 * 37 + 30] = INFINITY;     /* the last row of the first mini-batch (3, 10, 17, 1, 8) */
    x[3 * 37] = -INFINITY;         /* a row of the first mini-batch: the first bad one */
    for (int64_t threads = 1; threads <= 3; threads++) {
        int64_t bad = -1;  /* each thread count: the first in the mini-batch's order */
        CHECK(fast_epoch(&p, x, NULL, y, NULL, 5, threads, 1, ORDER, &bad) == JN_ERR_INPUT
                  && bad == 3, "%lld threads: Inf in row 3 first: got row %lld",
              (long long)threads, (long long)bad);
    }
    x[3 * 37] = 0;
    int64_t bad = -1;
    CHECK(fast_epoch(&p, x, NULL, y, NULL, 5, 2, 0, ORDER, &bad) == JN_ERR_INPUT && bad == 17,
          "NaN in row 17: got row %lld", (long long)bad);
    CHECK(rel(&p, &before) == 0, "a failed epoch changed the parameters");
    size_t len;
    jn_fast_work_bytes(&len, SIZES, L, 5, sizeof(double));
    void *work = malloc(len);
    int64_t order[N];
    memcpy(order, ORDER, sizeof order);
    order[4] = N;
#define EPOCH_S(xx, x8_, ord, batch, threads, sparse, wl)                                       \
    jn_fast_train_epoch_f64(p.w, p.b, NULL, NULL, xx, x8_, 1.0 / 256, y, ord, 0.7, NULL, SIZES, \
                            L, N, batch, threads, sparse, NULL, work, wl)
#define EPOCH(xx, x8_, ord, batch, threads, wl) EPOCH_S(xx, x8_, ord, batch, threads, 1, wl)
    CHECK(EPOCH(NULL, x8, order, 5, 1, len) == JN_ERR_ORDER, "order >= n");
    CHECK(EPOCH(NULL, x8, ORDER, 0, 1, len) == JN_ERR_BATCH, "batch 0");
    CHECK(EPOCH(NULL, x8, NULL, 5, 1, len) == JN_ERR_BATCH, "a step needs batch == n");
    CHECK(EPOCH(NULL, x8, ORDER, 5, 0, len) == JN_ERR_THREADS, "0 threads");
    CHECK(EPOCH(NULL, x8, ORDER, 5, JN_MAX_THREADS + 1, len) == JN_ERR_THREADS,
          "JN_MAX_THREADS + 1 threads");
    CHECK(EPOCH(NULL, x8, ORDER, 5, INT64_MAX, len) == JN_ERR_THREADS, "INT64_MAX threads");
    CHECK(EPOCH_S(NULL, x8, ORDER, 5, 1, 2, len) == JN_ERR_CONFIG, "sparse 2");
    CHECK(EPOCH_S(NULL, x8, ORDER, 5, 1, -1, len) == JN_ERR_CONFIG, "sparse -1");
    CHECK(rel(&p, &before) == 0, "a refused epoch changed the parameters");
    CHECK(EPOCH(NULL, x8, ORDER, 5, 1, len - 1) == JN_ERR_WORK, "small work");
    CHECK(EPOCH(x, x8, ORDER, 5, 1, len) == JN_ERR_NULL, "both inputs");
    CHECK(EPOCH(NULL, NULL, ORDER, 5, 1, len) == JN_ERR_NULL, "no input");
    CHECK(jn_fast_work_bytes(&len, SIZES, L, 5, 3) == JN_ERR_SIZE, "element size 3");
    const int64_t huge[] = {INT64_C(1) << 40, INT64_C(1) << 40};
    CHECK(jn_fast_work_bytes(&len, huge, 1, 1, 8) == JN_ERR_OVERFLOW, "overflow");
#undef EPOCH
#undef EPOCH_S
    free(work);
    release(&p); release(&before);
}

/* The most threads a call may ask for: the epoch runs, and gives one thread's
 * numbers exactly (momentum and L2, so every phase is threaded). */
static void test_max_threads(void) {
    double x[N * 37], y[N * 6];
    uint8_t x8[N * 37];
    data(x, x8, y, 0.8);
    const jn_config c = {JN_COST_CROSS_ENTROPY, JN_ACT_RELU, JN_REG_L2, 3.0, 40.0, 0.6};
    params64 start = make(1), one = copy(&start), most = copy(&start);
    int err = fast_epoch(&one, x, x8, y, &c, 5, 1, 1, ORDER, NULL);
    CHECK(err == JN_OK, "1 thread: %s", jn_strerror(err));
    err = fast_epoch(&most, x, x8, y, &c, 5, JN_MAX_THREADS, 1, ORDER, NULL);
    CHECK(err == JN_OK, "JN_MAX_THREADS threads: %s", jn_strerror(err));
    CHECK(rel(&one, &start) > 1e-6, "the epoch did not move");
    CHECK(rel(&most, &one) == 0, "JN_MAX_THREADS threads differ from 1: %.3e", rel(&most, &one));
    release(&start); release(&one); release(&most);
}

/* The uint8 packing's vector and word paths (32 pixels tested at once, each
 * 8 compressed by a permutation for float32; 8 as a 64-bit word) on rows of
 * 109 pixels (three 32-pixel runs, then a word, then 5 bytes): a row with no
 * non-zero pixel, one without zeros (pixels 1 and 255), one whose non-zeros
 * sit on the 32- and 8-pixel boundaries (k mod 32 in {0, 31}, k mod 8 in
 * {0, 7}), one with only its last pixel, one with pixels 95 and 96 (the
 * last run's end, the word's start), MNIST-like ones. The sparse epoch from
 * uint8 must give exactly the epoch from the same pixels as floats (packed by
 * the plain loop), the dense first layer's, and 2 threads' (outputs shared
 * out by half blocks), for float32 and float64, SGD and momentum with L2. */
#define PK_N 12
static void test_packing(void) {
    static const int64_t sz[3] = {109, 20, 3};
    uint8_t x8[PK_N * 109];
    float xf[PK_N * 109], yf[PK_N * 3], w32[2][109 * 20], b32[2][20], v32[2][109 * 20], c32[2][20];
    double xd[PK_N * 109], yd[PK_N * 3], w64[2][109 * 20], b64[2][20], v64[2][109 * 20], c64[2][20];
    int64_t order[PK_N];
    for (int r = 0; r < PK_N; r++) {
        order[r] = (r * 5 + 1) % PK_N;
        for (int k = 0; k < 109; k++) {
            const int edge = k % 32 == 0 || k % 32 == 31 || k % 8 == 0 || k % 8 == 7;
            const uint8_t p = r == 0   ? 0
                            : r == 1   ? (uint8_t)(k % 2 ? 255 : 1)
                            : r == 2   ? (uint8_t)(edge ? 1 + k : 0)
                            : r == 3   ? (uint8_t)(k == 108 ? 200 : 0)
                            : r == 4   ? (uint8_t)(k == 95 || k == 96 ? 77 : 0)
                            : uniform() < 0.8 ? 0 : (uint8_t)(1 + uniform() * 254);
            x8[r * 109 + k] = p;
            xf[r * 109 + k] = (float)p * (1.0f / 256);
            xd[r * 109 + k] = (double)p * (1.0 / 256);
        }
        for (int j = 0; j < 3; j++) yd[r * 3 + j] = yf[r * 3 + j] = (float)(j == r % 3);
    }
    const jn_config sgd = {JN_COST_QUADRATIC, JN_ACT_SIGMOID, JN_REG_L2, 0.0, 40.0, 0.0};
    const jn_config mom = {JN_COST_CROSS_ENTROPY, JN_ACT_SIGMOID, JN_REG_L2, 3.0, 40.0, 0.6};
    /* runs: uint8 sparse 1 thread (the base), floats sparse, uint8 dense, uint8 sparse 2 threads */
    const int64_t run_threads[4] = {1, 1, 1, 2}, run_sparse[4] = {1, 1, 0, 1};
    for (int cfg_i = 0; cfg_i < 2; cfg_i++) {
        const jn_config *c = cfg_i ? &mom : &sgd;
        float out32[4][109 * 20 + 3 * 20];
        double out64[4][109 * 20 + 3 * 20];
        for (int run = 0; run < 4; run++) {
            rng_state = 0x9E3779B97F4A7C15ull;  /* the same start for every run */
            for (int l = 0; l < 2; l++)
                for (int i = 0; i < sz[l] * sz[l + 1]; i++) {
                    w64[l][i] = uniform() - 0.5;
                    w32[l][i] = (float)w64[l][i];
                    v64[l][i] = v32[l][i] = 0;
                    if (i < sz[l + 1]) b64[l][i] = b32[l][i] = 0, c64[l][i] = c32[l][i] = 0;
                }
            float *w32p[2] = {w32[0], w32[1]}, *b32p[2] = {b32[0], b32[1]};
            float *v32p[2] = {v32[0], v32[1]}, *c32p[2] = {c32[0], c32[1]};
            double *w64p[2] = {w64[0], w64[1]}, *b64p[2] = {b64[0], b64[1]};
            double *v64p[2] = {v64[0], v64[1]}, *c64p[2] = {c64[0], c64[1]};
            const int floats = run == 1;
            size_t l32, l64;
            jn_fast_work_bytes(&l32, sz, 2, 4, sizeof(float));
            jn_fast_work_bytes(&l64, sz, 2, 4, sizeof(double));
            void *work = malloc(l32 > l64 ? l32 : l64);
            int err = jn_fast_train_epoch_f32(w32p, b32p, cfg_i ? v32p : NULL, cfg_i ? c32p : NULL,
                                              floats ? xf : NULL, floats ? NULL : x8, 1.0f / 256,
                                              yf, order, 0.9f, c, sz, 2, PK_N, 4,
                                              run_threads[run], run_sparse[run], NULL, work, l32);
            err |= jn_fast_train_epoch_f64(w64p, b64p, cfg_i ? v64p : NULL, cfg_i ? c64p : NULL,
                                           floats ? xd : NULL, floats ? NULL : x8, 1.0 / 256, yd,
                                           order, 0.9, c, sz, 2, PK_N, 4, run_threads[run],
                                           run_sparse[run], NULL, work, l64);
            free(work);
            CHECK(err == JN_OK, "packing test epochs ran (config %d, run %d)", cfg_i, run);
            memcpy(out32[run], w32[0], sizeof(float) * 2180);
            memcpy(out32[run] + 2180, w32[1], sizeof(float) * 60);
            memcpy(out64[run], w64[0], sizeof(double) * 2180);
            memcpy(out64[run] + 2180, w64[1], sizeof(double) * 60);
        }
        int moved = 0;
        rng_state = 0x9E3779B97F4A7C15ull;
        for (int i = 0; i < 2180; i++) moved += (float)(uniform() - 0.5) != out32[0][i];
        CHECK(moved > 500, "config %d: the packing epoch moved only %d first-layer weights",
              cfg_i, moved);
        for (int run = 1; run < 4; run++) {
            CHECK(memcmp(out32[run], out32[0], sizeof out32[0]) == 0,
                  "config %d: float32 run %d (floats/dense/2 threads) differs from uint8 sparse",
                  cfg_i, run);
            CHECK(memcmp(out64[run], out64[0], sizeof out64[0]) == 0,
                  "config %d: float64 run %d (floats/dense/2 threads) differs from uint8 sparse",
                  cfg_i, run);
        }
    }
}

/* jn_fast_pack_f64 and jn_fast_train_epoch_packed_f64 refuse a start that is
 * not the rows' counts (JN_ERR_SIZE), NULL buffers, and a NaN float (by row). */
static void test_pack_errors(void) {
    double x[N * 37], y[N * 6];
    uint8_t x8[N * 37];
    data(x, x8, y, 0.8);
    int64_t start[N + 1], bad = -1;
    int32_t *idx = malloc((size_t)(N + 1) * 37 * sizeof(int32_t));
    double *val = malloc((size_t)(N + 1) * 37 * sizeof(double));
    counts(start, x, 1);
    CHECK(jn_fast_pack_f64(idx, val, start, NULL, x8, 1.0 / 256, N, 37, 1, NULL) == JN_OK,
          "the rows' own counts pack");
    start[3] += 1;  /* row 2's count one too many, row 3's one too few */
    CHECK(jn_fast_pack_f64(idx, val, start, NULL, x8, 1.0 / 256, N, 37, 1, NULL) == JN_ERR_SIZE,
          "a count that is not the row's is refused");
    counts(start, x, 0);
    start[0] = 1;
    CHECK(jn_fast_pack_f64(idx, val, start, x, NULL, 1, N, 37, 0, NULL) == JN_ERR_SIZE,
          "start[0] != 0 is refused");
    counts(start, x, 0);
    start[N] = start[N - 1] + 38;
    CHECK(jn_fast_pack_f64(idx, val, start, x, NULL, 1, N, 37, 0, NULL) == JN_ERR_SIZE,
          "a count over n0 is refused");
    CHECK(jn_fast_pack_f64(NULL, val, start, x, NULL, 1, N, 37, 0, NULL) == JN_ERR_NULL,
          "no idx is refused");
    CHECK(jn_fast_pack_f64(idx, val, start, x, x8, 1, N, 37, 0, NULL) == JN_ERR_NULL,
          "both x and x_u8 are refused");
    counts(start, x, 0);
    x[7 * 37 + 4] = NAN;
    CHECK(jn_fast_pack_f64(idx, val, start, x, NULL, 1, N, 37, 0, &bad) == JN_ERR_INPUT
          && bad == 7, "a NaN in row 7 is refused by row (got %lld)", (long long)bad);
    counts(start, x, 1);
    start[1] = -1;
    params64 p = make(0);
    size_t len;
    jn_fast_work_bytes(&len, SIZES, L, 5, sizeof(double));
    void *work = malloc(len);
    const jn_config c = {JN_COST_QUADRATIC, JN_ACT_SIGMOID, JN_REG_L2, 0, 40, 0};
    CHECK(jn_fast_train_epoch_packed_f64(p.w, p.b, NULL, NULL, start, idx, val, y, ORDER, 0.7,
                                         &c, SIZES, L, N, 5, 1, work, len) == JN_ERR_SIZE,
          "an epoch over a start that is not counts is refused");
    CHECK(jn_fast_train_epoch_packed_f64(p.w, p.b, NULL, NULL, NULL, idx, val, y, ORDER, 0.7,
                                         &c, SIZES, L, N, 5, 1, work, len) == JN_ERR_NULL,
          "an epoch without start is refused");
    free(work);
    release(&p);
    free(idx);
    free(val);
}

/* The fast path's float32 sigmoid (jn__fast_sigmoid_f32) against the scalar
 * 1 / (1 + expf(-z)): within JN_SIGMOID_ULPS over a sweep of every sign and
 * exponent (every 997th float bit pattern, 4.3 M values), 0 below z =
 * -88.3762, the special values exactly, and each value the same at every
 * position of rows of 1 to 17 (the masked tail is computed as the rest). */
static void test_sigmoid(void) {
    enum { CHUNK = 4096 };
    static float z[CHUNK], in[CHUNK];
    uint32_t worst = 0;
    int64_t count = 0;
    for (uint32_t sign = 0; sign < 2; sign++) {
        int m = 0;
        for (uint32_t u = 0; u < 0x7f800000u; u += 997) {
            const uint32_t b = u | sign << 31;
            memcpy(&in[m], &b, sizeof b);
            if (++m < CHUNK && u + 997 < 0x7f800000u) continue;
            memcpy(z, in, sizeof(float) * (size_t)m);
            jn__fast_sigmoid_f32(z, m);
            for (int i = 0; i < m; i++, count++) {
                const float want = 1.0f / (1.0f + expf(-in[i]));
                if (in[i] < -88.3762f) {
                    CHECK(z[i] == 0, "sigmoid(%.9g) = %.9g, not 0", in[i], z[i]);
                    continue;
                }
                uint32_t a, g;
                memcpy(&a, &want, sizeof a);
                memcpy(&g, &z[i], sizeof g);
                const uint32_t ulps = a > g ? a - g : g - a;  /* both in [0, 1]: ordered bits */
                worst = ulps > worst ? ulps : worst;
                CHECK(ulps <= JN_SIGMOID_ULPS, "sigmoid(%.9g) = %.9g, scalar %.9g: %u ulps",
                      in[i], z[i], want, ulps);
            }
            m = 0;
        }
    }
    CHECK(count > 4000000, "the sweep took %lld values", (long long)count);
    float special[5] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN};
    jn__fast_sigmoid_f32(special, 5);
    CHECK(special[0] == 0.5f && special[1] == 0.5f, "sigmoid(+-0) = %g, %g", special[0], special[1]);
    CHECK(special[2] == 1.0f && special[3] == 0.0f, "sigmoid(+-inf) = %g, %g", special[2], special[3]);
    CHECK(isnan(special[4]), "sigmoid(NaN) = %g", special[4]);
    for (int n = 1; n <= 17; n++) {
        float row[17], one = 0.37f * (float)n - 3.1f;
        for (int i = 0; i < n; i++) row[i] = one;
        jn__fast_sigmoid_f32(row, n);
        jn__fast_sigmoid_f32(&one, 1);
        for (int i = 0; i < n; i++)
            CHECK(memcmp(&row[i], &one, sizeof one) == 0, "lane %d of %d: %.9g, alone %.9g", i, n,
                  row[i], one);
    }
    printf("fast sigmoid: %lld values, worst %u ulps of the scalar\n", (long long)count, worst);
}

int main(void) {
    rng_state = 0x2545F4914F6CDD1Dull;
    for (int64_t i = 0; i < N; i++) ORDER[i] = (i * 7 + 3) % N;  /* a permutation of 0..22 */
    test_fast_equals_reference();
    test_float32();
    test_errors();
    test_max_threads();
    test_packing();
    test_sigmoid();
    test_pack_errors();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("jaxnet_dense_chain_fast: all C checks passed (parallel: %d)\n", jn_fast_parallel());
    return 0;
}
