"""``--report``'s teaching pictures: chapter 5's speed of learning of each hidden layer
per epoch, and one digit's forward pass; and ``panels.json``, what every picture drew.

The speed of learning is the book's ``‖∂C/∂b^l‖`` (chapter 5, "the vanishing gradient
problem"): the gradient of the mean cost over at most :data:`SPEED_EXAMPLES` training
images with respect to each hidden layer's biases, by the public
:func:`jaxnet.backprop`, measured after every epoch by :class:`Watch` (fit's
``on_params``). ``∂C/∂b^l`` is ``δ^l`` averaged over the examples (BP3).
"""

from __future__ import annotations

import json

import numpy as np

#: Chapter 5 measured the speed of learning on 1,000 training images.
SPEED_EXAMPLES = 1000
#: The monitors ``--report``'s learning curves draw besides the evaluation accuracy.
COST_MONITORS = ("eval_cost", "train_cost")
SPEED, FORWARD, PANELS = "speed-of-learning.png", "forward-pass.png", "panels.json"


def report_monitors(args) -> None:
    """Adds :data:`COST_MONITORS` to ``args.monitor``, so the cost panel is drawn, and
    says so on stdout beside the run's header (stderr is for problems and progress);
    not on ``--resume``, whose run's monitors are its identity (its report draws what
    the run monitored)."""
    missing = [m for m in COST_MONITORS if m not in args.monitor]
    if missing and not getattr(args, "resume", False):
        args.monitor = tuple(args.monitor) + tuple(missing)
        print(f"jaxnet: --report monitors {' and '.join(missing)} too (its cost panel)",
              flush=True)


def _inputs(images, params, x_scale):
    """``images (N, n_0)`` as float in the parameters' dtype, scaled when integer."""
    import jax.numpy as jnp
    dtype = params[0][0].dtype
    x = jnp.asarray(images).astype(dtype)
    return x * jnp.asarray(x_scale, dtype) if np.issubdtype(np.asarray(images).dtype,
                                                            np.integer) else x


def speed_of_learning(params, x, y, *, model) -> list:
    """``[‖∂C/∂b^l‖ for each hidden layer l = 1 .. L-1]`` as floats.

    Args:
      params: the network's ``(w, b)`` pairs.
      x: ``(batch, n_0)`` float inputs; y: ``(batch, n_L)`` float one-hot targets.
      model: the jaxnet.Model.
    """
    from ..nn import backprop
    grads = backprop(params, x, y, model=model)
    return [float(np.linalg.norm(np.asarray(g[1], np.float64))) for g in grads[:-1]]


class Watch:
    """fit's ``on_params``: the initial parameters (for ``w − w_init``) and the speed
    of learning after each epoch, on the first :data:`SPEED_EXAMPLES` training images.

    Attributes:
      init: the parameters before training.
      epochs: the epochs measured; speeds: ``(epochs, L-1)`` list of lists.
    """

    def __init__(self, init, model, images, labels, x_scale):
        from ..data import one_hot
        self.init, self.model = init, model
        n = min(SPEED_EXAMPLES, len(labels))
        self.x = _inputs(np.asarray(images[:n]), init, x_scale)
        n_out = int(np.shape(init[-1][1])[-1])
        self.y = np.asarray(one_hot(np.asarray(labels[:n]), n_out), self.x.dtype)
        self.epochs, self.speeds = [], []

    def __call__(self, epoch: int, params) -> None:
        self.epochs.append(int(epoch))
        self.speeds.append(speed_of_learning(params, self.x, self.y, model=self.model))


