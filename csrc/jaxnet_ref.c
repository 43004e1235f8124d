/* jaxnet_ref: the readable reference (see jaxnet_ref.h). The float64 and
 * float32 kernels are one template, jaxnet_ref_impl.h, included twice; the
 * argument checks here are shared with the fast path (jaxnet_fast.c). */
#include "jaxnet_ref.h"
#include "jn_common.h"

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
    case JN_ERR_INPUT: return "an input is NaN or Inf (the row is in *bad_row)";
    case JN_ERR_THREADS: return "threads must be >= 1";
    default: return "unknown error code";
    }
}

int jn__mul(size_t *out, size_t a, size_t b) {
    return __builtin_mul_overflow(a, b, out) ? JN_ERR_OVERFLOW : JN_OK;
}

int jn__add(size_t *acc, size_t v) {
    return __builtin_add_overflow(*acc, v, acc) ? JN_ERR_OVERFLOW : JN_OK;
}

int jn__check_sizes(const int64_t *sizes, int64_t n_layers, int64_t batch) {
    if (sizes == NULL) return JN_ERR_NULL;
    if (n_layers < 1 || n_layers > JN_MAX_LAYERS || batch < 1) return JN_ERR_SIZE;
    for (int64_t l = 0; l <= n_layers; l++)
        if (sizes[l] < 1) return JN_ERR_SIZE;
    size_t total = 0, t;
    for (int64_t l = 0; l < n_layers; l++) {
        /* n_out * n_in * batch: the largest product any loop forms. */
        if (jn__mul(&t, (size_t)sizes[l], (size_t)sizes[l + 1])) return JN_ERR_OVERFLOW;
        if (jn__mul(&t, t, (size_t)batch)) return JN_ERR_OVERFLOW;
        if (jn__add(&total, t)) return JN_ERR_OVERFLOW;
    }
    if (total > (size_t)INT64_MAX / 4) return JN_ERR_OVERFLOW;
    return JN_OK;
}

/* The book's chapter 1, for a NULL config. */
static const jn_config default_config = {JN_COST_QUADRATIC, JN_ACT_SIGMOID, JN_REG_L2, 0.0, 1.0,
                                         0.0};

int jn__check_config(const jn_config **out, const jn_config *cfg) {
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

int jn__check_epoch(const int64_t *order, const int64_t *sizes, int64_t n_layers, int64_t n,
                    int64_t batch_size) {
    if (order == NULL) return JN_ERR_NULL;
    if (n < 1) return JN_ERR_SIZE;
    if (batch_size < 1 || batch_size > n) return JN_ERR_BATCH;
    size_t t;
    if (jn__mul(&t, (size_t)n, (size_t)sizes[0]) || jn__mul(&t, (size_t)n, (size_t)sizes[n_layers]))
        return JN_ERR_OVERFLOW;
    for (int64_t i = 0; i < n; i++)
        if (order[i] < 0 || order[i] >= n) return JN_ERR_ORDER;
    return JN_OK;
}

/* Where everything lives in the work buffer, in elements. */
typedef struct {
    size_t a[JN_MAX_LAYERS + 1];  /* activations a[l] (batch, sizes[l]); a[0] = the input */
    size_t d[JN_MAX_LAYERS];      /* deltas d[l] (batch, sizes[l+1]), the mean's 1/m included */
    size_t gw[JN_MAX_LAYERS];     /* dC/dw[l] (sizes[l+1], sizes[l]) */
    size_t gb[JN_MAX_LAYERS];     /* dC/db[l] (sizes[l+1],) */
    size_t y;                     /* the gathered targets (batch, sizes[L]) */
    size_t total;
} jn_layout;

/* Fills the layout for mini-batches of `batch`; checks the sizes first. */
static int make_layout(jn_layout *L, const int64_t *sizes, int64_t n_layers, int64_t batch) {
    int err = jn__check_sizes(sizes, n_layers, batch);
    if (err) return err;
    size_t off = 0, t;
#define JN_PLACE(field, count_a, count_b)                                         \
    do {                                                                         \
        (field) = off;                                                           \
        if (jn__mul(&t, (size_t)(count_a), (size_t)(count_b)) || jn__add(&off, t)) \
            return JN_ERR_OVERFLOW;                                              \
    } while (0)
    for (int64_t l = 0; l <= n_layers; l++) JN_PLACE(L->a[l], batch, sizes[l]);
    for (int64_t l = 0; l < n_layers; l++) JN_PLACE(L->d[l], batch, sizes[l + 1]);
    for (int64_t l = 0; l < n_layers; l++) JN_PLACE(L->gw[l], sizes[l + 1], sizes[l]);
    for (int64_t l = 0; l < n_layers; l++) JN_PLACE(L->gb[l], 1, sizes[l + 1]);
    JN_PLACE(L->y, batch, sizes[n_layers]);
#undef JN_PLACE
    L->total = off;
    return JN_OK;
}

int jn_trace_offsets(size_t *a_off, size_t *delta_off, const int64_t *sizes,
                     int64_t n_layers, int64_t batch) {
    if (a_off == NULL || delta_off == NULL) return JN_ERR_NULL;
    jn_layout L;
    int err = make_layout(&L, sizes, n_layers, batch);
    if (err) return err;
    memcpy(a_off, L.a, sizeof(size_t) * (size_t)(n_layers + 1));
    memcpy(delta_off, L.d, sizeof(size_t) * (size_t)n_layers);
    return JN_OK;
}

int jn_work_size(size_t *out, const int64_t *sizes, int64_t n_layers, int64_t batch) {
    if (out == NULL) return JN_ERR_NULL;
    jn_layout L;
    int err = make_layout(&L, sizes, n_layers, batch);
    if (!err) *out = L.total;
    return err;
}

#define JN_TEMPLATE "jaxnet_ref_impl.h"
#include "jn_twice.h"
