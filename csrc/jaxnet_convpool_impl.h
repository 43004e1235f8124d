/* The conv-pool layer, written once for a float type (see jaxnet_convpool.h).
 * Included by jaxnet_convpool.c with JN_T (double or float) and JN_SFX(n). No
 * include guard on purpose. Index helpers: A(n,c,y,x), W(f,c,i,j), Z(n,f,Y,X). */

/* conv[n,f,y,x] = sum_{c,i,j} a[n,c,y+i,x+j] w[f,c,i,j] */
static JN_T JN_SFX(conv_at)(const JN_T *a, const JN_T *w, const jn_convpool_dims *d,
                            int64_t n, int64_t f, int64_t y, int64_t x) {
    JN_T s = 0;
    for (int64_t c = 0; c < d->c; c++)
        for (int64_t i = 0; i < d->k; i++)
            for (int64_t j = 0; j < d->k; j++)
                s += a[((n * d->c + c) * d->h + y + i) * d->w + x + j]
                     * w[((f * d->c + c) * d->k + i) * d->k + j];
    return s;
}

int JN_SFX(jn_convpool_forward)(JN_T *z, int32_t *idx, const JN_T *a, const JN_T *w,
                                const JN_T *b, const jn_convpool_dims *d) {
    if (!z || !idx || !a || !w || !b || !d) return JN_ERR_NULL;
    int rc = jn_convpool_check(d);
    if (rc) return rc;
    const int64_t p = d->p, hp = (d->h - d->k + 1) / p, wp = (d->w - d->k + 1) / p;
    for (int64_t n = 0; n < d->m; n++)
        for (int64_t f = 0; f < d->f; f++)
            for (int64_t Y = 0; Y < hp; Y++)
                for (int64_t X = 0; X < wp; X++) {
                    JN_T best = 0;
                    int32_t arg = -1;
                    for (int64_t u = 0; u < p; u++)          /* the block, row-major */
                        for (int64_t v = 0; v < p; v++) {
                            JN_T s = JN_SFX(conv_at)(a, w, d, n, f, Y * p + u, X * p + v);
                            if (arg < 0 || s > best) { best = s; arg = (int32_t)(u * p + v); }
                        }                                    /* ">": the first maximum */
                    const int64_t o = ((n * d->f + f) * hp + Y) * wp + X;
                    z[o] = best + b[f];
                    idx[o] = arg;
                }
    return JN_OK;
}

int JN_SFX(jn_convpool_backward)(JN_T *gw, JN_T *gb, JN_T *g_in, const JN_T *a,
                                 const int32_t *idx, const JN_T *delta, const JN_T *w,
                                 const jn_convpool_dims *d) {
    if (!gw || !gb || !a || !idx || !delta || !w || !d) return JN_ERR_NULL;
    int rc = jn_convpool_check(d);
    if (rc) return rc;
    const int64_t p = d->p, k = d->k, hp = (d->h - k + 1) / p, wp = (d->w - k + 1) / p;
    const int64_t nw = d->f * d->c * k * k, na = d->m * d->c * d->h * d->w;
    for (int64_t e = 0; e < nw; e++) gw[e] = 0;
    for (int64_t f = 0; f < d->f; f++) gb[f] = 0;
    if (g_in)
        for (int64_t e = 0; e < na; e++) g_in[e] = 0;
    for (int64_t n = 0; n < d->m; n++)
        for (int64_t f = 0; f < d->f; f++)
            for (int64_t Y = 0; Y < hp; Y++)
                for (int64_t X = 0; X < wp; X++) {
                    const int64_t o = ((n * d->f + f) * hp + Y) * wp + X;
                    const int32_t arg = idx[o];
                    if (arg < 0 || arg >= p * p) return JN_ERR_INPUT;
                    const JN_T dv = delta[o];                   /* routed to the arg-max */
                    const int64_t y = Y * p + arg / p, x = X * p + arg % p;
                    gb[f] += dv;                                                  /* BP3 */
                    for (int64_t c = 0; c < d->c; c++)
                        for (int64_t i = 0; i < k; i++)
                            for (int64_t j = 0; j < k; j++) {
                                const int64_t ai = ((n * d->c + c) * d->h + y + i) * d->w + x + j;
                                const int64_t wi = ((f * d->c + c) * k + i) * k + j;
                                gw[wi] += dv * a[ai];                            /* BP4 */
                                if (g_in) g_in[ai] += dv * w[wi];          /* dC/da (BP2) */
                            }
                }
    return JN_OK;
}
