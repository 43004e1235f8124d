/* Tests of the readable reference, jaxnet_net, and of its conv-pool layer.
 * The conv-pool layer (jaxnet_convpool.h): a hand-made tie, central
 * differences of the backward against the forward, float32 against float64,
 * and the error codes; and of chapter 6's networks (jaxnet_net.h): a conv +
 * dense + softmax net's gradient by central differences of its cost, and the
 * error codes; and the network's epoch (order, a smaller last mini-batch,
 * mask rows by position, momentum) against its own steps spelled out with
 * jn_net_backprop; the evaluation pass against the gradient's forward (through
 * jn_net_trace_offsets), order NULL. (tests/test_cref_conv.py compares both with
 * the JAX twins.) */
#include "jaxnet_convpool.h"
#include "jaxnet_net.h"
#include "jn_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Central differences: h = 1e-6, O(h^2) + O(eps/h) ~ 1e-10 relative, with margin. */
#define FD_RTOL 1e-6

/* One 1x4x4 map, a 1x1 kernel of weight 1, 2x2 pools: the top-left block holds
 * 0.9 twice, at (0,1) and (1,0); the first in row-major order, (0,1), wins. */
static void test_tie(void) {
    const double a[16] = {0.1, 0.9, 0.2, 0.3, 0.9, 0.5, 0.4, 0.8,
                          0.0, 0.1, 0.7, 0.7, 0.2, 0.3, 0.7, 0.6};
    const double w[1] = {1.0}, b[1] = {0.5};
    jn_convpool_dims d = {1, 1, 4, 4, 1, 1, 2};
    double z[4], delta[4] = {1, 2, 3, 4}, gw[1], gb[1], g_in[16];
    int32_t idx[4];
    CHECK(jn_convpool_forward_f64(z, idx, a, w, b, &d) == JN_OK, "forward");
    const double zz[4] = {1.4, 1.3, 0.8, 1.2};
    const int32_t ii[4] = {1, 3, 3, 0};     /* (0,1); (1,3); (3,1); (2,2): ties to the first */
    for (int e = 0; e < 4; e++) {
        CHECK(fabs(z[e] - zz[e]) < 1e-15, "z[%d] = %g, expected %g", e, z[e], zz[e]);
        CHECK(idx[e] == ii[e], "idx[%d] = %d, expected %d", e, idx[e], ii[e]);
    }
    CHECK(jn_convpool_backward_f64(gw, gb, g_in, a, idx, delta, w, &d) == JN_OK, "backward");
    double expect[16] = {0};
    expect[1] = 1; expect[7] = 2; expect[13] = 3; expect[10] = 4;
    for (int e = 0; e < 16; e++) CHECK(g_in[e] == expect[e], "g_in[%d] = %g", e, g_in[e]);
    CHECK(gb[0] == 10, "gb %g", gb[0]);
    CHECK(fabs(gw[0] - (0.9 + 2 * 0.8 + 3 * 0.3 + 4 * 0.7)) < 1e-15, "gw %g", gw[0]);
}

/* C = sum z * delta; its gradient by central differences against the backward. */
static double weighted(const double *a, const double *w, const double *b, const double *delta,
                       const jn_convpool_dims *d, size_t nz) {
    double *z = malloc(nz * sizeof *z);
    int32_t *idx = malloc(nz * sizeof *idx);
    double s = 0;
    if (jn_convpool_forward_f64(z, idx, a, w, b, d) == JN_OK)
        for (size_t e = 0; e < nz; e++) s += z[e] * delta[e];
    free(z); free(idx);
    return s;
}

/* The largest |central difference − analytic| over theta[0..n) (a, w's entries,
 * moved in place and restored) and the largest |analytic|. */
