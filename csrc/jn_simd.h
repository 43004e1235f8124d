/* Internal to the fast paths (jaxnet_dense_chain_fast.c, jaxnet_net_fast.c): the
 * alignment, the vector width, inlining and OpenMP macros they share. Not
 * part of the API. */
#ifndef JN_SIMD_H
#define JN_SIMD_H

/* Every array in a fast path's work buffer starts on this many bytes. */
#define JN_ALIGN 64

#if defined(__GNUC__) || defined(__clang__)
#define JN_INLINE static inline __attribute__((always_inline))
#define JN_NOINLINE static __attribute__((noinline))
#define JN_PREFETCH(p) __builtin_prefetch(p)
#else
#define JN_INLINE static inline
#define JN_NOINLINE static
#define JN_PREFETCH(p) ((void)(p))
#endif

/* The blocks' vector width in bytes, where the compiler has vector extensions:
 * 32 (8 floats, 4 doubles) suits AVX2 and, as pairs, SSE2 and NEON; AVX-512
 * machines fuse pairs. Without them, plain loops (JAXNET_PLAIN=1 forces it). */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(JAXNET_PLAIN)
#if defined(__AVX512F__)
#define JN_VECTOR_BYTES 64
#else
#define JN_VECTOR_BYTES 32
#endif
#endif

/* Splits the loop that follows over jn_threads threads (a local int), when
 * built with OpenMP and jn_threads > 1; otherwise nothing. */
#ifdef _OPENMP
#define JN_PARALLEL_FOR \
    _Pragma("omp parallel for num_threads(jn_threads) if (jn_threads > 1) schedule(static)")
#else
#define JN_PARALLEL_FOR (void)jn_threads;
#endif

/* One team for a whole epoch (the Dense-chain fast path): the block that
 * follows runs on jn_threads threads (a local int) when built with OpenMP and
 * jn_threads > 1, each knowing its JN_THREAD_ID of JN_TEAM_SIZE; JN_CRITICAL
 * guards the statement that follows. Without OpenMP: one thread, id 0, and
 * the pragmas are nothing. */
#ifdef _OPENMP
#include <omp.h>
#define JN_PARALLEL_REGION _Pragma("omp parallel num_threads(jn_threads) if (jn_threads > 1)")
#define JN_THREAD_ID ((int64_t)omp_get_thread_num())
#define JN_TEAM_SIZE ((int64_t)omp_get_num_threads())
#define JN_CRITICAL _Pragma("omp critical(jn_fast)")
#else
#define JN_PARALLEL_REGION (void)jn_threads;
#define JN_THREAD_ID ((int64_t)0)
#define JN_TEAM_SIZE ((int64_t)1)
#define JN_CRITICAL
#endif

#endif /* JN_SIMD_H */
