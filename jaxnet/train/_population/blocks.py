"""A population's members trained a block at a time, so each block's parameters stay
in the cache for the whole epoch.

``jax.vmap`` over all ``P`` members makes every step of the epoch touch every
member's parameters: 64 members of 784-30-10 are 6 MB of weights, read and written
each step, four times a 2-core EPYC's 1 MiB L2 per core, so the update and the
batched products wait on memory. Here the members are cut into blocks of
:func:`block_members` (their parameters and rule state about :data:`BLOCK_BYTES`);
a ``lax.map`` runs the epoch of :data:`GROUPS` blocks at a time, each block one
``vmap`` of the single network's epoch, the groups independent of one another so
XLA's CPU runtime runs them at once on its threads. The members left over after the
last whole group follow in one more ``vmap``; a block of one member is trained without the member
axis (unbatched products, as the solo run's).

Each member's arithmetic is its solo run's: only how many members share one batched
product changes (as with a mesh's members per device), which may sum a product in
another order; the same ``P`` always gives the same blocks, so a resumed sweep is
bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

#: Bytes of parameters and rule state per block: on a 2-core EPYC (1 MiB L2 a core),
#: 64 members of 784-30-10 (95 kB each) trained an epoch 1.5-1.9x faster in blocks
#: of 16 than all at once, and blocks of 8 or 32 were slower than 16 (loaded
#: machine; benchmarks/results/2026-12-07-population.md).
BLOCK_BYTES = 3 * 2 ** 19

#: Blocks trained side by side in one ``lax.map`` step (one per core of the machine
#: this was measured on; with one XLA thread they simply run in turn).
GROUPS = 2


def block_members(member_bytes: int, pop: int) -> int:
    """Members per block: as many as fit :data:`BLOCK_BYTES` (at least one), and no
    more than ``ceil(pop / GROUPS)`` so a small population still fills the groups."""
    return max(1, min(BLOCK_BYTES // max(1, member_bytes), math.ceil(pop / GROUPS)))


def blocked(one, members, shared=None):
    """``jax.vmap(one)`` over the leading axis of every leaf of ``members``, a block
    at a time.

    Args:
      one: ``one(member, shared)``, one member's pytree (leading axis dropped) and
        ``shared`` (passed whole) → a pytree of arrays.
      members: a pytree whose every leaf has leading axis ``P``.
      shared: a pytree given to every member, or None.

    Returns:
      ``one``'s outputs stacked on a leading axis ``P``, member ``i`` from member
      ``i``'s inputs.
    """
    leaves = jax.tree.leaves(members)
    pop = leaves[0].shape[0]
    member_bytes = sum(a.size // pop * a.dtype.itemsize for a in leaves)
    size = block_members(member_bytes, pop)
    steps = pop // (size * GROUPS)
    whole = steps * size * GROUPS
    run = jax.vmap(lambda m: one(m, shared)) if size > 1 else partial(_alone, one, shared)
    if steps == 0:
        return run(members)

    def group(ms):
        """``GROUPS`` blocks (leaves ``(GROUPS, size, ...)``), independent."""
        outs = [run(jax.tree.map(lambda a, g=g: a[g], ms)) for g in range(GROUPS)]
        return jax.tree.map(lambda *o: jnp.stack(o), *outs)

    head = jax.tree.map(lambda a: a[:whole].reshape((steps, GROUPS, size) + a.shape[1:]),
                        members)
    out = jax.tree.map(lambda a: a.reshape((whole,) + a.shape[3:]), jax.lax.map(group, head))
    if whole == pop:
        return out
    rest = run(jax.tree.map(lambda a: a[whole:], members))
    return jax.tree.map(lambda a, b: jnp.concatenate([a, b]), out, rest)


def _alone(one, shared, members):
    """``jax.vmap(one)`` of a block of one member, without the member axis: its
    products unbatched, as the solo run's (784-30-10: a step of a batch of one member
    compiled to 18 kernels, the solo step to 16; one member trained at half the
    speed of a train_epoch loop in one loaded run)."""
    out = one(jax.tree.map(lambda a: a[0], members), shared)
    return jax.tree.map(lambda a: a[None], out)
