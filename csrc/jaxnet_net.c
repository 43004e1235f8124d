/* jaxnet_net: the reference's layout of the work buffer and its checks (see
 * jaxnet_net.h); the chain itself is jaxnet_net_impl.h, included for float64 and
 * float32. The one layout: each layer's in, z and a, then each layer's delta. */
#include "jaxnet_net.h"
#include "jn_common.h"

#include <math.h>
#include <string.h>

/* Every array's offset in work (floats) or idx (int32), and each layer's sizes:
 * in[l] (m, in_size[l]), z[l] and a[l+1] (m, out_size[l]) (a[0] is x, read where it
 * is), d[l] (m, out_size[l]) the delta dC/dz[l], idx[l] a convpool's arg-max
 * (m, out_size[l]); w_size[l] the elements of w[l]. */
typedef struct {
    size_t in[JN_MAX_LAYERS], z[JN_MAX_LAYERS], a[JN_MAX_LAYERS + 1], d[JN_MAX_LAYERS];
    size_t idx[JN_MAX_LAYERS], w_size[JN_MAX_LAYERS], n_float, n_idx;
    int64_t in_size[JN_MAX_LAYERS], out_size[JN_MAX_LAYERS];
    jn_convpool_dims dims[JN_MAX_LAYERS];
} jn_net_layout;

/* One layer's sizes: its input and output per example, its weights, its output
 * triple (c, h, w) for the next layer's check. */
static int layer_sizes(jn_net_layout *L, int64_t l, const jn_layer *y, int64_t m, int last,
                       int64_t out3[3]) {
    if (y->c < 1 || y->h < 1 || y->w < 1 || y->n_out < 1) return JN_ERR_SIZE;
    if (!(y->dropout >= 0 && y->dropout < 1)) return JN_ERR_CONFIG;
    if (y->activation < JN_ACT_SIGMOID || y->activation > JN_ACT_LINEAR ||
        (y->activation == JN_ACT_SOFTMAX && !last)) return JN_ERR_CONFIG;
    size_t in, wsz;
    if (jn__mul(&in, (size_t)y->c, (size_t)y->h) || jn__mul(&in, in, (size_t)y->w))
        return JN_ERR_OVERFLOW;
    L->in_size[l] = (int64_t)in;
    if (y->kind == JN_LAYER_DENSE) {
        out3[0] = y->n_out, out3[1] = out3[2] = 1;
        if (jn__mul(&wsz, (size_t)y->n_out, in)) return JN_ERR_OVERFLOW;
    } else if (y->kind == JN_LAYER_CONVPOOL) {
        L->dims[l] = (jn_convpool_dims){m, y->c, y->h, y->w, y->n_out, y->k, y->p};
        int rc = jn_convpool_check(&L->dims[l]);
        if (rc) return rc;
        out3[0] = y->n_out, out3[1] = (y->h - y->k + 1) / y->p, out3[2] = (y->w - y->k + 1) / y->p;
        if (jn__mul(&wsz, (size_t)y->n_out * (size_t)y->c, (size_t)(y->k * y->k)))
            return JN_ERR_OVERFLOW;
    } else {
        return JN_ERR_CONFIG;
    }
    L->w_size[l] = wsz;
    L->out_size[l] = out3[0] * out3[1] * out3[2];
    return JN_OK;
}

static int add_block(size_t *off, size_t *total, int64_t m, int64_t size) {
    size_t t;
    *off = *total;
    return jn__mul(&t, (size_t)m, (size_t)size) || jn__add(total, t) ? JN_ERR_OVERFLOW : JN_OK;
}

