/* The Dense chains' C fast path on its own, for profilers (callgrind, perf):
 * epochs of the book's 784-30-10 (sigmoid, quadratic cost, eta 3, float32,
 * uint8 pixels times 1/256) over the first n MNIST training images, the
 * kernel called straight, no Python. Prints the best epoch's seconds (process
 * CPU time; WALL=1 for wall-clock) and a digest of the parameters' bits, so two
 * builds can be checked to give the same numbers.
 *
 * Its inputs are raw arrays in DIR (x8.bin (50000, 784) uint8, y.bin
 * (50000, 10) float32, order.bin (50000,) int64, w0.bin, b0.bin, w1.bin,
 * b1.bin float32), written by
 *   python -c "import numpy as np, jax, jaxnet; from jaxnet import data; \
 *     d = data.load_mnist(progress=False); D = 'DIR/'; \
 *     d.train.images.tofile(D + 'x8.bin'); d.train.y().astype(np.float32).tofile(D + 'y.bin'); \
 *     np.random.default_rng(0).permutation(50000).astype(np.int64).tofile(D + 'order.bin'); \
 *     [(np.asarray(p.w, np.float32).tofile(D + f'w{i}.bin'), np.asarray(p.b, np.float32).tofile(D + f'b{i}.bin')) \
 *      for i, p in enumerate(jaxnet.init_params(jax.random.PRNGKey(0), [784, 30, 10]))]"
 * Build and run (n = 50000 uses the shuffled order, else rows 0..n-1 in turn):
 *   S=csrc; cc -std=c11 -O3 -march=native -g -fopenmp -I$S -o prof benchmarks/c_fast_profile.c \
 *     $S/jn_common.c $S/jaxnet_net.c $S/jaxnet_convpool.c $S/jaxnet_dense_chain.c \
 *     $S/jaxnet_dense_chain_fast.c -lm
 *   valgrind --tool=callgrind ./prof DIR 5000 10 1 1 1 0  # DIR n batch threads sparse epochs packed
 * (packed 1: the first layer's inputs packed once, jn_fast_pack_f32, its seconds
 * printed apart, and the epochs run over them: jn_fast_train_epoch_packed_f32). */
#define _DEFAULT_SOURCE /* madvise's MADV_HUGEPAGE */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "jaxnet_dense_chain_fast.h"

static void *load(const char *dir, const char *name, size_t bytes) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    /* arrays of 4 MiB and more on transparent huge pages where the kernel
     * allows them on request, as NumPy asks for its arrays (the kernel's
     * callers pass NumPy arrays: the data set's random rows then cost no TLB
     * miss each) */
    void *p = NULL;
    if (bytes < (4u << 20) || posix_memalign(&p, 2u << 20, bytes)) p = malloc(bytes);
#ifdef MADV_HUGEPAGE
    else madvise(p, bytes, MADV_HUGEPAGE);
#endif
    FILE *f = fopen(path, "rb");
    if (!p || !f || fread(p, 1, bytes, f) != bytes) {
        fprintf(stderr, "c_fast_profile: cannot read %zu bytes of %s\n", bytes, path);
        exit(1);
    }
    fclose(f);
    return p;
}

static double now(void) {
    struct timespec t;
    clock_gettime(getenv("WALL") ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [n batch threads sparse epochs]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    const int64_t n = argc > 2 ? atol(argv[2]) : 50000, batch = argc > 3 ? atol(argv[3]) : 10;
    const int64_t threads = argc > 4 ? atol(argv[4]) : 1, sparse = argc > 5 ? atol(argv[5]) : 1;
    const int epochs = argc > 6 ? atoi(argv[6]) : 1, packed = argc > 7 ? atoi(argv[7]) : 0;
    const int64_t sizes[3] = {784, 30, 10};
    if (n < 1 || n > 50000) return 2;
    uint8_t *x8 = load(dir, "x8.bin", 50000 * 784);
    float *y = load(dir, "y.bin", 50000 * 10 * sizeof(float));
    int64_t *order = load(dir, "order.bin", 50000 * sizeof(int64_t));
    if (n < 50000)
        for (int64_t i = 0; i < n; i++) order[i] = i;
    float *w[2] = {load(dir, "w0.bin", 784 * 30 * 4), load(dir, "w1.bin", 30 * 10 * 4)};
    float *b[2] = {load(dir, "b0.bin", 30 * 4), load(dir, "b1.bin", 10 * 4)};
    const jn_config cfg = {JN_COST_QUADRATIC, JN_ACT_SIGMOID, JN_REG_L2, 0.0, 50000.0, 0.0};
    size_t bytes;
    if (jn_fast_work_bytes(&bytes, sizes, 2, batch, sizeof(float))) return 2;
    void *work = malloc(bytes);
    int64_t *start = NULL;
    int32_t *idx = NULL;
    float *val = NULL;
    double pack_s = 0;
    if (packed) {  /* the first layer's lists once, the epochs over them */
        const double t0 = now();
        start = malloc((size_t)(n + 1) * sizeof(int64_t));
        start[0] = 0;
        for (int64_t r = 0; r < n; r++) {
            int64_t c = 0;
            for (int64_t k = 0; k < 784; k++) c += !sparse || x8[r * 784 + k] != 0;
            start[r + 1] = start[r] + c;
        }
        idx = malloc((size_t)(start[n] + 784) * sizeof(int32_t));
        val = malloc((size_t)(start[n] + 784) * sizeof(float));
        if (jn_fast_pack_f32(idx, val, start, NULL, x8, 1.0f / 256, n, 784, sparse, NULL)) return 2;
        pack_s = now() - t0;
    }
    double best = 1e300;
    for (int e = 0; e < epochs; e++) {
        const double t0 = now();
        const int err =
            packed ? jn_fast_train_epoch_packed_f32(w, b, NULL, NULL, start, idx, val, y, order,
                                                    3.0f, &cfg, sizes, 2, n, batch, threads,
                                                    work, bytes)
                   : jn_fast_train_epoch_f32(w, b, NULL, NULL, NULL, x8, 1.0f / 256, y, order,
                                             3.0f, &cfg, sizes, 2, n, batch, threads, sparse,
                                             NULL, work, bytes);
        const double t = now() - t0;
        if (err) {
            fprintf(stderr, "c_fast_profile: %s\n", jn_strerror(err));
            return 1;
        }
        best = t < best ? t : best;
    }
    uint64_t h = 1469598103934665603ull;  /* FNV-1a over the parameters' bytes */
    for (int l = 0; l < 2; l++) {
        const size_t nw = (size_t)(sizes[l] * sizes[l + 1]), nb = (size_t)sizes[l + 1];
        const unsigned char *p = (const unsigned char *)w[l];
        for (size_t i = 0; i < nw * sizeof(float); i++) h = (h ^ p[i]) * 1099511628211ull;
        p = (const unsigned char *)b[l];
        for (size_t i = 0; i < nb * sizeof(float); i++) h = (h ^ p[i]) * 1099511628211ull;
    }
    printf("n %lld batch %lld threads %lld sparse %lld packed %d (%.4f s) epochs %d best %.4f s "
           "digest %016llx\n", (long long)n, (long long)batch, (long long)threads,
           (long long)sparse, packed, pack_s, epochs, best, (unsigned long long)h);
    return 0;
}
