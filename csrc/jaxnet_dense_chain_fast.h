/* jaxnet_dense_chain_fast: the fast path for a whole epoch (and a step) of a
 * Dense chain, tested against the readable reference (jaxnet_net.h, through
 * jaxnet_dense_chain.h).
 *
 * The same network, config, update rule and error codes as jaxnet_dense_chain.h;
 * what differs is how the work is laid out:
 *   - weights are held transposed and padded, wt (n_in, P) with P = n_out
 *     rounded up to JN_FAST_BLOCK, so each input's row of outputs is a run
 *     of whole blocks that the compiler keeps in vector registers;
 *   - every layer's input rows are first packed as (index, value) lists,
 *     built straight from the data set's rows in `order` (the gather is fused
 *     with that packing), from uint8 pixels times x_scale or from float
 *     inputs; a hidden layer's lists hold its non-zero inputs, the first
 *     layer's too when `sparse` is 1 (81 % of MNIST pixels are 0: the forward
 *     sums and the weight update touch only the pixels that are not), every
 *     entry when it is 0 (the dense first layer, kept to measure and check the
 *     sparse one against: the two give the same numbers, since a skipped zero
 *     adds exactly 0);
 *   - outputs are processed block by block, each block over every row of the
 *     mini-batch, so a block's weights stay in cache across the batch;
 *   - with threads > 1 (OpenMP, when the extension was built with it) one team
 *     runs the whole epoch: each thread packs, runs forward and computes the
 *     deltas of its share of each mini-batch's rows, then, after a barrier,
 *     updates the weights of its share of each layer's inputs (and biases),
 *     and a barrier ends the step; the first layer (when a layer follows it)
 *     is shared out by outputs instead, each thread's forward and update over
 *     every row, so its weights stay in its core's cache. Every element is
 *     computed by the same sequence of operations whatever the thread count,
 *     so the numbers are identical;
 *   - nothing allocates: `work` holds everything (jn_fast_work_bytes).
 * Forward values and deltas are computed as the reference computes them (the
 * same sums in the same order; a skipped zero adds exactly 0), but for the
 * float32 sigmoid, whose e^-z is a vector polynomial within a few ulps of
 * expf's where the machine has AVX2 and FMA (jn__fast_sigmoid_f32); the update
 * adds each example's a d^T in turn where the reference sums them first, so
 * parameters agree to rounding. No -ffast-math: NaN stays NaN. */
#ifndef JAXNET_DENSE_CHAIN_FAST_H
#define JAXNET_DENSE_CHAIN_FAST_H

#include <stddef.h>
#include <stdint.h>

#include "jaxnet_dense_chain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Outputs are processed this many at a time (and padded to a multiple). */
#define JN_FAST_BLOCK 32

/* The most threads a call may ask for (more: JN_ERR_THREADS). The team has at
 * most batch_size threads: a thread without rows would only wait. */
#define JN_MAX_THREADS 1024

/* *out = bytes of work jn_fast_train_epoch_* needs for mini-batches of
 * batch_size; elem_size is sizeof(float) or sizeof(double). */
int jn_fast_work_bytes(size_t *out, const int64_t *sizes, int64_t n_layers, int64_t batch_size,
                       int64_t elem_size);

/* In place, as jn_train_epoch_*: one epoch of mini-batch SGD over the rows of
 * the training set in order (n,), batch_size at a time (a smaller last one).
 * The inputs are either x (n, sizes[0]) floats (then x_u8 is NULL) or x_u8
 * (n, sizes[0]) uint8 pixels standing for x_u8 * x_scale (then x is NULL);
 * y (n, sizes[L]). threads in [1, JN_MAX_THREADS] (JN_ERR_THREADS); sparse 1
 * skips the first layer's zero inputs, 0 does not (else JN_ERR_CONFIG). A float
 * input that is NaN or Inf stops the epoch before any parameter changes, with
 * JN_ERR_INPUT and its row of x in *bad_row (when bad_row is not NULL). With
 * order NULL the epoch is one step over rows 0..n-1 (batch_size must be n):
 * jn_sgd_step. */
