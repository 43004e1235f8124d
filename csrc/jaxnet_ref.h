/* jaxnet_ref: a C reference kernel for Nielsen's sigmoid network.
 *
 * The same mathematics as jaxnet's JAX code (the costs and activations of
 * jaxnet.nn._model, backprop BP1-BP4, mini-batch SGD with L2/L1 regularisation
 * and momentum), written as plain loops that read like the equations.
 * Conventions:
 *   - float64 functions end in _f64, float32 ones in _f32;
 *   - outputs first, then inputs, then sizes;
 *   - a network of n_layers weighted layers has sizes[0..n_layers]; layer l
 *     has w[l] (sizes[l+1], sizes[l]) row-major, w[l][j*sizes[l] + k]
 *     connecting input k to output j (the JAX pytree's layout), and
 *     b[l] (sizes[l+1],);
 *   - a mini-batch is row-major, one example per row: x (batch, sizes[0]),
 *     y (batch, sizes[n_layers]);
 *   - scratch memory is passed in (`work`, jn_work_size elements), so no
 *     function allocates;
 *   - every function returns JN_OK or an error code (jn_strerror); none
 *     calls exit().
 */
#ifndef JAXNET_REF_H
#define JAXNET_REF_H

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
    JN_ERR_SIZE = 2,      /* n_layers not in [1, JN_MAX_LAYERS], a size < 1, batch < 1 */
    JN_ERR_OVERFLOW = 3,  /* a size product overflows */
    JN_ERR_BATCH = 4,     /* batch_size < 1 or > n */
    JN_ERR_ORDER = 5,     /* an order entry is outside [0, n) */
    JN_ERR_ETA = 6,       /* eta is not finite */
    JN_ERR_WORK = 7,      /* work_len is smaller than jn_work_size */
    JN_ERR_CONFIG = 8,    /* an unknown cost/activation/reg, lmbda < 0 or not finite,
                             n_train <= 0 with lmbda > 0, momentum outside [0, 1] */
    JN_ERR_INPUT = 9,     /* (fast path) a float input is NaN or Inf */
    JN_ERR_THREADS = 10   /* (fast path) threads < 1 */
};

/* The cost, which also fixes the output layer: sigmoid for QUADRATIC and
 * CROSS_ENTROPY, softmax for LOG_LIKELIHOOD. BP1 (times m): (a - y) a (1 - a),
 * a - y, and a * sum_j y_j - y respectively. */
enum { JN_COST_QUADRATIC = 0, JN_COST_CROSS_ENTROPY = 1, JN_COST_LOG_LIKELIHOOD = 2 };
/* The hidden layers' activation; BP2 uses f'(z) written with a = f(z):
 * a (1 - a), 1 - a^2, [a > 0]. */
enum { JN_ACT_SIGMOID = 0, JN_ACT_TANH = 1, JN_ACT_RELU = 2 };
/* Regularisation of the weights (never the biases), used when lmbda > 0:
 * L2 adds (lmbda/n_train) w to dC/dw, L1 adds (lmbda/n_train) sgn(w). */
enum { JN_REG_L2 = 0, JN_REG_L1 = 1 };

/* The model and the update. A NULL config means the book's chapter 1:
 * quadratic cost, sigmoid, no regularisation. */
typedef struct {
    int32_t cost;        /* JN_COST_* */
    int32_t activation;  /* JN_ACT_* */
    int32_t reg;         /* JN_REG_* */
    double lmbda;        /* regularisation strength, >= 0 (0: none) */
    double n_train;      /* n in lambda/n, the training-set size (> 0 when lmbda > 0) */
    double momentum;     /* mu in [0, 1], used only with velocities */
} jn_config;

/* A static message for an error code. */
const char *jn_strerror(int code);

/* *out = number of scratch elements (of the function's dtype) that
 * jn_backprop/jn_sgd_step/jn_train_epoch need for mini-batches of `batch`. */
int jn_work_size(size_t *out, const int64_t *sizes, int64_t n_layers, int64_t batch);