static void fd_compare(double *theta, size_t n, const double *analytic, const double *a,
                       const double *w, const double *b, const double *delta,
                       const jn_convpool_dims *d, size_t nz, double *worst, double *scale) {
    const double h = 1e-6;
    *worst = *scale = 0;
    for (size_t i = 0; i < n; i++) {
        const double keep = theta[i];
        theta[i] = keep + h;
        const double up = weighted(a, w, b, delta, d, nz);
        theta[i] = keep - h;
        const double down = weighted(a, w, b, delta, d, nz);
        theta[i] = keep;
        const double diff = fabs((up - down) / (2 * h) - analytic[i]);
        *worst = isfinite(diff) ? fmax(*worst, diff) : INFINITY;   /* NaN counts as a failure */
        *scale = fmax(*scale, fabs(analytic[i]));
    }
}

static void test_central_differences(void) {
    const jn_convpool_dims g = {2, 2, 7, 7, 3, 2, 3};  /* conv 6x6, pool 3: 2x2 pooled */
    const size_t na = 2 * 2 * 7 * 7, nw = 3 * 2 * 2 * 2, nz = 2 * 3 * 2 * 2;
    double a[2 * 2 * 7 * 7], w[3 * 2 * 2 * 2], b[3], delta[2 * 3 * 2 * 2];
    for (size_t i = 0; i < na; i++) a[i] = uniform();
    for (size_t i = 0; i < nw; i++) w[i] = uniform() - 0.5;
    for (int i = 0; i < 3; i++) b[i] = uniform();
    for (size_t i = 0; i < nz; i++) delta[i] = uniform() - 0.5;
    double z[2 * 3 * 2 * 2], gw[3 * 2 * 2 * 2], gb[3], g_in[2 * 2 * 7 * 7];
    int32_t idx[2 * 3 * 2 * 2];
    CHECK(jn_convpool_forward_f64(z, idx, a, w, b, &g) == JN_OK, "forward");
    CHECK(jn_convpool_backward_f64(gw, gb, g_in, a, idx, delta, w, &g) == JN_OK, "backward");
    double worst, scale;
    fd_compare(w, nw, gw, a, w, b, delta, &g, nz, &worst, &scale);
    CHECK(scale > 1e-3 && worst <= FD_RTOL * scale, "dC/dw: %.3e of %.3e", worst, scale);
    fd_compare(a, na, g_in, a, w, b, delta, &g, nz, &worst, &scale);
    CHECK(scale > 1e-3 && worst <= FD_RTOL * scale, "dC/da: %.3e of %.3e", worst, scale);
    for (int f = 0; f < 3; f++) {
        double s = 0;
        for (int n = 0; n < 2; n++)
            for (int o = 0; o < 4; o++) s += delta[(n * 3 + f) * 4 + o];
        CHECK(fabs(gb[f] - s) < 1e-14, "gb[%d]", f);
    }
}

static void test_float32(void) {
    const jn_convpool_dims d = {3, 2, 9, 9, 4, 4, 3};   /* conv 6x6, pool 3 */
    enum { NA = 3 * 2 * 9 * 9, NW = 4 * 2 * 4 * 4, NZ = 3 * 4 * 2 * 2 };
    double a[NA], w[NW], b[4], delta[NZ], z[NZ], gw[NW], gb[4], gi[NA];
    float af[NA], wf[NW], bf[4], deltaf[NZ], zf[NZ], gwf[NW], gbf[4], gif[NA];
    int32_t idx[NZ], idxf[NZ];
    for (int i = 0; i < NA; i++) af[i] = (float)uniform(), a[i] = af[i];
    for (int i = 0; i < NW; i++) wf[i] = (float)(uniform() - 0.5), w[i] = wf[i];
    for (int i = 0; i < 4; i++) bf[i] = (float)uniform(), b[i] = bf[i];
    for (int i = 0; i < NZ; i++) deltaf[i] = (float)(uniform() - 0.5), delta[i] = deltaf[i];
    CHECK(jn_convpool_forward_f64(z, idx, a, w, b, &d) == JN_OK, "f64 forward");
    CHECK(jn_convpool_forward_f32(zf, idxf, af, wf, bf, &d) == JN_OK, "f32 forward");
    for (int i = 0; i < NZ; i++) {
        CHECK(fabs(zf[i] - z[i]) <= 1e-5 * fabs(z[i]) + 1e-6, "z[%d]", i);
        CHECK(idxf[i] == idx[i], "idx[%d]: %d vs %d (a near-tie?)", i, idxf[i], idx[i]);
    }
    CHECK(jn_convpool_backward_f64(gw, gb, gi, a, idx, delta, w, &d) == JN_OK, "f64 back");
    CHECK(jn_convpool_backward_f32(gwf, gbf, gif, af, idx, deltaf, wf, &d) == JN_OK, "f32");
    for (int i = 0; i < NW; i++) CHECK(fabs(gwf[i] - gw[i]) <= 1e-5, "gw[%d]", i);
    for (int i = 0; i < NA; i++) CHECK(fabs(gif[i] - gi[i]) <= 1e-5, "g_in[%d]", i);
}

