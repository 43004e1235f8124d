"""PyTorch with ``torch.compile``: the chapter-1 network's step compiled, and a
population as ``torch.func.vmap(grad(functional_call))``, as a PyTorch user would
write them.

The network is :mod:`peers.torch_cpu`'s (``nn.Linear`` + sigmoid, the quadratic cost
averaged over the mini-batch). Compiled as PyTorch's tutorials do (``torch.compile(net)``,
the loop eager), or its step (forward, autograd's backward and
``p ← p − η·∇C``, in place) is compiled as one function in one of ``torch.compile``'s
modes; ``FORMS`` also names a form that compiles :data:`UNROLL` steps as one graph
(the whole epoch's Python loop cannot be compiled whole: Dynamo unrolls it, 5,000
steps). The population stacks every member's parameters (leading axis P) and
compiles one step of all of them: ``vmap`` of ``grad`` of the functional call, each
member its own mini-batch, η and order. Needs ``torch`` ≥ 2.0.
"""

import torch
from torch.func import functional_call, grad, vmap

from . import torch_cpu

#: Steps one graph of the "unrolled" form runs (Dynamo unrolls the Python loop).
UNROLL = 10

#: (name, what is compiled, torch.compile's mode).
FORMS = (("the module (torch.compile(net)), default", "module", "default"),
         ("step, default", "step", "default"),
         ("step, reduce-overhead", "step", "reduce-overhead"),
         ("step, max-autotune-no-cudagraphs", "step", "max-autotune-no-cudagraphs"),
         (f"{UNROLL} steps a graph, default", "unrolled", "default"))


def _step(net, x, y, eta):
    """One mini-batch update of ``net`` in place; x (m, n_in), y (m, n_out)."""
    for p in net.parameters():
        p.grad = None
    torch_cpu.cost(net, x, y).backward()
    with torch.no_grad():
        for p in net.parameters():
            p.sub_(eta * p.grad)


def _module_epoch(net, mode: str):
    """The epoch's loop eager, the network compiled (PyTorch's tutorials' form)."""
    compiled = torch.compile(net, mode=mode)

    def run(x, y, order, eta, batch_size):
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            _step(compiled, x[idx], y[idx], eta)
    return run


def compiled_epoch(net, form: str, mode: str):
    """``run(x, y, order, eta, batch_size)``: one epoch of ``net`` (in place) with the
    step compiled as ``form`` ("step" or "unrolled") in ``mode``; x (N, n_in), y (N,
    n_out) float32 tensors, order (N,) int64, N a multiple of the batch (and of
    UNROLL of them)."""
    if form == "step":
        step = torch.compile(lambda x, y, eta: _step(net, x, y, eta), mode=mode)

        def run(x, y, order, eta, batch_size):
            for k in range(0, len(order), batch_size):
                idx = order[k:k + batch_size]
                step(x[idx], y[idx], eta)
        return run

    def steps(xs, ys, eta):                     # xs (UNROLL, m, n_in)
        for i in range(UNROLL):
            _step(net, xs[i], ys[i], eta)
    many = torch.compile(steps, mode=mode)

    def run(x, y, order, eta, batch_size):
        idx = order.reshape(-1, UNROLL, batch_size)
        for k in range(idx.shape[0]):
            many(x[idx[k]], y[idx[k]], eta)
    return run


def population(weights, biases):
    """``(net, params)``: a template network and every member's parameters as a dict
    of stacked tensors (``weights[l] (P, n_out, n_in)``, ``biases[l] (P, n_out)``,
    float32 NumPy)."""
    net = torch_cpu.model([w[0] for w in weights], [b[0] for b in biases])
    names = [n for n, _ in net.named_parameters()]
    tensors = [t for w, b in zip(weights, biases) for t in (w, b)]
    return net, {n: torch.tensor(t) for n, t in zip(names, tensors)}


def population_epoch(net, mode: str = "default"):
    """``run(params, x, y, orders, etas, batch_size)``: every member's epoch, params
    updated in place; orders (P, N) int64, etas (P,) float32 tensors."""
    def cost(p, xb, yb):
        return torch_cpu.cost(lambda a: functional_call(net, p, (a,)), xb, yb)

    per_member = vmap(grad(cost))

    @torch.compile(mode=mode)
    def step(params, xb, yb, etas):
        g = per_member(params, xb, yb)
        return {k: v - etas.view(-1, *[1] * (v.dim() - 1)) * g[k] for k, v in params.items()}

    def run(params, x, y, orders, etas, batch_size):
        for k in range(0, orders.shape[1], batch_size):
            idx = orders[:, k:k + batch_size]
            params = step(params, x[idx], y[idx], etas)
        return params
    return run