def draw_speed(watch, path) -> dict:
    """One line per hidden layer: ``‖∂C/∂b^l‖`` per epoch (log scale, as the book's
    figures); returns the series drawn."""
    from ..plot import integer_epochs, pyplot
    plt = pyplot()
    speeds = np.asarray(watch.speeds, np.float64)
    series = {f"hidden layer {l + 1}": speeds[:, l].tolist() for l in range(speeds.shape[1])}
    fig, ax = plt.subplots(figsize=(9.0, 3.6))
    try:
        for label, ys in series.items():
            ax.plot(watch.epochs, ys, marker="o", label=label)
        if np.all(speeds > 0):
            ax.set_yscale("log")
        ax.set(xlabel="epoch (after training it)", ylabel=r"$\|\partial C/\partial b^l\|$",
               title=f"speed of learning of each hidden layer ({len(watch.x)} training images)")
        integer_epochs(ax)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        save_png(fig, path)
    finally:
        plt.close(fig)
    return series


def forward_pass(params, image, label, *, model, x_scale) -> dict:
    """One digit through the network: ``{"input": image (n_0,), "hidden layer l":
    a^l flattened, "output a^L": (n_L,), "target y": (n_L,) one-hot}`` as floats."""
    from ..data import one_hot
    from ..nn import backprop_trace
    x = _inputs(np.asarray(image)[None], params, x_scale)
    n_out = int(np.shape(params[-1][1])[-1])
    y = np.asarray(one_hot(np.asarray([label]), n_out), x.dtype)
    a = backprop_trace(params, x, y, model=model)["a"]
    out = {"input": np.asarray(x[0], np.float64).ravel().tolist()}
    for l in range(1, len(a) - 1):
        out[f"hidden layer {l}"] = np.asarray(a[l][0], np.float64).ravel().tolist()
    out["output a^L"] = np.asarray(a[-1][0], np.float64).tolist()
    out["target y"] = y[0].astype(np.float64).tolist()
    return out


def draw_forward(seen: dict, label: int, path) -> dict:
    """``seen`` (:func:`forward_pass`) as pictures: the digit, each hidden layer's
    activations as bars, and ``a^L`` beside ``y``; returns ``seen``."""
    from ..plot import pyplot
    plt = pyplot()
    hidden = [k for k in seen if k.startswith("hidden")]
    fig, axes = plt.subplots(1, len(hidden) + 2, figsize=(9.0, 3.0), squeeze=False,
                             gridspec_kw={"width_ratios": [1] + [2] * len(hidden) + [1.5]})
    axes = axes[0]
    try:
        pixels = np.asarray(seen["input"])
        side = int(round(np.sqrt(pixels.size)))
        if side * side == pixels.size:
            axes[0].imshow(pixels.reshape(side, side), cmap="gray_r")
        axes[0].set(title=f"digit {label}", xticks=[], yticks=[])
        for ax, k in zip(axes[1:], hidden):
            ax.bar(range(len(seen[k])), seen[k], width=1.0, color="tab:purple")
            ax.set(title=f"{k}: $a^{{{k.split()[-1]}}}$", xlabel="unit")
        out, y = np.asarray(seen["output a^L"]), np.asarray(seen["target y"])
        k = np.arange(len(out))
        axes[-1].barh(k - 0.2, out, height=0.4, label="$a^L$")
        axes[-1].barh(k + 0.2, y, height=0.4, label="$y$", color="tab:green")
        axes[-1].set(title=f"output: says {int(np.argmax(out))}", yticks=k, xlim=(0, 1.05))
        axes[-1].invert_yaxis()
        axes[-1].legend(fontsize=8, loc="upper right")
        fig.tight_layout()
        save_png(fig, path)
    finally:
        plt.close(fig)
    return seen


def save_png(fig, path, dpi: int = 100) -> None:
    """``fig`` as a PNG at ``path``, atomically."""
    import io

    from ..io import atomic_write
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    with atomic_write(path) as f:
        f.write(buf.getvalue())


def panels_json(panels: dict) -> str:
    """``{picture: {series: [numbers]}}`` as JSON (NaN as null): what every picture
    drew, so a test can see that no panel is empty."""
    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple, np.ndarray)):
            return [clean(x) for x in v]
        v = None if v is None else float(v)
        return None if v is None or not np.isfinite(v) else float(f"{v:.6g}")
    return json.dumps(clean(panels), indent=1) + "\n"
