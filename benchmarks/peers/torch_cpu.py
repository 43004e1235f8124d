"""PyTorch on the CPU: the same model, cost and update, written as a PyTorch user would.

``nn.Linear`` layers (weight ``(n_out, n_in)`` as in the book) with sigmoids,
the quadratic cost ½‖a − y‖² averaged over the mini-batch, autograd, and
``torch.optim.SGD(lr=η)`` (no momentum, no weight decay): exactly the book's
update ``w → w − η·∇C``. Needs ``torch`` (the ``bench`` extra).
"""

import numpy as np
import torch


def model(weights, biases, dtype=torch.float32):
    """nn.Sequential of Linear+Sigmoid initialised from weights[l] (n_out, n_in), biases[l] (n_out,)."""
    layers = []
    for w, b in zip(weights, biases):
        lin = torch.nn.Linear(w.shape[1], w.shape[0], dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(np.asarray(w)))
            lin.bias.copy_(torch.tensor(np.asarray(b)))
        layers += [lin, torch.nn.Sigmoid()]
    return torch.nn.Sequential(*layers)


def cost(net, x, y):
    """Mean over the batch of ½‖a − y‖²; x (m, n_in), y (m, n_out) tensors."""
    return 0.5 * ((net(x) - y) ** 2).sum() / x.shape[0]


def gradient(weights, biases, x, y):
    """(grad_w list, grad_b list) as float64 NumPy arrays, for the harness's check."""
    net = model(weights, biases, torch.float64)
    cost(net, torch.as_tensor(x), torch.as_tensor(y)).backward()
    lin = [m for m in net if isinstance(m, torch.nn.Linear)]
    return [m.weight.grad.numpy() for m in lin], [m.bias.grad.numpy() for m in lin]


def epoch(net, x, y, order, eta, batch_size):
    """One epoch of mini-batch SGD over ``order``; x (N, n_in), y (N, n_out) tensors."""
    opt = torch.optim.SGD(net.parameters(), lr=eta)
    for k in range(0, len(order), batch_size):
        idx = order[k:k + batch_size]
        opt.zero_grad(set_to_none=True)
        cost(net, x[idx], y[idx]).backward()
        opt.step()
    return net
