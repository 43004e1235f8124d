"""Equinox + optax: the chapter-1 network as an Equinox user would write it.

``eqx.nn.Linear`` layers (weight ``(n_out, n_in)``, as the book's) with sigmoids,
the quadratic cost ½‖a − y‖² averaged over the mini-batch, ``optax.sgd(η)``, and
one epoch as a ``jit``'d ``lax.scan`` over the mini-batches (the model split into
its arrays and its static part with ``eqx.partition``, as Equinox's docs do for a
scan). The population is the same epoch under ``jax.vmap``, each member with its
own parameters, η and order. Needs ``equinox`` and ``optax``.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax


class MLP(eqx.Module):
    """Linear+sigmoid layers; ``__call__(x (n_in,)) -> (n_out,)``."""

    layers: tuple

    def __init__(self, weights, biases):
        """From ``weights[l] (n_out, n_in)``, ``biases[l] (n_out,)`` (float32 arrays)."""
        key = jax.random.PRNGKey(0)            # replaced below: the book's start
        layers = []
        for w, b in zip(weights, biases):
            lin = eqx.nn.Linear(w.shape[1], w.shape[0], key=key)
            lin = eqx.tree_at(lambda m: (m.weight, m.bias), lin, (jnp.asarray(w), jnp.asarray(b)))
            layers.append(lin)
        self.layers = tuple(layers)

    def __call__(self, x):
        for lin in self.layers:
            x = jax.nn.sigmoid(lin(x))
        return x


def loss(model, x, y):
    """Mean over the mini-batch of ½‖a − y‖²; x (m, n_in), y (m, n_out)."""
    return 0.5 * jnp.sum((jax.vmap(model)(x) - y) ** 2) / x.shape[0]


def _epoch(model, x, y, order, eta, batch_size):
    """The trained MLP after one epoch over ``order``."""
    params, static = eqx.partition(model, eqx.is_array)
    opt = optax.sgd(eta)

    def step(carry, idx):
        params, opt_state = carry
        grads = jax.grad(lambda p: loss(eqx.combine(p, static), x[idx], y[idx]))(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)),
                                  order.reshape(-1, batch_size))
    return eqx.combine(params, static)


@eqx.filter_jit
def epoch(model, x, y, order, eta, batch_size):
    """One epoch over ``order (N,)`` (N a multiple of ``batch_size``); x (N, n_in)
    float32, y (N, n_out), eta a float32 scalar. Returns the trained MLP."""
    return _epoch(model, x, y, order, eta, batch_size)


@eqx.filter_jit
def population(models, x, y, orders, etas, batch_size):
    """Every member's epoch at once: ``models`` an MLP whose arrays are stacked
    (leading axis P, :func:`stacked`), ``orders (P, N)``, ``etas (P,)``."""
    return eqx.filter_vmap(lambda m, o, e: _epoch(m, x, y, o, e, batch_size))(
        models, orders, etas)


def stacked(models):
    """One MLP whose arrays stack a list of MLPs' (leading axis P)."""
    parts = [eqx.partition(m, eqx.is_array) for m in models]
    arrays = jax.tree.map(lambda *a: jnp.stack(a), *[p for p, _ in parts])
    return eqx.combine(arrays, parts[0][1])


def layers(model):
    """``[(w (.., n_out, n_in), b (.., n_out))]`` of a (stacked) MLP."""
    return [(lin.weight, lin.bias) for lin in model.layers]
