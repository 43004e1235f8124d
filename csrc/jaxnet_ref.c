/* jaxnet_ref: see jaxnet_ref.h. The float64 and float32 kernels are one
 * template, jaxnet_ref_impl.h, included twice. */
#include "jaxnet_ref.h"

#include <math.h>
#include <string.h>

const char *jn_strerror(int code) {
    switch (code) {
    case JN_OK: return "ok";
    case JN_ERR_NULL: return "a required pointer is NULL";
    case JN_ERR_SIZE: return "n_layers, a layer size or the batch is < 1";
    case JN_ERR_OVERFLOW: return "a size product overflows";
    case JN_ERR_BATCH: return "batch_size must satisfy 1 <= batch_size <= n";
    case JN_ERR_ORDER: return "an order entry is outside [0, n)";
    case JN_ERR_ETA: return "eta is not finite";
    case JN_ERR_WORK: return "the work buffer is smaller than jn_work_size";
    case JN_ERR_CONFIG: return "invalid config: unknown cost/activation/reg, lmbda < 0 or "
                               "not finite, n_train <= 0 with lmbda > 0, or momentum "
                               "outside [0, 1]";
    default: return "unknown error code";
    }
}

/* *out = a * b, or JN_ERR_OVERFLOW; operands must be >= 0. */
static int mul_size(size_t *out, size_t a, size_t b) {
    if (__builtin_mul_overflow(a, b, out)) return JN_ERR_OVERFLOW;
    return JN_OK;
}

static int add_size(size_t *acc, size_t v) {
    if (__builtin_add_overflow(*acc, v, acc)) return JN_ERR_OVERFLOW;
    return JN_OK;
}

/* Checks sizes (n_layers + 1 entries >= 1) and batch >= 1, and that every
 * element count used below fits in size_t (and in int64_t for indexing). */
static int check_sizes(const int64_t *sizes, int64_t n_layers, int64_t batch) {
    if (sizes == NULL) return JN_ERR_NULL;
    if (n_layers < 1 || batch < 1) return JN_ERR_SIZE;
    for (int64_t l = 0; l <= n_layers; l++)
        if (sizes[l] < 1) return JN_ERR_SIZE;
    size_t total = 0, t;
    for (int64_t l = 0; l < n_layers; l++) {
        /* n_out * n_in * batch: the largest product any loop forms. */
        if (mul_size(&t, (size_t)sizes[l], (size_t)sizes[l + 1])) return JN_ERR_OVERFLOW;
        if (mul_size(&t, t, (size_t)batch)) return JN_ERR_OVERFLOW;
        if (add_size(&total, t)) return JN_ERR_OVERFLOW;
    }
    if (total > (size_t)INT64_MAX / 4) return JN_ERR_OVERFLOW;
    return JN_OK;
}

/* The book's chapter 1, for a NULL config. */
static const jn_config default_config = {JN_COST_QUADRATIC, JN_ACT_SIGMOID, JN_REG_L2, 0.0, 1.0,
                                         0.0};

/* *out = cfg or the default; JN_ERR_CONFIG for values outside their ranges. */
static int check_config(const jn_config **out, const jn_config *cfg) {
    if (cfg == NULL) cfg = &default_config;
    if (cfg->cost < JN_COST_QUADRATIC || cfg->cost > JN_COST_LOG_LIKELIHOOD) return JN_ERR_CONFIG;
    if (cfg->activation < JN_ACT_SIGMOID || cfg->activation > JN_ACT_RELU) return JN_ERR_CONFIG;
    if (cfg->reg < JN_REG_L2 || cfg->reg > JN_REG_L1) return JN_ERR_CONFIG;
    if (!(cfg->lmbda >= 0) || !isfinite(cfg->lmbda)) return JN_ERR_CONFIG;
    if (cfg->lmbda > 0 && !(cfg->n_train > 0 && isfinite(cfg->n_train))) return JN_ERR_CONFIG;
    if (!(cfg->momentum >= 0 && cfg->momentum <= 1)) return JN_ERR_CONFIG;
    *out = cfg;
    return JN_OK;
}

/* The work buffer's layout, in elements: the transposed weights wt[l]
 * (sizes[l], sizes[l+1]) and, after them, their velocities vt[l] (same
 * shapes) at wt_off[l] + nw, nw the total weight count; the activations a[l] (batch, sizes[l]) for
 * l = 0..L (a[0] is the gathered input); the deltas d[l] (batch, sizes[l+1])
 * for l = 0..L-1; the gathered targets (batch, sizes[L]). Fills the offsets
 * of those that are non-NULL and *total. */
static int layout(size_t *wt_off, size_t *vt_off, size_t *a_off, size_t *d_off, size_t *y_off,
                  size_t *total, const int64_t *sizes, int64_t n_layers, int64_t batch) {
    int err = check_sizes(sizes, n_layers, batch);
    if (err) return err;
    size_t off = 0, t;
    for (int64_t l = 0; l < n_layers; l++) {
        if (wt_off) wt_off[l] = off;
        if (mul_size(&t, (size_t)sizes[l], (size_t)sizes[l + 1]) || add_size(&off, t))
            return JN_ERR_OVERFLOW;
    }
    const size_t nw = off;
    if (vt_off && wt_off)
        for (int64_t l = 0; l < n_layers; l++) vt_off[l] = wt_off[l] + nw;
    if (add_size(&off, nw)) return JN_ERR_OVERFLOW;  /* the velocities vt */
    for (int64_t l = 0; l <= n_layers; l++) {
        if (a_off) a_off[l] = off;
        if (mul_size(&t, (size_t)batch, (size_t)sizes[l]) || add_size(&off, t))
            return JN_ERR_OVERFLOW;
    }
    for (int64_t l = 0; l < n_layers; l++) {
        if (d_off) d_off[l] = off;
        if (mul_size(&t, (size_t)batch, (size_t)sizes[l + 1]) || add_size(&off, t))
            return JN_ERR_OVERFLOW;
    }
    if (y_off) *y_off = off;
    if (mul_size(&t, (size_t)batch, (size_t)sizes[n_layers]) || add_size(&off, t))
        return JN_ERR_OVERFLOW;
    *total = off;
    return JN_OK;
}

int jn_trace_offsets(size_t *a_off, size_t *delta_off, const int64_t *sizes,
                     int64_t n_layers, int64_t batch) {
    if (a_off == NULL || delta_off == NULL) return JN_ERR_NULL;
    size_t total;
    return layout(NULL, NULL, a_off, delta_off, NULL, &total, sizes, n_layers, batch);
}

int jn_work_size(size_t *out, const int64_t *sizes, int64_t n_layers, int64_t batch) {
    if (out == NULL) return JN_ERR_NULL;
    return layout(NULL, NULL, NULL, NULL, NULL, out, sizes, n_layers, batch);
}

/* Inputs are scanned for non-zeros this many at a time (a stack buffer). */
#define JN_CHUNK 256

#define JN_T double
#define JN_SFX(name) name##_f64
#define JN_EXP exp
#define JN_TANH tanh
#include "jaxnet_ref_impl.h"
#undef JN_T
#undef JN_SFX
#undef JN_EXP
#undef JN_TANH

#define JN_T float
#define JN_SFX(name) name##_f32
#define JN_EXP expf
#define JN_TANH tanhf
#include "jaxnet_ref_impl.h"
#undef JN_T
#undef JN_SFX
#undef JN_EXP
#undef JN_TANH
