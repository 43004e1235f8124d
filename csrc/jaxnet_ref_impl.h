/* The kernels, written once for a float type. Included by jaxnet_ref.c with
 *   JN_T        the float type (double or float)
 *   JN_SFX(n)   the name with its suffix (n##_f64 or n##_f32)
 *   JN_EXP      exp or expf
 *   JN_TANH     tanh or tanhf
 * No include guard on purpose. */

/* The output layer's softmax, an activation only this file uses. */
#ifndef JN_ACT_SOFTMAX
#define JN_ACT_SOFTMAX 3
#endif

/* sigma(z) = 1 / (1 + e^-z); e^-z overflows to inf for z << 0, giving 0. */
static inline JN_T JN_SFX(sigmoid)(JN_T z) {
    return (JN_T)1 / ((JN_T)1 + JN_EXP(-z));
}

/* In place, z (n,) <- f(z): sigmoid, tanh, relu, or softmax over the n entries
 * (shifted by their maximum, so no exp overflows). */
static void JN_SFX(activate)(JN_T *z, int64_t n, int act) {
    switch (act) {
    case JN_ACT_SIGMOID:
        for (int64_t j = 0; j < n; j++) z[j] = JN_SFX(sigmoid)(z[j]);
        break;
    case JN_ACT_TANH:
        for (int64_t j = 0; j < n; j++) z[j] = JN_TANH(z[j]);
        break;
    case JN_ACT_RELU:
        for (int64_t j = 0; j < n; j++) z[j] = z[j] < 0 ? 0 : z[j];  /* NaN stays NaN */
        break;
    default: { /* JN_ACT_SOFTMAX */
        JN_T mx = z[0], s = 0;
        for (int64_t j = 1; j < n; j++) mx = z[j] > mx ? z[j] : mx;
        for (int64_t j = 0; j < n; j++) s += (z[j] = JN_EXP(z[j] - mx));
        for (int64_t j = 0; j < n; j++) z[j] /= s;
    }
    }
}

/* f'(z) from a = f(z), for BP2: a (1 - a), 1 - a^2, [a > 0]. */
static inline JN_T JN_SFX(activation_prime)(JN_T a, int act) {
    switch (act) {
    case JN_ACT_SIGMOID: return a * (1 - a);
    case JN_ACT_TANH: return 1 - a * a;
    default: return a > 0 ? (JN_T)1 : (JN_T)0;
    }
}

/* dst (cols, rows) = transpose of src (rows, cols). */
static void JN_SFX(transpose)(JN_T *restrict dst, const JN_T *restrict src,
                              int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            dst[c * rows + r] = src[r * cols + c];
}

/* y (n,) += alpha * x (n,). The loop over the output layer's n neurons is
 * contiguous and independent per element, so it vectorises without
 * reassociating any sum (no -ffast-math needed). Not inlined: inlined into
 * the loop over non-zero inputs, gcc 12 vectorised that outer loop with
 * gathers instead, and the epoch took 1.4x as long. */
