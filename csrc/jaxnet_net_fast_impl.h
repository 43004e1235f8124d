/* The fast epoch of chapter 6's networks, written once for a float type (JN_T,
 * JN_SFX, JN_EXP, JN_TANH as in jaxnet_net_impl.h). Included twice by
 * jaxnet_net_fast.c; no include guard on purpose. Notation as the layout in
 * jaxnet_net_fast.c: layer y has ni inputs and no outputs per example, rows
 * padded to niP and noP; a ConvPool layer F filters, K = c k k, S pooled
 * positions, P = p p S conv positions padded to Pp, ordered (u, v, Y, X). */

#include "jn_math_impl.h"
#include "jn_gemm_impl.h"

typedef struct {
    const jn_cf_layout *F;
    unsigned char *base;           /* the work buffer's 64-byte-aligned start */
    const jn_layer *layers;
    const jn_config *cfg;
    int64_t threads;
} JN_SFX(cf_net);

#define JN_AT(net, l, field, type) ((type *)((net)->base + (net)->F->L[l].field))

/* Layer l's input rows (batch, niP): its own buffer, or a[l-1]'s activations. */
static JN_T *JN_SFX(cf_in)(const JN_SFX(cf_net) *net, int64_t l) {
    const jn_cf_layer *y = &net->F->L[l];
    return l == 0 || y->dropout > 0 ? JN_AT(net, l, in, JN_T) : JN_AT(net, l - 1, a, JN_T);
}

/* A dropout layer's factor for entry e of a mask row (NULL: 1 - p). */
static inline JN_T JN_SFX(cf_keep)(const JN_T *mrow, double dropout, int64_t e) {
    return mrow ? mrow[e] : (JN_T)(1 - dropout);
}

/* in[0] row r = x's row rows[r] (floats, or uint8 p as (JN_T)p * x_scale) times
 * its dropout factor; in[l] = a[l] times it for a dropout layer l >= 1. */
static void JN_SFX(cf_inputs)(const JN_SFX(cf_net) *net, int64_t l, const JN_T *x,
                              const uint8_t *x_u8, JN_T x_scale, const JN_T *mask, int64_t m,
                              const int64_t *rows) {
    const jn_cf_layer *y = &net->F->L[l];
    JN_T *in = JN_AT(net, l, in, JN_T);
    const JN_T *a = l ? JN_AT(net, l - 1, a, JN_T) : NULL;
    for (int64_t r = 0; r < m; r++) {
        JN_T *row = in + r * y->niP;
        const JN_T *mrow = mask ? mask + r * y->ni : NULL;
        if (l) for (int64_t e = 0; e < y->ni; e++) row[e] = a[r * y->niP + e];
        else if (x_u8)
            for (int64_t e = 0; e < y->ni; e++) row[e] = (JN_T)x_u8[rows[r] * y->ni + e] * x_scale;
        else memcpy(row, x + rows[r] * y->ni, (size_t)y->ni * sizeof(JN_T));
        if (y->dropout > 0)
            for (int64_t e = 0; e < y->ni; e++) row[e] *= JN_SFX(cf_keep)(mrow, y->dropout, e);
    }
}

/* d[e] = s[e] (cf_run_copy) or d[e] += s[e] (cf_run_add), e < n: the runs of a
 * window row, with vector extensions the common lengths 4 and 8 as one or two
 * vector moves (plain loops without them). */
#ifdef JN_VECTOR_BYTES
typedef JN_T JN_SFX(cf_v4) __attribute__((vector_size(4 * sizeof(JN_T)), aligned(sizeof(JN_T)),
                                          may_alias));
