/* The Dense-chain API's four calls, written once for a float type (JN_T and
 * JN_SFX as in jaxnet_net_impl.h): each describes the chain as Dense layers
 * (dense_call, jaxnet_dense_chain.c) and runs jaxnet_net's function, without
 * dropout masks or conv-pool indices. Included by jaxnet_dense_chain.c; no
 * include guard on purpose. */

int JN_SFX(jn_feedforward)(JN_T *out, const JN_T *const *w, const JN_T *const *b,
                           const JN_T *x, const jn_config *cfg, const int64_t *sizes,
                           int64_t n_layers, int64_t batch, JN_T *work, size_t work_len) {
    jn_layer layers[JN_MAX_LAYERS];
    int err = dense_call(layers, cfg, sizes, n_layers, batch, work_len);
    return err ? err : JN_SFX(jn_net_feedforward)(out, w, b, x, layers, n_layers, batch, work,
                                                  work_len, NULL, 0);
}

int JN_SFX(jn_backprop)(JN_T *const *gw, JN_T *const *gb, const JN_T *const *w,
                        const JN_T *const *b, const JN_T *x, const JN_T *y,
                        const jn_config *cfg, const int64_t *sizes, int64_t n_layers,
                        int64_t batch, JN_T *work, size_t work_len) {
    jn_layer layers[JN_MAX_LAYERS];
    int err = dense_call(layers, cfg, sizes, n_layers, batch, work_len);
    return err ? err : JN_SFX(jn_net_backprop)(gw, gb, w, b, x, y, NULL, layers, n_layers, cfg,
                                               batch, work, work_len, NULL, 0);
}

/* One step: the epoch of one mini-batch, its rows in turn (order NULL). */
int JN_SFX(jn_sgd_step)(JN_T *const *w, JN_T *const *b, JN_T *const *vw, JN_T *const *vb,
                        const JN_T *x, const JN_T *y, JN_T eta, const jn_config *cfg,
                        const int64_t *sizes, int64_t n_layers, int64_t batch,
                        JN_T *work, size_t work_len) {
    jn_layer layers[JN_MAX_LAYERS];
    int err = dense_call(layers, cfg, sizes, n_layers, batch, work_len);
    return err ? err : JN_SFX(jn_net_train_epoch)(w, b, vw, vb, x, y, NULL, NULL, eta, cfg,
                                                  layers, n_layers, batch, batch, work,
                                                  work_len, NULL, 0);
}

int JN_SFX(jn_train_epoch)(JN_T *const *w, JN_T *const *b, JN_T *const *vw, JN_T *const *vb,
                           const JN_T *x, const JN_T *y, const int64_t *order, JN_T eta,
                           const jn_config *cfg, const int64_t *sizes, int64_t n_layers,
                           int64_t n, int64_t batch_size, JN_T *work, size_t work_len) {
    if (order == NULL) return JN_ERR_NULL;           /* NULL means "in turn" to the net */
    if (n < 1) return JN_ERR_SIZE;
    if (batch_size < 1 || batch_size > n) return JN_ERR_BATCH;
    jn_layer layers[JN_MAX_LAYERS];
    int err = dense_call(layers, cfg, sizes, n_layers, batch_size, work_len);
    return err ? err : JN_SFX(jn_net_train_epoch)(w, b, vw, vb, x, y, order, NULL, eta, cfg,
                                                  layers, n_layers, n, batch_size, work,
                                                  work_len, NULL, 0);
}