/* Where jn_backprop_* leaves its intermediates in `work`: a_off
 * (n_layers + 1,) receives the offsets (in elements) of the activations
 * a[l] (batch, sizes[l]), l = 0..n_layers (a[0] = x); delta_off (n_layers,)
 * those of the deltas delta[l] (batch, sizes[l+1]) of BP1 (l = n_layers-1)
 * and BP2, each already divided by batch (the mean's 1/m). */
int jn_trace_offsets(size_t *a_off, size_t *delta_off, const int64_t *sizes,
                     int64_t n_layers, int64_t batch);

/* out (batch, sizes[n_layers]) = a^L(x) for x (batch, sizes[0]). */
int jn_feedforward_f64(double *out, const double *const *w, const double *const *b,
                       const double *x, const jn_config *cfg, const int64_t *sizes,
                       int64_t n_layers, int64_t batch, double *work, size_t work_len);
int jn_feedforward_f32(float *out, const float *const *w, const float *const *b,
                       const float *x, const jn_config *cfg, const int64_t *sizes,
                       int64_t n_layers, int64_t batch, float *work, size_t work_len);

/* gw[l] (sizes[l+1], sizes[l]), gb[l] (sizes[l+1],) = the gradient of the
 * cost averaged over x (batch, sizes[0]) with targets y (batch,
 * sizes[n_layers]), plus the regularisation term's (cfg). */
int jn_backprop_f64(double *const *gw, double *const *gb, const double *const *w,
                    const double *const *b, const double *x, const double *y,
                    const jn_config *cfg, const int64_t *sizes, int64_t n_layers,
                    int64_t batch, double *work, size_t work_len);
int jn_backprop_f32(float *const *gw, float *const *gb, const float *const *w,
                    const float *const *b, const float *x, const float *y,
                    const jn_config *cfg, const int64_t *sizes, int64_t n_layers,
                    int64_t batch, float *work, size_t work_len);

/* In place, one mini-batch x (batch, sizes[0]), y (batch, sizes[n_layers]),
 * g = dC/dp the regularised gradient:
 *   vw == NULL (then vb must be NULL too): p <- p - eta g
 *     (with L2 the book's w <- (1 - eta lmbda/n) w - eta dC0/dw);
 *   vw, vb (shaped like w, b) given: v <- mu v - eta g, p <- p + v (momentum). */
int jn_sgd_step_f64(double *const *w, double *const *b, double *const *vw, double *const *vb,
                    const double *x, const double *y, double eta, const jn_config *cfg,
                    const int64_t *sizes, int64_t n_layers, int64_t batch,
                    double *work, size_t work_len);
int jn_sgd_step_f32(float *const *w, float *const *b, float *const *vw, float *const *vb,
                    const float *x, const float *y, float eta, const jn_config *cfg,
                    const int64_t *sizes, int64_t n_layers, int64_t batch,
                    float *work, size_t work_len);

/* In place: one epoch of mini-batch SGD (jn_sgd_step's update, velocities
 * optional as there) over x (n, sizes[0]), y (n, sizes[L]) visiting examples
 * in order (n,), batch_size at a time; the last n mod batch_size examples
 * form a smaller final mini-batch (network.py). work must hold
 * jn_work_size(..., batch_size) elements. */
int jn_train_epoch_f64(double *const *w, double *const *b, double *const *vw,
                       double *const *vb, const double *x, const double *y,
                       const int64_t *order, double eta, const jn_config *cfg,
                       const int64_t *sizes, int64_t n_layers, int64_t n,
                       int64_t batch_size, double *work, size_t work_len);
int jn_train_epoch_f32(float *const *w, float *const *b, float *const *vw,
                       float *const *vb, const float *x, const float *y,
                       const int64_t *order, float eta, const jn_config *cfg,
                       const int64_t *sizes, int64_t n_layers, int64_t n,
                       int64_t batch_size, float *work, size_t work_len);

#ifdef __cplusplus
}
#endif

#endif /* JAXNET_REF_H */
