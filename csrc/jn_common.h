/* Internal to jaxnet's C kernels (jaxnet_net.c, jaxnet_convpool.c,
 * jaxnet_net_fast.c, jaxnet_dense_chain.c, jaxnet_dense_chain_fast.c): the
 * argument checks they share. Not part of the API; defined, with jn_strerror,
 * in jn_common.c. */
#ifndef JN_COMMON_H
#define JN_COMMON_H

#include "jaxnet_types.h"

#include <stddef.h>
#include <stdint.h>

/* *out = a * b or *acc += v, or JN_ERR_OVERFLOW; operands >= 0. */
int jn__mul(size_t *out, size_t a, size_t b);
int jn__add(size_t *acc, size_t v);

/* A Dense chain's sizes (n_layers + 1 entries >= 1, n_layers in
 * [1, JN_MAX_LAYERS]) and batch >= 1, with every n_out * n_in * batch product
 * in range. */
int jn__check_sizes(const int64_t *sizes, int64_t n_layers, int64_t batch);

/* *out = cfg, or the book's chapter 1 for NULL; JN_ERR_CONFIG for a value
 * outside its range (a hidden activation other than sigmoid, tanh, relu). */
int jn__check_config(const jn_config **out, const jn_config *cfg);

/* The epoch's own checks: n >= 1, 1 <= batch_size <= n, every order entry
 * in [0, n) (order NULL, the rows in turn, has none to check), n * sizes[0]
 * and n * sizes[L] in range. */
int jn__check_epoch(const int64_t *order, const int64_t *sizes, int64_t n_layers, int64_t n,
                    int64_t batch_size);

/* The cost's demands on a chain's output activation (log-likelihood: softmax;
 * cross-entropy: sigmoid; quadratic: not softmax, whose f' is no elementwise
 * factor), else JN_ERR_CONFIG. */
int jn__check_output(const jn_config *cfg, int activation);

/* A Dense chain's output activation, which its cost fixes: softmax for
 * log-likelihood, else sigmoid. */
static inline int jn__output_activation(const jn_config *cfg) {
    return cfg->cost == JN_COST_LOG_LIKELIHOOD ? JN_ACT_SOFTMAX : JN_ACT_SIGMOID;
}

/* The fast path's float32 sigmoid, in place on z (n,) (jaxnet_dense_chain_fast.c):
 * within JN_SIGMOID_ULPS units in the last place of the scalar
 * 1 / (1 + expf(-z)), 0 for z < -88.3762, NaN kept. */
#define JN_SIGMOID_ULPS 4
void jn__fast_sigmoid_f32(float *z, int64_t n);

#endif /* JN_COMMON_H */
