/* jaxnet_net: the readable C reference of chapter 6's networks, whose layers are
 * network3's conv-pool layers (jaxnet_conv.h) and fully connected layers, each
 * with its own activation and optional input dropout.
 *
 * The same chain as jaxnet/nn/_network.py: for layer l, in = a[l] (times the
 * dropout mask, or 1 - p without masks), z = the layer's forward of in,
 * a[l+1] = f(z); BP1 from the cost; backward, each layer's gradients and
 * dC/d(in), times the mask, times f'(a[l]) of the layer below (BP2).
 * Conventions as jaxnet_ref.h; shapes, for a mini-batch of m examples:
 *   x (m, in_size of layer 0), y (m, out_size of the last layer);
 *   dense layer: w (n_out, c*h*w), b (n_out,); convpool: w (n_out, c, k, k), b (n_out,);
 *   masks[l]: NULL, or (m, c*h*w) 0/1 values for a layer with dropout > 0.
 */
#ifndef JAXNET_NET_H
#define JAXNET_NET_H

#include "jaxnet_conv.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { JN_LAYER_DENSE = 0, JN_LAYER_CONVPOOL = 1 };
/* Beyond JN_ACT_SIGMOID, _TANH, _RELU: the output softmax and the identity. */
enum { JN_NET_ACT_SOFTMAX = 3, JN_NET_ACT_LINEAR = 4 };

typedef struct {
    int32_t kind;        /* JN_LAYER_DENSE or JN_LAYER_CONVPOOL */
    int32_t activation;  /* JN_ACT_* or JN_NET_ACT_*; softmax for the last layer only */
    int64_t c, h, w;     /* the input per example: c maps of h x w (dense: c*h*w values) */
    int64_t n_out;       /* dense: neurons; convpool: filters */
    int64_t k, p;        /* convpool: kernel side and pool side (dense: ignored) */
    double dropout;      /* input dropout p in [0, 1); without masks, inputs are scaled by 1 - p */
} jn_layer;

/* *n_float and *n_idx: the work elements (of the function's float type, and int32)
 * that jn_net_backprop needs for mini-batches of m; JN_ERR_SIZE for layers whose
 * shapes do not chain, JN_ERR_CONFIG for an unknown kind or activation. */
int jn_net_work_size(size_t *n_float, size_t *n_idx, const jn_layer *layers, int64_t n_layers,
                     int64_t m);

/* Gradient of the mean cost (plus cfg's regularisation; cfg->activation is unused: each
 * layer has its own) into gw[l], gb[l], shaped like w[l], b[l]. */
int jn_net_backprop_f64(double *const *gw, double *const *gb, const double *const *w,
                        const double *const *b, const double *x, const double *y,
                        const double *const *masks, const jn_layer *layers, int64_t n_layers,
                        const jn_config *cfg, int64_t m, double *work, size_t work_len,
                        int32_t *idx, size_t idx_len);
int jn_net_backprop_f32(float *const *gw, float *const *gb, const float *const *w,
                        const float *const *b, const float *x, const float *y,
                        const float *const *masks, const jn_layer *layers, int64_t n_layers,
                        const jn_config *cfg, int64_t m, float *work, size_t work_len,
                        int32_t *idx, size_t idx_len);

/* *n_float and *n_idx: the work jn_net_train_epoch needs for mini-batches of
 * batch_size: jn_net_work_size's, the gathered mini-batch and one gradient per parameter. */
int jn_net_epoch_work_size(size_t *n_float, size_t *n_idx, const jn_layer *layers,
                           int64_t n_layers, int64_t batch_size);

/* In place: one epoch of mini-batch SGD over x (n, in_size of layer 0), y (n, out_size
 * of the last layer), visiting order (n,) batch_size examples at a time (the last
 * n mod batch_size form a smaller final mini-batch), each step with g = jn_net_backprop's
 * gradient of the mini-batch:
 *   vw == NULL (then vb too): p <- p - eta g;  vw, vb given: v <- mu v - eta g, p <- p + v.
 * masks: NULL (dropout layers scale by 1 - p), or masks[l] (n, in_size[l]) for each layer
 * with dropout > 0, where row t is the mask of the t-th example *visited* (position t of
 * order, not example order[t]): step s uses rows s*batch_size .. of every mask.
 * One step is the epoch with n = batch_size and order 0..n-1. */
int jn_net_train_epoch_f64(double *const *w, double *const *b, double *const *vw,
                           double *const *vb, const double *x, const double *y,
                           const int64_t *order, const double *const *masks, double eta,
                           const jn_config *cfg, const jn_layer *layers, int64_t n_layers,
                           int64_t n, int64_t batch_size, double *work, size_t work_len,
                           int32_t *idx, size_t idx_len);
int jn_net_train_epoch_f32(float *const *w, float *const *b, float *const *vw,
                           float *const *vb, const float *x, const float *y,
                           const int64_t *order, const float *const *masks, float eta,
                           const jn_config *cfg, const jn_layer *layers, int64_t n_layers,
                           int64_t n, int64_t batch_size, float *work, size_t work_len,
                           int32_t *idx, size_t idx_len);

#ifdef __cplusplus
}
#endif

#endif /* JAXNET_NET_H */
