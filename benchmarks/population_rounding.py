"""Why a population member can differ from its solo run: rounding, amplified by the run.

    python benchmarks/population_rounding.py

Runs tests/test_population.py's configuration (three 784-20-10 float64
members, cross-entropy, η = 0.5 / 1 / 3, 2 epochs of 500 sample images) and
prints, per member: its difference from the same network trained alone
(``jaxnet.fit``), and the difference between two solo runs whose initial
parameters differ by one ulp — the run's own sensitivity to rounding. On a
GPU, vmap's batched products may sum in another order than single ones; a
member whose run amplifies one ulp to ~1e-5 then differs by about that much.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def _rel(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))) / np.max(np.abs(np.asarray(y))))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def main():
    jax.config.update("jax_enable_x64", True)
    import jaxnet
    from jaxnet import data

    s = data.load_sample()
    images, labels = s.train.images[:500], s.train.labels[:500]
    pop = jaxnet.init_population(jax.random.split(jax.random.PRNGKey(4), 3), [784, 20, 10],
                                 dtype=jnp.float64)
    keys = jax.random.split(jax.random.PRNGKey(5), 3)
    hyper = dict(eta=[0.5, 1.0, 3.0], lmbda=[0.0, 2.0, 0.0], momentum=[0.0, 0.5, 0.2])
    common = dict(epochs=2, batch_size=10, x_scale=data.PIXEL_SCALE,
                  model=jaxnet.Model.dense([784, 20, 10], cost="cross_entropy"))
    res = jaxnet.fit_population(keys, pop, images, labels, **common, **hyper)
    print(f"backend {jax.default_backend()} ({jax.devices()[0].device_kind}), jax {jax.__version__}")
    print("| member | eta | lambda | mu | member vs solo | solo vs solo from start + 1 ulp |")
    print("| --- | --- | --- | --- | --- | --- |")
    for i in range(3):
        start = jax.tree.map(lambda a, i=i: np.asarray(a[i]), pop)
        mine = {k: v[i] for k, v in hyper.items()}
        alone = jaxnet.fit(keys[i], start, images, labels, **common, **mine).params
        nudged = jaxnet.fit(keys[i], jax.tree.map(lambda a: np.nextafter(a, np.inf), start),
                            images, labels, **common, **mine).params
        member = jax.tree.map(lambda a, i=i: a[i], res.params)
        print(f"| {i} | {mine['eta']} | {mine['lmbda']} | {mine['momentum']} "
              f"| {_rel(member, alone):.2e} | {_rel(nudged, alone):.2e} |")


if __name__ == "__main__":
    main()
