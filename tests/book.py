"""An independent NumPy transcription of the book's network.py (float64).

Column vectors, one example at a time, exactly as the book's ``backprop`` and
``update_mini_batch`` do it. Nothing here imports jaxnet: it is the reference
the vectorised JAX code is tested against.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def to_book(params):
    """jaxnet Layers → the book's ``(weights, biases)`` lists (biases as columns)."""
    weights = [np.array(w, np.float64) for w, _ in params]
    biases = [np.array(b, np.float64).reshape(-1, 1) for _, b in params]
    return weights, biases


def backprop(weights, biases, x, y):
    """network.py's backprop for one example; x (n_in, 1), y (n_out, 1)."""
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    activation = x
    activations = [x]
    zs = []
    for b, w in zip(biases, weights):
        z = np.dot(w, activation) + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    for l in range(2, len(weights) + 1):
        z = zs[-l]
        sp = sigmoid_prime(z)
        delta = np.dot(weights[-l + 1].transpose(), delta) * sp
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
    return nabla_b, nabla_w


def mean_gradient(weights, biases, xs, ys):
    """Mean over the examples of the per-example gradients; xs (m, n_in), ys (m, n_out)."""
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    for x, y in zip(xs, ys):
        db, dw = backprop(weights, biases, x.reshape(-1, 1), y.reshape(-1, 1))
        nabla_b = [nb + d for nb, d in zip(nabla_b, db)]
        nabla_w = [nw + d for nw, d in zip(nabla_w, dw)]
    m = len(xs)
    return [nb / m for nb in nabla_b], [nw / m for nw in nabla_w]


def update_mini_batch(weights, biases, xs, ys, eta):
    """network.py's update_mini_batch: w − (η/m)·Σ ∇C_x."""
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(w.shape) for w in weights]
    for x, y in zip(xs, ys):
        db, dw = backprop(weights, biases, x.reshape(-1, 1), y.reshape(-1, 1))
        nabla_b = [nb + d for nb, d in zip(nabla_b, db)]
        nabla_w = [nw + d for nw, d in zip(nabla_w, dw)]
    m = len(xs)
    weights = [w - (eta / m) * nw for w, nw in zip(weights, nabla_w)]
    biases = [b - (eta / m) * nb for b, nb in zip(biases, nabla_b)]
    return weights, biases


def sgd_epoch(weights, biases, xs, ys, order, eta, batch_size):
    """One epoch of network.py's SGD over ``order`` (the book's shuffle, given)."""
    xs, ys = xs[order], ys[order]
    n = len(xs)
    for k in range(0, n, batch_size):
        weights, biases = update_mini_batch(weights, biases, xs[k:k + batch_size],
                                            ys[k:k + batch_size], eta)
    return weights, biases


def cost(weights, biases, xs, ys):
    total = 0.0
    for x, y in zip(xs, ys):
        a = x.reshape(-1, 1)
        for b, w in zip(biases, weights):
            a = sigmoid(np.dot(w, a) + b)
        total += 0.5 * np.sum((a - y.reshape(-1, 1)) ** 2)
    return total / len(xs)


def trace(weights, biases, xs, ys):
    """Per-example intermediates of network.py's backprop, stacked over the batch.

    Returns ``{"z": [Z^1..Z^L], "a": [A^0..A^L], "delta": [δ^1..δ^L]}``, each
    ``(m, n_l)``, with the book's per-example δ (no 1/m), and the mean
    gradient ``"gw"``, ``"gb"``.
    """
    L = len(weights)
    out = {"z": [[] for _ in range(L)], "a": [[] for _ in range(L + 1)],
           "delta": [[] for _ in range(L)]}
    for x, y in zip(xs, ys):
        a = x.reshape(-1, 1)
        out["a"][0].append(a.ravel())
        zs, acts = [], [a]
        for l, (b, w) in enumerate(zip(biases, weights)):
            z = np.dot(w, a) + b
            a = sigmoid(z)
            zs.append(z)
            acts.append(a)
            out["z"][l].append(z.ravel())
            out["a"][l + 1].append(a.ravel())
        delta = (acts[-1] - y.reshape(-1, 1)) * sigmoid_prime(zs[-1])
        out["delta"][L - 1].append(delta.ravel())
        for l in range(2, L + 1):
            delta = np.dot(weights[-l + 1].transpose(), delta) * sigmoid_prime(zs[-l])
            out["delta"][L - l].append(delta.ravel())
    result = {k: [np.array(v) for v in vs] for k, vs in out.items()}
    result["gb"], result["gw"] = mean_gradient(weights, biases, xs, ys)
    return result
