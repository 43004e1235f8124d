/* The reference kernels, written once for a float type: plain loops, one
 * equation each, in the book's order. Included by jaxnet_ref.c with
 *   JN_T        the float type (double or float)
 *   JN_SFX(n)   the name with its suffix (n##_f64 or n##_f32)
 *   JN_EXP      exp or expf
 *   JN_TANH     tanh or tanhf
 * No include guard on purpose. Shapes, for a mini-batch of m examples (one
 * per row) and layer l = 0..L-1 with n_in = sizes[l], n_out = sizes[l+1]:
 *   w[l] (n_out, n_in), b[l] (n_out,), a[l] (m, n_in), a[l+1] (m, n_out),
 *   d[l] (m, n_out): the delta of layer l's weighted input, 1/m included. */

#include "jn_math_impl.h"

/* Forward: a[l+1] = f(a[l] w[l]^T + b[l]) for every layer; a[0] holds the input. */
static void JN_SFX(forward)(JN_T *work, const jn_layout *L, const JN_T *const *w,
                            const JN_T *const *b, const jn_config *cfg, const int64_t *sizes,
                            int64_t n_layers, int64_t m) {
    for (int64_t l = 0; l < n_layers; l++) {
        const int64_t n_in = sizes[l], n_out = sizes[l + 1];
        const int act = l < n_layers - 1 ? cfg->activation : jn__output_activation(cfg);
        const JN_T *a = work + L->a[l];
        JN_T *out = work + L->a[l + 1];
        for (int64_t r = 0; r < m; r++) {
            for (int64_t j = 0; j < n_out; j++) {                  /* z = w a + b */
                JN_T z = b[l][j];
                for (int64_t k = 0; k < n_in; k++) z += a[r * n_in + k] * w[l][j * n_in + k];
                out[r * n_out + j] = z;
            }
            JN_SFX(activate)(out + r * n_out, n_out, act);         /* a = f(z) */
        }
    }
}

/* Backward: the deltas (BP1, BP2), then the gradients (BP3, BP4) into
 * gw (n_out, n_in) and gb (n_out,) of every layer; y (m, sizes[L]). */
static void JN_SFX(backward)(JN_T *work, const jn_layout *L, const JN_T *const *w,
                             const JN_T *y, const jn_config *cfg, const int64_t *sizes,
                             int64_t n_layers, int64_t m) {
    const int64_t nL = sizes[n_layers];
    const JN_T *aL = work + L->a[n_layers];
    JN_T *dL = work + L->d[n_layers - 1];
    for (int64_t r = 0; r < m; r++) {                              /* BP1 */
        JN_T sy = 0;
        for (int64_t j = 0; j < nL; j++) sy += y[r * nL + j];
        for (int64_t j = 0; j < nL; j++) {
            const JN_T a = aL[r * nL + j], t = y[r * nL + j];
            dL[r * nL + j] = cfg->cost == JN_COST_QUADRATIC ? (a - t) / (JN_T)m * a * (1 - a)
                           : cfg->cost == JN_COST_CROSS_ENTROPY ? (a - t) / (JN_T)m
                           : (a * sy - t) / (JN_T)m;
        }
    }
    for (int64_t l = n_layers - 1; l > 0; l--) {                   /* BP2 */
        const int64_t n_in = sizes[l], n_out = sizes[l + 1];
        const JN_T *d = work + L->d[l], *a = work + L->a[l];
        JN_T *dp = work + L->d[l - 1];
        for (int64_t r = 0; r < m; r++)
            for (int64_t k = 0; k < n_in; k++) {
                JN_T s = 0;                                        /* (w^T d) */
                for (int64_t j = 0; j < n_out; j++) s += d[r * n_out + j] * w[l][j * n_in + k];
                dp[r * n_in + k] = s * JN_SFX(activation_prime)(a[r * n_in + k], cfg->activation);
            }
    }
    const JN_T scale = (JN_T)(cfg->lmbda > 0 ? cfg->lmbda / cfg->n_train : 0);
    for (int64_t l = 0; l < n_layers; l++) {
        const int64_t n_in = sizes[l], n_out = sizes[l + 1];
        const JN_T *d = work + L->d[l], *a = work + L->a[l];
        JN_T *gw = work + L->gw[l], *gb = work + L->gb[l];
        for (int64_t j = 0; j < n_out; j++) {
            JN_T s = 0;                                            /* BP3: sum over rows of d */
            for (int64_t r = 0; r < m; r++) s += d[r * n_out + j];
            gb[j] = s;
            for (int64_t k = 0; k < n_in; k++) {                   /* BP4: d^T a (+ penalty) */
                JN_T g = 0;
                for (int64_t r = 0; r < m; r++) g += d[r * n_out + j] * a[r * n_in + k];
                gw[j * n_in + k] = g + (scale != 0 ? JN_SFX(penalty)(w[l][j * n_in + k], scale,
                                                                      cfg->reg) : 0);
            }
        }
    }
}

