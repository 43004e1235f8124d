/* jaxnet_types: what every jaxnet C kernel shares: the error codes, the cost,
 * activation and regularisation constants, jn_config, JN_MAX_LAYERS.
 *
 * The kernels compute the same mathematics as jaxnet's JAX code (the costs and
 * activations of jaxnet.nn._model, backprop BP1-BP4, mini-batch SGD with L2/L1
 * regularisation and momentum) as plain loops. Conventions:
 *   - float64 functions end in _f64, float32 ones in _f32;
 *   - outputs first, then inputs, then sizes, then scratch buffers; the steps
 *     and epochs update the parameters in place and take them first;
 *   - arrays are row-major, one example per row; each pointer's shape is in
 *     the comment above its declaration, e.g. a weight matrix w (n_out, n_in)
 *     with w[j*n_in + k] connecting input k to output j (the JAX pytree's
 *     layout) and its biases b (n_out,);
 *   - scratch memory is passed in (`work`, sized by the kernel's *_work_size or
 *     *_work_bytes), so no function allocates;
 *   - every function returns JN_OK or an error code (jn_strerror); none calls
 *     exit().
 */
#ifndef JAXNET_TYPES_H
#define JAXNET_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The most weighted layers a network may have. */
#define JN_MAX_LAYERS 64

enum {
    JN_OK = 0,
    JN_ERR_NULL = 1,      /* a required pointer is NULL */
    JN_ERR_SIZE = 2,      /* n_layers not in [1, JN_MAX_LAYERS], a size < 1, batch < 1,
                             layers whose shapes do not chain */
    JN_ERR_OVERFLOW = 3,  /* a size product overflows */
    JN_ERR_BATCH = 4,     /* batch_size < 1 or > n */
    JN_ERR_ORDER = 5,     /* an order entry is outside [0, n) */
    JN_ERR_ETA = 6,       /* eta is not finite */
    JN_ERR_WORK = 7,      /* work_len is smaller than the kernel's work size */
    JN_ERR_CONFIG = 8,    /* an unknown cost/activation/reg, lmbda < 0 or not finite,
                             n_train <= 0 with lmbda > 0, momentum outside [0, 1];
                             (jaxnet_net) an unknown layer kind, dropout outside [0, 1),
                             a hidden softmax, an output layer its cost cannot take;
                             (Dense-chain fast path) sparse not 0 or 1 */
    JN_ERR_INPUT = 9,     /* (fast path) a float input is NaN or Inf */
    JN_ERR_THREADS = 10   /* (fast path) threads < 1 or > JN_MAX_THREADS */
};

/* The cost. BP1 (times m, the mini-batch size): (a - y) f'(z), a - y and
 * a * sum_j y_j - y respectively; cross-entropy needs a sigmoid output layer,
 * log-likelihood a softmax one. */
enum { JN_COST_QUADRATIC = 0, JN_COST_CROSS_ENTROPY = 1, JN_COST_LOG_LIKELIHOOD = 2 };

/* A layer's activation f; BP2 uses f'(z) written with a = f(z): a (1 - a),
 * 1 - a^2, [a > 0], and 1 for linear. Softmax is an output layer's only (its
 * BP1 is the log-likelihood's). A Dense chain's jn_config.activation, its
 * hidden layers', is one of the first three. */
enum {
    JN_ACT_SIGMOID = 0,
    JN_ACT_TANH = 1,
    JN_ACT_RELU = 2,
    JN_ACT_SOFTMAX = 3,
    JN_ACT_LINEAR = 4
};

/* Regularisation of the weights (never the biases), used when lmbda > 0:
 * L2 adds (lmbda/n_train) w to dC/dw, L1 adds (lmbda/n_train) sgn(w). */
enum { JN_REG_L2 = 0, JN_REG_L1 = 1 };

/* The model and the update. A NULL config means the book's chapter 1:
 * quadratic cost, sigmoid, no regularisation. */
typedef struct {
    int32_t cost;        /* JN_COST_* */
    int32_t activation;  /* a Dense chain's hidden layers: JN_ACT_SIGMOID, _TANH or _RELU */
    int32_t reg;         /* JN_REG_* */
    double lmbda;        /* regularisation strength, >= 0 (0: none) */
    double n_train;      /* n in lambda/n, the training-set size (> 0 when lmbda > 0) */
    double momentum;     /* mu in [0, 1], used only with velocities */
} jn_config;

/* A static message for an error code. */
const char *jn_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* JAXNET_TYPES_H */
