"""``jaxnet check``: the three implementations (and finite differences) side by side.

Runs the hand-derived backprop, ``jax.grad`` and the C kernel on real MNIST
batches and on a random net, in float64 and float32; then every cost × hidden
activation pair on the random net, each regularisation (none, L2, L1) meeting
every cost and every activation (float64, central differences included); then
whole epochs from the same start and order (chapter 1, and chapter 3 with
cross-entropy, tanh, L2 and momentum; the C kernel's fast path and its
reference both; in float32 the fused Pallas epoch too, interpreted without a
GPU); then two small ConvPool nets (chapter 6; sigmoid, and ReLU
with dropout masks and L2): backprop, jax.grad, the C network kernel and
central differences, and an epoch of a ConvPool + dropout net on 500 real
digits by both JAX gradients and the C network kernel; and prints for every pair the largest absolute and
relative difference, the tensor where it occurs, and the tolerance.

The JAX paths run at the requested matrix-product precision (``--precision``,
default ``highest``: true float32); the C kernel is always true float32 or
float64. The float32 tolerances below hold for true float32 and are scaled
to the precision in effect (jaxnet._core.precision.scaled_rtol): with TF32 on a
GPU they are 8192 times looser, capped at 5 %, and the output says so.
"""

from __future__ import annotations

import sys

import numpy as np

# Tolerances (relative to the largest entry of the reference tensor); the float32
# ones are for true float32 products and are scaled to the precision in effect:
F32_RTOL = 1e-5     # ~100 float32 ulps
EPOCH64_RTOL = 1e-10  # 500 steps carrying ~1e-15 per-step differences (measured ~3e-14)
EPOCH32_RTOL = 1e-3   # 500 float32 steps carrying ~1e-7 per-step differences


from ._compare import (
    F64_RTOL,
    FD_RTOL,
    Comparison,
    central_differences,
    compare,
    default_implementations,
    jitted_cost,
    model_rows,
)

#: The groups of comparisons, in the order they run and print.
SECTIONS = ("gradients", "chapter3", "conv", "epochs", "pallas", "conv_epoch")


def comparison_rows(impls=None, epochs=None, out=sys.stdout, precision="highest",
                    sections=SECTIONS) -> list[Comparison]:
    """Every comparison as a Comparison, printed to ``out``; the JAX paths at ``precision``;
    only the groups named in ``sections`` (a subset of :data:`SECTIONS`)."""
    import jax

    from .. import data
    from .._core.precision import check_precision, matmul_roundoff, scaled_rtol

    precision = check_precision(precision)
    unknown = set(sections) - set(SECTIONS)
    if unknown or not sections:
        raise ValueError(f"sections: expected a non-empty subset of {SECTIONS}, got {sections!r}")
    platform = jax.default_backend()
    missing = None
    if impls is None:
        impls, epochs, missing = default_implementations()
    f32_rtol, epoch32_rtol = (scaled_rtol(t, precision, platform) for t in (F32_RTOL, EPOCH32_RTOL))
    u = matmul_roundoff(precision, np.float32, platform)
    scaled = ("as for true float32" if f32_rtol == F32_RTOL else
              f"scaled to {f32_rtol:.0e} (gradients) and {epoch32_rtol:.0e} (epochs)")
    print(f"precision {precision} on {platform} ({jax.devices()[0].device_kind}): float32 "
          f"products round their operands to 2^{np.log2(u):.0f}; float32 tolerances {scaled}",
          file=out)
    sample = data.load_sample()
    names = list(impls)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    rows = []
    if {"gradients", "chapter3"} & set(sections):
        rows64, small64 = _gradient_rows(impls, pairs, sample, np.float64, F64_RTOL, precision)
        rows32, _ = _gradient_rows(impls, pairs, sample, np.float32, f32_rtol, precision)
        rows += rows64 + rows32 if "gradients" in sections else []
        # Chapter 3: every cost x hidden activation x regularisation, float64, 5-4-3-2.
        rows += _chapter3_rows(impls, small64, precision) if "chapter3" in sections else []
    rows += _conv_rows(impls, precision) if "conv" in sections else []
    rows += _epoch_rows(epochs, sample, precision, epoch32_rtol) if "epochs" in sections else []
    rows += _pallas_rows(sample, precision, epoch32_rtol) if "pallas" in sections else []
    if "conv_epoch" in sections:
        rows += _conv_epoch_rows(epochs, sample, precision, epoch32_rtol)
    _print(rows, out, missing)
    return rows