/* The update from the gradients in work: p -= eta g, or with velocities
 * v = mu v - eta g, p += v (biases too). */
static void JN_SFX(update)(JN_T *const *w, JN_T *const *b, JN_T *const *vw, JN_T *const *vb,
                           const JN_T *work, const jn_layout *L, JN_T eta, const jn_config *cfg,
                           const int64_t *sizes, int64_t n_layers) {
    const JN_T mu = (JN_T)cfg->momentum;
    for (int64_t l = 0; l < n_layers; l++) {
        const int64_t nw = sizes[l] * sizes[l + 1], nb = sizes[l + 1];
        const JN_T *gw = work + L->gw[l], *gb = work + L->gb[l];
        for (int64_t i = 0; i < nw; i++) {
            if (vw) w[l][i] += (vw[l][i] = mu * vw[l][i] - eta * gw[i]);
            else w[l][i] -= eta * gw[i];
        }
        for (int64_t j = 0; j < nb; j++) {
            if (vb) b[l][j] += (vb[l][j] = mu * vb[l][j] - eta * gb[j]);
            else b[l][j] -= eta * gb[j];
        }
    }
}

/* The shared prologue: pointers, config, layout and work buffer; fills *L and *cfg_ok. */
static int JN_SFX(prologue)(jn_layout *L, const jn_config **cfg_ok, const jn_config *cfg,
                            const JN_T *const *w, const JN_T *const *b, const JN_T *x,
                            const int64_t *sizes, int64_t n_layers, int64_t batch,
                            const JN_T *work, size_t work_len) {
    if (w == NULL || b == NULL || x == NULL || work == NULL || sizes == NULL) return JN_ERR_NULL;
    int err = jn__check_config(cfg_ok, cfg);
    if (!err) err = make_layout(L, sizes, n_layers, batch);
    if (err) return err;
    for (int64_t l = 0; l < n_layers; l++)
        if (w[l] == NULL || b[l] == NULL) return JN_ERR_NULL;
    return work_len < L->total ? JN_ERR_WORK : JN_OK;
}

/* The prologue of a step or an epoch: the above, velocities (both NULL or
 * both set, every layer) and a finite eta. */
static int JN_SFX(update_prologue)(jn_layout *L, const jn_config **cfg_ok, const jn_config *cfg,
                                   JN_T *const *w, JN_T *const *b, JN_T *const *vw,
                                   JN_T *const *vb, const JN_T *x, const JN_T *y, JN_T eta,
                                   const int64_t *sizes, int64_t n_layers, int64_t batch,
                                   const JN_T *work, size_t work_len) {
    if (y == NULL) return JN_ERR_NULL;
    int err = JN_SFX(prologue)(L, cfg_ok, cfg, (const JN_T *const *)w, (const JN_T *const *)b,
                               x, sizes, n_layers, batch, work, work_len);
    if (err) return err;
    if ((vw == NULL) != (vb == NULL)) return JN_ERR_NULL;
    for (int64_t l = 0; vw && l < n_layers; l++)
        if (vw[l] == NULL || vb[l] == NULL) return JN_ERR_NULL;
    return isfinite(eta) ? JN_OK : JN_ERR_ETA;
}

int JN_SFX(jn_feedforward)(JN_T *out, const JN_T *const *w, const JN_T *const *b,
                           const JN_T *x, const jn_config *cfg, const int64_t *sizes,
                           int64_t n_layers, int64_t batch, JN_T *work, size_t work_len) {
    jn_layout L;
    const jn_config *c;
    if (out == NULL) return JN_ERR_NULL;
    int err = JN_SFX(prologue)(&L, &c, cfg, w, b, x, sizes, n_layers, batch, work, work_len);
    if (err) return err;
    memcpy(work + L.a[0], x, (size_t)(batch * sizes[0]) * sizeof(JN_T));
    JN_SFX(forward)(work, &L, w, b, c, sizes, n_layers, batch);
    memcpy(out, work + L.a[n_layers], (size_t)(batch * sizes[n_layers]) * sizeof(JN_T));
    return JN_OK;
}

