/* jaxnet_dense_chain: the Dense-chain API, Nielsen's fully connected networks
 * (chapters 1 and 3), as thin wrappers over the readable reference,
 * jaxnet_net.h. A chain is given as its sizes and a jn_config; each call turns
 * it into Dense jn_layers (the hidden ones with cfg->activation, the output
 * layer with its cost's: sigmoid, or softmax for log-likelihood; no dropout)
 * and runs jaxnet_net's function.
 *
 * Conventions as jaxnet_types.h. A network of n_layers weighted layers has
 * sizes[0..n_layers]; layer l has w[l] (sizes[l+1], sizes[l]), w[l][j*sizes[l]
 * + k] connecting input k to output j, and b[l] (sizes[l+1],); a mini-batch is
 * x (batch, sizes[0]), y (batch, sizes[n_layers]). Every function takes a work
 * buffer of jn_work_size elements (JN_ERR_WORK if shorter).
 */
#ifndef JAXNET_DENSE_CHAIN_H
#define JAXNET_DENSE_CHAIN_H

#include "jaxnet_types.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* *out = number of scratch elements (of the function's dtype) that every
 * function below needs for mini-batches of `batch`: jn_net_epoch_work_size's
 * for the chain (an epoch's, the largest). */
int jn_work_size(size_t *out, const int64_t *sizes, int64_t n_layers, int64_t batch);

/* Where jn_backprop_* leaves its intermediates in `work` (jn_net_trace_offsets
 * of the chain): a_off (n_layers + 1,) receives the offsets (in elements) of
 * the activations a[l] (batch, sizes[l]), l = 0..n_layers (a[0] = x);
 * delta_off (n_layers,) those of the deltas delta[l] (batch, sizes[l+1]) of
 * BP1 (l = n_layers-1) and BP2, each already divided by batch (the mean's 1/m). */
int jn_trace_offsets(size_t *a_off, size_t *delta_off, const int64_t *sizes,
                     int64_t n_layers, int64_t batch);

/* out (batch, sizes[n_layers]) = a^L(x) for x (batch, sizes[0]): jn_net_feedforward. */
int jn_feedforward_f64(double *out, const double *const *w, const double *const *b,
                       const double *x, const jn_config *cfg, const int64_t *sizes,
                       int64_t n_layers, int64_t batch, double *work, size_t work_len);
int jn_feedforward_f32(float *out, const float *const *w, const float *const *b,
                       const float *x, const jn_config *cfg, const int64_t *sizes,
                       int64_t n_layers, int64_t batch, float *work, size_t work_len);

/* gw[l] (sizes[l+1], sizes[l]), gb[l] (sizes[l+1],) = the gradient of the
 * cost averaged over x (batch, sizes[0]) with targets y (batch,
 * sizes[n_layers]), plus the regularisation term's (cfg): jn_net_backprop. */
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
 *   vw, vb (shaped like w, b) given: v <- mu v - eta g, p <- p + v (momentum).
 * jn_net_train_epoch of one mini-batch (order NULL). */
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
 * jn_work_size(..., batch_size) elements. jn_net_train_epoch, no masks. */
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

#endif /* JAXNET_DENSE_CHAIN_H */