def _gradient_rows(impls, pairs, sample, dtype, tol, precision):
    """Every pair of gradients on two real MNIST batches and a random 5-4-3-2 net (and
    central differences on the latter in float64); returns ``(rows, the small case)``."""
    import jax

    import jaxnet

    from ..data import one_hot
    dt, rows, cases = np.dtype(dtype).name, [], []
    for seed, start in ((0, 0), (1, 2500)):
        p = jaxnet.init_params(jax.random.PRNGKey(seed), [784, 30, 10], dtype=dtype)
        cases.append((f"MNIST 784-30-10 batch@{start}", p, sample.train.x[start:start + 10],
                      sample.train.y()[start:start + 10]))
    rng = np.random.default_rng(7)
    p = tuple(jaxnet.Layer(rng.standard_normal((o, i)).astype(dtype),
                           rng.standard_normal(o).astype(dtype))
              for i, o in ((5, 4), (4, 3), (3, 2)))
    small = ("random 5-4-3-2 batch 7", p, rng.uniform(size=(7, 5)).astype(dtype),
             one_hot(rng.integers(0, 2, 7), 2, dtype))
    for case, params, x, y in cases + [small]:
        x, y = x.astype(dtype), y.astype(dtype)
        model = jaxnet.Model.dense(jaxnet.layer_sizes(params), precision=precision)
        grads = {n: f(params, x, y, model=model) for n, f in impls.items()}
        for a, b in pairs:
            rows.append(Comparison(case, dt, f"{a} vs {b}", *compare(grads[a], grads[b]), tol))
    if dtype == np.float64:
        case, params, x, y = small
        fd = central_differences(jitted_cost(params, x, y, jaxnet.Model.dense([5, 4, 3, 2])),
                                 params)
        for n, grad in grads.items():  # the small case's, computed last
            rows.append(Comparison(case, dt, f"{n} vs central diff.", *compare(grad, fd), FD_RTOL))
    return rows, small


def _epoch_rows(epochs, sample, precision, epoch32_rtol):
    """Whole epochs from the same start and order: 500 steps on the sample."""
    import jax

    import jaxnet
    rows = []
    order = np.random.default_rng(0).permutation(len(sample.train))
    # η = 0.1: at η = 0.5 this tanh net's trajectory is chaotic (float64 rounding
    # differences of 1e-15 grow to O(1) within 500 steps, between any two
    # implementations, the two JAX ones included); at 0.1 they stay ~1e-15.
    ch1 = (jaxnet.sgd(3.0), jaxnet.Model.dense([784, 30, 10], precision=precision), None)
    ch3 = (jaxnet.momentum(0.1, 0.5), jaxnet.Model.dense(
        [784, 30, 10], cost="cross_entropy", activation="tanh", precision=precision), 5.0)
    for dtype, tol in ((np.float64, EPOCH64_RTOL), (np.float32, epoch32_rtol)):
        x, y = sample.train.x.astype(dtype), sample.train.y().astype(dtype)
        for label, (rule, model, lmbda) in (
                ("epoch, 5000 MNIST, eta 3, batch 10", ch1),
                ("epoch, 5000 MNIST, cross-entropy, tanh, eta 0.1, L2 5, momentum 0.5", ch3)):
            params = jaxnet.init_params(jax.random.PRNGKey(5), model, dtype=dtype,
                                        init="scaled" if lmbda else "large")
            ends = {n: f(rule, params, x, y, order, batch_size=10, model=model, lmbda=lmbda)
                    for n, f in epochs.items()}
            names = list(ends)
            for i, a in enumerate(names):
                for b in names[i + 1:]:
                    rows.append(Comparison(label, np.dtype(dtype).name, f"{a} vs {b}",
                                    *compare(ends[a], ends[b]), tol))
    return rows


def _pallas_rows(sample, precision, epoch32_rtol):
    """The fused Pallas epoch (``impl="pallas"``, float32 only) against the JAX epoch
    on the two chapters' epochs of :func:`_epoch_rows`. Without a GPU the kernel runs
    interpreted; the row's pair says so instead of a warning."""
    import warnings

    import jax

    import jaxnet

    from ..train import PallasInterpretWarning
    order = np.random.default_rng(0).permutation(len(sample.train))
    x, y = sample.train.x.astype(np.float32), sample.train.y().astype(np.float32)
    where = "pallas" if jax.default_backend() == "gpu" else "pallas (interpreted)"
    rows = []
    for label, rule, model, lmbda in (
            ("epoch, 5000 MNIST, eta 3, batch 10", jaxnet.sgd(3.0),
             jaxnet.Model.dense([784, 30, 10], precision=precision), None),
            ("epoch, 5000 MNIST, cross-entropy, tanh, eta 0.1, L2 5, momentum 0.5",
             jaxnet.momentum(0.1, 0.5), jaxnet.Model.dense(
                 [784, 30, 10], cost="cross_entropy", activation="tanh", precision=precision),
             5.0)):
        params = jaxnet.init_params(jax.random.PRNGKey(5), model,
                                    init="scaled" if lmbda else "large")
        ends = []
        for impl in ("jax", "pallas"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PallasInterpretWarning)
                ends.append(jaxnet.train_epoch_with(rule, params, None, x, y, order,
                                                    batch_size=10, model=model, lmbda=lmbda,
                                                    impl=impl)[0])
        rows.append(Comparison(label, "float32", f"backprop vs {where}", *compare(*ends),
                               epoch32_rtol))
    return rows