static void test_errors(void) {
    double v[64] = {0};
    int32_t idx[64] = {0};
    jn_convpool_dims d = {1, 1, 4, 4, 1, 5, 1};
    CHECK(jn_convpool_check(&d) == JN_ERR_SIZE, "a kernel larger than its input");
    d.k = 2; d.p = 2;
    CHECK(jn_convpool_check(&d) == JN_ERR_SIZE, "a pool that does not divide 3");
    d.p = 3;
    CHECK(jn_convpool_check(&d) == JN_OK, "1x4x4, 2x2 kernel, pool 3");
    d.m = 0;
    CHECK(jn_convpool_forward_f64(v, idx, v, v, v, &d) == JN_ERR_SIZE, "m = 0");
    d.m = INT64_MAX / 2; d.c = 4;
    CHECK(jn_convpool_check(&d) == JN_ERR_OVERFLOW, "an element count that overflows");
    d.m = 1; d.c = 1;
    CHECK(jn_convpool_forward_f64(NULL, idx, v, v, v, &d) == JN_ERR_NULL, "NULL z");
    CHECK(jn_convpool_backward_f64(v, v, NULL, v, NULL, v, v, &d) == JN_ERR_NULL, "NULL idx");
    idx[0] = 9;                                           /* outside the 3x3 block */
    CHECK(jn_convpool_backward_f64(v, v, v, v, idx, v, v, &d) == JN_ERR_INPUT, "a bad idx");
}

/* A 1x6x6 input, ConvPool(2 filters, 3x3, pool 2) relu, Dense(3) softmax with dropout. */
static const jn_layer NET[2] = {
    {JN_LAYER_CONVPOOL, JN_ACT_RELU, 1, 6, 6, 2, 3, 2, 0.0},
    {JN_LAYER_DENSE, JN_ACT_SOFTMAX, 2, 2, 2, 3, 1, 1, 0.25}};
enum { NM = 2, NX = 36, NW0 = 2 * 9, NW1 = 3 * 8 };

/* The mean log-likelihood of NET on (x, y), from its forward pass: the softmax
 * output is read back from the gradient call's work buffer (a[2]). */
static double net_cost(double *w0, double *w1, const double *b0, const double *b1,
                       const double *x, const double *y, const double *const *masks) {
    double gw0[NW0], gb0[2], gw1[NW1], gb1[3], work[4096];
    int32_t idx[256];
    double *gw[2] = {gw0, gw1}, *gb[2] = {gb0, gb1};
    const double *w[2] = {w0, w1}, *b[2] = {b0, b1};
    jn_config cfg = {JN_COST_LOG_LIKELIHOOD, JN_ACT_SIGMOID, JN_REG_L2, 0.0, 1.0, 0.0};
    size_t nf, ni;
    if (jn_net_work_size(&nf, &ni, NET, 2, NM) || nf > 4096 || ni > 256) return NAN;
    (void)nf;
    if (jn_net_backprop_f64(gw, gb, w, b, x, y, masks, NET, 2, &cfg, NM, work, 4096, idx, 256))
        return NAN;
    /* a[2], the softmax output: work holds in, z, a of each layer in turn (jaxnet_net.c):
     * in0 (NM x 36), z0 and a1 (NM x 8), in1 (NM x 8), z1 (NM x 3), then a2. */
    const double *a = work + NM * (36 + 8 + 8 + 8 + 3);
    double c = 0;
    for (int r = 0; r < NM; r++)
        for (int j = 0; j < 3; j++) c -= y[r * 3 + j] * log(a[r * 3 + j]);
    return c / NM;
}

