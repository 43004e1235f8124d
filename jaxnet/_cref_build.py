"""cffi builder (API mode) for the C reference kernel; used at install time only.

setup.py names ``jaxnet/_cref_build.py:ffibuilder`` in ``cffi_modules``, so
``pip install .`` and ``pip install -e .`` compile ``csrc/jaxnet_ref.c`` into
the extension ``jaxnet._cref``. API mode means the C compiler checks the
declarations below against the real header.
"""

import os
from pathlib import Path

from cffi import FFI

CSRC = Path(__file__).resolve().parent.parent / "csrc"

ffibuilder = FFI()
ffibuilder.cdef("""
#define JN_MAX_LAYERS 64
enum { JN_OK = 0, JN_ERR_NULL = 1, JN_ERR_SIZE = 2, JN_ERR_OVERFLOW = 3, JN_ERR_BATCH = 4,
       JN_ERR_ORDER = 5, JN_ERR_ETA = 6, JN_ERR_WORK = 7 };
const char *jn_strerror(int code);
int jn_work_size(size_t *out, const int64_t *sizes, int64_t n_layers, int64_t batch);
int jn_trace_offsets(size_t *a_off, size_t *delta_off, const int64_t *sizes,
                     int64_t n_layers, int64_t batch);
int jn_feedforward_f64(double *out, const double *const *w, const double *const *b,
                       const double *x, const int64_t *sizes, int64_t n_layers,
                       int64_t batch, double *work, size_t work_len);
int jn_feedforward_f32(float *out, const float *const *w, const float *const *b,
                       const float *x, const int64_t *sizes, int64_t n_layers,
                       int64_t batch, float *work, size_t work_len);
int jn_backprop_f64(double *const *gw, double *const *gb, const double *const *w,
                    const double *const *b, const double *x, const double *y,
                    const int64_t *sizes, int64_t n_layers, int64_t batch,
                    double *work, size_t work_len);
int jn_backprop_f32(float *const *gw, float *const *gb, const float *const *w,
                    const float *const *b, const float *x, const float *y,
                    const int64_t *sizes, int64_t n_layers, int64_t batch,
                    float *work, size_t work_len);
int jn_sgd_step_f64(double *const *w, double *const *b, const double *x, const double *y,
                    double eta, const int64_t *sizes, int64_t n_layers, int64_t batch,
                    double *work, size_t work_len);
int jn_sgd_step_f32(float *const *w, float *const *b, const float *x, const float *y,
                    float eta, const int64_t *sizes, int64_t n_layers, int64_t batch,
                    float *work, size_t work_len);
int jn_train_epoch_f64(double *const *w, double *const *b, const double *x, const double *y,
                       const int64_t *order, double eta, const int64_t *sizes,
                       int64_t n_layers, int64_t n, int64_t batch_size,
                       double *work, size_t work_len);
int jn_train_epoch_f32(float *const *w, float *const *b, const float *x, const float *y,
                       const int64_t *order, float eta, const int64_t *sizes,
                       int64_t n_layers, int64_t n, int64_t batch_size,
                       float *work, size_t work_len);
""")

# -O3 vectorises the kernel's axpy loops; no -ffast-math, which would let the
# compiler assume away NaN. -march=native because the extension is built on
# the machine that installs it; JAXNET_PORTABLE=1 builds for any x86-64.
_flags = ["-std=c11", "-O3"]
if os.environ.get("JAXNET_PORTABLE") != "1":
    _flags.append("-march=native")

ffibuilder.set_source(
    "jaxnet._cref",
    '#include "jaxnet_ref.h"',
    sources=[os.path.relpath(CSRC / "jaxnet_ref.c")],
    include_dirs=[os.path.relpath(CSRC)],
    depends=[os.path.relpath(CSRC / n) for n in ("jaxnet_ref.h", "jaxnet_ref_impl.h")],
    extra_compile_args=_flags,
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
