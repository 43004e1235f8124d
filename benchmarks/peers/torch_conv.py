"""PyTorch on the CPU: network3's conv nets, written as a PyTorch user would.

``nn.Conv2d`` (weights ``(filters, channels, k, k)``, a cross-correlation, as
jaxnet's ConvPool), ``nn.MaxPool2d(p)``, the activation, ``nn.Linear`` layers,
``log_softmax`` and the mean negative log-likelihood, autograd, and
``torch.optim.SGD(lr=η)``: network3's update ``p → p − η·∇C`` with λ = 0.
network3 adds the conv bias after pooling; adding it before is the same
function (max(c + b) = max(c) + b), which is what ``nn.Conv2d`` does.
Needs ``torch`` (the ``bench`` extra).

Eager (:func:`epoch`) and ``torch.compile`` (:func:`compiled_trainer`) in the forms
a user would try (:data:`FORMS`): the model compiled, autograd and the optimizer
eager; or the whole training step (forward, ``torch.func.grad``, the update) compiled
into one graph; each in NCHW or channels-last memory, under each ``mode``.
"""

import numpy as np
import torch

_ACT = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}

#: torch.compile forms: what is compiled (``"model"``: the nn.Module, autograd and
#: torch.optim.SGD eager around it; ``"step"``: forward, gradient and SGD update in one
#: graph) and the memory format of the conv inputs and weights.
FORMS = ("model", "step", "model-channels-last", "step-channels-last")
#: torch.compile modes tried ("reduce-overhead" adds CUDA graphs: nothing on a CPU).
MODES = ("default", "max-autotune-no-cudagraphs")


def model(jax_model, params, dtype=torch.float32):
    """nn.Sequential equal to ``jax_model`` (ConvPool and Dense layers, the last one
    softmax, read as log-probabilities) initialised from jaxnet ``params``."""
    import jaxnet
    layers, flat = [], False
    for layer, p, shape in zip(jax_model.layers, params, jax_model.shapes):
        w, b = (torch.tensor(np.asarray(a), dtype=dtype) for a in p)
        if isinstance(layer, jaxnet.ConvPool):
            mod = torch.nn.Conv2d(shape[0], layer.filters, layer.kernel, dtype=dtype)
            extra = [torch.nn.MaxPool2d(layer.pool)]
        else:
            if not flat:
                layers.append(torch.nn.Flatten())
                flat = True
            mod = torch.nn.Linear(w.shape[1], w.shape[0], dtype=dtype)
            extra = []
        with torch.no_grad():
            mod.weight.copy_(w)
            mod.bias.copy_(b)
        act = (torch.nn.LogSoftmax(dim=1) if layer.activation == "softmax"
               else _ACT[layer.activation]())
        layers += [mod] + extra + [act]
    return torch.nn.Sequential(*layers)


def epoch(net, x, labels, order, eta, batch_size):
    """One epoch of mini-batch SGD over ``order``: x (N, C, H, W) float tensor,
    labels (N,) int64 tensor."""
    opt = torch.optim.SGD(net.parameters(), lr=eta)
    for k in range(0, len(order), batch_size):
        idx = order[k:k + batch_size]
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.nll_loss(net(x[idx]), labels[idx]).backward()
        opt.step()
    return net


def compiled_trainer(net, eta, form="step", mode="default"):
    """``train(x, labels, order, batch_size) -> net``: epochs of mini-batch SGD on
    ``net`` (updated in place) with ``torch.compile(mode=mode)`` in ``form``
    (:data:`FORMS`); the first call compiles (per mini-batch size: shapes are static)."""
    if form not in FORMS:
        raise ValueError(f"form: expected one of {FORMS}, got {form!r}")
    last = form.endswith("channels-last")
    if last:
        net = net.to(memory_format=torch.channels_last)
    fmt = (lambda t: t.contiguous(memory_format=torch.channels_last)) if last else (lambda t: t)
    if form.startswith("model"):
        cnet = torch.compile(net, mode=mode, dynamic=False)
        opt = torch.optim.SGD(net.parameters(), lr=eta)

        def train(x, labels, order, batch_size):
            for k in range(0, len(order), batch_size):
                idx = order[k:k + batch_size]
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.nll_loss(cnet(fmt(x[idx])), labels[idx]).backward()
                opt.step()
            return net
        return train
    names = [n for n, _ in net.named_parameters()]

    def loss(ps, xb, lb):
        out = torch.func.functional_call(net, dict(zip(names, ps)), (xb,))
        return torch.nn.functional.nll_loss(out, lb)

    @torch.compile(mode=mode, dynamic=False)
    def step(ps, xb, lb):
        grads = torch.func.grad(loss)(ps, xb, lb)
        return tuple(p - eta * g for p, g in zip(ps, grads))

    def train(x, labels, order, batch_size):
        ps = tuple(p.detach() for p in net.parameters())
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            ps = step(ps, fmt(x[idx]), labels[idx])
        with torch.no_grad():
            for p, new in zip(net.parameters(), ps):
                p.copy_(new)
        return net
    return train


def params_of(net):
    """The trained parameters as jaxnet-shaped ``[(w, b), ...]`` NumPy arrays."""
    mods = [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    return [(m.weight.detach().contiguous().numpy(), m.bias.detach().numpy()) for m in mods]