#endif
JN_INLINE void JN_SFX(cf_run_copy)(JN_T *restrict d, const JN_T *restrict s, int64_t n) {
#ifdef JN_VECTOR_BYTES
    typedef JN_SFX(cf_v4) V;
    if (n == 4) { *(V *)d = *(const V *)s; return; }
    if (n == 8) { ((V *)d)[0] = ((const V *)s)[0], ((V *)d)[1] = ((const V *)s)[1]; return; }
#endif
    memcpy(d, s, (size_t)n * sizeof(JN_T));
}
JN_INLINE void JN_SFX(cf_run_add)(JN_T *restrict d, const JN_T *restrict s, int64_t n) {
#ifdef JN_VECTOR_BYTES
    typedef JN_SFX(cf_v4) V;
    if (n == 4) { *(V *)d += *(const V *)s; return; }
    if (n == 8) { ((V *)d)[0] += ((const V *)s)[0], ((V *)d)[1] += ((const V *)s)[1]; return; }
#endif
    for (int64_t e = 0; e < n; e++) d[e] += s[e];
}

/* Example n's input (c, h, w) split by column phase: ph[c, row, b, t] =
 * in[c, row, t p + b] (0 past the row's end), t < wq = ceil(w / p). */
static void JN_SFX(cf_phases)(JN_T *restrict ph, const JN_T *restrict in, const jn_cf_layer *y) {
    const int64_t wq = (y->w + y->p - 1) / y->p;
    for (int64_t cr = 0; cr < y->c * y->h; cr++)
        for (int64_t b = 0; b < y->p; b++) {
            JN_T *out = ph + (cr * y->p + b) * wq;
            const JN_T *src = in + cr * y->w + b;
            const int64_t nt = (y->w - b + y->p - 1) / y->p;   /* t p + b < w */
            if (y->p == 2)
                for (int64_t t = 0; t < nt; t++) out[t] = src[2 * t];
            else
                for (int64_t t = 0; t < nt; t++) out[t] = src[t * y->p];
            for (int64_t t = nt; t < wq; t++) out[t] = 0;
        }
}

/* Example n's windows win (c, R, R, S), R = k + p - 1: win[c, r, s, Y wp + X] =
 * in[c, Y p + r, X p + s], the hp x wp grid of input pixels at stride p from
 * (r, s), each row a run of the phases ph. Every patch row (c, i, j) of
 * pooling-block place (u, v) is the window (c, i + u, j + v): R^2 windows
 * serve k^2 p^2 patch runs. */
static void JN_SFX(cf_windows)(JN_T *restrict win, const JN_T *restrict ph, const jn_cf_layer *y) {
    const int64_t R = y->k + y->p - 1, S = y->S, wq = (y->w + y->p - 1) / y->p;
    const int64_t step = y->p * y->p * wq;   /* from row Y p + r to (Y + 1) p + r */
    for (int64_t c = 0; c < y->c; c++)
        for (int64_t r = 0; r < R; r++)
            for (int64_t s = 0; s < R; s++) {
                JN_T *out = win + ((c * R + r) * R + s) * S;
                const JN_T *src = ph + ((c * y->h + r) * y->p + s % y->p) * wq + s / y->p;
                for (int64_t Y = 0; Y < y->hp; Y++, out += y->wp, src += step)
                    JN_SFX(cf_run_copy)(out, src, y->wp);
            }
}

/* Example n's patches into ct's columns n Pp + (u p + v) S + Y wp + X, from its
 * windows: ct[(c k + i) k + j, ...] = in[c, Y p + u + i, X p + v + j], each run of
 * S a copy of window (c, i + u, j + v). */
static void JN_SFX(cf_im2col)(JN_T *ct, int64_t ld, const JN_T *restrict win,
                              const jn_cf_layer *y) {
    const int64_t R = y->k + y->p - 1, S = y->S;
    for (int64_t c = 0; c < y->c; c++)
        for (int64_t i = 0; i < y->k; i++)
            for (int64_t j = 0; j < y->k; j++) {
                JN_T *dst = ct + ((c * y->k + i) * y->k + j) * ld;
                for (int64_t u = 0; u < y->p; u++)
                    for (int64_t v = 0; v < y->p; v++) {
                        JN_T *restrict out = dst + (u * y->p + v) * S;
                        const JN_T *restrict src = win + ((c * R + i + u) * R + j + v) * S;
                        for (int64_t e = 0; e < S; e++) out[e] = src[e];
                    }
            }
}

/* The adjoint, into g (c, h, w): the windows' gradients gw (c, R, R, S), zeroed
 * here, gw[c, i + u, j + v] += gc's run (c, i, j; u, v); then their rows are
 * summed by phase into gph (c, h, p, wq), zeroed here, and g[c, row, t p + b] =
 * gph[c, row, b, t]. */
