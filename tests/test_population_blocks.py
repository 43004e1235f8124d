"""A population trained a block of members at a time: every member still gets its own
inputs and returns its own outputs, and still equals its solo run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_trees_close

import jaxnet
from jaxnet.train._population import blocks

# float64 on the CPU: a member's products are its solo run's but for how many members
# share one batched product, which may sum in another order (tests/test_population.py
# measured the population bit-identical to the solo runs on the CPU); 1e-10 leaves
# room for such reordering, amplified over 40 steps of η ≤ 3, and fails at any real
# difference (one wrong member or step: ~1e-2).
MEMBER_RTOL = 1e-10


@pytest.mark.parametrize("pop", [1, 2, 3, 4, 5, 9, 12])
def test_every_member_gets_its_own_inputs_in_order(pop, monkeypatch):
    """blocks.blocked equals jax.vmap for whole groups, a remainder and no group at
    all, and blocks of one member (a tiny block size makes 12 members three map steps
    of two blocks of 2; 1 and 2 members are blocks of one)."""
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 2 * (3 * 8 + 8))   # 2 members a block
    rng = np.random.default_rng(pop)
    members = (jnp.asarray(rng.normal(size=(pop, 3))), jnp.arange(pop, dtype=jnp.float64))
    shared = jnp.float64(2.0)

    def one(m, s):
        return {"sum": m[0].sum() * s + m[1], "rows": m[0] * m[1]}

    got = blocks.blocked(one, members, shared)
    want = jax.vmap(lambda m: one(m, shared))(members)
    # the same elementwise arithmetic member by member: equal, not close
    assert all(np.array_equal(g, w) for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)))


def test_block_members_fills_the_groups():
    member = 95_440                          # 784-30-10 in float32
    assert blocks.block_members(member, 64) == blocks.BLOCK_BYTES // member
    assert blocks.block_members(member, 8) == -(-8 // blocks.GROUPS)
    assert blocks.block_members(10 ** 9, 64) == 1


def test_blocked_members_equal_their_solo_runs(sample, monkeypatch):
    """7 members in blocks of 2 (one map step of two blocks, then 3 left over) each
    equal fit with their own key, η, λ and μ."""
    member_bytes = 2 * 8 * (12 * 784 + 12 + 10 * 12 + 10)      # params and velocity
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 2 * member_bytes + 100)
    images, labels = sample.train.images[:200], sample.train.labels[:200]
    pop = 7
    init_keys = jax.random.split(jax.random.PRNGKey(1), pop)
    fit_keys = jax.random.split(jax.random.PRNGKey(2), pop)
    params = jaxnet.init_population(init_keys, [784, 12, 10], dtype=jnp.float64)
    hyper = dict(eta=np.linspace(0.5, 3.0, pop), lmbda=np.linspace(0.0, 3.0, pop),
                 momentum=np.linspace(0.0, 0.6, pop))
    res = jaxnet.fit_population(fit_keys, params, images, labels, epochs=2, batch_size=10,
                                x_scale=1 / 256, **hyper)
    for i in range(pop):
        start = jax.tree.map(lambda a, i=i: np.asarray(a[i]), params)
        alone = jaxnet.fit(fit_keys[i], start, images, labels, epochs=2, batch_size=10,
                           x_scale=1 / 256, eta=hyper["eta"][i], lmbda=hyper["lmbda"][i],
                           momentum=hyper["momentum"][i])
        assert_trees_close(jax.tree.map(lambda a, i=i: a[i], res.params), alone.params,
                           MEMBER_RTOL, f"member {i}")
    # the members really differ
    assert len({round(float(res.params[0].w[i, 0, 300]), 12) for i in range(pop)}) == pop
