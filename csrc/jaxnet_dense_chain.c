/* jaxnet_dense_chain: the Dense-chain API (see jaxnet_dense_chain.h) on the
 * one reference, jaxnet_net: each call describes the chain as Dense jn_layers and runs
 * jaxnet_net's function. The float64 and float32 wrappers are one template,
 * jaxnet_dense_chain_impl.h, included twice. */
#include "jaxnet_dense_chain.h"
#include "jaxnet_net.h"
#include "jn_common.h"

/* layers[0..n_layers) = the chain sizes[0..n_layers] as Dense layers without
 * dropout: the hidden ones with cfg's activation, the last with its cost's
 * (cfg NULL: the book's chapter 1). Checks cfg, then the sizes and batch, so a
 * bad argument gets the code it always got. */
static int dense_chain(jn_layer *layers, const jn_config *cfg, const int64_t *sizes,
                       int64_t n_layers, int64_t batch) {
    const jn_config *c;
    int err = jn__check_config(&c, cfg);
    if (!err) err = jn__check_sizes(sizes, n_layers, batch);
    if (err) return err;
    for (int64_t l = 0; l < n_layers; l++) {
        const int act = l < n_layers - 1 ? c->activation : jn__output_activation(c);
        layers[l] = (jn_layer){JN_LAYER_DENSE, act, sizes[l], 1, 1, sizes[l + 1], 1, 1, 0.0};
    }
    return JN_OK;
}

/* dense_chain, and a work buffer of at least jn_work_size elements: the one size
 * this API asks of every call, even of those that would need less. */
static int dense_call(jn_layer *layers, const jn_config *cfg, const int64_t *sizes,
                      int64_t n_layers, int64_t batch, size_t work_len) {
    size_t need, n_idx;
    int err = dense_chain(layers, cfg, sizes, n_layers, batch);
    if (!err) err = jn_net_epoch_work_size(&need, &n_idx, layers, n_layers, batch);
    if (!err && work_len < need) err = JN_ERR_WORK;
    return err;
}

int jn_work_size(size_t *out, const int64_t *sizes, int64_t n_layers, int64_t batch) {
    if (out == NULL) return JN_ERR_NULL;
    jn_layer layers[JN_MAX_LAYERS];
    size_t n_idx;                                   /* 0: no convpool layer */
    int err = dense_chain(layers, NULL, sizes, n_layers, batch);
    return err ? err : jn_net_epoch_work_size(out, &n_idx, layers, n_layers, batch);
}

int jn_trace_offsets(size_t *a_off, size_t *delta_off, const int64_t *sizes,
                     int64_t n_layers, int64_t batch) {
    if (a_off == NULL || delta_off == NULL) return JN_ERR_NULL;
    jn_layer layers[JN_MAX_LAYERS];
    size_t in_off[JN_MAX_LAYERS];
    int err = dense_chain(layers, NULL, sizes, n_layers, batch);
    if (!err) err = jn_net_trace_offsets(in_off, a_off + 1, delta_off, layers, n_layers, batch);
    if (!err) a_off[0] = in_off[0];                 /* in[0] = x: no dropout */
    return err;
}

#define JN_TEMPLATE "jaxnet_dense_chain_impl.h"
#include "jn_twice.h"