static void JN_SFX(cf_col2im)(JN_T *restrict g, JN_T *restrict gw, JN_T *restrict gph,
                              const JN_T *gc, int64_t ld, const jn_cf_layer *y) {
    const int64_t R = y->k + y->p - 1, S = y->S, wq = (y->w + y->p - 1) / y->p;
    memset(gw, 0, (size_t)(y->c * R * R * S) * sizeof(JN_T));
    for (int64_t c = 0; c < y->c; c++)
        for (int64_t i = 0; i < y->k; i++)
            for (int64_t j = 0; j < y->k; j++) {
                const JN_T *src = gc + ((c * y->k + i) * y->k + j) * ld;
                for (int64_t u = 0; u < y->p; u++)
                    for (int64_t v = 0; v < y->p; v++) {
                        const JN_T *restrict run = src + (u * y->p + v) * S;
                        JN_T *restrict acc = gw + ((c * R + i + u) * R + j + v) * S;
                        for (int64_t e = 0; e < S; e++) acc[e] += run[e];
                    }
            }
    const int64_t step = y->p * y->p * wq;   /* from row Y p + r to (Y + 1) p + r */
    memset(gph, 0, (size_t)(y->c * y->h * y->p * wq) * sizeof(JN_T));
    for (int64_t c = 0; c < y->c; c++)
        for (int64_t r = 0; r < R; r++)
            for (int64_t s = 0; s < R; s++) {
                const JN_T *gr = gw + ((c * R + r) * R + s) * S;
                JN_T *dst = gph + ((c * y->h + r) * y->p + s % y->p) * wq + s / y->p;
                for (int64_t Y = 0; Y < y->hp; Y++, gr += y->wp, dst += step)
                    JN_SFX(cf_run_add)(dst, gr, y->wp);
            }
    for (int64_t cr = 0; cr < y->c * y->h; cr++)
        for (int64_t b = 0; b < y->p; b++) {
            const JN_T *src = gph + (cr * y->p + b) * wq;
            JN_T *dst = g + cr * y->w + b;
            for (int64_t t = 0; t * y->p + b < y->w; t++) dst[t * y->p] = src[t];
        }
}

/* The pooling of example n's sums zf (F, Pp): for each filter and pooled
 * position the first largest of its p p candidates (">": ties keep the
 * earlier, row-major in the block), plus the bias, into z (no,); its
 * arg-max u p + v into idx (no,). */
static void JN_SFX(cf_pool)(JN_T *z, int32_t *idx, const JN_T *zf, const JN_T *b,
                            const jn_cf_layer *y) {
    const int64_t S = y->S, pp = y->p * y->p;
    for (int64_t f = 0; f < y->f; f++) {
        JN_T *best = z + f * S;
        int32_t *arg = idx + f * S;
        const JN_T *zr = zf + f * y->Pp;
        for (int64_t s = 0; s < S; s++) best[s] = zr[s], arg[s] = 0;
        for (int64_t q = 1; q < pp; q++)
            for (int64_t s = 0; s < S; s++) {
                const JN_T v = zr[q * S + s];
                const int gt = v > best[s];
                best[s] = gt ? v : best[s];
                arg[s] = gt ? (int32_t)q : arg[s];
            }
        for (int64_t s = 0; s < S; s++) best[s] += b[f];
    }
}

/* Forward through layer l for m rows: a = f(z), z the conv-pool (per example:
 * im2col, the product w (F, K) ct (K, Pp), the pooling) or dense (the product
 * in (m, ni) wt (ni, noP) onto the bias) sums. */
