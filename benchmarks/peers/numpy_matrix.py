"""Whole-mini-batch NumPy: the matrix form of backprop, one mini-batch per step.

What a user who vectorised network.py by hand would run (rows are examples,
``w (n_out, n_in)``), in the dtype of the parameters given.
"""

import numpy as np


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def gradient(weights, biases, x, y):
    """Mean gradient of the quadratic cost over the batch; x (m, n_in), y (m, n_out)."""
    acts = [x]
    a = x
    for w, b in zip(weights, biases):
        a = _sigmoid(a @ w.T + b)
        acts.append(a)
    m = x.shape[0]
    delta = (a - y) * (a * (1 - a)) / m
    gw, gb = [None] * len(weights), [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        gw[l] = delta.T @ acts[l]
        gb[l] = delta.sum(axis=0)
        if l:
            delta = (delta @ weights[l]) * (acts[l] * (1 - acts[l]))
    return gw, gb


def epoch(weights, biases, x, y, order, eta, batch_size):
    """One epoch over ``order``; x (N, n_in) float, y (N, n_out). Returns new params."""
    weights, biases = [w.copy() for w in weights], [b.copy() for b in biases]
    dtype = weights[0].dtype
    eta = dtype.type(eta)
    for k in range(0, len(order), batch_size):
        idx = order[k:k + batch_size]
        gw, gb = gradient(weights, biases, x[idx], y[idx])
        for l in range(len(weights)):
            weights[l] -= eta * gw[l]
            biases[l] -= eta * gb[l]
    return weights, biases
