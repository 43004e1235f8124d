"""PyTorch on the CPU: network3's conv nets, written as a PyTorch user would.

``nn.Conv2d`` (weights ``(filters, channels, k, k)``, a cross-correlation, as
jaxnet's ConvPool), ``nn.MaxPool2d(p)``, the activation, ``nn.Linear`` layers,
``log_softmax`` and the mean negative log-likelihood, autograd, and
``torch.optim.SGD(lr=η)``: network3's update ``p → p − η·∇C`` with λ = 0.
network3 adds the conv bias after pooling; adding it before is the same
function (max(c + b) = max(c) + b), which is what ``nn.Conv2d`` does.
Needs ``torch`` (the ``bench`` extra).
"""

import numpy as np
import torch

_ACT = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}


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


def params_of(net):
    """The trained parameters as jaxnet-shaped ``[(w, b), ...]`` NumPy arrays."""
    mods = [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    return [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in mods]