static void JN_SFX(cf_forward)(const JN_SFX(cf_net) *net, int64_t l, const JN_T *w,
                               const JN_T *b, int64_t m) {
    const jn_cf_layer *y = &net->F->L[l];
    const JN_T *in = JN_SFX(cf_in)(net, l);
    JN_T *a = JN_AT(net, l, a, JN_T);
    if (y->kind == JN_LAYER_CONVPOOL) {
        JN_T *ct = JN_AT(net, l, ct, JN_T), *zf = JN_AT(net, l, zf, JN_T);
        int32_t *idx = JN_AT(net, l, idx, int32_t);
        const int64_t ld = net->F->batch * y->Pp;
        const int jn_threads = (int)(m < net->threads ? m : net->threads);
        JN_PARALLEL_FOR
        for (int64_t n = 0; n < m; n++) {
            JN_T *wn = JN_AT(net, l, win, JN_T) + n * y->W;
            JN_T *ph = JN_AT(net, l, ph, JN_T) + n * y->Q;
            JN_SFX(cf_phases)(ph, in + n * y->niP, y);
            JN_SFX(cf_windows)(wn, ph, y);
            JN_SFX(cf_im2col)(ct + n * y->Pp, ld, wn, y);
            JN_SFX(cf_gemm)(zf + n * y->f * y->Pp, y->Pp, w, y->K, 1, ct + n * y->Pp, ld, y->f,
                            y->Pp, y->K, 0, 1);
            JN_SFX(cf_pool)(a + n * y->noP, idx + n * y->no, zf + n * y->f * y->Pp, b, y);
            JN_SFX(activate)(a + n * y->noP, y->no, y->act);
        }
        return;
    }
    for (int64_t r = 0; r < m; r++)
        memcpy(a + r * y->noP, b, (size_t)y->no * sizeof(JN_T));
    JN_SFX(cf_gemm)(a, y->noP, in, y->niP, 1, JN_AT(net, l, wt, JN_T), y->noP, m, y->noP, y->ni,
                    1, net->threads);
    for (int64_t r = 0; r < m; r++) JN_SFX(activate)(a + r * y->noP, y->no, y->act);
}

/* BP1 into the last layer's d for the mc rows of a chunk of an m-row mini-batch,
 * from its a and the targets' rows, as the reference. */
static void JN_SFX(cf_bp1)(const JN_SFX(cf_net) *net, const JN_T *yv, int64_t mc, int64_t m,
                           const int64_t *rows) {
    const int64_t L = net->F->n_layers - 1;
    const jn_cf_layer *y = &net->F->L[L];
    const int64_t nL = y->no;
    const JN_T *aL = JN_AT(net, L, a, JN_T);
    JN_T *d = JN_AT(net, L, d, JN_T);
    for (int64_t r = 0; r < mc; r++) {
        const JN_T *t = yv + rows[r] * nL, *a = aL + r * y->noP;
        JN_T sy = 0;
        for (int64_t j = 0; j < nL; j++) sy += t[j];
        for (int64_t j = 0; j < nL; j++)
            d[r * y->noP + j] = net->cfg->cost == JN_COST_QUADRATIC
                                    ? (a[j] - t[j]) / (JN_T)m * JN_SFX(activation_prime)(a[j], y->act)
                              : net->cfg->cost == JN_COST_CROSS_ENTROPY ? (a[j] - t[j]) / (JN_T)m
                              : (a[j] * sy - t[j]) / (JN_T)m;
    }
}

/* A ConvPool layer's backward for a chunk's m rows: gb; the deltas routed to
 * the arg-maxes (dr, drt); gwt (K, Fp) = ct (K, m Pp) drt (m Pp, Fp), the chunk
 * in one product; for l > 0, per example, dC/d(patches) = w^T (K, F) dr (F, Pp),
 * put back by col2im into `below` (m, niP). With acc, gb and gwt continue the
 * sums of the mini-batch's earlier chunks (the same chains as one product). */
