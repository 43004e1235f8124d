"""``jaxnet sweep``'s devices: ``--devices N`` splits the members over N devices of this
machine; ``--coordinator``, ``--num-processes`` and ``--process-id`` join a sweep over
several processes (``jax.distributed``; on the CPU over gloo), each running the same
command with the same data, the members split over every device of every process."""

from __future__ import annotations

import argparse

from ._common import error
from ._flags import non_negative_int, positive


def _devices(text: str):
    if text == "all":
        return text
    try:
        return positive(int)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive int or 'all', got {text!r}") \
            from None


def add_device_flags(sw) -> None:
    sw.add_argument("--devices", type=_devices, default=None, metavar="N|all",
                    help="split the members over the first N devices (all: every device; "
                         "default 1, or all with --coordinator); members are padded to a "
                         "multiple of N with copies that are dropped")
    sw.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                    help="a multi-process sweep (jax.distributed): process 0's address; every "
                         "process runs the same command with its own --process-id")
    sw.add_argument("--num-processes", type=positive(int), default=None, metavar="N",
                    help="with --coordinator: how many processes take part")
    sw.add_argument("--process-id", type=non_negative_int, default=None, metavar="I",
                    help="with --coordinator: this process's number, 0 .. N-1 (0 prints and "
                         "writes the outputs)")


def check_device_flags(args) -> str | None:
    """What is wrong with the device flags, or None."""
    group = (args.coordinator, args.num_processes, args.process_id)
    if any(v is not None for v in group) and not all(v is not None for v in group):
        return "--coordinator, --num-processes and --process-id go together"
    if args.coordinator is None:
        return None
    if args.process_id >= args.num_processes:
        return (f"--process-id {args.process_id}: expected 0 .. {args.num_processes - 1} "
                f"(--num-processes {args.num_processes})")
    if args.devices not in (None, "all"):
        return (f"--devices {args.devices}: a multi-process sweep uses every device of every "
                "process (omit --devices)")
    return None


def sweep_mesh(args):
    """The mesh the members are split over (None: one device), after joining the other
    processes; or an exit status after printing the error."""
    import jax
    if args.coordinator is not None:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        try:
            jax.distributed.initialize(coordinator_address=args.coordinator,
                                       num_processes=args.num_processes,
                                       process_id=args.process_id)
        except (RuntimeError, ValueError) as e:
            return error(f"--coordinator {args.coordinator}: could not join the sweep "
                         f"({str(e).splitlines()[0][:200]})", 1)
    devices = jax.devices()
    n = args.devices or ("all" if args.coordinator else 1)
    n = len(devices) if n == "all" else n
    if n > len(devices):
        return error(f"--devices {n}: only {len(devices)} {jax.default_backend()} "
                     f"device{'s' if len(devices) > 1 else ''} visible", 2)
    if n == 1 and args.coordinator is None:
        return None
    return jax.make_mesh((n,), ("members",), devices=devices[:n])