static int make_net_layout(jn_net_layout *L, const jn_layer *layers, int64_t n, int64_t m) {
    if (layers == NULL) return JN_ERR_NULL;
    if (n < 1 || n > JN_MAX_LAYERS || m < 1) return JN_ERR_SIZE;
    int64_t prev[3] = {0, 0, 0}, out3[3];
    size_t tf = 0, ti = 0;
    for (int64_t l = 0; l < n; l++) {
        const jn_layer *y = &layers[l];
        int rc = layer_sizes(L, l, y, m, l == n - 1, out3);
        if (rc) return rc;
        if (l > 0 && (y->c != prev[0] || y->h != prev[1] || y->w != prev[2])) return JN_ERR_SIZE;
        prev[0] = out3[0], prev[1] = out3[1], prev[2] = out3[2];
        if (add_block(&L->in[l], &tf, m, L->in_size[l]) || add_block(&L->z[l], &tf, m, L->out_size[l])
            || add_block(&L->a[l + 1], &tf, m, L->out_size[l])) return JN_ERR_OVERFLOW;
        if (add_block(&L->idx[l], &ti, m, y->kind == JN_LAYER_CONVPOOL ? L->out_size[l] : 0))
            return JN_ERR_OVERFLOW;
    }
    for (int64_t l = 0; l < n; l++)
        if (add_block(&L->d[l], &tf, m, L->out_size[l])) return JN_ERR_OVERFLOW;
    if (tf > (size_t)INT64_MAX / 8 || ti > (size_t)INT32_MAX) return JN_ERR_OVERFLOW;
    L->a[0] = 0;
    L->n_float = tf, L->n_idx = ti;
    return JN_OK;
}

int jn_net_work_size(size_t *n_float, size_t *n_idx, const jn_layer *layers, int64_t n_layers,
                     int64_t m) {
    if (n_float == NULL || n_idx == NULL) return JN_ERR_NULL;
    jn_net_layout L;
    int rc = make_net_layout(&L, layers, n_layers, m);
    if (rc) return rc;
    *n_float = L.n_float, *n_idx = L.n_idx;
    return JN_OK;
}

int jn_net_trace_offsets(size_t *in_off, size_t *out_off, size_t *delta_off,
                         const jn_layer *layers, int64_t n_layers, int64_t m) {
    if (in_off == NULL || out_off == NULL || delta_off == NULL) return JN_ERR_NULL;
    jn_net_layout L;
    int rc = make_net_layout(&L, layers, n_layers, m);
    if (rc) return rc;
    for (int64_t l = 0; l < n_layers; l++)
        in_off[l] = L.in[l], out_off[l] = L.a[l + 1], delta_off[l] = L.d[l];
    return JN_OK;
}

/* The epoch's work: the network's (for full mini-batches) and, after it, the
 * gathered mini-batch xb (batch, in_size[0]), yb (batch, out_size[L-1]) and one
 * gradient gw[l], gb[l] per parameter. */
typedef struct {
    jn_net_layout net;
    size_t xb, yb, gw[JN_MAX_LAYERS], gb[JN_MAX_LAYERS], n_float;
} jn_net_epoch_layout;

static int make_epoch_layout(jn_net_epoch_layout *E, const jn_layer *layers, int64_t n,
                             int64_t batch) {
    int rc = make_net_layout(&E->net, layers, n, batch);
    if (rc) return rc;
    size_t t = E->net.n_float;
    if (add_block(&E->xb, &t, batch, E->net.in_size[0])
        || add_block(&E->yb, &t, batch, E->net.out_size[n - 1])) return JN_ERR_OVERFLOW;
    for (int64_t l = 0; l < n; l++)
        if (add_block(&E->gw[l], &t, 1, (int64_t)E->net.w_size[l])
            || add_block(&E->gb[l], &t, 1, layers[l].n_out)) return JN_ERR_OVERFLOW;
    if (t > (size_t)INT64_MAX / 8) return JN_ERR_OVERFLOW;
    E->n_float = t;
    return JN_OK;
}

int jn_net_epoch_work_size(size_t *n_float, size_t *n_idx, const jn_layer *layers,
                           int64_t n_layers, int64_t batch_size) {
    if (n_float == NULL || n_idx == NULL) return JN_ERR_NULL;
    jn_net_epoch_layout E;
    int rc = make_epoch_layout(&E, layers, n_layers, batch_size);
    if (rc) return rc;
    *n_float = E.n_float, *n_idx = E.net.n_idx;
    return JN_OK;
}

/* Non-NULL parameters (and masks where a layer has dropout) for every layer. */
static int check_layer_ptrs(const void *const *w, const void *const *b,
                            const void *const *masks, const jn_layer *layers, int64_t n) {
    for (int64_t l = 0; l < n; l++) {
        if (!w[l] || !b[l]) return JN_ERR_NULL;
        if (masks && layers[l].dropout > 0 && !masks[l]) return JN_ERR_NULL;
    }
    return JN_OK;
}

