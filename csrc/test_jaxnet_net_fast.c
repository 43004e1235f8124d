/* Tests of the fast path of chapter 6's networks (jaxnet_net_fast.h) against
 * the readable reference (jn_net_train_epoch): three chains of ConvPool and
 * Dense layers (sigmoid, relu, tanh, linear, softmax; dropout on a conv and a
 * dense layer's input) under every cost, SGD and momentum, L2 and L1, masks
 * and the 1 - p scaling, a shuffled order with a smaller last mini-batch and
 * order NULL; float64 steps and epochs to STEP_RTOL and EPOCH_RTOL, float32
 * epochs to F32_RTOL; 1, 2 and 5 threads identical; uint8 pixels against the
 * same values as floats (identical); a pooling tie (integer sums, so both
 * kernels exact: equal to the bit); every error code, leaving the parameters
 * unchanged. (tests/test_cref_convfast.py compares it with the JAX twins.) */
#include "jaxnet_net_fast.h"
#include "jaxnet_dense_chain_fast.h"
#include "jn_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* float64: one step's sums differ from the reference's only in rounding (fused
 * multiply-adds, another order in col2im), ~1e-15 of the update; margin 1000x. */
#define STEP_RTOL 1e-12
/* an epoch compounds that over its steps (and sigmoid/softmax's sensitivity). */
#define EPOCH_RTOL 1e-10
/* float32 epochs: eps32 ~ 6e-8 per operation, compounded over 5 steps. */
#define F32_RTOL 1e-3

static const jn_layer NET_A[4] = {   /* two ConvPools, dense with dropout, softmax */
    {JN_LAYER_CONVPOOL, JN_ACT_SIGMOID, 1, 12, 12, 3, 3, 2, 0.0},
    {JN_LAYER_CONVPOOL, JN_ACT_RELU, 3, 5, 5, 4, 2, 2, 0.0},
    {JN_LAYER_DENSE, JN_ACT_SIGMOID, 4, 2, 2, 7, 1, 1, 0.3},
    {JN_LAYER_DENSE, JN_ACT_SOFTMAX, 7, 1, 1, 4, 1, 1, 0.0}};
static const jn_layer NET_B[2] = {   /* dropout on a conv's input, pool 3, sigmoid out */
    {JN_LAYER_CONVPOOL, JN_ACT_RELU, 2, 8, 8, 5, 3, 3, 0.2},
    {JN_LAYER_DENSE, JN_ACT_SIGMOID, 5, 2, 2, 3, 1, 1, 0.0}};
static const jn_layer NET_C[3] = {   /* tanh, pool 4, a wide dense, linear out */
    {JN_LAYER_CONVPOOL, JN_ACT_TANH, 1, 9, 9, 2, 2, 4, 0.0},
    {JN_LAYER_DENSE, JN_ACT_TANH, 2, 2, 2, 37, 1, 1, 0.0},
    {JN_LAYER_DENSE, JN_ACT_LINEAR, 37, 1, 1, 5, 1, 1, 0.0}};

typedef struct {
    const jn_layer *layers;
    int nl;
    int cost;
} net_t;

static int64_t in_size(const jn_layer *y) { return y->c * y->h * y->w; }
static int64_t w_size(const jn_layer *y) {
    return y->kind == JN_LAYER_DENSE ? y->n_out * in_size(y) : y->n_out * y->c * y->k * y->k;
}
static int64_t out_size(const net_t *t) {
    const jn_layer *y = &t->layers[t->nl - 1];
    return y->kind == JN_LAYER_DENSE ? y->n_out
                                     : y->n_out * ((y->h - y->k + 1) / y->p) * ((y->w - y->k + 1) / y->p);
}
static int64_t n_params(const net_t *t) {
    int64_t s = 0;
    for (int l = 0; l < t->nl; l++) s += w_size(&t->layers[l]) + t->layers[l].n_out;
    return s;
}

