/* jn_strerror and the argument checks every kernel shares (jn_common.h). */
#include "jn_common.h"

#include <math.h>

const char *jn_strerror(int code) {
    switch (code) {
    case JN_OK: return "ok";
    case JN_ERR_NULL: return "a required pointer is NULL";
    case JN_ERR_SIZE: return "n_layers, a layer size or the batch is < 1";
    case JN_ERR_OVERFLOW: return "a size product overflows";
    case JN_ERR_BATCH: return "batch_size must satisfy 1 <= batch_size <= n";
    case JN_ERR_ORDER: return "an order entry is outside [0, n)";
    case JN_ERR_ETA: return "eta is not finite";
    case JN_ERR_WORK: return "the work buffer is smaller than the kernel's work size";
    case JN_ERR_CONFIG: return "invalid config: unknown cost/activation/reg, lmbda < 0 or "
                               "not finite, n_train <= 0 with lmbda > 0, momentum "
                               "outside [0, 1], or a layer's kind, dropout or activation "
                               "that the chain or its cost does not allow, or sparse not 0 "
                               "or 1";
    case JN_ERR_INPUT: return "an input is NaN or Inf (the row is in *bad_row)";
    case JN_ERR_THREADS: return "threads must satisfy 1 <= threads <= JN_MAX_THREADS (1024)";
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
    if (n < 1) return JN_ERR_SIZE;
    if (batch_size < 1 || batch_size > n) return JN_ERR_BATCH;
    size_t t;
    if (jn__mul(&t, (size_t)n, (size_t)sizes[0]) || jn__mul(&t, (size_t)n, (size_t)sizes[n_layers]))
        return JN_ERR_OVERFLOW;
    for (int64_t i = 0; order && i < n; i++)
        if (order[i] < 0 || order[i] >= n) return JN_ERR_ORDER;
    return JN_OK;
}

int jn__check_output(const jn_config *cfg, int act) {
    if (cfg->cost == JN_COST_LOG_LIKELIHOOD && act != JN_ACT_SOFTMAX) return JN_ERR_CONFIG;
    if (cfg->cost == JN_COST_CROSS_ENTROPY && act != JN_ACT_SIGMOID) return JN_ERR_CONFIG;
    if (cfg->cost == JN_COST_QUADRATIC && act == JN_ACT_SOFTMAX) return JN_ERR_CONFIG;
    return JN_OK;
}
