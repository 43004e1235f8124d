/* Unit tests of jaxnet_dense_chain, the Dense-chain API (on the reference,
 * jaxnet_net), with a fixed seed. Exits non-zero on any failure.
 *   make -C csrc check        (optimised)
 *   make -C csrc asan-check   (-fsanitize=address,undefined) */
#include "jaxnet_dense_chain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jn_test.h"

/* Central differences with h = 1e-6 in double: truncation ~h^2 and round-off
 * ~eps/h ~ 1e-10, relative to gradients of size >= MIN_GRAD. */
#define FD_STEP 1e-6
#define FD_RTOL 1e-6
#define MIN_GRAD 1e-3
/* Two float64 evaluations of the same sums in another order: ~1e3 eps. */
#define F64_RTOL 1e-12
/* float32 against float64 on small nets: ~1e2 float32 ulps. */
#define F32_RTOL 1e-4

static double normal(void) { /* Box-Muller */
    double u = uniform(), v = uniform();
    return sqrt(-2 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

#define MAXL 4
typedef struct {
    int64_t n_layers, sizes[MAXL + 1];
    double *w[MAXL], *b[MAXL];
} net64;

static net64 make_net(const int64_t *sizes, int64_t n_layers) {
    net64 n;
    n.n_layers = n_layers;
    memcpy(n.sizes, sizes, sizeof(int64_t) * (size_t)(n_layers + 1));
    for (int64_t l = 0; l < n_layers; l++) {
        n.w[l] = malloc(sizeof(double) * (size_t)(sizes[l] * sizes[l + 1]));
        n.b[l] = malloc(sizeof(double) * (size_t)sizes[l + 1]);
        for (int64_t i = 0; i < sizes[l] * sizes[l + 1]; i++) n.w[l][i] = normal();
        for (int64_t i = 0; i < sizes[l + 1]; i++) n.b[l][i] = normal();
    }
    return n;
}
static net64 copy_net(const net64 *src) {
    net64 n = *src;
    for (int64_t l = 0; l < n.n_layers; l++) {
        size_t nw = (size_t)(n.sizes[l] * n.sizes[l + 1]), nb = (size_t)n.sizes[l + 1];
        n.w[l] = malloc(sizeof(double) * nw);
        n.b[l] = malloc(sizeof(double) * nb);
        memcpy(n.w[l], src->w[l], sizeof(double) * nw);
        memcpy(n.b[l], src->b[l], sizeof(double) * nb);
    }
    return n;
}
static void free_net(net64 *n) {
    for (int64_t l = 0; l < n->n_layers; l++) { free(n->w[l]); free(n->b[l]); }
}
static double *work_for(const net64 *n, int64_t batch, size_t *len) {
    int err = jn_work_size(len, n->sizes, n->n_layers, batch);
    CHECK(err == JN_OK, "jn_work_size: %s", jn_strerror(err));
    return malloc(sizeof(double) * *len);
}

/* The cost (1/m) sum 1/2 |a - y|^2 through jn_feedforward_f64. */
static double cost(const net64 *n, const double *x, const double *y, int64_t m) {
    size_t len;
    double *work = work_for(n, m, &len);
    int64_t nL = n->sizes[n->n_layers];
    double *out = malloc(sizeof(double) * (size_t)(m * nL));
    int err = jn_feedforward_f64(out, (const double *const *)n->w, (const double *const *)n->b,
                                 x, NULL, n->sizes, n->n_layers, m, work, len);
    CHECK(err == JN_OK, "feedforward: %s", jn_strerror(err));
    double c = 0;
    for (int64_t i = 0; i < m * nL; i++) c += 0.5 * (out[i] - y[i]) * (out[i] - y[i]);
    free(out);
    free(work);
    return c / (double)m;
}

static void random_batch(double *x, double *y, int64_t m, int64_t n0, int64_t nL) {
    for (int64_t i = 0; i < m * n0; i++) x[i] = uniform() < 0.5 ? 0.0 : uniform(); /* sparse, like MNIST */
    memset(y, 0, sizeof(double) * (size_t)(m * nL));
    for (int64_t r = 0; r < m; r++) y[r * nL + (int64_t)(uniform() * (double)nL)] = 1.0;
}

static double max_abs(const double *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}
static double rel_diff(const double *a, const double *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs(a[i] - b[i]));
    double s = max_abs(b, n);
    return s > 0 ? d / s : d;
}

static void test_gradient_matches_central_differences(void) {
    const int64_t sizes[] = {6, 5, 4, 3};
    const int64_t L = 3, m = 4;
    net64 n = make_net(sizes, L);
    double x[4 * 6], y[4 * 3];
    random_batch(x, y, m, 6, 3);
    double *gw[MAXL], *gb[MAXL];
    for (int64_t l = 0; l < L; l++) {
        gw[l] = calloc((size_t)(sizes[l] * sizes[l + 1]), sizeof(double));
        gb[l] = calloc((size_t)sizes[l + 1], sizeof(double));
    }
    size_t len;
    double *work = work_for(&n, m, &len);
    int err = jn_backprop_f64(gw, gb, (const double *const *)n.w, (const double *const *)n.b, x, y,
                              NULL, sizes, L, m, work, len);
    CHECK(err == JN_OK, "backprop: %s", jn_strerror(err));
    double largest = 0;
    for (int64_t l = 0; l < L; l++) {
        for (int part = 0; part < 2; part++) {
            double *p = part ? n.b[l] : n.w[l], *g = part ? gb[l] : gw[l];
            size_t cnt = part ? (size_t)sizes[l + 1] : (size_t)(sizes[l] * sizes[l + 1]);
            double *fd = malloc(sizeof(double) * cnt);
            for (size_t i = 0; i < cnt; i++) {
                double keep = p[i];
                p[i] = keep + FD_STEP;
                double up = cost(&n, x, y, m);
                p[i] = keep - FD_STEP;
                double down = cost(&n, x, y, m);
                p[i] = keep;
                fd[i] = (up - down) / (2 * FD_STEP);
            }
            double r = rel_diff(g, fd, cnt);
            CHECK(r <= FD_RTOL, "layer %lld %s: backprop vs central differences rel %.3e",
                  (long long)l, part ? "b" : "w", r);
            largest = fmax(largest, max_abs(g, cnt));
            free(fd);
        }
    }
    CHECK(largest > MIN_GRAD, "the gradient checked is ~0 (max %.3e): vacuous", largest);
    for (int64_t l = 0; l < L; l++) { free(gw[l]); free(gb[l]); }
    free(work);
    free_net(&n);
}

static void test_step_and_epoch_are_consistent(void) {
    const int64_t sizes[] = {7, 6, 3};
    const int64_t L = 2, N = 23, B = 5; /* 4 full mini-batches and one of 3 */
    net64 start = make_net(sizes, L);
    double x[23 * 7], y[23 * 3];
    random_batch(x, y, N, 7, 3);
    int64_t order[23];
    for (int64_t i = 0; i < N; i++) order[i] = (i * 7) % N; /* a permutation: 7 and 23 coprime */
    const double eta = 3.0;

    /* one step == w - eta * backprop */
    net64 a = copy_net(&start);
    size_t len;
    double *work = work_for(&start, N, &len);
    double *gw[MAXL], *gb[MAXL];
    for (int64_t l = 0; l < L; l++) {
        gw[l] = malloc(sizeof(double) * (size_t)(sizes[l] * sizes[l + 1]));
        gb[l] = malloc(sizeof(double) * (size_t)sizes[l + 1]);
    }
    int err = jn_backprop_f64(gw, gb, (const double *const *)a.w, (const double *const *)a.b, x, y,
                              NULL, sizes, L, B, work, len);
    CHECK(err == JN_OK, "backprop: %s", jn_strerror(err));
    err = jn_sgd_step_f64(a.w, a.b, NULL, NULL, x, y, eta, NULL, sizes, L, B, work, len);
    CHECK(err == JN_OK, "sgd_step: %s", jn_strerror(err));
    for (int64_t l = 0; l < L; l++) {
        size_t nw = (size_t)(sizes[l] * sizes[l + 1]);
        double *expect = malloc(sizeof(double) * nw);
        for (size_t i = 0; i < nw; i++) expect[i] = start.w[l][i] - eta * gw[l][i];
        double r = rel_diff(a.w[l], expect, nw);
        CHECK(r <= F64_RTOL, "sgd_step layer %lld w: rel %.3e", (long long)l, r);
        CHECK(rel_diff(a.w[l], start.w[l], nw) > 1e-6, "sgd_step did not move w");
        free(expect);
    }

    /* an epoch == the sequence of steps on the gathered mini-batches */
    net64 e = copy_net(&start), s = copy_net(&start);
    err = jn_train_epoch_f64(e.w, e.b, NULL, NULL, x, y, order, eta, NULL, sizes, L, N, B, work, len);
    CHECK(err == JN_OK, "train_epoch: %s", jn_strerror(err));
    double xb[5 * 7], yb[5 * 3];
    for (int64_t k = 0; k < N; k += B) {
        int64_t mb = N - k < B ? N - k : B;
        for (int64_t r = 0; r < mb; r++) {
            memcpy(xb + r * 7, x + order[k + r] * 7, sizeof(double) * 7);
            memcpy(yb + r * 3, y + order[k + r] * 3, sizeof(double) * 3);
        }
        err = jn_sgd_step_f64(s.w, s.b, NULL, NULL, xb, yb, eta, NULL, sizes, L, mb, work, len);
        CHECK(err == JN_OK, "sgd_step: %s", jn_strerror(err));
    }
    for (int64_t l = 0; l < L; l++) {
        double r = rel_diff(e.w[l], s.w[l], (size_t)(sizes[l] * sizes[l + 1]));
        CHECK(r <= F64_RTOL, "epoch vs steps layer %lld: rel %.3e", (long long)l, r);
        r = rel_diff(e.b[l], s.b[l], (size_t)sizes[l + 1]);
        CHECK(r <= F64_RTOL, "epoch vs steps layer %lld b: rel %.3e", (long long)l, r);
    }
    for (int64_t l = 0; l < L; l++) { free(gw[l]); free(gb[l]); }
    free(work);
    free_net(&a); free_net(&e); free_net(&s); free_net(&start);
}

static void test_float32_agrees_with_float64(void) {
    const int64_t sizes[] = {9, 8, 4};
    const int64_t L = 2, m = 6;
    net64 n = make_net(sizes, L);
    double x[6 * 9], y[6 * 4];
    random_batch(x, y, m, 9, 4);
    float xf[6 * 9], yf[6 * 4], *wf[2], *bf[2], *gwf[2], *gbf[2];
    double *gw[2], *gb[2];
    for (int i = 0; i < 6 * 9; i++) xf[i] = (float)x[i];
    for (int i = 0; i < 6 * 4; i++) yf[i] = (float)y[i];
    for (int64_t l = 0; l < L; l++) {
        size_t nw = (size_t)(sizes[l] * sizes[l + 1]), nb = (size_t)sizes[l + 1];
        wf[l] = malloc(sizeof(float) * nw); bf[l] = malloc(sizeof(float) * nb);
        gwf[l] = malloc(sizeof(float) * nw); gbf[l] = malloc(sizeof(float) * nb);
        gw[l] = malloc(sizeof(double) * nw); gb[l] = malloc(sizeof(double) * nb);
        for (size_t i = 0; i < nw; i++) wf[l][i] = (float)n.w[l][i];
        for (size_t i = 0; i < nb; i++) bf[l][i] = (float)n.b[l][i];
    }
    /* the float64 reference uses the float32-rounded parameters and inputs */
    for (int64_t l = 0; l < L; l++) {
        for (int64_t i = 0; i < sizes[l] * sizes[l + 1]; i++) n.w[l][i] = wf[l][i];
        for (int64_t i = 0; i < sizes[l + 1]; i++) n.b[l][i] = bf[l][i];
    }
    for (int i = 0; i < 6 * 9; i++) x[i] = xf[i];
    size_t len;
    double *work = work_for(&n, m, &len);
    float *workf = malloc(sizeof(float) * len);
    int err = jn_backprop_f64(gw, gb, (const double *const *)n.w, (const double *const *)n.b, x, y,
                              NULL, sizes, L, m, work, len);
    CHECK(err == JN_OK, "backprop f64: %s", jn_strerror(err));
    err = jn_backprop_f32(gwf, gbf, (const float *const *)wf, (const float *const *)bf, xf, yf, NULL, sizes,
                          L, m, workf, len);
    CHECK(err == JN_OK, "backprop f32: %s", jn_strerror(err));
    for (int64_t l = 0; l < L; l++) {
        size_t nw = (size_t)(sizes[l] * sizes[l + 1]);
        double *as64 = malloc(sizeof(double) * nw);
        for (size_t i = 0; i < nw; i++) as64[i] = gwf[l][i];
        double r = rel_diff(as64, gw[l], nw);
        CHECK(r <= F32_RTOL, "f32 vs f64 layer %lld: rel %.3e", (long long)l, r);
        CHECK(max_abs(gw[l], nw) > MIN_GRAD, "vacuous f32 comparison");
        free(as64);
        free(wf[l]); free(bf[l]); free(gwf[l]); free(gbf[l]); free(gw[l]); free(gb[l]);
    }
    free(work); free(workf);
    free_net(&n);
}

static void test_errors_are_reported(void) {
    size_t len = 0;
    const int64_t ok[] = {3, 2};
    CHECK(jn_work_size(&len, ok, 1, 4) == JN_OK && len > 0, "work size of a good net");
    CHECK(jn_work_size(NULL, ok, 1, 4) == JN_ERR_NULL, "NULL out");
    CHECK(jn_work_size(&len, NULL, 1, 4) == JN_ERR_NULL, "NULL sizes");
    CHECK(jn_work_size(&len, ok, 0, 4) == JN_ERR_SIZE, "zero layers");
    CHECK(jn_work_size(&len, ok, 1, 0) == JN_ERR_SIZE, "zero batch");
    const int64_t zero[] = {3, 0}, neg[] = {-3, 2};
    CHECK(jn_work_size(&len, zero, 1, 4) == JN_ERR_SIZE, "zero size");
    CHECK(jn_work_size(&len, neg, 1, 4) == JN_ERR_SIZE, "negative size");
    const int64_t huge[] = {INT64_C(1) << 40, INT64_C(1) << 40};
    CHECK(jn_work_size(&len, huge, 1, 1) == JN_ERR_OVERFLOW, "n_out * n_in overflow");
    const int64_t big[] = {INT64_C(1) << 20, INT64_C(1) << 20};
    CHECK(jn_work_size(&len, big, 1, INT64_C(1) << 30) == JN_ERR_OVERFLOW, "* batch overflow");

    net64 n = make_net(ok, 1);
    double x[4 * 3] = {0}, y[4 * 2] = {0};
    double *work = work_for(&n, 4, &len);
    int64_t order[4] = {0, 1, 2, 3};
    CHECK(jn_train_epoch_f64(n.w, n.b, NULL, NULL, x, y, order, 1.0, NULL, ok, 1, 4, 2, work, len) == JN_OK, "good epoch");
    order[2] = 4;
    CHECK(jn_train_epoch_f64(n.w, n.b, NULL, NULL, x, y, order, 1.0, NULL, ok, 1, 4, 2, work, len) == JN_ERR_ORDER, "order >= n");
    order[2] = -1;
    CHECK(jn_train_epoch_f64(n.w, n.b, NULL, NULL, x, y, order, 1.0, NULL, ok, 1, 4, 2, work, len) == JN_ERR_ORDER, "order < 0");
    order[2] = 2;
    CHECK(jn_train_epoch_f64(n.w, n.b, NULL, NULL, x, y, order, 1.0, NULL, ok, 1, 4, 5, work, len) == JN_ERR_BATCH, "batch > n");
    CHECK(jn_train_epoch_f64(n.w, n.b, NULL, NULL, x, y, order, 1.0, NULL, ok, 1, 4, 0, work, len) == JN_ERR_BATCH, "batch 0");
    CHECK(jn_train_epoch_f64(n.w, n.b, NULL, NULL, x, y, order, NAN, NULL, ok, 1, 4, 2, work, len) == JN_ERR_ETA, "NaN eta");
    size_t len2;
    CHECK(jn_work_size(&len2, ok, 1, 2) == JN_OK, "work size for batch 2");
    CHECK(jn_train_epoch_f64(n.w, n.b, NULL, NULL, x, y, order, 1.0, NULL, ok, 1, 4, 2, work, len2) == JN_OK, "exact work");
    CHECK(jn_train_epoch_f64(n.w, n.b, NULL, NULL, x, y, order, 1.0, NULL, ok, 1, 4, 2, work, len2 - 1) == JN_ERR_WORK, "small work");
    CHECK(jn_train_epoch_f64(n.w, n.b, NULL, NULL, NULL, y, order, 1.0, NULL, ok, 1, 4, 2, work, len) == JN_ERR_NULL, "NULL x");
    double *nullw[1] = {NULL};
    CHECK(jn_sgd_step_f64(nullw, n.b, NULL, NULL, x, y, 1.0, NULL, ok, 1, 2, work, len) == JN_ERR_NULL, "NULL w[0]");
    const int64_t many[JN_MAX_LAYERS + 2] = {0};
    CHECK(jn_feedforward_f64(x, (const double *const *)n.w, (const double *const *)n.b, x, NULL, many,
                             JN_MAX_LAYERS + 1, 1, work, len) == JN_ERR_SIZE, "too many layers");
    const jn_config bad_cost = {7, JN_ACT_SIGMOID, JN_REG_L2, 0, 1, 0},
                    bad_act = {JN_COST_QUADRATIC, -1, JN_REG_L2, 0, 1, 0},
                    bad_reg = {JN_COST_QUADRATIC, JN_ACT_SIGMOID, 2, 0, 1, 0},
                    neg_lmbda = {JN_COST_QUADRATIC, JN_ACT_SIGMOID, JN_REG_L2, -1, 1, 0},
                    nan_lmbda = {JN_COST_QUADRATIC, JN_ACT_SIGMOID, JN_REG_L2, NAN, 1, 0},
                    zero_n = {JN_COST_QUADRATIC, JN_ACT_SIGMOID, JN_REG_L2, 1, 0, 0},
                    big_mu = {JN_COST_QUADRATIC, JN_ACT_SIGMOID, JN_REG_L2, 0, 1, 1.5},
                    nan_mu = {JN_COST_QUADRATIC, JN_ACT_SIGMOID, JN_REG_L2, 0, 1, NAN};
    const jn_config *bad[] = {&bad_cost, &bad_act, &bad_reg, &neg_lmbda, &nan_lmbda, &zero_n,
                              &big_mu, &nan_mu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(jn_train_epoch_f64(n.w, n.b, NULL, NULL, x, y, order, 1.0, bad[i], ok, 1, 4, 2, work,
                                 len) == JN_ERR_CONFIG, "bad config %zu", i);
    CHECK(jn_sgd_step_f64(n.w, n.b, n.w, NULL, x, y, 1.0, NULL, ok, 1, 2, work, len) == JN_ERR_NULL,
          "vw without vb");
    CHECK(strcmp(jn_strerror(JN_ERR_ORDER), "an order entry is outside [0, n)") == 0, "strerror");
    CHECK(strcmp(jn_strerror(12345), "unknown error code") == 0, "unknown code");
    free(work);
    free_net(&n);
}

/* With velocities: mu = 0 gives the plain step (and v = the step taken); two
 * momentum steps give p2 = p0 + v1 + v2 with v2 = mu v1 - eta g(p1), checked
 * against gradients from jn_backprop, L2 term included. */
static void test_momentum_and_regularisation(void) {
    const int64_t sizes[] = {5, 4, 3}, L = 2, B = 3;
    net64 p = make_net(sizes, L), plain = copy_net(&p), zero = copy_net(&p), vel = copy_net(&p);
    double x[3 * 5], y[3 * 3];
    for (int i = 0; i < 15; i++) x[i] = uniform();
    for (int i = 0; i < 9; i++) y[i] = uniform() < 0.3;
    for (int64_t l = 0; l < L; l++) {
        memset(vel.w[l], 0, sizeof(double) * (size_t)(sizes[l] * sizes[l + 1]));
        memset(vel.b[l], 0, sizeof(double) * (size_t)sizes[l + 1]);
    }
    size_t len;
    double *work = work_for(&p, B, &len);
    const double eta = 0.7;
    for (int reg = JN_REG_L2; reg <= JN_REG_L1; reg++) {
        const jn_config c0 = {JN_COST_CROSS_ENTROPY, JN_ACT_TANH, reg, 2.0, 50.0, 0.0};
        int err = jn_sgd_step_f64(plain.w, plain.b, NULL, NULL, x, y, eta, &c0, sizes, L, B, work, len);
        err |= jn_sgd_step_f64(zero.w, zero.b, vel.w, vel.b, x, y, eta, &c0, sizes, L, B, work, len);
        CHECK(err == JN_OK, "steps");
        for (int64_t l = 0; l < L; l++) {
            size_t nw = (size_t)(sizes[l] * sizes[l + 1]);
            CHECK(rel_diff(zero.w[l], plain.w[l], nw) <= F64_RTOL, "mu=0 velocity step == plain step");
            CHECK(rel_diff(zero.b[l], plain.b[l], (size_t)sizes[l + 1]) <= F64_RTOL, "biases too");
        }
    }
    /* two momentum steps against the formula */
    const jn_config cm = {JN_COST_LOG_LIKELIHOOD, JN_ACT_RELU, JN_REG_L2, 1.5, 20.0, 0.8};
    net64 q = copy_net(&p), v = copy_net(&vel), p1 = copy_net(&p);
    for (int64_t l = 0; l < L; l++) {
        memset(v.w[l], 0, sizeof(double) * (size_t)(sizes[l] * sizes[l + 1]));
        memset(v.b[l], 0, sizeof(double) * (size_t)sizes[l + 1]);
    }
    double *g1w[2], *g1b[2], *g2w[2], *g2b[2];
    for (int64_t l = 0; l < L; l++) {
        g1w[l] = malloc(sizeof(double) * (size_t)(sizes[l] * sizes[l + 1]));
        g2w[l] = malloc(sizeof(double) * (size_t)(sizes[l] * sizes[l + 1]));
        g1b[l] = malloc(sizeof(double) * (size_t)sizes[l + 1]);
        g2b[l] = malloc(sizeof(double) * (size_t)sizes[l + 1]);
    }
    int err = jn_backprop_f64(g1w, g1b, (const double *const *)p.w, (const double *const *)p.b, x, y,
                              &cm, sizes, L, B, work, len);
    for (int64_t l = 0; l < L; l++) {   /* p1 = p0 + v1, v1 = -eta g(p0) */
        for (int64_t i = 0; i < sizes[l] * sizes[l + 1]; i++) p1.w[l][i] -= eta * g1w[l][i];
        for (int64_t i = 0; i < sizes[l + 1]; i++) p1.b[l][i] -= eta * g1b[l][i];
    }
    err |= jn_backprop_f64(g2w, g2b, (const double *const *)p1.w, (const double *const *)p1.b, x, y,
                           &cm, sizes, L, B, work, len);
    err |= jn_sgd_step_f64(q.w, q.b, v.w, v.b, x, y, eta, &cm, sizes, L, B, work, len);
    err |= jn_sgd_step_f64(q.w, q.b, v.w, v.b, x, y, eta, &cm, sizes, L, B, work, len);
    CHECK(err == JN_OK, "momentum steps");
    for (int64_t l = 0; l < L; l++) {
        size_t nw = (size_t)(sizes[l] * sizes[l + 1]);
        double *expect = malloc(sizeof(double) * nw);
        for (size_t i = 0; i < nw; i++) {
            double v1 = -eta * g1w[l][i], v2 = cm.momentum * v1 - eta * g2w[l][i];
            expect[i] = p.w[l][i] + v1 + v2;
        }
        double r = rel_diff(q.w[l], expect, nw);
        CHECK(r <= F64_RTOL, "momentum layer %lld: rel %.3e", (long long)l, r);
        CHECK(rel_diff(q.w[l], p.w[l], nw) > 1e-6, "momentum did not move w");
        free(expect);
        free(g1w[l]); free(g1b[l]); free(g2w[l]); free(g2b[l]);
    }
    free(work);
    free_net(&p); free_net(&plain); free_net(&zero); free_net(&vel); free_net(&q); free_net(&v);
    free_net(&p1);
}

/* A NaN input gives NaN outputs under every activation (no activation may
 * launder it into a finite number, as `z > 0 ? z : 0` would for ReLU). */
static void test_nan_propagates(void) {
    const int64_t sizes[] = {2, 3, 2};
    net64 n = make_net(sizes, 2);
    double x[2] = {NAN, 0.5}, out[2];
    size_t len;
    double *work = work_for(&n, 1, &len);
    for (int act = JN_ACT_SIGMOID; act <= JN_ACT_RELU; act++) {
        const jn_config c = {JN_COST_QUADRATIC, act, JN_REG_L2, 0, 1, 0};
        int err = jn_feedforward_f64(out, (const double *const *)n.w, (const double *const *)n.b,
                                     x, &c, sizes, 2, 1, work, len);
        CHECK(err == JN_OK && isnan(out[0]) && isnan(out[1]), "activation %d: NaN lost", act);
    }
    free(work);
    free_net(&n);
}

/* jn_trace_offsets points into the work buffer of the last jn_backprop: a[0] is x,
 * a[L] is jn_feedforward's output, the last delta is BP1 (cross-entropy: (a - y)/m)
 * and each layer's bias gradient is the sum of its delta's rows (BP3), all exactly. */
static void test_trace(void) {
    const int64_t sizes[] = {6, 5, 4, 3}, L = 3, m = 4;
    net64 n = make_net(sizes, L);
    double x[4 * 6], y[4 * 3], out[4 * 3];
    random_batch(x, y, m, 6, 3);
    double *gw[MAXL], *gb[MAXL];
    for (int64_t l = 0; l < L; l++) {
        gw[l] = malloc(sizeof(double) * (size_t)(sizes[l] * sizes[l + 1]));
        gb[l] = malloc(sizeof(double) * (size_t)sizes[l + 1]);
    }
    size_t len, a_off[MAXL + 1], d_off[MAXL];
    double *work = work_for(&n, m, &len), *work2 = malloc(sizeof(double) * len);
    const jn_config c = {JN_COST_CROSS_ENTROPY, JN_ACT_TANH, JN_REG_L2, 0, 1, 0};
    int err = jn_backprop_f64(gw, gb, (const double *const *)n.w, (const double *const *)n.b, x, y,
                              &c, sizes, L, m, work, len);
    err |= jn_feedforward_f64(out, (const double *const *)n.w, (const double *const *)n.b, x, &c,
                              sizes, L, m, work2, len);
    err |= jn_trace_offsets(a_off, d_off, sizes, L, m);
    CHECK(err == JN_OK, "backprop, feedforward, trace_offsets");
    long bad = 0;
    for (int64_t i = 0; i < m * 6; i++) bad += work[a_off[0] + i] != x[i];
    CHECK(bad == 0, "a[0] != x in %ld entries", bad);
    for (int64_t i = 0; i < m * 3; i++) {
        bad += work[a_off[L] + i] != out[i];
        bad += work[d_off[L - 1] + i] != (out[i] - y[i]) / (double)m;
    }
    CHECK(bad == 0, "a[L] or BP1's delta wrong in %ld entries", bad);
    for (int64_t l = 0; l < L; l++)
        for (int64_t j = 0; j < sizes[l + 1]; j++) {
            double s = 0;
            for (int64_t r = 0; r < m; r++) s += work[d_off[l] + r * sizes[l + 1] + j];
            CHECK(s == gb[l][j], "layer %lld: gb[%lld] %.17g != sum of delta %.17g", (long long)l,
                  (long long)j, gb[l][j], s);
        }
    CHECK(max_abs(gb[0], (size_t)sizes[1]) > MIN_GRAD, "vacuous: the first layer's gb is ~0");
    CHECK(jn_trace_offsets(NULL, d_off, sizes, L, m) == JN_ERR_NULL, "NULL a_off");
    CHECK(jn_trace_offsets(a_off, d_off, sizes, L, 0) == JN_ERR_SIZE, "batch 0");
    for (int64_t l = 0; l < L; l++) { free(gw[l]); free(gb[l]); }
    free(work); free(work2);
    free_net(&n);
}

int main(void) {
    test_trace();
    test_nan_propagates();
    test_momentum_and_regularisation();
    test_gradient_matches_central_differences();
    test_step_and_epoch_are_consistent();
    test_float32_agrees_with_float64();
    test_errors_are_reported();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("jaxnet_dense_chain: all C checks passed\n");
    return 0;
}