/* Pointers w[l], b[l] into a packed parameter vector (w0, b0, w1, b1, ...). */
static void split(const net_t *t, double *p, double **w, double **b) {
    for (int l = 0; l < t->nl; l++) {
        w[l] = p, p += w_size(&t->layers[l]);
        b[l] = p, p += t->layers[l].n_out;
    }
}
static void split_f(const net_t *t, float *p, float **w, float **b) {
    for (int l = 0; l < t->nl; l++) {
        w[l] = p, p += w_size(&t->layers[l]);
        b[l] = p, p += t->layers[l].n_out;
    }
}

/* The largest |update difference| over the largest |update|, from p0. */
static double update_err(const double *p, const double *q, const double *p0, int64_t np,
                         double *scale) {
    double worst = 0, s = 0;
    for (int64_t i = 0; i < np; i++) {
        const double d = fabs(p[i] - q[i]);
        worst = isfinite(d) ? fmax(worst, d) : INFINITY;
        s = fmax(s, fabs(q[i] - p0[i]));
    }
    *scale = s;
    return s > 0 ? worst / s : INFINITY;
}

typedef struct {
    int n, batch, momentum, reg, masks, shuffle;
    double lmbda;
} run_t;

/* One epoch on both kernels (float64) from the same start; returns the fast
 * path's parameters in pf (np) after `threads` threads, the reference's in pr. */
static void run_f64(const net_t *t, const run_t *r, const uint8_t *xu, double *pf, double *pr,
                    double *p0, int64_t threads) {
    const int64_t np = n_params(t), n0 = in_size(&t->layers[0]), nL = out_size(t), n = r->n;
    double *x = malloc(sizeof(double) * (size_t)(n * n0)), *y = calloc((size_t)(n * nL), 8);
    double *vf = malloc(sizeof(double) * (size_t)np), *vr = malloc(sizeof(double) * (size_t)np);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n);
    const double scale = 1.0 / 255;
    for (int64_t i = 0; i < n * n0; i++) x[i] = (double)xu[i] * scale;
    for (int64_t i = 0; i < n; i++) y[i * nL + i % nL] = 1, order[i] = (i * 7 + 3) % n;
    for (int64_t i = 0; i < np; i++) vf[i] = vr[i] = 0.05 * (uniform() - 0.5);
    memcpy(pf, p0, sizeof(double) * (size_t)np), memcpy(pr, p0, sizeof(double) * (size_t)np);
    double *mk[JN_MAX_LAYERS] = {0};
    for (int l = 0; r->masks && l < t->nl; l++)
        if (t->layers[l].dropout > 0) {
            const int64_t s = n * in_size(&t->layers[l]);
            mk[l] = malloc(sizeof(double) * (size_t)s);
            for (int64_t i = 0; i < s; i++) mk[l][i] = uniform() < t->layers[l].dropout ? 0 : 1;
        }
    jn_config cfg = {t->cost, JN_ACT_SIGMOID, r->reg, r->lmbda, 17.0, r->momentum ? 0.6 : 0.0};
    double *wf[8], *bf[8], *wr[8], *br[8], *vwf[8], *vbf[8], *vwr[8], *vbr[8];
    split(t, pf, wf, bf), split(t, pr, wr, br), split(t, vf, vwf, vbf), split(t, vr, vwr, vbr);
    size_t nb, nf, ni;
    CHECK(jn_convfast_work_bytes(&nb, t->layers, t->nl, r->batch, 8) == JN_OK, "work bytes");
    CHECK(jn_net_epoch_work_size(&nf, &ni, t->layers, t->nl, r->batch) == JN_OK, "ref work");
    void *work = malloc(nb);
    double *rw = malloc(nf * 8);
    int32_t *ri = malloc((ni ? ni : 1) * 4);
    const int64_t *ord = r->shuffle ? order : NULL;
    const double *const *masks = r->masks ? (const double *const *)mk : NULL;
    const int mom = r->momentum;
    CHECK(jn_convfast_train_epoch_f64(wf, bf, mom ? vwf : NULL, mom ? vbf : NULL, NULL, xu, scale,
                                      y, ord, masks, 0.4, &cfg, t->layers, t->nl, n, r->batch,
                                      threads, work, nb) == JN_OK, "fast epoch");
    CHECK(jn_net_train_epoch_f64(wr, br, mom ? vwr : NULL, mom ? vbr : NULL, x, y, ord, masks, 0.4,
                                 &cfg, t->layers, t->nl, n, r->batch, rw, nf, ri, ni) == JN_OK,
          "reference epoch");
    for (int l = 0; l < t->nl; l++) free(mk[l]);
    free(x), free(y), free(vf), free(vr), free(order), free(work), free(rw), free(ri);
}