static void JN_SFX(cf_conv_backward)(const JN_SFX(cf_net) *net, int64_t l, const JN_T *w,
                                     JN_T *below, int64_t m, int acc) {
    const jn_cf_layer *y = &net->F->L[l];
    const JN_T *d = JN_AT(net, l, d, JN_T), *ct = JN_AT(net, l, ct, JN_T);
    const int32_t *idx = JN_AT(net, l, idx, int32_t);
    JN_T *dr = JN_AT(net, l, dr, JN_T), *drt = JN_AT(net, l, drt, JN_T);
    JN_T *gb = JN_AT(net, l, gb, JN_T), *gct = JN_AT(net, l, gct, JN_T);
    const int64_t ld = net->F->batch * y->Pp, S = y->S;
    const int64_t pp = y->p * y->p;
    /* drt[n Pp + q S + t, f] = d[n, f S + t] where the block's arg-max is q, else
     * 0 (zeroed, then the arg-maxes written). */
    memset(drt, 0, (size_t)(m * y->Pp * y->Fp) * sizeof(JN_T));
    for (int64_t f = 0; f < y->f; f++) {                                 /* BP3 */
        JN_T s = acc ? gb[f] : 0;
        for (int64_t n = 0; n < m; n++)
            for (int64_t t = 0; t < S; t++) {
                const JN_T dv = d[n * y->noP + f * S + t];
                s += dv;
                drt[(n * y->Pp + idx[n * y->no + f * S + t] * S + t) * y->Fp + f] = dv;
            }
        gb[f] = s;
    }
    /* dr[f, n Pp + q S + t], the same as drt's transpose, each entry written (the
     * pad positions stay the 0 they were given once). It only feeds BP2's sum,
     * which layer 0 has not. */
    for (int64_t f = 0; below && f < y->f; f++)
        for (int64_t n = 0; n < m; n++)
            for (int64_t q = 0; q < pp; q++) {
                const JN_T *dn = d + n * y->noP + f * S;
                const int32_t *in = idx + n * y->no + f * S;
                JN_T *out = dr + f * ld + n * y->Pp + q * S;
                for (int64_t t = 0; t < S; t++) out[t] = in[t] == q ? dn[t] : 0;
            }
    JN_SFX(cf_gemm)(JN_AT(net, l, gwt, JN_T), y->Fp, ct, ld, 1, drt, y->Fp, y->K, y->Fp,
                    m * y->Pp, acc, net->threads);                        /* BP4 */
    if (!below) return;
    const int jn_threads = (int)(m < net->threads ? m : net->threads);
    JN_PARALLEL_FOR
    for (int64_t n = 0; n < m; n++) {                                     /* BP2's sum */
        JN_T *g = gct + n * y->K * y->Pp, *bn = below + n * y->niP;
        JN_SFX(cf_gemm)(g, y->Pp, w, 1, y->K, dr + n * y->Pp, ld, y->K, y->Pp, y->f, 0, 1);
        JN_SFX(cf_col2im)(bn, JN_AT(net, l, win, JN_T) + n * y->W,
                          JN_AT(net, l, ph, JN_T) + n * y->Q, g, y->Pp, y);
    }
}

/* A Dense layer's backward for a chunk's m rows: gb (BP3), gw (no, niP) = d^T in
 * (BP4), continuing earlier chunks' sums with acc, and `below` (m, niP) = d wn
 * (BP2's sum) when given. */
static void JN_SFX(cf_dense_backward)(const JN_SFX(cf_net) *net, int64_t l, JN_T *below,
                                      int64_t m, int acc) {
    const jn_cf_layer *y = &net->F->L[l];
    const JN_T *d = JN_AT(net, l, d, JN_T), *in = JN_SFX(cf_in)(net, l);
    JN_T *gb = JN_AT(net, l, gb, JN_T);
    for (int64_t j = 0; j < y->no; j++) {
        JN_T s = acc ? gb[j] : 0;
        for (int64_t r = 0; r < m; r++) s += d[r * y->noP + j];
        gb[j] = s;
    }
    JN_SFX(cf_gemm)(JN_AT(net, l, gw, JN_T), y->niP, d, 1, y->noP, in, y->niP, y->no, y->niP, m,
                    acc, net->threads);
    if (below)
        JN_SFX(cf_gemm)(below, y->niP, d, y->noP, 1, JN_AT(net, l, wn, JN_T), y->niP, m, y->niP,
                        y->no, 0, net->threads);
}

/* Every layer's gradient of the mini-batch, last to first: the layer's own,
 * then BP2 into the layer below's d: dC/d(in[l]) times the dropout factor
 * times f'(a[l]). */
