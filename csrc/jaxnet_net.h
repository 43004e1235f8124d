/* jaxnet_net: THE readable C reference of jaxnet's networks: a chain of layers,
 * each a fully connected (Dense) layer or network3's conv-pool layer
 * (jaxnet_convpool.h), with its own activation and optional input dropout.
 * The book's Dense chains (jaxnet_dense_chain.h) and chapter 6's networks both
 * run here. Its fast path is jaxnet_net_fast.h.
 *
 * The same chain as jaxnet/nn/_network.py: for layer l, in[l] = a[l] times the
 * dropout mask (or 1 - p without masks), z[l] = the layer's forward of in[l],
 * a[l+1] = f(z[l]), a[0] = x; BP1 from the cost; backward, each layer's
 * gradients (BP3, BP4) and dC/d(in[l]), times the mask, times f'(a[l]) of the
 * layer below (BP2). Conventions as jaxnet_types.h; shapes, for a mini-batch of
 * m examples, with in_size[l] = c*h*w of layer l and out_size[l] its outputs
 * per example (dense: n_out; convpool: n_out * hp * wp, jaxnet_convpool.h):
 *   x (m, in_size[0]), y (m, out_size[L-1]), L = n_layers;
 *   dense layer: w (n_out, c*h*w), b (n_out,); convpool: w (n_out, c, k, k), b (n_out,);
 *   masks: NULL, or masks[l] NULL or (m, in_size[l]) 0/1 values, required for
 *   each layer with dropout > 0.
 * The cost (jn_config.cost) asks of the last layer: log-likelihood a softmax,
 * cross-entropy a sigmoid, quadratic anything but softmax (else JN_ERR_CONFIG).
 * cfg->activation is unused here (each layer has its own), though checked as a
 * Dense chain's.
 */
#ifndef JAXNET_NET_H
#define JAXNET_NET_H

#include "jaxnet_convpool.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { JN_LAYER_DENSE = 0, JN_LAYER_CONVPOOL = 1 };

typedef struct {
    int32_t kind;        /* JN_LAYER_DENSE or JN_LAYER_CONVPOOL */
    int32_t activation;  /* JN_ACT_*; JN_ACT_SOFTMAX for the last layer only */
    int64_t c, h, w;     /* the input per example: c maps of h x w (dense: c*h*w values) */
    int64_t n_out;       /* dense: neurons; convpool: filters */
    int64_t k, p;        /* convpool: kernel side and pool side (dense: ignored) */
    double dropout;      /* input dropout p in [0, 1); without masks, inputs are scaled by 1 - p */
} jn_layer;

/* *n_float and *n_idx: the work elements (of the function's float type, and int32)
 * that jn_net_feedforward and jn_net_backprop need for mini-batches of m;
 * JN_ERR_SIZE for layers whose shapes do not chain, JN_ERR_CONFIG for an unknown
 * kind or activation, a hidden softmax or a dropout outside [0, 1). */
int jn_net_work_size(size_t *n_float, size_t *n_idx, const jn_layer *layers, int64_t n_layers,
                     int64_t m);

/* Where jn_net_backprop_* (and jn_net_feedforward_*) leave a mini-batch of m's
 * intermediates in work, as offsets in elements: in_off (n_layers,) those of each
 * layer's input in[l] (m, in_size[l]), a[l] times its dropout factor (in[0] = x
 * for a layer 0 without dropout); out_off (n_layers,) those of its activations
 * a[l+1] = f(z[l]) (m, out_size[l]); delta_off (n_layers,) those of its deltas
 * dC/dz[l] (m, out_size[l]) of BP1 (l = n_layers - 1) and BP2, the mean's 1/m
 * included (jn_net_backprop only). */
int jn_net_trace_offsets(size_t *in_off, size_t *out_off, size_t *delta_off,
                         const jn_layer *layers, int64_t n_layers, int64_t m);

/* out (m, out_size[L-1]) = a[L] for x (m, in_size[0]), the evaluation pass:
 * dropout layers scale their inputs by 1 - p. */
int jn_net_feedforward_f64(double *out, const double *const *w, const double *const *b,
                           const double *x, const jn_layer *layers, int64_t n_layers, int64_t m,
                           double *work, size_t work_len, int32_t *idx, size_t idx_len);
int jn_net_feedforward_f32(float *out, const float *const *w, const float *const *b,
                           const float *x, const jn_layer *layers, int64_t n_layers, int64_t m,
                           float *work, size_t work_len, int32_t *idx, size_t idx_len);

/* Gradient of the mean cost (plus cfg's regularisation) over x (m, in_size[0]) with
 * targets y (m, out_size[L-1]) into gw[l], gb[l], shaped like w[l], b[l]. */
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

/* In place: one epoch of mini-batch SGD over x (n, in_size[0]), y (n, out_size[L-1]),
 * visiting order (n,) batch_size examples at a time (order NULL: rows 0..n-1 in turn;
 * the last n mod batch_size form a smaller final mini-batch), each step with g =
 * jn_net_backprop's gradient of the mini-batch:
 *   vw == NULL (then vb too): p <- p - eta g;  vw, vb given: v <- mu v - eta g, p <- p + v.
 * masks: NULL (dropout layers scale by 1 - p), or masks[l] (n, in_size[l]) for each layer
 * with dropout > 0, where row t is the mask of the t-th example *visited* (position t of
 * order, not example order[t]): step s uses rows s*batch_size .. of every mask.
 * One step is the epoch with n = batch_size and order NULL. */
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