static __attribute__((noinline)) void JN_SFX(axpy)(JN_T *restrict y, JN_T alpha, const JN_T *restrict x,
                                int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

/* y (n,) += a0 x0 + a1 x1 + a2 x2 + a3 x3: four inputs' rows per pass over
 * y, so y is loaded and stored once for four axpys. */
static __attribute__((noinline)) void JN_SFX(axpy4)(JN_T *restrict y, const JN_T *restrict a,
                                                    const JN_T *restrict x0, const JN_T *restrict x1,
                                                    const JN_T *restrict x2, const JN_T *restrict x3,
                                                    int64_t n) {
    const JN_T a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    for (int64_t i = 0; i < n; i++) y[i] += a0 * x0[i] + a1 * x1[i] + a2 * x2[i] + a3 * x3[i];
}

/* idx (len,) receives the offsets k of the non-zero entries a[k], k < len;
 * returns how many. Branch-free: on MNIST whether a pixel is 0 is
 * unpredictable, and a mispredicted branch per input cost more than the
 * arithmetic it skipped (perf: 60 % of the epoch). NaN counts as non-zero. */
static inline int JN_SFX(nonzeros)(int32_t *restrict idx, const JN_T *restrict a, int len) {
    int c = 0;
    for (int k = 0; k < len; k++) {
        idx[c] = k;
        c += (a[k] != 0);
    }
    return c;
}

/* a_out (batch, n_out) = sigma(a_in (batch, n_in) W^T + b), with W held
 * transposed, wt (n_in, n_out): input-major, so each input adds a scaled
 * row of wt to the output row (an axpy over n_out), and inputs that are
 * exactly 0 (81 % of MNIST pixels) are skipped. */
static void JN_SFX(forward_layer)(JN_T *restrict a_out, const JN_T *restrict a_in,
                                  const JN_T *restrict wt, const JN_T *restrict b,
                                  int64_t n_in, int64_t n_out, int64_t batch, int act) {
    for (int64_t r = 0; r < batch; r++) {
        JN_T *z = a_out + r * n_out;
        const JN_T *a = a_in + r * n_in;
        int32_t idx[JN_CHUNK];
        memcpy(z, b, (size_t)n_out * sizeof(JN_T));
        for (int64_t k0 = 0; k0 < n_in; k0 += JN_CHUNK) {
            const int len = (int)(n_in - k0 < JN_CHUNK ? n_in - k0 : JN_CHUNK);
            const int c = JN_SFX(nonzeros)(idx, a + k0, len);
            int t = 0;
            for (; t + 4 <= c; t += 4) {
                const int64_t k[4] = {k0 + idx[t], k0 + idx[t + 1], k0 + idx[t + 2], k0 + idx[t + 3]};
                const JN_T ak[4] = {a[k[0]], a[k[1]], a[k[2]], a[k[3]]};
                JN_SFX(axpy4)(z, ak, wt + k[0] * n_out, wt + k[1] * n_out, wt + k[2] * n_out,
                              wt + k[3] * n_out, n_out);
            }
            for (; t < c; t++) {
                const int64_t k = k0 + idx[t];
                JN_SFX(axpy)(z, a[k], wt + k * n_out, n_out);
            }
        }
        JN_SFX(activate)(z, n_out, act);
    }
}

/* Checks pointers and the work buffer; fills the layout offsets. */
static int JN_SFX(prepare)(size_t *wt_off, size_t *vt_off, size_t *a_off, size_t *d_off,
                           size_t *y_off, const jn_config **cfg_out, const jn_config *cfg,
                           const JN_T *const *w, const JN_T *const *b, const JN_T *x,
                           const int64_t *sizes, int64_t n_layers, int64_t batch,
                           const JN_T *work, size_t work_len) {
    if (w == NULL || b == NULL || x == NULL || work == NULL || sizes == NULL)
        return JN_ERR_NULL;
    if (n_layers > JN_MAX_LAYERS) return JN_ERR_SIZE;
    int err = check_config(cfg_out, cfg);
    if (err) return err;
    size_t total;
    err = layout(wt_off, vt_off, a_off, d_off, y_off, &total, sizes, n_layers, batch);
    if (err) return err;
    for (int64_t l = 0; l < n_layers; l++)
        if (w[l] == NULL || b[l] == NULL) return JN_ERR_NULL;
    if (work_len < total) return JN_ERR_WORK;
    return JN_OK;
}

/* The forward pass of a mini-batch already gathered in a[0]; fills a[1..L]. */
static void JN_SFX(forward)(JN_T *work, const size_t *wt_off, const size_t *a_off,
                            const JN_T *const *b, const jn_config *cfg, const int64_t *sizes,
                            int64_t n_layers, int64_t batch) {
    for (int64_t l = 0; l < n_layers; l++) {
        const int act = l < n_layers - 1 ? cfg->activation
                        : cfg->cost == JN_COST_LOG_LIKELIHOOD ? JN_ACT_SOFTMAX : JN_ACT_SIGMOID;
        JN_SFX(forward_layer)(work + a_off[l + 1], work + a_off[l], work + wt_off[l], b[l],
                              sizes[l], sizes[l + 1], batch, act);
    }
}

/* BP1 and BP2: fills d[l] (batch, sizes[l+1]) from a[] and y (batch, sizes[L]). */
static void JN_SFX(deltas)(JN_T *work, const size_t *wt_off, const size_t *a_off,
                           const size_t *d_off, const JN_T *y, const jn_config *cfg,
                           const int64_t *sizes, int64_t n_layers, int64_t batch) {
    const int64_t nL = sizes[n_layers];
    const JN_T m = (JN_T)batch;
    const JN_T *aL = work + a_off[n_layers];
    JN_T *dL = work + d_off[n_layers - 1];
    if (cfg->cost == JN_COST_QUADRATIC) {          /* BP1: (a - y)/m * sigma'(z) */
        for (int64_t i = 0; i < batch * nL; i++)
            dL[i] = (aL[i] - y[i]) / m * aL[i] * (1 - aL[i]);
    } else if (cfg->cost == JN_COST_CROSS_ENTROPY) {  /* (a - y)/m */
        for (int64_t i = 0; i < batch * nL; i++) dL[i] = (aL[i] - y[i]) / m;
    } else {                                         /* (a sum_j y_j - y)/m */
        for (int64_t r = 0; r < batch; r++) {
            JN_T sy = 0;
            for (int64_t j = 0; j < nL; j++) sy += y[r * nL + j];
            for (int64_t j = 0; j < nL; j++)
                dL[r * nL + j] = (aL[r * nL + j] * sy - y[r * nL + j]) / m;
        }
    }
    for (int64_t l = n_layers - 1; l > 0; l--) {  /* BP2: (d W) * sigma'(z) */
        const int64_t n_in = sizes[l], n_out = sizes[l + 1];
        const JN_T *wt = work + wt_off[l], *d = work + d_off[l], *a = work + a_off[l];
        JN_T *dp = work + d_off[l - 1];
        for (int64_t r = 0; r < batch; r++)
            for (int64_t k = 0; k < n_in; k++) {
                JN_T s = 0;
                for (int64_t j = 0; j < n_out; j++) s += d[r * n_out + j] * wt[k * n_out + j];
                dp[r * n_in + k] = s * JN_SFX(activation_prime)(a[r * n_in + k], cfg->activation);
            }
    }
}

/* The regularisation term of dC/dw for one weight: (lmbda/n) w or (lmbda/n) sgn(w). */
static inline JN_T JN_SFX(penalty)(JN_T w, JN_T scale, int reg) {
    return reg == JN_REG_L2 ? scale * w : scale * (JN_T)((w > 0) - (w < 0));
}

/* The update of layer l's transposed weights wt (n_in, n_out) and biases
 * b (n_out,), with g = a[l]^T d[l] + penalty (BP4, BP3):
 *   no velocity: wt -= eta g, b -= eta sum_rows d;
 *   velocity vt (n_in, n_out), vb (n_out,): v = mu v - eta g, p += v.
 * a^T d is accumulated as one axpy per non-zero a[l][r,k] (zero inputs
 * contribute nothing), into wt itself or into vt. */
static void JN_SFX(update)(JN_T *work, JN_T *const *b, JN_T *const *vb, JN_T eta,
                           const jn_config *cfg, const size_t *wt_off, const size_t *vt_off,
                           const size_t *a_off, const size_t *d_off, const int64_t *sizes,
                           int64_t n_layers, int64_t batch) {
    const JN_T mu = (JN_T)cfg->momentum;
    const JN_T scale = (JN_T)(cfg->lmbda > 0 ? cfg->lmbda / cfg->n_train : 0);
    for (int64_t l = 0; l < n_layers; l++) {
        const int64_t n_in = sizes[l], n_out = sizes[l + 1], nw = n_in * n_out;
        JN_T *wt = work + wt_off[l];
        JN_T *vt = vb ? work + vt_off[l] : NULL;
        JN_T *acc = vb ? vt : wt;  /* where -eta a^T d goes */
        const JN_T *a = work + a_off[l], *d = work + d_off[l];
        if (vb) {
            if (scale != 0)
                for (int64_t i = 0; i < nw; i++)
                    vt[i] = mu * vt[i] - eta * JN_SFX(penalty)(wt[i], scale, cfg->reg);
            else
                for (int64_t i = 0; i < nw; i++) vt[i] *= mu;
        } else if (scale != 0) {
            for (int64_t i = 0; i < nw; i++) wt[i] -= eta * JN_SFX(penalty)(wt[i], scale, cfg->reg);
        }
        for (int64_t r = 0; r < batch; r++) {
            const JN_T *ar = a + r * n_in, *dr = d + r * n_out;
            int32_t idx[JN_CHUNK];
            for (int64_t k0 = 0; k0 < n_in; k0 += JN_CHUNK) {
                const int len = (int)(n_in - k0 < JN_CHUNK ? n_in - k0 : JN_CHUNK);
                const int c = JN_SFX(nonzeros)(idx, ar + k0, len);
                for (int t = 0; t < c; t++) {
                    const int64_t k = k0 + idx[t];
                    JN_SFX(axpy)(acc + k * n_out, -eta * ar[k], dr, n_out);
                }
            }
        }
        if (vb)
            for (int64_t i = 0; i < nw; i++) wt[i] += vt[i];
        for (int64_t j = 0; j < n_out; j++) {
            JN_T s = 0;
            for (int64_t r = 0; r < batch; r++) s += d[r * n_out + j];
            if (vb) {
                vb[l][j] = mu * vb[l][j] - eta * s;
                b[l][j] += vb[l][j];
            } else {
                b[l][j] -= eta * s;
            }
        }
    }
}

static void JN_SFX(load_weights)(JN_T *work, const size_t *wt_off, const JN_T *const *w,
                                 const int64_t *sizes, int64_t n_layers) {
    for (int64_t l = 0; l < n_layers; l++)
        JN_SFX(transpose)(work + wt_off[l], w[l], sizes[l + 1], sizes[l]);
}

static void JN_SFX(store_weights)(JN_T *const *w, const JN_T *work, const size_t *wt_off,
                                  const int64_t *sizes, int64_t n_layers) {
    for (int64_t l = 0; l < n_layers; l++)
        JN_SFX(transpose)(w[l], work + wt_off[l], sizes[l], sizes[l + 1]);
}

/* Checks the velocity pointers: both NULL, or both (and every layer's) set. */
static int JN_SFX(check_velocity)(JN_T *const *vw, JN_T *const *vb, int64_t n_layers) {
    if ((vw == NULL) != (vb == NULL)) return JN_ERR_NULL;
    if (vw)
        for (int64_t l = 0; l < n_layers; l++)
            if (vw[l] == NULL || vb[l] == NULL) return JN_ERR_NULL;
    return JN_OK;
}

#define JN_OFFSETS                                                                     \
    size_t wt_off[JN_MAX_LAYERS], vt_off[JN_MAX_LAYERS], a_off[JN_MAX_LAYERS + 1],      \
        d_off[JN_MAX_LAYERS], y_off;                                                   \
    const jn_config *cfg_ok = NULL

int JN_SFX(jn_feedforward)(JN_T *out, const JN_T *const *w, const JN_T *const *b,
                           const JN_T *x, const jn_config *cfg, const int64_t *sizes,
                           int64_t n_layers, int64_t batch, JN_T *work, size_t work_len) {
    JN_OFFSETS;
    if (out == NULL) return JN_ERR_NULL;
    int err = JN_SFX(prepare)(wt_off, vt_off, a_off, d_off, &y_off, &cfg_ok, cfg, w, b, x, sizes,
                              n_layers, batch, work, work_len);
    if (err) return err;
    JN_SFX(load_weights)(work, wt_off, w, sizes, n_layers);
    memcpy(work + a_off[0], x, (size_t)(batch * sizes[0]) * sizeof(JN_T));
    JN_SFX(forward)(work, wt_off, a_off, b, cfg_ok, sizes, n_layers, batch);
    memcpy(out, work + a_off[n_layers], (size_t)(batch * sizes[n_layers]) * sizeof(JN_T));
    return JN_OK;
}

int JN_SFX(jn_backprop)(JN_T *const *gw, JN_T *const *gb, const JN_T *const *w,
                        const JN_T *const *b, const JN_T *x, const JN_T *y,
                        const jn_config *cfg, const int64_t *sizes, int64_t n_layers,
                        int64_t batch, JN_T *work, size_t work_len) {
    JN_OFFSETS;
    if (gw == NULL || gb == NULL || y == NULL) return JN_ERR_NULL;
    int err = JN_SFX(prepare)(wt_off, vt_off, a_off, d_off, &y_off, &cfg_ok, cfg, w, b, x, sizes,
                              n_layers, batch, work, work_len);
    if (err) return err;
    for (int64_t l = 0; l < n_layers; l++)
        if (gw[l] == NULL || gb[l] == NULL) return JN_ERR_NULL;
    JN_SFX(load_weights)(work, wt_off, w, sizes, n_layers);
    memcpy(work + a_off[0], x, (size_t)(batch * sizes[0]) * sizeof(JN_T));
    JN_SFX(forward)(work, wt_off, a_off, b, cfg_ok, sizes, n_layers, batch);
    JN_SFX(deltas)(work, wt_off, a_off, d_off, y, cfg_ok, sizes, n_layers, batch);
    const JN_T scale = (JN_T)(cfg_ok->lmbda > 0 ? cfg_ok->lmbda / cfg_ok->n_train : 0);
    for (int64_t l = 0; l < n_layers; l++) {
        const int64_t n_in = sizes[l], n_out = sizes[l + 1];
        const JN_T *a = work + a_off[l], *d = work + d_off[l];
        for (int64_t j = 0; j < n_out; j++) {          /* BP4: gw = d^T a (+ penalty) */
            JN_T *g = gw[l] + j * n_in;
            memset(g, 0, (size_t)n_in * sizeof(JN_T));
            for (int64_t r = 0; r < batch; r++) JN_SFX(axpy)(g, d[r * n_out + j], a + r * n_in, n_in);
            if (scale != 0)
                for (int64_t k = 0; k < n_in; k++)
                    g[k] += JN_SFX(penalty)(w[l][j * n_in + k], scale, cfg_ok->reg);
            JN_T s = 0;                                 /* BP3: gb = sum_rows d */
            for (int64_t r = 0; r < batch; r++) s += d[r * n_out + j];
            gb[l][j] = s;
        }
    }
    return JN_OK;
}

/* One step on the mini-batch gathered in a[0]; weights live in wt (and vt). */
static void JN_SFX(step)(JN_T *work, JN_T *const *b, JN_T *const *vb, const JN_T *y, JN_T eta,
                         const jn_config *cfg, const size_t *wt_off, const size_t *vt_off,
                         const size_t *a_off, const size_t *d_off, const int64_t *sizes,
                         int64_t n_layers, int64_t batch) {
    JN_SFX(forward)(work, wt_off, a_off, (const JN_T *const *)b, cfg, sizes, n_layers, batch);
    JN_SFX(deltas)(work, wt_off, a_off, d_off, y, cfg, sizes, n_layers, batch);
    JN_SFX(update)(work, b, vb, eta, cfg, wt_off, vt_off, a_off, d_off, sizes, n_layers, batch);
}

int JN_SFX(jn_sgd_step)(JN_T *const *w, JN_T *const *b, JN_T *const *vw, JN_T *const *vb,
                        const JN_T *x, const JN_T *y, JN_T eta, const jn_config *cfg,
                        const int64_t *sizes, int64_t n_layers, int64_t batch,
                        JN_T *work, size_t work_len) {
    JN_OFFSETS;
    if (y == NULL) return JN_ERR_NULL;
    int err = JN_SFX(prepare)(wt_off, vt_off, a_off, d_off, &y_off, &cfg_ok, cfg,
                              (const JN_T *const *)w, (const JN_T *const *)b, x, sizes, n_layers,
                              batch, work, work_len);
    if (err) return err;
    if ((err = JN_SFX(check_velocity)(vw, vb, n_layers))) return err;
    if (!isfinite(eta)) return JN_ERR_ETA;
    JN_SFX(load_weights)(work, wt_off, (const JN_T *const *)w, sizes, n_layers);
    if (vw) JN_SFX(load_weights)(work, vt_off, (const JN_T *const *)vw, sizes, n_layers);
    memcpy(work + a_off[0], x, (size_t)(batch * sizes[0]) * sizeof(JN_T));
    JN_SFX(step)(work, b, vb, y, eta, cfg_ok, wt_off, vt_off, a_off, d_off, sizes, n_layers, batch);
    JN_SFX(store_weights)(w, work, wt_off, sizes, n_layers);
    if (vw) JN_SFX(store_weights)(vw, work, vt_off, sizes, n_layers);
    return JN_OK;
}

int JN_SFX(jn_train_epoch)(JN_T *const *w, JN_T *const *b, JN_T *const *vw, JN_T *const *vb,
                           const JN_T *x, const JN_T *y, const int64_t *order, JN_T eta,
                           const jn_config *cfg, const int64_t *sizes, int64_t n_layers,
                           int64_t n, int64_t batch_size, JN_T *work, size_t work_len) {
    JN_OFFSETS;
    if (y == NULL || order == NULL) return JN_ERR_NULL;
    if (n < 1) return JN_ERR_SIZE;
    if (batch_size < 1 || batch_size > n) return JN_ERR_BATCH;
    int err = JN_SFX(prepare)(wt_off, vt_off, a_off, d_off, &y_off, &cfg_ok, cfg,
                              (const JN_T *const *)w, (const JN_T *const *)b, x, sizes, n_layers,
                              batch_size, work, work_len);
    if (err) return err;
    if ((err = JN_SFX(check_velocity)(vw, vb, n_layers))) return err;
    if (!isfinite(eta)) return JN_ERR_ETA;
    size_t t;
    if (mul_size(&t, (size_t)n, (size_t)sizes[0]) || mul_size(&t, (size_t)n, (size_t)sizes[n_layers]))
        return JN_ERR_OVERFLOW;
    for (int64_t i = 0; i < n; i++)
        if (order[i] < 0 || order[i] >= n) return JN_ERR_ORDER;

    const int64_t n0 = sizes[0], nL = sizes[n_layers];
    JN_SFX(load_weights)(work, wt_off, (const JN_T *const *)w, sizes, n_layers);
    if (vw) JN_SFX(load_weights)(work, vt_off, (const JN_T *const *)vw, sizes, n_layers);
    for (int64_t start = 0; start < n; start += batch_size) {
        const int64_t m = (n - start < batch_size) ? n - start : batch_size;
        JN_T *a0 = work + a_off[0];
        JN_T *yb = work + y_off;
        for (int64_t r = 0; r < m; r++) {
            const int64_t i = order[start + r];
            memcpy(a0 + r * n0, x + i * n0, (size_t)n0 * sizeof(JN_T));
            memcpy(yb + r * nL, y + i * nL, (size_t)nL * sizeof(JN_T));
        }
        JN_SFX(step)(work, b, vb, yb, eta, cfg_ok, wt_off, vt_off, a_off, d_off, sizes, n_layers, m);
    }
    JN_SFX(store_weights)(w, work, wt_off, sizes, n_layers);
    if (vw) JN_SFX(store_weights)(vw, work, vt_off, sizes, n_layers);
    return JN_OK;
}

#undef JN_OFFSETS
