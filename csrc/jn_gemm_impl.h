/* The fast conv path's matrix product, written once for a float type (JN_T,
 * JN_SFX as in jaxnet_net_impl.h) and included by jaxnet_net_fast_impl.h. No
 * include guard on purpose.
 *
 *   C (M, N) = [C +] A (M, K) B (K, N),  A[i*ar + k*ac], B[k*ldb + j], C[i*ldc + j]
 *
 * A is read through two strides (a matrix or its transpose, unpacked: it is
 * broadcast one element at a time), B and C row-major with N a multiple of
 * JN_VL (every buffer's rows are padded to 16 elements; pad columns of B are 0).
 * Tiles of JN_CF_MR rows by up to JN_CF_NR vectors of columns keep their
 * MR * NR accumulators in registers; each C element is one chain
 * c = c + a b over k ascending (starting from C or 0), contracted to fused
 * multiply-adds where the target has them, the same chain whatever tile or
 * thread computes it. */

#ifdef JN_VECTOR_BYTES
typedef JN_T JN_SFX(cf_vec) __attribute__((vector_size(JN_VECTOR_BYTES), aligned(sizeof(JN_T)),
                                           may_alias));
#define JN_VL ((int64_t)(JN_VECTOR_BYTES / (int)sizeof(JN_T)))
#else
typedef JN_T JN_SFX(cf_vec);
#define JN_VL ((int64_t)1)
#endif

/* One tile, mr x nr vectors (constants where inlined). */
JN_INLINE void JN_SFX(cf_tile)(JN_T *restrict C, int64_t ldc, const JN_T *restrict A, int64_t ar,
                               int64_t ac, const JN_T *restrict B, int64_t ldb, int64_t K,
                               int acc, const int mr, const int nr) {
    typedef JN_SFX(cf_vec) V;
    V c[JN_CF_MR][JN_CF_NR];
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < nr; q++) {
            if (acc) c[r][q] = ((const V *)(C + r * ldc))[q];
            else c[r][q] = (V){0};
        }
    for (int64_t k = 0; k < K; k++) {
        const V *b = (const V *)(B + k * ldb);
        V bq[JN_CF_NR];
        for (int q = 0; q < nr; q++) bq[q] = b[q];
        for (int r = 0; r < mr; r++) {
            const JN_T a = A[r * ar + k * ac];
            for (int q = 0; q < nr; q++) c[r][q] += a * bq[q];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int q = 0; q < nr; q++) ((V *)(C + r * ldc))[q] = c[r][q];
}

#define JN_CF_CALL(r, q) JN_SFX(cf_tile)(C, ldc, A, ar, ac, B, ldb, K, acc, r, q)
#if JN_CF_NR == 4
#define JN_CF_ROWS(r)                          \
    switch (nr) {                              \
    case 1: JN_CF_CALL(r, 1); break;           \
    case 2: JN_CF_CALL(r, 2); break;           \
    case 3: JN_CF_CALL(r, 3); break;           \
    default: JN_CF_CALL(r, 4); break;          \
    }
#else
#define JN_CF_ROWS(r)                          \
    if (nr == 1) JN_CF_CALL(r, 1);             \
    else JN_CF_CALL(r, 2);
#endif

/* A tile of any shape up to JN_CF_MR x JN_CF_NR, through its constant-size twin. */
static void JN_SFX(cf_tile_any)(JN_T *C, int64_t ldc, const JN_T *A, int64_t ar, int64_t ac,
                                const JN_T *B, int64_t ldb, int64_t K, int acc, int mr, int nr) {
    switch (mr) {
    case 1: JN_CF_ROWS(1) break;
    case 2: JN_CF_ROWS(2) break;
    case 3: JN_CF_ROWS(3) break;
    default: JN_CF_ROWS(4) break;
    }
}
#undef JN_CF_ROWS
#undef JN_CF_CALL

/* The product over all tiles, row blocks outer; tiles shared among up to
 * `threads` threads (each tile whole in one) when it has at least
 * JN_CF_PARALLEL_MACS multiply-adds (a smaller one costs less than waking them). */
static void JN_SFX(cf_gemm)(JN_T *C, int64_t ldc, const JN_T *A, int64_t ar, int64_t ac,
                            const JN_T *B, int64_t ldb, int64_t M, int64_t N, int64_t K, int acc,
                            int64_t threads) {
    const int64_t width = JN_CF_NR * JN_VL, nbj = (N + width - 1) / width;
    const int64_t tiles = (M + JN_CF_MR - 1) / JN_CF_MR * nbj;
    const int jn_threads = M * N * K < JN_CF_PARALLEL_MACS ? 1
                           : (int)(tiles < threads ? tiles : threads);
    JN_PARALLEL_FOR
    for (int64_t t = 0; t < tiles; t++) {
        const int64_t i0 = t / nbj * JN_CF_MR, j0 = t % nbj * width;
        const int mr = (int)(M - i0 < JN_CF_MR ? M - i0 : JN_CF_MR);
        const int nr = (int)((N - j0 < width ? N - j0 : width) / JN_VL);
        JN_SFX(cf_tile_any)(C + i0 * ldc + j0, ldc, A + i0 * ar, ar, ac, B + j0, ldb, K, acc, mr,
                            nr);
    }
}
