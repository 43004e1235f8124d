"""What ``jaxnet train`` prints: the run's one-line description and a line per epoch."""

from __future__ import annotations

from .._core.layerspec import describe


def announce(args, model, d, split) -> None:
    import jax
    extras = [f"{k}={v}" for k, v in (("cost", model.cost), ("activation", args.activation))
              if v not in ("quadratic", "sigmoid")]
    if args.dropout:
        extras.append(f"dropout={args.dropout}")
    if args.lmbda:
        extras.append(f"lmbda={args.lmbda} ({args.reg})")
    if args.momentum:
        extras.append(f"momentum={args.momentum}")
    where = f"{jax.default_backend()}, precision {args.precision}"
    if jax.default_backend() == "cpu" and getattr(args, "cpu_threads_note", None):
        where += f", {args.cpu_threads_note}"
    if args.impl == "c":
        from ..cref import uses_network_kernel
        where = ("C kernel (chapter 6's network, csrc/jaxnet_net.h)"
                 if uses_network_kernel(model) else "C kernel (fast path)")
        if getattr(args, "ensemble", 1) > 1:
            where += (f", {args.threads} members at once" if args.threads
                      else ", a member on each core at once")
    print(f"jaxnet: {describe(model)} network, eta={args.eta}, batch "
          f"{args.batch_size}, {args.epochs} epochs, {args.dtype}, {', '.join(extras + [''])}"
          f"{len(d.train)} training / {len(split)} {args.eval} examples, {where}", flush=True)


def epoch_printer(args, bar, done):
    """The on_epoch callback: one line per epoch (and the progress bar around it)."""
    def on_epoch(r):
        done.append(r.epoch)
        if bar:
            bar.clear()
        parts = []
        if r.correct is not None:
            parts.append(f"{r.correct} / {r.total}")
        if r.eval_cost is not None:
            parts.append(f"{args.eval} cost {r.eval_cost:.4f}")
        if r.train_correct is not None:
            parts.append(f"training {r.train_correct} / {r.train_total}")
        if r.train_cost is not None:
            parts.append(f"training cost {r.train_cost:.4f}")
        if r.eta != args.eta:
            parts.append(f"eta {r.eta:g}")
        if r.test_correct is not None:
            parts.append(f"test {r.test_correct} / {r.test_total} (a new best)")
        print(f"Epoch {r.epoch}: {', '.join(parts) or 'done'}  ({r.seconds:.2f} s)", flush=True)
        if bar and r.epoch + 1 < args.epochs:
            bar.start(f"Epoch {r.epoch + 1}")
    return on_epoch