static void test_net(void) {
    double x[NM * NX], y[NM * 3] = {1, 0, 0, 0, 0, 1}, w0[NW0], b0[2], w1[NW1], b1[3];
    double m1[NM * 8];
    for (int i = 0; i < NM * NX; i++) x[i] = uniform();
    for (int i = 0; i < NW0; i++) w0[i] = uniform() - 0.3;
    for (int i = 0; i < NW1; i++) w1[i] = uniform() - 0.5;
    for (int i = 0; i < 2; i++) b0[i] = uniform();
    for (int i = 0; i < 3; i++) b1[i] = uniform() - 0.5;
    for (int i = 0; i < NM * 8; i++) m1[i] = i % 4 ? 1.0 : 0.0;
    const double *masks[2] = {NULL, m1};
    double gw0[NW0], gb0[2], gw1[NW1], gb1[3], work[4096];
    int32_t idx[256];
    double *gw[2] = {gw0, gw1}, *gb[2] = {gb0, gb1};
    const double *w[2] = {w0, w1}, *b[2] = {b0, b1};
    jn_config cfg = {JN_COST_LOG_LIKELIHOOD, JN_ACT_SIGMOID, JN_REG_L2, 0.0, 1.0, 0.0};
    CHECK(jn_net_backprop_f64(gw, gb, w, b, x, y, masks, NET, 2, &cfg, NM, work, 4096, idx,
                              256) == JN_OK, "net backprop");
    double worst = 0, scale = 0;
    for (int i = 0; i < NW0 + NW1; i++) {
        double *p = i < NW0 ? &w0[i] : &w1[i - NW0];
        const double g = i < NW0 ? gw0[i] : gw1[i - NW0], keep = *p, h = 1e-6;
        *p = keep + h; const double up = net_cost(w0, w1, b0, b1, x, y, masks);
        *p = keep - h; const double down = net_cost(w0, w1, b0, b1, x, y, masks);
        *p = keep;
        const double diff = fabs((up - down) / (2 * h) - g);
        worst = isfinite(diff) ? fmax(worst, diff) : INFINITY;      /* NaN counts as a failure */
        scale = fmax(scale, fabs(g));
    }
    CHECK(scale > 1e-3 && worst <= FD_RTOL * scale, "net dC/dw: %.3e of %.3e", worst, scale);
    jn_layer bad[2] = {NET[0], NET[1]};
    size_t nf, ni;
    bad[1].c = 3;                                         /* does not chain to 2x2x2 */
    CHECK(jn_net_work_size(&nf, &ni, bad, 2, NM) == JN_ERR_SIZE, "layers that do not chain");
    bad[1] = NET[1], bad[0].activation = JN_ACT_SOFTMAX;
    CHECK(jn_net_work_size(&nf, &ni, bad, 2, NM) == JN_ERR_CONFIG, "a hidden softmax");
    CHECK(jn_net_backprop_f64(gw, gb, w, b, x, y, masks, NET, 2, &cfg, NM, work, 10, idx,
                              256) == JN_ERR_WORK, "a short work buffer");
    const double *no_mask[2] = {NULL, NULL};
    CHECK(jn_net_backprop_f64(gw, gb, w, b, x, y, no_mask, NET, 2, &cfg, NM, work, 4096, idx,
                              256) == JN_ERR_NULL, "a dropout layer without its mask");
}

/* An epoch of NEX examples (order 2, 0, 1; batch 2, then the last 1) with momentum and
 * dropout masks equals jn_net_backprop on the gathered mini-batches plus the update
 * written here: v = mu v - eta g, p += v. Same operations in the same order: equal to
 * the last bit. */
