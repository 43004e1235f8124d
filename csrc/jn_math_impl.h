/* The activations, their derivatives and the regularisation term, written
 * once for a float type (JN_T, JN_SFX, JN_EXP, JN_TANH as in
 * jaxnet_net_impl.h) and shared by the reference and the fast path, so the
 * two compute every f(z) identically (the fast path's float32 sigmoid aside:
 * jn__fast_sigmoid_f32, within JN_SIGMOID_ULPS). No include guard on purpose. */

/* sigma(z) = 1 / (1 + e^-z); e^-z overflows to inf for z << 0, giving 0. */
static inline JN_T JN_SFX(sigmoid)(JN_T z) {
    return (JN_T)1 / ((JN_T)1 + JN_EXP(-z));
}

/* In place, z (n,) <- f(z): sigmoid, tanh, relu, softmax over the n entries
 * (shifted by their maximum, so no exp overflows), or linear (z itself). NaN
 * stays NaN. */
static void JN_SFX(activate)(JN_T *z, int64_t n, int act) {
    switch (act) {
    case JN_ACT_SIGMOID:
        for (int64_t j = 0; j < n; j++) z[j] = JN_SFX(sigmoid)(z[j]);
        break;
    case JN_ACT_TANH:
        for (int64_t j = 0; j < n; j++) z[j] = JN_TANH(z[j]);
        break;
    case JN_ACT_RELU:
        for (int64_t j = 0; j < n; j++) z[j] = z[j] < 0 ? 0 : z[j];
        break;
    case JN_ACT_SOFTMAX: {
        JN_T mx = z[0], s = 0;
        for (int64_t j = 1; j < n; j++) mx = z[j] > mx ? z[j] : mx;
        for (int64_t j = 0; j < n; j++) s += (z[j] = JN_EXP(z[j] - mx));
        for (int64_t j = 0; j < n; j++) z[j] /= s;
        break;
    }
    default: /* JN_ACT_LINEAR */
        break;
    }
}

/* f'(z) written with a = f(z), as BP2 uses it: a (1 - a), 1 - a^2, [a > 0], 1.
 * Never asked of softmax (an output layer's, and never the quadratic cost's). */
static inline JN_T JN_SFX(activation_prime)(JN_T a, int act) {
    switch (act) {
    case JN_ACT_SIGMOID: return a * (1 - a);
    case JN_ACT_TANH: return 1 - a * a;
    case JN_ACT_RELU: return a > 0 ? (JN_T)1 : (JN_T)0;
    default: return 1; /* JN_ACT_LINEAR */
    }
}

/* The regularisation term of dC/dw for one weight: (lmbda/n) w (L2) or (lmbda/n) sgn(w) (L1). */
static inline JN_T JN_SFX(penalty)(JN_T w, JN_T scale, int reg) {
    return reg == JN_REG_L2 ? scale * w : scale * (JN_T)((w > 0) - (w < 0));
}