static const net_t NETS[3] = {{NET_A, 4, JN_COST_LOG_LIKELIHOOD},
                              {NET_B, 2, JN_COST_CROSS_ENTROPY},
                              {NET_C, 3, JN_COST_QUADRATIC}};

/* Every net x rule x regularisation x masks, epochs and steps, against the
 * reference; threads 1, 2, 5 identical; uint8 and float identical. */
static void test_against_reference(void) {
    for (int k = 0; k < 3; k++)
        for (int v = 0; v < 8; v++) {
            const net_t *t = &NETS[k];
            const int step = v & 4;
            run_t r = {step ? 6 : 23, step ? 6 : 5, v & 1, (v >> 1) & 1, v & 2, !step,
                       v & 1 ? 0.5 : 0.0};
            const int64_t np = n_params(t), nx = r.n * in_size(&t->layers[0]);
            double *p0 = malloc(8 * (size_t)np), *pf = malloc(8 * (size_t)np);
            double *pr = malloc(8 * (size_t)np), *p2 = malloc(8 * (size_t)np);
            uint8_t *xu = malloc((size_t)nx);
            for (int64_t i = 0; i < np; i++) p0[i] = uniform() - 0.5;
            for (int64_t i = 0; i < nx; i++) xu[i] = uniform() < 0.3 ? 0 : (uint8_t)(uniform() * 256);
            const uint64_t seed = rng_state;
            run_f64(t, &r, xu, pf, pr, p0, 1);
            double scale, err = update_err(pf, pr, p0, np, &scale);
            const double tol = step ? STEP_RTOL : EPOCH_RTOL;
            CHECK(scale > 1e-3 && err <= tol, "net %d variant %d: %.3e of %.3e (tol %g)", k, v,
                  err, scale, tol);
            for (int64_t threads = 2; threads <= 5; threads += 3) {
                rng_state = seed;                           /* the same masks and velocities */
                run_f64(t, &r, xu, p2, pr, p0, threads);
                CHECK(memcmp(p2, pf, 8 * (size_t)np) == 0, "net %d variant %d: %d threads differ",
                      k, v, (int)threads);
            }
            free(p0), free(pf), free(pr), free(p2), free(xu);
        }
}

/* Mini-batches longer than a chunk (JN_CF_CHUNK rows, 8): 19 rows are taken as
 * 8 + 8 + 3 and the smaller last one (45 = 2 x 19 + 7) as 7, each gradient
 * continued from the chunk before; every net (pools of 2, 3 and 4, dropout on a
 * conv's and a dense layer's input), with masks, momentum and L2, against the
 * reference, 1 and 3 threads identical. Returns an FNV-1a digest of the three
 * nets' parameters after it (main's --digest prints it: `make check` compares
 * builds with other chunk sizes, which must give the same bits). */