enum { NEX = 3, NPAR = NW0 + 2 + NW1 + 3 };
static void test_net_epoch(void) {
    double x[NEX * NX], y[NEX * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, m1[NEX * 8];
    double p[NPAR], v[NPAR], q[NPAR], u[NPAR], work[8192];
    for (int i = 0; i < NEX * NX; i++) x[i] = uniform();
    for (int i = 0; i < NPAR; i++) p[i] = q[i] = uniform() - 0.5, v[i] = u[i] = 0.1 * uniform();
    for (int i = 0; i < NEX * 8; i++) m1[i] = (i * 7) % 3 ? 1.0 : 0.0;
    const int64_t order[NEX] = {2, 0, 1};
    const double eta = 0.3, mu = 0.5;
    jn_config cfg = {JN_COST_LOG_LIKELIHOOD, JN_ACT_SIGMOID, JN_REG_L2, 0.1, 5.0, mu};
    int32_t idx[512];
    size_t nf, ni;
    CHECK(jn_net_epoch_work_size(&nf, &ni, NET, 2, 2) == JN_OK && nf <= 8192 && ni <= 512,
          "epoch work size %zu %zu", nf, ni);
    /* p, v: (w0, b0, w1, b1) packed */
    double *w[2] = {p, p + NW0 + 2}, *b[2] = {p + NW0, p + NW0 + 2 + NW1};
    double *vw[2] = {v, v + NW0 + 2}, *vb[2] = {v + NW0, v + NW0 + 2 + NW1};
    const double *masks[2] = {NULL, m1};
    CHECK(jn_net_train_epoch_f64(w, b, vw, vb, x, y, order, masks, eta, &cfg, NET, 2, NEX, 2,
                                 work, 8192, idx, 512) == JN_OK, "net epoch");
    double g[NPAR], xb[2 * NX], yb[2 * 3];
    const double *qw[2] = {q, q + NW0 + 2}, *qb[2] = {q + NW0, q + NW0 + 2 + NW1};
    double *gw[2] = {g, g + NW0 + 2}, *gb[2] = {g + NW0, g + NW0 + 2 + NW1};
    for (int start = 0; start < NEX; start += 2) {
        const int m = NEX - start < 2 ? NEX - start : 2;
        for (int r = 0; r < m; r++) {
            memcpy(xb + r * NX, x + order[start + r] * NX, NX * sizeof(double));
            memcpy(yb + r * 3, y + order[start + r] * 3, 3 * sizeof(double));
        }
        const double *mk[2] = {NULL, m1 + start * 8};
        CHECK(jn_net_backprop_f64(gw, gb, qw, qb, xb, yb, mk, NET, 2, &cfg, m, work, 8192, idx,
                                  512) == JN_OK, "step %d's gradient", start / 2);
        for (int i = 0; i < NPAR; i++) u[i] = mu * u[i] - eta * g[i], q[i] += u[i];
    }
    for (int i = 0; i < NPAR; i++)
        CHECK(p[i] == q[i] && v[i] == u[i], "parameter %d: %.17g vs %.17g", i, p[i], q[i]);
    const int64_t bad_order[NEX] = {0, 3, 1};
    CHECK(jn_net_train_epoch_f64(w, b, vw, vb, x, y, bad_order, masks, eta, &cfg, NET, 2, NEX, 2,
                                 work, 8192, idx, 512) == JN_ERR_ORDER, "an order entry >= n");
    CHECK(jn_net_train_epoch_f64(w, b, vw, vb, x, y, order, masks, eta, &cfg, NET, 2, NEX, 4,
                                 work, 8192, idx, 512) == JN_ERR_BATCH, "batch_size > n");
    CHECK(jn_net_train_epoch_f64(w, b, vw, vb, x, y, order, masks, NAN, &cfg, NET, 2, NEX, 2,
                                 work, 8192, idx, 512) == JN_ERR_ETA, "eta NaN");
    CHECK(jn_net_train_epoch_f64(w, b, vw, vb, x, y, order, masks, eta, &cfg, NET, 2, NEX, 2,
                                 work, nf - 1, idx, 512) == JN_ERR_WORK, "a short work buffer");
    CHECK(jn_net_train_epoch_f64(w, b, vw, NULL, x, y, order, masks, eta, &cfg, NET, 2, NEX, 2,
                                 work, 8192, idx, 512) == JN_ERR_NULL, "vw without vb");
    for (int i = 0; i < NPAR; i++)
        CHECK(p[i] == q[i], "parameter %d changed by a refused call", i);
}

/* jn_net_feedforward (the evaluation pass: inputs scaled by 1 - p) equals the
 * forward of jn_net_backprop with masks of 1 - p, read through jn_net_trace_offsets;
 * an epoch with order NULL equals one with order 0..n-1; the quadratic cost refuses
 * a softmax output. All exactly. */
static void test_net_feedforward_trace_order(void) {
    double x[NEX * NX], y[NEX * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, m1[NEX * 8], out[NEX * 3];
    double p[NPAR], q[NPAR], p0[NPAR], g[NPAR], work[8192];
    int32_t idx[512];
    for (int i = 0; i < NEX * NX; i++) x[i] = uniform();
    for (int i = 0; i < NPAR; i++) p[i] = q[i] = p0[i] = uniform() - 0.5;
    for (int i = 0; i < NEX * 8; i++) m1[i] = 1 - NET[1].dropout;
    double *w[2] = {p, p + NW0 + 2}, *b[2] = {p + NW0, p + NW0 + 2 + NW1};
    double *gw[2] = {g, g + NW0 + 2}, *gb[2] = {g + NW0, g + NW0 + 2 + NW1};
    const double *cw[2] = {w[0], w[1]}, *cb[2] = {b[0], b[1]}, *masks[2] = {NULL, m1};
    jn_config cfg = {JN_COST_LOG_LIKELIHOOD, JN_ACT_SIGMOID, JN_REG_L2, 0.0, 1.0, 0.0};
    size_t in_off[2], out_off[2], d_off[2];
    CHECK(jn_net_feedforward_f64(out, cw, cb, x, NET, 2, NEX, work, 8192, idx, 512) == JN_OK,
          "net feedforward");
    CHECK(jn_net_backprop_f64(gw, gb, cw, cb, x, y, masks, NET, 2, &cfg, NEX, work, 8192, idx,
                              512) == JN_OK, "net backprop");
    CHECK(jn_net_trace_offsets(in_off, out_off, d_off, NET, 2, NEX) == JN_OK, "trace offsets");
    int bad = 0;
    for (int i = 0; i < NEX * 3; i++) bad += work[out_off[1] + (size_t)i] != out[i];
    for (int i = 0; i < NEX * NX; i++) bad += work[in_off[0] + (size_t)i] != x[i];
    CHECK(bad == 0, "feedforward vs backprop's forward: %d entries differ", bad);
    const int64_t order[NEX] = {0, 1, 2};
    double *qw[2] = {q, q + NW0 + 2}, *qb[2] = {q + NW0, q + NW0 + 2 + NW1};
    CHECK(jn_net_train_epoch_f64(w, b, NULL, NULL, x, y, NULL, masks, 0.3, &cfg, NET, 2, NEX, 2,
                                 work, 8192, idx, 512) == JN_OK, "epoch, order NULL");
    CHECK(jn_net_train_epoch_f64(qw, qb, NULL, NULL, x, y, order, masks, 0.3, &cfg, NET, 2, NEX,
                                 2, work, 8192, idx, 512) == JN_OK, "epoch, order 0..n-1");
    for (int i = 0; i < NPAR; i++) CHECK(p[i] == q[i], "parameter %d: order NULL differs", i);
    CHECK(memcmp(p, p0, sizeof p) != 0, "the epochs did not move the parameters");
    cfg.cost = JN_COST_QUADRATIC;
    CHECK(jn_net_backprop_f64(gw, gb, cw, cb, x, y, masks, NET, 2, &cfg, NEX, work, 8192, idx,
                              512) == JN_ERR_CONFIG, "quadratic cost with a softmax output");
}

int main(void) {
    rng_state = 0x51AFD7ED558CCD25ull;
    test_tie();
    test_central_differences();
    test_float32();
    test_errors();
    test_net();
    test_net_epoch();
    test_net_feedforward_trace_order();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("jaxnet_net and jaxnet_convpool: all C checks passed\n");
    return 0;
}
