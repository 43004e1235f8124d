/* THE reference: a chain of Dense and ConvPool layers (see jaxnet_net.h), written
 * once for a float type, plain loops, one equation each, in the book's order, BP1
 * to BP4 tagged where they are computed. Included by jaxnet_net.c with
 *   JN_T        the float type (double or float)
 *   JN_SFX(n)   the name with its suffix (n##_f64 or n##_f32)
 *   JN_EXP      exp or expf
 *   JN_TANH     tanh or tanhf
 * No include guard on purpose. L (jn_net_layout) holds every array's offset in
 * work; for layer l, ni = in_size[l], no = out_size[l], and a mini-batch of m:
 *   in[l] (m, ni), z[l] and a[l+1] and d[l] (m, no), w[l] (no, ni) for a dense
 *   layer, d[l] = dC/dz[l] with the mean's 1/m included. */

#include "jn_math_impl.h"

/* The dropout factor of input entry e of layer l: its mask, 1 - p without masks, or 1. */
static JN_T JN_SFX(keep)(const JN_T *const *masks, const jn_layer *layer, int64_t l, size_t e) {
    if (layer->dropout <= 0) return 1;
    return masks ? masks[l][e] : (JN_T)(1 - layer->dropout);
}

/* Forward: in[l] = a[l] * keep, z[l] = the layer's forward, a[l+1] = f(z[l]); a[0] = x. */
static void JN_SFX(net_forward)(JN_T *work, int32_t *idx, const jn_net_layout *L,
                                const jn_layer *layers, int64_t n_layers,
                                const JN_T *const *w, const JN_T *const *b, const JN_T *x,
                                const JN_T *const *masks, int64_t m) {
    for (int64_t l = 0; l < n_layers; l++) {
        const int64_t ni = L->in_size[l], no = L->out_size[l];
        const JN_T *a = l ? work + L->a[l] : x;
        JN_T *in = work + L->in[l], *z = work + L->z[l], *out = work + L->a[l + 1];
        for (size_t e = 0; e < (size_t)(m * ni); e++)
            in[e] = a[e] * JN_SFX(keep)(masks, &layers[l], l, e);
        if (layers[l].kind == JN_LAYER_DENSE) {
            for (int64_t r = 0; r < m; r++)
                for (int64_t j = 0; j < no; j++) {                 /* z = w in + b */
                    JN_T s = b[l][j];
                    for (int64_t k = 0; k < ni; k++) s += in[r * ni + k] * w[l][j * ni + k];
                    z[r * no + j] = s;
                }
        } else {
            JN_SFX(jn_convpool_forward)(z, idx + L->idx[l], in, w[l], b[l], &L->dims[l]);
        }
        for (int64_t r = 0; r < m; r++) {                          /* a = f(z) */
            for (int64_t j = 0; j < no; j++) out[r * no + j] = z[r * no + j];
            JN_SFX(activate)(out + r * no, no, layers[l].activation);
        }
    }
}

/* BP1 into d (m, nL) from a[L] and y (m, nL), the mean's 1/m included: quadratic
 * (a - y) f'(z), cross-entropy (sigmoid) a - y, log-likelihood (softmax) a sum_j y_j - y. */
static void JN_SFX(net_bp1)(JN_T *d, const JN_T *aL, const JN_T *y, int64_t nL, int act,
                            const jn_config *cfg, int64_t m) {
    for (int64_t r = 0; r < m; r++) {
        JN_T sy = 0;
        for (int64_t j = 0; j < nL; j++) sy += y[r * nL + j];
        for (int64_t j = 0; j < nL; j++) {
            const JN_T a = aL[r * nL + j], t = y[r * nL + j];
            d[r * nL + j] = cfg->cost == JN_COST_QUADRATIC
                                ? (a - t) / (JN_T)m * JN_SFX(activation_prime)(a, act)
                          : cfg->cost == JN_COST_CROSS_ENTROPY ? (a - t) / (JN_T)m
                          : (a * sy - t) / (JN_T)m;
        }
    }
}

/* One dense layer's backward: gb = sum of d's rows (BP3), gw = d^T in (BP4), and
 * g = d w, dC/d(in) (BP2's sum), unless g is NULL. */
