"""A population on a device mesh: the member axis split over the devices, each device
training its own members with no communication but the results.

A 1-D mesh splits the members over its one axis. A 2-D mesh must name one axis
``"members"``: the members are split over it, and every member's mini-batches over
the other axis (data parallelism inside each group of devices, as
:func:`jaxnet.train_epoch` with ``mesh=``; that sums each gradient across devices,
another summation order). Across processes, a mesh over ``jax.devices()`` after
``jax.distributed.initialize``, every process holding the same data and arguments.

``P`` members on ``D`` member devices occupy ``ceil(P / D) · D`` slots: the
``(−P) mod D`` extra slots train copies of member 0 and are dropped (at most
``D − 1`` members' work wasted; no member's arithmetic changes).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import numpy as np

#: The axis of a 2-D mesh that the members are split over.
MEMBERS_AXIS = "members"


class MemberSharding(NamedTuple):
    """How a population lies on a mesh (hashable: a static argument of the epoch).

    Attributes:
      members: the leading (member) axis split over ``axis``.
      rows: a mini-batch's rows split over a 2-D mesh's data axis, or None.
      replicated: a copy on every device (the data, the results).
      axis: the mesh axis the members are split over (vmap's ``spmd_axis_name``).
      devices: how many ways the members are split.
      data_shards: how many ways each mini-batch is split (1 on a 1-D mesh).
    """

    members: object
    rows: Optional[object]
    replicated: object
    axis: str
    devices: int
    data_shards: int


def member_sharding(mesh) -> MemberSharding:
    """Checks ``mesh`` (a ``jax.sharding.Mesh``, 1-D, or 2-D with a ``"members"``
    axis) and returns its MemberSharding."""
    from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec
    if not isinstance(mesh, Mesh):
        raise TypeError(f"mesh: expected a jax.sharding.Mesh (jax.make_mesh), got "
                        f"{type(mesh).__name__}")
    names = tuple(mesh.axis_names)
    if len(names) == 1:
        axis, data = names[0], None
    elif len(names) == 2 and MEMBERS_AXIS in names:
        axis, data = MEMBERS_AXIS, next(a for a in names if a != MEMBERS_AXIS)
    else:
        raise ValueError(f"mesh: expected a 1-D mesh, or a 2-D mesh with a {MEMBERS_AXIS!r} "
                         f"axis (members x data), got axes {names}")
    shards = 1 if data is None else int(mesh.shape[data])
    # XLA partitions the program itself (GSPMD): Auto axes (as train_epoch's mesh).
    mesh = Mesh(mesh.devices, names, axis_types=(AxisType.Auto,) * len(names))
    return MemberSharding(NamedSharding(mesh, PartitionSpec(axis)),
                          None if data is None else NamedSharding(mesh, PartitionSpec(data)),
                          NamedSharding(mesh, PartitionSpec()), axis, int(mesh.shape[axis]),
                          shards)


def check_split(sharding: Optional[MemberSharding], batch_size: int) -> None:
    """A 2-D mesh's data axis must split every mini-batch evenly."""
    if sharding is not None and batch_size % sharding.data_shards:
        raise ValueError(f"batch_size: {batch_size} does not split evenly over the mesh's "
                         f"{sharding.data_shards} devices of its data axis")


def slots(pop: int, sharding: Optional[MemberSharding]) -> int:
    """The members a run trains: ``P`` rounded up to a multiple of the member devices."""
    if sharding is None:
        return pop
    return -(-pop // sharding.devices) * sharding.devices


def put_members(tree, pop: int, sharding: Optional[MemberSharding]):
    """Every leaf ``(P, ...)`` padded to ``slots(P)`` members (copies of member 0) and
    split over the member devices; unchanged without a sharding."""
    if sharding is None:
        return tree
    total = slots(pop, sharding)

    def put(a):
        host = np.asarray(a)
        if total > pop:
            host = np.concatenate([host, np.repeat(host[:1], total - pop, axis=0)])
        return jax.make_array_from_callback(host.shape, sharding.members, lambda i: host[i])
    return jax.tree.map(put, tree)


def put_replicated(tree, sharding: Optional[MemberSharding]):
    """Every leaf copied to every device of the mesh; unchanged without a sharding."""
    if sharding is None:
        return tree

    def put(a):
        host = np.asarray(a)
        return jax.make_array_from_callback(host.shape, sharding.replicated, lambda i: host[i])
    return jax.tree.map(put, tree)


def gather(tree, pop: int):
    """The first ``pop`` members of every leaf ``(slots, ...)`` as host numpy arrays,
    on every process (across processes: one all-gather of the members' state)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        tree = multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree.map(lambda a: np.asarray(a)[:pop], tree)


def any_process(flag: bool) -> bool:
    """True if ``flag`` holds on any process (one tiny all-gather across processes):
    a signal to one process stops them all after the same epoch."""
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils
    return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))