static uint64_t test_chunks(void) {
    const run_t r = {45, 19, 1, 0, 1, 1, 0.5};
    uint64_t digest = 0xcbf29ce484222325ull;
    for (int k = 0; k < 3; k++) {
        const net_t *t = &NETS[k];
        const int64_t np = n_params(t), nx = r.n * in_size(&t->layers[0]);
        double *p0 = malloc(8 * (size_t)np), *pf = malloc(8 * (size_t)np);
        double *pr = malloc(8 * (size_t)np), *p3 = malloc(8 * (size_t)np);
        uint8_t *xu = malloc((size_t)nx);
        for (int64_t i = 0; i < np; i++) p0[i] = uniform() - 0.5;
        for (int64_t i = 0; i < nx; i++) xu[i] = (uint8_t)(uniform() * 256);
        const uint64_t seed = rng_state;
        run_f64(t, &r, xu, pf, pr, p0, 1);
        double scale, err = update_err(pf, pr, p0, np, &scale);
        CHECK(scale > 1e-3 && err <= EPOCH_RTOL, "chunks, net %d: %.3e of %.3e", k, err, scale);
        rng_state = seed;
        run_f64(t, &r, xu, p3, pr, p0, 3);
        CHECK(memcmp(p3, pf, 8 * (size_t)np) == 0, "chunks, net %d: 3 threads differ", k);
        const unsigned char *bytes = (const unsigned char *)pf;
        for (size_t i = 0; i < 8 * (size_t)np; i++) digest = (digest ^ bytes[i]) * 0x100000001b3ull;
        free(p0), free(pf), free(pr), free(p3), free(xu);
    }
    return digest;
}

/* float32 against the float32 reference; uint8 against floats of the same values. */
static void test_float32_and_uint8(void) {
    const net_t *t = &NETS[0];
    const int64_t np = n_params(t), n0 = in_size(&t->layers[0]), n = 15, nL = 4;
    float *p0 = malloc(4 * (size_t)np), *pf = malloc(4 * (size_t)np), *pr = malloc(4 * (size_t)np);
    float *pu = malloc(4 * (size_t)np), *x = malloc(4 * (size_t)(n * n0)), *y = calloc((size_t)(n * nL), 4);
    uint8_t *xu = malloc((size_t)(n * n0));
    const float scale = 1.0f / 255;
    for (int64_t i = 0; i < np; i++) p0[i] = (float)(uniform() - 0.5);
    for (int64_t i = 0; i < n * n0; i++) xu[i] = (uint8_t)(uniform() * 256), x[i] = (float)xu[i] * scale;
    for (int64_t i = 0; i < n; i++) y[i * nL + i % nL] = 1;
    memcpy(pf, p0, 4 * (size_t)np), memcpy(pr, p0, 4 * (size_t)np), memcpy(pu, p0, 4 * (size_t)np);
    float *wf[4], *bf[4], *wr[4], *br[4], *wu[4], *bu[4];
    split_f(t, pf, wf, bf), split_f(t, pr, wr, br), split_f(t, pu, wu, bu);
    jn_config cfg = {t->cost, JN_ACT_SIGMOID, JN_REG_L2, 0.3, 15.0, 0.0};
    size_t nb, nf, ni;
    jn_convfast_work_bytes(&nb, t->layers, t->nl, 3, 4);
    jn_net_epoch_work_size(&nf, &ni, t->layers, t->nl, 3);
    void *work = malloc(nb);
    float *rw = malloc(nf * 4);
    int32_t *ri = malloc(ni * 4);
    CHECK(jn_convfast_train_epoch_f32(wf, bf, NULL, NULL, x, NULL, 1, y, NULL, NULL, 0.5f, &cfg,
                                      t->layers, t->nl, n, 3, 2, work, nb) == JN_OK, "f32 fast");
    CHECK(jn_convfast_train_epoch_f32(wu, bu, NULL, NULL, NULL, xu, scale, y, NULL, NULL, 0.5f,
                                      &cfg, t->layers, t->nl, n, 3, 1, work, nb) == JN_OK, "u8");
    CHECK(jn_net_train_epoch_f32(wr, br, NULL, NULL, x, y, NULL, NULL, 0.5f, &cfg, t->layers,
                                 t->nl, n, 3, rw, nf, ri, ni) == JN_OK, "f32 reference");
    CHECK(memcmp(pf, pu, 4 * (size_t)np) == 0, "uint8 pixels differ from their float values");
    double worst = 0, s = 0;
    for (int64_t i = 0; i < np; i++)
        worst = fmax(worst, fabs((double)pf[i] - pr[i])), s = fmax(s, fabs((double)pr[i] - p0[i]));
    CHECK(s > 1e-3 && worst <= F32_RTOL * s, "float32: %.3e of %.3e", worst, s);
    free(p0), free(pf), free(pr), free(pu), free(x), free(y), free(xu), free(work), free(rw),
        free(ri);
}