static void JN_SFX(dense_backward)(JN_T *gw, JN_T *gb, JN_T *g, const JN_T *d, const JN_T *in,
                                   const JN_T *w, int64_t ni, int64_t no, int64_t m) {
    for (int64_t j = 0; j < no; j++) {
        JN_T s = 0;                                                /* BP3 */
        for (int64_t r = 0; r < m; r++) s += d[r * no + j];
        gb[j] = s;
        for (int64_t k = 0; k < ni; k++) {                         /* BP4 */
            JN_T t = 0;
            for (int64_t r = 0; r < m; r++) t += d[r * no + j] * in[r * ni + k];
            gw[j * ni + k] = t;
        }
    }
    if (g)
        for (int64_t r = 0; r < m; r++)
            for (int64_t k = 0; k < ni; k++) {
                JN_T s = 0;                                        /* (w^T d) */
                for (int64_t j = 0; j < no; j++) s += d[r * no + j] * w[j * ni + k];
                g[r * ni + k] = s;
            }
}

/* The gradient of the mini-batch x (m, in_size[0]), y into gw, gb: forward, BP1,
 * then each layer's backward (BP3, BP4; convpool's in jaxnet_convpool_impl.h) and
 * penalty, and BP2 to the layer below, whose delta d[l-1] first receives
 * dC/d(in[l]). L is the layout for m examples. */
static void JN_SFX(net_gradient)(JN_T *const *gw, JN_T *const *gb, const JN_T *const *w,
                                 const JN_T *const *b, const JN_T *x, const JN_T *y,
                                 const JN_T *const *masks, const jn_net_layout *L,
                                 const jn_layer *layers, int64_t n_layers, const jn_config *cfg,
                                 int64_t m, JN_T *work, int32_t *idx) {
    JN_SFX(net_forward)(work, idx, L, layers, n_layers, w, b, x, masks, m);
    const int64_t last = n_layers - 1;
    JN_SFX(net_bp1)(work + L->d[last], work + L->a[n_layers], y, L->out_size[last],
                    layers[last].activation, cfg, m);
    const JN_T scale = (JN_T)(cfg->lmbda > 0 ? cfg->lmbda / cfg->n_train : 0);
    for (int64_t l = last; l >= 0; l--) {
        const int64_t ni = L->in_size[l], no = L->out_size[l];
        const JN_T *in = work + L->in[l], *d = work + L->d[l];
        JN_T *below = l ? work + L->d[l - 1] : NULL;              /* dC/d(in[l]) */
        if (layers[l].kind == JN_LAYER_DENSE)
            JN_SFX(dense_backward)(gw[l], gb[l], below, d, in, w[l], ni, no, m);
        else
            JN_SFX(jn_convpool_backward)(gw[l], gb[l], below, in, idx + L->idx[l], d, w[l],
                                         &L->dims[l]);
        if (scale != 0)                                            /* BP4's penalty */
            for (size_t e = 0; e < L->w_size[l]; e++)
                gw[l][e] += JN_SFX(penalty)(w[l][e], scale, cfg->reg);
        if (l == 0) break;
        const JN_T *a = work + L->a[l];                            /* BP2 */
        const int act = layers[l - 1].activation;
        for (size_t e = 0; e < (size_t)(m * ni); e++)
            below[e] = below[e] * JN_SFX(keep)(masks, &layers[l], l, e)
                       * JN_SFX(activation_prime)(a[e], act);
    }
}

int JN_SFX(jn_net_feedforward)(JN_T *out, const JN_T *const *w, const JN_T *const *b,
                               const JN_T *x, const jn_layer *layers, int64_t n_layers,
                               int64_t m, JN_T *work, size_t work_len, int32_t *idx,
                               size_t idx_len) {
    jn_net_layout L;
    int rc = jn__net_forward_prologue(&L, out, (const void *const *)w, (const void *const *)b,
                                      x, layers, n_layers, m, work, work_len, idx, idx_len);
    if (rc) return rc;
    JN_SFX(net_forward)(work, idx, &L, layers, n_layers, w, b, x, NULL, m);
    memcpy(out, work + L.a[n_layers], (size_t)(m * L.out_size[n_layers - 1]) * sizeof(JN_T));
    return JN_OK;
}