static void JN_SFX(cf_backward)(const JN_SFX(cf_net) *net, JN_T *const *w,
                                const JN_T *const *masks, int64_t m, int acc) {
    for (int64_t l = net->F->n_layers - 1; l >= 0; l--) {
        const jn_cf_layer *y = &net->F->L[l];
        JN_T *below = l ? JN_AT(net, l - 1, d, JN_T) : NULL;
        if (y->kind == JN_LAYER_CONVPOOL) JN_SFX(cf_conv_backward)(net, l, w[l], below, m, acc);
        else JN_SFX(cf_dense_backward)(net, l, below, m, acc);
        if (!l) break;
        const JN_T *a = JN_AT(net, l - 1, a, JN_T);
        const int act = net->F->L[l - 1].act;
        for (int64_t r = 0; r < m; r++) {
            const JN_T *mrow = masks && masks[l] ? masks[l] + r * y->ni : NULL;
            for (int64_t e = 0; e < y->ni; e++) {
                const JN_T keep = y->dropout > 0 ? JN_SFX(cf_keep)(mrow, y->dropout, e) : 1;
                below[r * y->niP + e] = below[r * y->niP + e] * keep
                                        * JN_SFX(activation_prime)(a[r * y->niP + e], act);
            }
        }
    }
}

/* One row of parameters p (n,) and their velocities v (n,) or NULL: with
 * gradient g[k * gs] plus the penalty, p <- p - eta g, or v <- mu v - eta g and
 * p <- p + v. The branches are the whole row's, so each variant vectorises. */
static void JN_SFX(cf_row_step)(JN_T *restrict p, JN_T *restrict v, const JN_T *restrict g,
                                int64_t gs, int64_t n, JN_T eta, JN_T mu, JN_T scale, int reg) {
#define JN_CF_G(k) (scale != 0 ? g[(k) * gs] + JN_SFX(penalty)(p[k], scale, reg) : g[(k) * gs])
    if (v)
        for (int64_t k = 0; k < n; k++) {
            v[k] = mu * v[k] - eta * JN_CF_G(k);
            p[k] += v[k];
        }
    else
        for (int64_t k = 0; k < n; k++) p[k] -= eta * JN_CF_G(k);
#undef JN_CF_G
}

/* The update of layer l from its gradient (gwt or gw, and gb) plus the
 * penalty, by rows of w; then a dense layer's copies wn (row by row) and wt
 * (transposed, in 16 x 16 blocks) are refreshed. */
static void JN_SFX(cf_update)(const JN_SFX(cf_net) *net, int64_t l, JN_T *w, JN_T *b, JN_T *vw,
                              JN_T *vb, JN_T eta) {
    const jn_cf_layer *y = &net->F->L[l];
    const jn_config *cfg = net->cfg;
    const JN_T mu = (JN_T)cfg->momentum, scale = (JN_T)(cfg->lmbda > 0 ? cfg->lmbda / cfg->n_train : 0);
    const int conv = y->kind == JN_LAYER_CONVPOOL, reg = cfg->reg;
    const int64_t rows = conv ? y->f : y->no, cols = conv ? y->K : y->ni;
    const JN_T *g = conv ? JN_AT(net, l, gwt, JN_T) : JN_AT(net, l, gw, JN_T);
    const JN_T *gb = JN_AT(net, l, gb, JN_T);
    const int jn_threads = rows * cols < JN_CF_PARALLEL_MACS ? 1
                           : (int)(rows < net->threads ? rows : net->threads);
    JN_PARALLEL_FOR
    for (int64_t j = 0; j < rows; j++)
        JN_SFX(cf_row_step)(w + j * cols, vw ? vw + j * cols : NULL,
                            conv ? g + j : g + j * y->niP, conv ? y->Fp : 1, cols, eta, mu,
                            scale, reg);
    JN_SFX(cf_row_step)(b, vb, gb, 1, rows, eta, mu, 0, reg);
    if (conv) return;
    JN_T *wt = JN_AT(net, l, wt, JN_T), *wn = JN_AT(net, l, wn, JN_T);
    for (int64_t j = 0; j < rows; j++) memcpy(wn + j * y->niP, w + j * cols, (size_t)cols * sizeof(JN_T));
    enum { T = 16 };
    for (int64_t j0 = 0; j0 < rows; j0 += T)
        for (int64_t k0 = 0; k0 < cols; k0 += T) {
            JN_T *restrict to = wt + k0 * y->noP + j0;
            const JN_T *restrict from = w + j0 * cols + k0;
            if (j0 + T <= rows && k0 + T <= cols) {   /* a whole block: constant bounds */
                for (int k = 0; k < T; k++)
                    for (int j = 0; j < T; j++) to[k * y->noP + j] = from[j * cols + k];
                continue;
            }
            for (int64_t j = 0; j < T && j0 + j < rows; j++)
                for (int64_t k = 0; k < T && k0 + k < cols; k++) to[k * y->noP + j] = from[j * cols + k];
        }
}

