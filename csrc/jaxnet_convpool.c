/* jaxnet_convpool: network3's conv-pool layer in C (see jaxnet_convpool.h).
 * The float64 and float32 kernels are one template, jaxnet_convpool_impl.h,
 * included twice. */
#include "jaxnet_convpool.h"
#include "jn_common.h"

int jn_convpool_check(const jn_convpool_dims *d) {
    if (d == NULL) return JN_ERR_NULL;
    if (d->m < 1 || d->c < 1 || d->h < 1 || d->w < 1 || d->f < 1 || d->k < 1 || d->p < 1)
        return JN_ERR_SIZE;
    if (d->k > d->h || d->k > d->w) return JN_ERR_SIZE;
    if ((d->h - d->k + 1) % d->p || (d->w - d->k + 1) % d->p) return JN_ERR_SIZE;
    if (d->p > 46340) return JN_ERR_OVERFLOW;                 /* p * p fits an int32 index */
    size_t t;                                                 /* m c h w and f c k k */
    if (jn__mul(&t, (size_t)d->m, (size_t)d->c) || jn__mul(&t, t, (size_t)d->h) ||
        jn__mul(&t, t, (size_t)d->w) || t > (size_t)INT64_MAX / 8) return JN_ERR_OVERFLOW;
    if (jn__mul(&t, (size_t)d->f, (size_t)d->c) || jn__mul(&t, t, (size_t)d->k) ||
        jn__mul(&t, t, (size_t)d->k) || t > (size_t)INT64_MAX / 8) return JN_ERR_OVERFLOW;
    if (jn__mul(&t, (size_t)d->m, (size_t)d->f) || jn__mul(&t, t, (size_t)d->h) ||
        jn__mul(&t, t, (size_t)d->w) || t > (size_t)INT64_MAX / 8) return JN_ERR_OVERFLOW;
    return JN_OK;
}

#define JN_TEMPLATE "jaxnet_convpool_impl.h"
#include "jn_twice.h"
