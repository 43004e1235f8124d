"""The book's network.py algorithm as it runs: NumPy, float64, one example at a time.

A faithful re-implementation of Nielsen's ``SGD`` / ``update_mini_batch`` /
``backprop`` (column vectors, per-example backprop inside each mini-batch),
so the benchmark times what a reader of the book would run.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class Network:
    def __init__(self, weights, biases):
        """weights[l]: (n_out, n_in) float64; biases[l]: (n_out, 1) float64."""
        self.weights = [np.array(w, np.float64) for w in weights]
        self.biases = [np.array(b, np.float64).reshape(-1, 1) for b in biases]

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, len(self.weights) + 1):
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return nabla_b, nabla_w

    def update_mini_batch(self, mini_batch, eta):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            db, dw = self.backprop(x, y)
            nabla_b = [nb + d for nb, d in zip(nabla_b, db)]
            nabla_w = [nw + d for nw, d in zip(nabla_w, dw)]
        m = len(mini_batch)
        self.weights = [w - (eta / m) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / m) * nb for b, nb in zip(self.biases, nabla_b)]

    def epoch(self, training_data, order, eta, batch_size):
        """training_data: list of (x (784, 1), y (10, 1)); order: the shuffle."""
        data = [training_data[i] for i in order]
        for k in range(0, len(data), batch_size):
            self.update_mini_batch(data[k:k + batch_size], eta)


def book_format(x, y):
    """(N, n_in), (N, n_out) arrays → the book's list of column-vector pairs (float64)."""
    return [(xi.reshape(-1, 1).astype(np.float64), yi.reshape(-1, 1).astype(np.float64))
            for xi, yi in zip(x, y)]
