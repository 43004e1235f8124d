/* jaxnet_convpool: the readable C reference of network3's conv-pool layer (chapter 6).
 *
 * The same mathematics as jaxnet/nn/_convpool.py, as plain loops:
 *   z[n,f,Y,X] = max over the p x p block (Y, X) of conv[n,f,y,x] + b[f],
 *   conv[n,f,y,x] = sum_{c,i,j} a[n,c,y+i,x+j] w[f,c,i,j]   (a "valid" cross-correlation),
 * and the hand-derived backward: the delta of each block goes to its first
 * maximum in row-major order (the tie rule, as np.argmax), then
 *   dC/db[f] = sum delta, dC/dw[f,c,i,j] = sum D[n,f,y,x] a[n,c,y+i,x+j],
 *   dC/da[n,c,y+i,x+j] += D[n,f,y,x] w[f,c,i,j]   (the full convolution of D with the
 *                                                  flipped kernels, written as a scatter).
 * Conventions as jaxnet_types.h: _f64/_f32, outputs first, row-major arrays, no
 * allocation, JN_OK or an error code (jn_strerror). Shapes, with
 * ho = h - k + 1, wo = w - k + 1, hp = ho / p, wp = wo / p:
 *   a (m, c, h, w), w (f, c, k, k), b (f,), z and idx and delta (m, f, hp, wp),
 *   gw (f, c, k, k), gb (f,), g_in (m, c, h, w).
 */
#ifndef JAXNET_CONVPOOL_H
#define JAXNET_CONVPOOL_H

#include "jaxnet_types.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The layer's sizes: m examples of c maps of h x w, f filters of k x k, p x p pools. */
typedef struct {
    int64_t m, c, h, w, f, k, p;
} jn_convpool_dims;

/* JN_OK if every size is >= 1, k <= h and k <= w, p divides h - k + 1 and
 * w - k + 1, and every array's element count fits (JN_ERR_SIZE, JN_ERR_OVERFLOW). */
int jn_convpool_check(const jn_convpool_dims *d);

/* Forward: z (m, f, hp, wp) and idx (m, f, hp, wp), each block's arg-max
 * (0 .. p*p - 1, row-major within the block; the first maximum on a tie). */
int jn_convpool_forward_f64(double *z, int32_t *idx, const double *a, const double *w,
                            const double *b, const jn_convpool_dims *d);
int jn_convpool_forward_f32(float *z, int32_t *idx, const float *a, const float *w,
                            const float *b, const jn_convpool_dims *d);

/* Backward from delta = dC/dz and the forward's idx: gw, gb and, unless g_in
 * is NULL, g_in = dC/da. Outputs are overwritten, not accumulated into. */
int jn_convpool_backward_f64(double *gw, double *gb, double *g_in, const double *a,
                             const int32_t *idx, const double *delta, const double *w,
                             const jn_convpool_dims *d);
int jn_convpool_backward_f32(float *gw, float *gb, float *g_in, const float *a,
                             const int32_t *idx, const float *delta, const float *w,
                             const jn_convpool_dims *d);

#ifdef __cplusplus
}
#endif

#endif /* JAXNET_CONVPOOL_H */