int JN_SFX(jn_backprop)(JN_T *const *gw, JN_T *const *gb, const JN_T *const *w,
                        const JN_T *const *b, const JN_T *x, const JN_T *y,
                        const jn_config *cfg, const int64_t *sizes, int64_t n_layers,
                        int64_t batch, JN_T *work, size_t work_len) {
    jn_layout L;
    const jn_config *c;
    if (gw == NULL || gb == NULL || y == NULL) return JN_ERR_NULL;
    int err = JN_SFX(prologue)(&L, &c, cfg, w, b, x, sizes, n_layers, batch, work, work_len);
    if (err) return err;
    for (int64_t l = 0; l < n_layers; l++)
        if (gw[l] == NULL || gb[l] == NULL) return JN_ERR_NULL;
    memcpy(work + L.a[0], x, (size_t)(batch * sizes[0]) * sizeof(JN_T));
    JN_SFX(forward)(work, &L, w, b, c, sizes, n_layers, batch);
    JN_SFX(backward)(work, &L, w, y, c, sizes, n_layers, batch);
    for (int64_t l = 0; l < n_layers; l++) {
        memcpy(gw[l], work + L.gw[l], (size_t)(sizes[l] * sizes[l + 1]) * sizeof(JN_T));
        memcpy(gb[l], work + L.gb[l], (size_t)sizes[l + 1] * sizeof(JN_T));
    }
    return JN_OK;
}

/* One step on the mini-batch in a[0] with targets yb: forward, backward, update. */
static void JN_SFX(step)(JN_T *const *w, JN_T *const *b, JN_T *const *vw, JN_T *const *vb,
                         JN_T *work, const jn_layout *L, const JN_T *yb, JN_T eta,
                         const jn_config *cfg, const int64_t *sizes, int64_t n_layers, int64_t m) {
    JN_SFX(forward)(work, L, (const JN_T *const *)w, (const JN_T *const *)b, cfg, sizes,
                    n_layers, m);
    JN_SFX(backward)(work, L, (const JN_T *const *)w, yb, cfg, sizes, n_layers, m);
    JN_SFX(update)(w, b, vw, vb, work, L, eta, cfg, sizes, n_layers);
}

int JN_SFX(jn_sgd_step)(JN_T *const *w, JN_T *const *b, JN_T *const *vw, JN_T *const *vb,
                        const JN_T *x, const JN_T *y, JN_T eta, const jn_config *cfg,
                        const int64_t *sizes, int64_t n_layers, int64_t batch,
                        JN_T *work, size_t work_len) {
    jn_layout L;
    const jn_config *c;
    int err = JN_SFX(update_prologue)(&L, &c, cfg, w, b, vw, vb, x, y, eta, sizes, n_layers,
                                      batch, work, work_len);
    if (err) return err;
    memcpy(work + L.a[0], x, (size_t)(batch * sizes[0]) * sizeof(JN_T));
    JN_SFX(step)(w, b, vw, vb, work, &L, y, eta, c, sizes, n_layers, batch);
    return JN_OK;
}

int JN_SFX(jn_train_epoch)(JN_T *const *w, JN_T *const *b, JN_T *const *vw, JN_T *const *vb,
                           const JN_T *x, const JN_T *y, const int64_t *order, JN_T eta,
                           const jn_config *cfg, const int64_t *sizes, int64_t n_layers,
                           int64_t n, int64_t batch_size, JN_T *work, size_t work_len) {
    jn_layout L;
    const jn_config *c;
    if (order == NULL) return JN_ERR_NULL;
    if (n < 1) return JN_ERR_SIZE;
    if (batch_size < 1 || batch_size > n) return JN_ERR_BATCH;
    int err = JN_SFX(update_prologue)(&L, &c, cfg, w, b, vw, vb, x, y, eta, sizes, n_layers,
                                      batch_size, work, work_len);
    if (!err) err = jn__check_epoch(order, sizes, n_layers, n, batch_size);
    if (err) return err;
    const int64_t n0 = sizes[0], nL = sizes[n_layers];
    for (int64_t start = 0; start < n; start += batch_size) {
        const int64_t m = n - start < batch_size ? n - start : batch_size;  /* network.py's last */
        for (int64_t r = 0; r < m; r++) {                                  /* gather the batch */
            const int64_t i = order[start + r];
            memcpy(work + L.a[0] + r * n0, x + i * n0, (size_t)n0 * sizeof(JN_T));
            memcpy(work + L.y + r * nL, y + i * nL, (size_t)nL * sizeof(JN_T));
        }
        JN_SFX(step)(w, b, vw, vb, work, &L, work + L.y, eta, c, sizes, n_layers, m);
    }
    return JN_OK;
}