/* The epoch's checks: pointers, config, eta, layout, buffers, the order (NULL: in turn). */
static int jn__net_epoch_prologue(jn_net_epoch_layout *E, const jn_config **cfg,
                                  const void *const *w, const void *const *b,
                                  const void *const *vw, const void *const *vb, const void *x,
                                  const void *y, const int64_t *order,
                                  const void *const *masks, double eta,
                                  const jn_layer *layers, int64_t n_layers, int64_t n,
                                  int64_t batch_size, const void *work, size_t work_len,
                                  const int32_t *idx, size_t idx_len) {
    if (!w || !b || !x || !y || !work || !layers) return JN_ERR_NULL;
    if ((vw == NULL) != (vb == NULL)) return JN_ERR_NULL;
    if (n < 1) return JN_ERR_SIZE;
    if (batch_size < 1 || batch_size > n) return JN_ERR_BATCH;
    int rc = jn__check_config(cfg, *cfg);
    if (!rc) rc = make_epoch_layout(E, layers, n_layers, batch_size);
    if (!rc) rc = jn__check_output(*cfg, layers[n_layers - 1].activation);
    if (!rc) rc = check_layer_ptrs(w, b, masks, layers, n_layers);
    if (!rc && vw) rc = check_layer_ptrs(vw, vb, NULL, layers, n_layers);
    if (rc) return rc;
    if (!isfinite(eta)) return JN_ERR_ETA;
    if (work_len < E->n_float || idx_len < E->net.n_idx || (E->net.n_idx && !idx))
        return JN_ERR_WORK;
    const int64_t io[2] = {E->net.in_size[0], E->net.out_size[n_layers - 1]};
    rc = jn__check_epoch(order, io, 1, n, batch_size);
    if (rc) return rc;
    size_t t;
    for (int64_t l = 0; masks && l < n_layers; l++)   /* every mask's (n, in_size) in range */
        if (jn__mul(&t, (size_t)n, (size_t)E->net.in_size[l])) return JN_ERR_OVERFLOW;
    return JN_OK;
}

/* jn_net_feedforward's checks: pointers, layout, buffers. */
static int jn__net_forward_prologue(jn_net_layout *L, const void *out, const void *const *w,
                                    const void *const *b, const void *x,
                                    const jn_layer *layers, int64_t n, int64_t m,
                                    const void *work, size_t work_len, const int32_t *idx,
                                    size_t idx_len) {
    if (!out || !w || !b || !x || !work || !layers) return JN_ERR_NULL;
    int rc = make_net_layout(L, layers, n, m);
    if (rc) return rc;
    if (work_len < L->n_float || idx_len < L->n_idx || (L->n_idx && !idx)) return JN_ERR_WORK;
    return check_layer_ptrs(w, b, NULL, layers, n);
}

/* jn_net_backprop's checks: pointers, config, layout, buffers. */
static int jn__net_prologue(jn_net_layout *L, const jn_config **cfg, const void *const *gw,
                            const void *const *gb, const void *const *w, const void *const *b,
                            const void *x, const void *y, const void *const *masks,
                            const jn_layer *layers, int64_t n, int64_t m, const void *work,
                            size_t work_len, const int32_t *idx, size_t idx_len) {
    if (!gw || !gb || !w || !b || !x || !y || !work || !layers) return JN_ERR_NULL;
    int rc = jn__check_config(cfg, *cfg);
    if (!rc) rc = make_net_layout(L, layers, n, m);
    if (rc) return rc;
    rc = jn__check_output(*cfg, layers[n - 1].activation);
    if (rc) return rc;
    if (work_len < L->n_float || idx_len < L->n_idx || (L->n_idx && !idx)) return JN_ERR_WORK;
    rc = check_layer_ptrs(w, b, masks, layers, n);
    return rc ? rc : check_layer_ptrs(gw, gb, NULL, layers, n);
}

#define JN_TEMPLATE "jaxnet_net_impl.h"
#include "jn_twice.h"