def _conv_epoch_rows(epochs, sample, precision, epoch32_rtol):
    """Chapter 6: an epoch of a ConvPool + dropout net over 500 real digits (50 steps,
    masks from one key) by every epoch implementation that takes it."""
    import jax

    import jaxnet
    model = jaxnet.Model((1, 28, 28), (jaxnet.ConvPool(8, 5, 2, "relu"),
                                       jaxnet.Dense(30, "relu", dropout=0.3),
                                       jaxnet.Dense(10, "softmax", dropout=0.3)),
                         cost="log_likelihood", precision=precision)
    order = np.random.default_rng(1).permutation(500)
    label = "epoch, 500 MNIST, conv 8x5x5/2 relu, dropout 0.3, eta 0.1, L2 0.1, batch 10"
    rows = []
    for dtype, tol in ((np.float64, EPOCH64_RTOL), (np.float32, epoch32_rtol)):
        x, y = sample.train.x[:500].astype(dtype), sample.train.y()[:500].astype(dtype)
        params = jaxnet.init_params(jax.random.PRNGKey(6), model, dtype=dtype, init="network3")
        ends = {}
        for name, f in epochs.items():
            if name == "C reference":   # chapter 6's one C kernel is "C" already
                continue
            ends[name] = f(jaxnet.sgd(0.1), params, x, y, order, batch_size=10, model=model,
                           lmbda=0.1, key=jax.random.PRNGKey(7))
        names = list(ends)
        rows += [Comparison(label, np.dtype(dtype).name, f"{a} vs {b}",
                            *compare(ends[a], ends[b]), tol)
                 for i, a in enumerate(names) for b in names[i + 1:]]
    return rows


def _chapter3_rows(impls, small, precision):
    import jaxnet
    rows = []
    case, params, x, y = small
    # A Latin square: each cost meets each activation once and each regularisation
    # once (9 compiled configurations, ~2 s each here; the test suite runs all 27).
    regs = (None, "l2", "l1")
    for i, cost in enumerate(jaxnet.COSTS):
        for j, act in enumerate(jaxnet.ACTIVATIONS):
            reg = regs[(i + j) % 3]
            model = jaxnet.Model.dense([5, 4, 3, 2], cost=cost, activation=act,
                                       reg=reg or "l2", precision=precision)
            kw = dict(lmbda=2.0, n=50) if reg else {}
            label = f"5-4-3-2 {cost}, {act}, {reg or 'no reg'}"
            rows += model_rows(label, model, params, x, y, impls, **kw)
    return rows


def _conv_rows(impls, precision):
    """Chapter 6: two small ConvPool nets (sigmoid; ReLU with dropout masks and L2),
    float64, every implementation that takes them and central differences."""
    import jax

    import jaxnet
    rng = np.random.default_rng(11)
    x, y = rng.uniform(size=(4, 64)), np.eye(3)[rng.integers(0, 3, 4)]
    rows = []
    for act, dropout in (("sigmoid", 0.0), ("relu", 0.3)):
        model = jaxnet.Model((1, 8, 8), (jaxnet.ConvPool(2, 3, 2, act),
                                         jaxnet.Dense(4, act, dropout=dropout),
                                         jaxnet.Dense(3, "softmax")),
                             cost="log_likelihood", precision=precision)
        params = jaxnet.init_params(jax.random.PRNGKey(4), model, dtype=np.float64,
                                    init="scaled")
        masks = (jaxnet.dropout_masks(jax.random.PRNGKey(5), model, 4, np.float64)
                 if dropout else None)
        label = f"conv 1x8x8-2x3x3/2-4-3 {act}" + (", dropout masks, L2" if dropout else "")
        rows += model_rows(label, model, params, x, y, impls, lmbda=1.0 if dropout else None,
                           n=20 if dropout else None, masks=masks)
    return rows


def _print(rows, out, missing):
    head = ("case", "dtype", "pair", "max |diff|", "max rel", "where", "tolerance", "")
    body = [(r.case, r.dtype, r.pair, f"{r.max_abs:.2e}", f"{r.max_rel:.2e}", r.where,
             f"{r.tol:.0e}", "ok" if r.ok else "FAIL") for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body)]
    for line in [head] + body:
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip(), file=out)
    if missing:
        print(f"C kernel: not checked: {missing}", file=out)
    bad = sum(not r.ok for r in rows)
    print(f"{len(rows) - bad} passed, {bad} failed" + (" (C kernel missing)" if missing else ""),
          file=out)


def cross_check(precision="highest", out=sys.stdout) -> bool:
    """Every cross-check of ``jaxnet check`` (float64 switched on): prints the table to
    ``out``; True when every row is within its tolerance and no implementation is
    missing."""
    import jax
    jax.config.update("jax_enable_x64", True)
    impls, epochs, missing = default_implementations()
    rows = comparison_rows(impls, epochs, out=out, precision=precision)
    return all(r.ok for r in rows) and not missing
