/* jaxnet_net_fast: the fast path for a whole epoch (and a step) of chapter 6's
 * networks, a chain of ConvPool and Dense layers (jn_layer, jaxnet_net.h),
 * tested against the readable reference, jn_net_train_epoch.
 *
 * The same chain, costs, activations, dropout masks, regularisation, update
 * rules, order and error codes as jn_net_train_epoch; what differs is how
 * the work is laid out:
 *   - every product is one register-blocked matrix product (jn_gemm_impl.h:
 *     tiles of 4 rows by up to 4 vectors of columns, each element one chain
 *     of fused multiply-adds over k ascending);
 *   - a ConvPool layer is im2col then a product: each example's patches are
 *     the columns of ct (c k k, positions) with the positions ordered by their
 *     place in the pooling block first, (u, v, Y, X), so the p*p candidates
 *     of every pooling block lie in p*p contiguous runs and the max-pooling
 *     (the block's first largest entry in row-major order, as the reference)
 *     is an elementwise pass over them; the patches are copied from the
 *     example's (k + p - 1)^2 windows of the input at stride p, themselves
 *     runs of its column phases; dC/dw is ct times the deltas routed to each
 *     block's maximum, and dC/d(input) is w^T times them, put back by the
 *     adjoint (windows, then phases, then the image);
 *   - a mini-batch is taken a chunk of up to 8 examples at a time (so the
 *     working set does not grow with the mini-batch), each gradient's sums
 *     continued from the chunk before: the same chains of multiply-adds as
 *     one pass over the whole mini-batch, so the chunk size changes no bit;
 *   - uint8 pixels are read directly (times x_scale, the value
 *     jn_net_train_epoch is given as floats);
 *   - with threads > 1 (OpenMP, when the extension was built with it) the
 *     examples of a chunk (forward, col2im, dC/d(input): at most 8 threads
 *     busy there) or the tiles of a product are shared out; the work items and each element's sums are
 *     fixed by the shapes alone, none is split between threads, so the
 *     results are identical for any thread count;
 *   - nothing allocates: `work` holds everything (jn_convfast_work_bytes).
 * The sums are the reference's, in the same order but for col2im's (windows,
 * then phases), and fused (one rounding per multiply-add where the reference
 * rounds twice); the update subtracts
 * the same gradient: parameters agree with jn_net_train_epoch to rounding
 * (tested: <= 1e-12 relative per float64 step, <= 1e-10 per epoch). No
 * -ffast-math: NaN stays NaN. */
#ifndef JAXNET_NET_FAST_H
#define JAXNET_NET_FAST_H

#include <stddef.h>
#include <stdint.h>

#include "jaxnet_net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* *out = bytes of work jn_convfast_train_epoch_* needs for mini-batches of
 * batch_size; elem_size is sizeof(float) or sizeof(double). The layers'
 * errors are jn_net_epoch_work_size's. */
int jn_convfast_work_bytes(size_t *out, const jn_layer *layers, int64_t n_layers,
                           int64_t batch_size, int64_t elem_size);

/* In place, as jn_net_train_epoch_*: one epoch of mini-batch SGD (vw, vb NULL)
 * or momentum over the rows of the training set in order (n,) (NULL: in turn),
 * batch_size at a time (a smaller last one), with the dropout masks[l]
 * (n, in_size[l]) by position (or NULL: dropout layers scale by 1 - p). The
 * inputs are either x (n, in_size[0]) floats (then x_u8 is NULL) or x_u8
 * (n, in_size[0]) uint8 pixels standing for x_u8 * x_scale (then x is NULL);
 * y (n, out_size[L-1]). threads in [1, JN_MAX_THREADS] (JN_ERR_THREADS); the
 * results do not depend on it. */
int jn_convfast_train_epoch_f64(double *const *w, double *const *b, double *const *vw,
                                double *const *vb, const double *x, const uint8_t *x_u8,
                                double x_scale, const double *y, const int64_t *order,
                                const double *const *masks, double eta, const jn_config *cfg,
                                const jn_layer *layers, int64_t n_layers, int64_t n,
                                int64_t batch_size, int64_t threads, void *work,
                                size_t work_bytes);
int jn_convfast_train_epoch_f32(float *const *w, float *const *b, float *const *vw,
                                float *const *vb, const float *x, const uint8_t *x_u8,
                                float x_scale, const float *y, const int64_t *order,
                                const float *const *masks, float eta, const jn_config *cfg,
                                const jn_layer *layers, int64_t n_layers, int64_t n,
                                int64_t batch_size, int64_t threads, void *work,
                                size_t work_bytes);

#ifdef __cplusplus
}
#endif

#endif /* JAXNET_NET_FAST_H */