int JN_SFX(jn_net_backprop)(JN_T *const *gw, JN_T *const *gb, const JN_T *const *w,
                            const JN_T *const *b, const JN_T *x, const JN_T *y,
                            const JN_T *const *masks, const jn_layer *layers, int64_t n_layers,
                            const jn_config *cfg, int64_t m, JN_T *work, size_t work_len,
                            int32_t *idx, size_t idx_len) {
    jn_net_layout L;
    int rc = jn__net_prologue(&L, &cfg, (const void *const *)gw, (const void *const *)gb,
                              (const void *const *)w, (const void *const *)b, x, y,
                              (const void *const *)masks, layers, n_layers, m, work,
                              work_len, idx, idx_len);
    if (rc) return rc;
    JN_SFX(net_gradient)(gw, gb, w, b, x, y, masks, &L, layers, n_layers, cfg, m, work, idx);
    return JN_OK;
}

/* p <- p - eta g, or v <- mu v - eta g, p <- p + v, for one array of `size` values. */
static void JN_SFX(net_update)(JN_T *p, JN_T *v, const JN_T *g, size_t size, JN_T eta,
                               JN_T mu) {
    if (v)
        for (size_t e = 0; e < size; e++) {
            v[e] = mu * v[e] - eta * g[e];
            p[e] += v[e];
        }
    else
        for (size_t e = 0; e < size; e++) p[e] -= eta * g[e];
}

int JN_SFX(jn_net_train_epoch)(JN_T *const *w, JN_T *const *b, JN_T *const *vw,
                               JN_T *const *vb, const JN_T *x, const JN_T *y,
                               const int64_t *order, const JN_T *const *masks, JN_T eta,
                               const jn_config *cfg, const jn_layer *layers, int64_t n_layers,
                               int64_t n, int64_t batch_size, JN_T *work, size_t work_len,
                               int32_t *idx, size_t idx_len) {
    jn_net_epoch_layout E;
    int rc = jn__net_epoch_prologue(
        &E, &cfg, (const void *const *)w, (const void *const *)b, (const void *const *)vw,
        (const void *const *)vb, x, y, order, (const void *const *)masks, (double)eta, layers,
        n_layers, n, batch_size, work, work_len, idx, idx_len);
    if (rc) return rc;
    JN_T *gw[JN_MAX_LAYERS], *gb[JN_MAX_LAYERS];
    const JN_T *mb[JN_MAX_LAYERS];
    for (int64_t l = 0; l < n_layers; l++) gw[l] = work + E.gw[l], gb[l] = work + E.gb[l];
    const int64_t n0 = E.net.in_size[0], nL = E.net.out_size[n_layers - 1];
    JN_T *xb = work + E.xb, *yb = work + E.yb;
    jn_net_layout last;                              /* the smaller final mini-batch's */
    for (int64_t start = 0; start < n; start += batch_size) {
        const int64_t m = n - start < batch_size ? n - start : batch_size;
        const jn_net_layout *L = &E.net;
        if (m < batch_size) {                        /* offsets within the full layout's */
            rc = make_net_layout(&last, layers, n_layers, m);
            if (rc) return rc;
            L = &last;
        }
        for (int64_t r = 0; r < m; r++) {            /* gather the mini-batch */
            const int64_t i = order ? order[start + r] : start + r;
            memcpy(xb + r * n0, x + i * n0, (size_t)n0 * sizeof(JN_T));
            memcpy(yb + r * nL, y + i * nL, (size_t)nL * sizeof(JN_T));
        }
        for (int64_t l = 0; masks && l < n_layers; l++)   /* rows start.. of each mask */
            mb[l] = masks[l] ? masks[l] + start * E.net.in_size[l] : NULL;
        JN_SFX(net_gradient)(gw, gb, (const JN_T *const *)w, (const JN_T *const *)b, xb, yb,
                             masks ? mb : NULL, L, layers, n_layers, cfg, m, work, idx);
        for (int64_t l = 0; l < n_layers; l++) {
            JN_SFX(net_update)(w[l], vw ? vw[l] : NULL, gw[l], E.net.w_size[l], eta,
                               (JN_T)cfg->momentum);
            JN_SFX(net_update)(b[l], vb ? vb[l] : NULL, gb[l], (size_t)layers[l].n_out, eta,
                               (JN_T)cfg->momentum);
        }
    }
    return JN_OK;
}