/* A tie: channel 0 passes through (w 1) with equal values in pooling blocks,
 * channel 1 (w 0) tells the positions apart in dC/dw; integer inputs, targets
 * and eta, so both kernels' sums are exact: equal to the bit, both taking each
 * block's first maximum. */
static void test_tie(void) {
    static const jn_layer net[3] = {
        {JN_LAYER_CONVPOOL, JN_ACT_LINEAR, 2, 4, 4, 1, 1, 1, 0.0},
        {JN_LAYER_CONVPOOL, JN_ACT_LINEAR, 1, 4, 4, 1, 1, 2, 0.0},
        {JN_LAYER_DENSE, JN_ACT_LINEAR, 1, 2, 2, 1, 1, 1, 0.0}};
    const uint8_t xu[32] = {5, 5, 1, 2, 5, 5, 2, 1, 3, 0, 7, 7, 0, 3, 7, 6,   /* ties */
                            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    double x[32], y[1] = {3}, p[10], q[10], work_r[4096];
    for (int i = 0; i < 32; i++) x[i] = xu[i];
    const double p0[10] = {1, 0, 0, 1, 0, 1, 1, 1, 1, 0};  /* w0 (1,2), b0, w1, b1, w2 (1,4), b2 */
    memcpy(p, p0, sizeof p), memcpy(q, p0, sizeof q);
    double *w[3] = {p, p + 3, p + 5}, *b[3] = {p + 2, p + 4, p + 9};
    double *wq[3] = {q, q + 3, q + 5}, *bq[3] = {q + 2, q + 4, q + 9};
    jn_config cfg = {JN_COST_QUADRATIC, JN_ACT_SIGMOID, JN_REG_L2, 0.0, 1.0, 0.0};
    size_t nb, nf, ni;
    int32_t idx[256];
    CHECK(jn_convfast_work_bytes(&nb, net, 3, 1, 8) == JN_OK, "tie work");
    CHECK(jn_net_epoch_work_size(&nf, &ni, net, 3, 1) == JN_OK && nf <= 4096 && ni <= 256, "ref");
    void *work = malloc(nb);
    CHECK(jn_convfast_train_epoch_f64(w, b, NULL, NULL, NULL, xu, 1.0, y, NULL, NULL, 1.0, &cfg,
                                      net, 3, 1, 1, 1, work, nb) == JN_OK, "tie fast");
    CHECK(jn_net_train_epoch_f64(wq, bq, NULL, NULL, x, y, NULL, NULL, 1.0, &cfg, net, 3, 1, 1,
                                 work_r, 4096, idx, 256) == JN_OK, "tie reference");
    for (int i = 0; i < 10; i++) CHECK(p[i] == q[i], "tie: parameter %d %g vs %g", i, p[i], q[i]);
    /* output 5 + 2 + 3 + 7 = 17, delta 14; channel 1 at the first maxima, (0,0),
     * (0,3), (2,0), (2,2): 1 + 4 + 9 + 11 (the last maxima would give 6 + 7 + 14 + 15) */
    CHECK(p[1] == -14.0 * (1 + 4 + 9 + 11), "tie: w0[1] = %g, not the first maxima's", p[1]);
    free(work);
}

/* Every error code, the parameters untouched. */
static void test_errors(void) {
    const net_t *t = &NETS[1];
    const int64_t np = n_params(t), n = 4, n0 = in_size(&t->layers[0]);
    double *p = malloc(8 * (size_t)np), *p0 = malloc(8 * (size_t)np), y[12] = {0};
    uint8_t *xu = calloc((size_t)(n * n0), 1);
    double *x = calloc((size_t)(n * n0), 8);
    for (int64_t i = 0; i < np; i++) p[i] = p0[i] = uniform();
    double *w[2], *b[2];
    split(t, p, w, b);
    jn_config cfg = {t->cost, JN_ACT_SIGMOID, JN_REG_L2, 0.0, 1.0, 0.0};
    size_t nb;
    CHECK(jn_convfast_work_bytes(&nb, t->layers, t->nl, 2, 3) == JN_ERR_SIZE, "elem_size 3");
    CHECK(jn_convfast_work_bytes(NULL, t->layers, t->nl, 2, 8) == JN_ERR_NULL, "out NULL");
    CHECK(jn_convfast_work_bytes(&nb, t->layers, t->nl, 2, 8) == JN_OK, "work bytes");
    void *work = malloc(nb);
    const int64_t bad_order[4] = {0, 1, 4, 2};
    jn_layer soft[2] = {t->layers[0], t->layers[1]};
    soft[0].activation = JN_ACT_SOFTMAX;
    jn_config ll = cfg;
    ll.cost = JN_COST_LOG_LIKELIHOOD;
    const double *no_masks[2] = {NULL, NULL};
#define FAST(w_, x_, xu_, sc, ord, mk, eta, c, lay, bs, th, wb)                                   \
    jn_convfast_train_epoch_f64(w_, b, NULL, NULL, x_, xu_, sc, y, ord, mk, eta, c, lay, 2, n, bs, \
                                th, work, wb)
    CHECK(FAST(NULL, NULL, xu, 1.0, NULL, NULL, 0.1, &cfg, t->layers, 2, 1, nb) == JN_ERR_NULL, "w");
    CHECK(FAST(w, x, xu, 1.0, NULL, NULL, 0.1, &cfg, t->layers, 2, 1, nb) == JN_ERR_NULL, "x and u8");
    CHECK(FAST(w, NULL, xu, 1.0, NULL, NULL, 0.1, &cfg, t->layers, 2, 0, nb) == JN_ERR_THREADS, "0");
    CHECK(FAST(w, NULL, xu, 1.0, NULL, NULL, 0.1, &cfg, t->layers, 2, JN_MAX_THREADS + 1, nb)
          == JN_ERR_THREADS, "too many threads");
    CHECK(FAST(w, NULL, xu, 1.0, NULL, NULL, 0.1, &cfg, t->layers, 2, 1, nb - 1) == JN_ERR_WORK, "work");
    CHECK(FAST(w, NULL, xu, 1.0, NULL, NULL, 0.1, &cfg, t->layers, 5, 1, nb) == JN_ERR_BATCH, "batch");
    CHECK(FAST(w, NULL, xu, 1.0, bad_order, NULL, 0.1, &cfg, t->layers, 2, 1, nb) == JN_ERR_ORDER,
          "order");
    CHECK(FAST(w, NULL, xu, 1.0, NULL, NULL, NAN, &cfg, t->layers, 2, 1, nb) == JN_ERR_ETA, "eta");
    CHECK(FAST(w, NULL, xu, NAN, NULL, NULL, 0.1, &cfg, t->layers, 2, 1, nb) == JN_ERR_ETA, "scale");
    CHECK(FAST(w, NULL, xu, 1.0, NULL, NULL, 0.1, &cfg, soft, 2, 1, nb) == JN_ERR_CONFIG, "softmax");
    CHECK(FAST(w, NULL, xu, 1.0, NULL, NULL, 0.1, &ll, t->layers, 2, 1, nb) == JN_ERR_CONFIG, "cost");
    CHECK(FAST(w, NULL, xu, 1.0, NULL, no_masks, 0.1, &cfg, t->layers, 2, 1, nb) == JN_ERR_NULL,
          "a dropout layer without its mask");
#undef FAST
    CHECK(memcmp(p, p0, 8 * (size_t)np) == 0, "a refused call changed the parameters");
    free(p), free(p0), free(xu), free(x), free(work);
}

int main(int argc, char **argv) {
    rng_state = 0x2545F4914F6CDD1Dull;
    if (argc == 2 && strcmp(argv[1], "--digest") == 0) {   /* test_chunks' bits, for make */
        const uint64_t digest = test_chunks();
        printf("%016llx\n", (unsigned long long)digest);
        return failures != 0;
    }
    test_against_reference();
    test_chunks();
    test_float32_and_uint8();
    test_tie();
    test_errors();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("jaxnet_net_fast: all C checks passed\n");
    return 0;
}