int JN_SFX(jn_convfast_train_epoch)(JN_T *const *w, JN_T *const *b, JN_T *const *vw,
                                    JN_T *const *vb, const JN_T *x, const uint8_t *x_u8,
                                    JN_T x_scale, const JN_T *y, const int64_t *order,
                                    const JN_T *const *masks, JN_T eta, const jn_config *cfg,
                                    const jn_layer *layers, int64_t n_layers, int64_t n,
                                    int64_t batch_size, int64_t threads, void *work,
                                    size_t work_bytes) {
    jn_cf_layout F;
    int rc = cf_check(&F, &cfg, (const void *const *)w, (const void *const *)b,
                      (const void *const *)vw, (const void *const *)vb, x, x_u8, (double)x_scale,
                      y, order, (const void *const *)masks, (double)eta, layers, n_layers, n,
                      batch_size, threads, work, work_bytes, sizeof(JN_T));
    if (rc) return rc;
    unsigned char *base = (unsigned char *)work;
    base += (JN_ALIGN - (uintptr_t)base % JN_ALIGN) % JN_ALIGN;
    memset(base, 0, F.total - JN_ALIGN);        /* every pad 0, once */
    const JN_SFX(cf_net) net = {&F, base, layers, cfg, threads};
    for (int64_t l = 0; l < n_layers; l++)      /* wt, wn from w */
        if (F.L[l].kind == JN_LAYER_DENSE)
            for (int64_t j = 0; j < F.L[l].no; j++)
                for (int64_t k = 0; k < F.L[l].ni; k++)
                    JN_AT(&net, l, wt, JN_T)[k * F.L[l].noP + j] =
                        JN_AT(&net, l, wn, JN_T)[j * F.L[l].niP + k] = w[l][j * F.L[l].ni + k];
    int64_t *rows = (int64_t *)(base + F.rows);
    const JN_T *mb[JN_MAX_LAYERS] = {0};
    for (int64_t start = 0; start < n; start += batch_size) {
        const int64_t m = n - start < batch_size ? n - start : batch_size;
        for (int64_t r = 0; r < m; r++) rows[r] = order ? order[start + r] : start + r;
        for (int64_t c0 = 0; c0 < m; c0 += F.batch) {   /* chunks of F.batch rows */
            const int64_t mc = m - c0 < F.batch ? m - c0 : F.batch;
            for (int64_t l = 0; l < n_layers; l++) {   /* mask rows start + c0.. (by position) */
                mb[l] = masks && masks[l] && layers[l].dropout > 0
                            ? masks[l] + (start + c0) * F.L[l].ni : NULL;
                if (l == 0 || F.L[l].dropout > 0)
                    JN_SFX(cf_inputs)(&net, l, x, x_u8, x_scale, mb[l], mc, rows + c0);
                JN_SFX(cf_forward)(&net, l, w[l], b[l], mc);
            }
            JN_SFX(cf_bp1)(&net, y, mc, m, rows + c0);
            JN_SFX(cf_backward)(&net, w, mb, mc, c0 > 0);
        }
        for (int64_t l = 0; l < n_layers; l++)
            JN_SFX(cf_update)(&net, l, w[l], b[l], vw ? vw[l] : NULL, vb ? vb[l] : NULL, eta);
    }
    return JN_OK;
}

#undef JN_AT
#undef JN_VL