int jn_fast_train_epoch_f64(double *const *w, double *const *b, double *const *vw,
                            double *const *vb, const double *x, const uint8_t *x_u8,
                            double x_scale, const double *y, const int64_t *order, double eta,
                            const jn_config *cfg, const int64_t *sizes, int64_t n_layers,
                            int64_t n, int64_t batch_size, int64_t threads, int64_t sparse,
                            int64_t *bad_row, void *work, size_t work_bytes);
int jn_fast_train_epoch_f32(float *const *w, float *const *b, float *const *vw,
                            float *const *vb, const float *x, const uint8_t *x_u8,
                            float x_scale, const float *y, const int64_t *order, float eta,
                            const jn_config *cfg, const int64_t *sizes, int64_t n_layers,
                            int64_t n, int64_t batch_size, int64_t threads, int64_t sparse,
                            int64_t *bad_row, void *work, size_t work_bytes);

/* The first layer's inputs packed once, for many epochs: row r of x (n, n0)
 * floats (x_u8 NULL) or of x_u8 (n, n0) uint8 pixels standing for x_u8 *
 * x_scale (x NULL) as the (index, value) list the fast epoch would build for
 * it each step, ascending, its zeros left out where sparse is 1 (every entry
 * where 0): start[r + 1] - start[r] entries at idx + start[r] and val +
 * start[r]. start (n + 1,) is the caller's: 0, then each row's count (its
 * entries other than 0, NaN counted, where sparse), summed. idx and val hold
 * start[n] + n0 entries: a row may write n0 slots from its start (whole
 * vectors past its count, scratch the next row overwrites). JN_ERR_SIZE where
 * start is not such counts (start[0] != 0, a count outside [0, n0], or not
 * the row's); a NaN or Inf float gives JN_ERR_INPUT and its row in *bad_row
 * (when not NULL). */
int jn_fast_pack_f64(int32_t *idx, double *val, const int64_t *start, const double *x,
                     const uint8_t *x_u8, double x_scale, int64_t n, int64_t n0, int64_t sparse,
                     int64_t *bad_row);
int jn_fast_pack_f32(int32_t *idx, float *val, const int64_t *start, const float *x,
                     const uint8_t *x_u8, float x_scale, int64_t n, int64_t n0, int64_t sparse,
                     int64_t *bad_row);

/* jn_fast_train_epoch_* (sparse 1) over inputs jn_fast_pack_* packed (start
 * (n + 1,), idx, val, with sparse 1 or 0: the same numbers), so each
 * mini-batch's rows are not packed again: idx's entries must be in [0,
 * sizes[0]) and ascending in each row, as jn_fast_pack_* makes them (start is
 * checked, JN_ERR_SIZE; idx is not). The same numbers as jn_fast_train_epoch_*
 * from the rows that were packed. */
int jn_fast_train_epoch_packed_f64(double *const *w, double *const *b, double *const *vw,
                                   double *const *vb, const int64_t *start, const int32_t *idx,
                                   const double *val, const double *y, const int64_t *order,
                                   double eta, const jn_config *cfg, const int64_t *sizes,
                                   int64_t n_layers, int64_t n, int64_t batch_size,
                                   int64_t threads, void *work, size_t work_bytes);
int jn_fast_train_epoch_packed_f32(float *const *w, float *const *b, float *const *vw,
                                   float *const *vb, const int64_t *start, const int32_t *idx,
                                   const float *val, const float *y, const int64_t *order,
                                   float eta, const jn_config *cfg, const int64_t *sizes,
                                   int64_t n_layers, int64_t n, int64_t batch_size,
                                   int64_t threads, void *work, size_t work_bytes);

/* 1 if the extension was built with OpenMP (threads > 1 run in parallel), else 0. */
int jn_fast_parallel(void);

#ifdef __cplusplus
}
#endif

#endif /* JAXNET_DENSE_CHAIN_FAST_H */
