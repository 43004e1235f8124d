"""An independent NumPy transcription of the book's network2.py (float64), extended
with what chapter 3 describes in prose but network2 leaves out.

Column vectors, one example at a time, as network2's ``backprop`` /
``update_mini_batch`` / ``total_cost`` / ``save`` / ``load``. The extensions
follow the book's text: tanh and ReLU hidden neurons, the softmax output layer
with the log-likelihood cost (chapter 3, "Softmax"), L1 regularisation
(``w → w − (ηλ/n) sgn(w) − η ∂C0/∂w``) and momentum (``v → μv − η∇C``,
``w → w + v``). Nothing here imports jaxnet.
"""

import json

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class QuadraticCost:
    @staticmethod
    def fn(a, y):
        return 0.5 * np.linalg.norm(a - y) ** 2

    @staticmethod
    def delta(z, a, y):
        return (a - y) * sigmoid_prime(z)


class CrossEntropyCost:
    @staticmethod
    def fn(a, y):
        return np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a)))

    @staticmethod
    def delta(z, a, y):
        return a - y


class LogLikelihoodCost:
    """Chapter 3: C = −ln a_y with a softmax output; δ^L = a − y (one-hot y)."""
    @staticmethod
    def fn(a, y):
        return -float(np.sum(y * np.log(a)))

    @staticmethod
    def delta(z, a, y):
        return a * np.sum(y) - y


COSTS = {"quadratic": QuadraticCost, "cross_entropy": CrossEntropyCost,
         "log_likelihood": LogLikelihoodCost}

HIDDEN = {
    "sigmoid": (sigmoid, sigmoid_prime),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
}


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


class Network:
    def __init__(self, weights, biases, cost="quadratic", activation="sigmoid"):
        """weights[l] (n_out, n_in), biases[l] (n_out,) or (n_out, 1), float64."""
        self.weights = [np.array(w, np.float64) for w in weights]
        self.biases = [np.array(b, np.float64).reshape(-1, 1) for b in biases]
        self.num_layers = len(self.weights) + 1
        self.sizes = [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]
        self.cost_name, self.cost = cost, COSTS[cost]
        self.f, self.f_prime = HIDDEN[activation]

    def _out(self, z):
        return softmax(z) if self.cost is LogLikelihoodCost else sigmoid(z)

    def feedforward(self, a):
        for l, (b, w) in enumerate(zip(self.biases, self.weights)):
            z = np.dot(w, a) + b
            a = self._out(z) if l == len(self.weights) - 1 else self.f(z)
        return a

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for l, (b, w) in enumerate(zip(self.biases, self.weights)):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = self._out(z) if l == len(self.weights) - 1 else self.f(z)
            activations.append(activation)
        delta = self.cost.delta(zs[-1], activations[-1], y)
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * self.f_prime(zs[-l])
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return nabla_b, nabla_w

    def _sums(self, xs, ys):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in zip(xs, ys):
            db, dw = self.backprop(x.reshape(-1, 1), y.reshape(-1, 1))
            nabla_b = [nb + d for nb, d in zip(nabla_b, db)]
            nabla_w = [nw + d for nw, d in zip(nabla_w, dw)]
        return nabla_b, nabla_w

    def gradient(self, xs, ys, lmbda=0.0, n=1, reg="l2"):
        """Mean gradient of C0 over the batch plus the regularisation term's."""
        nb, nw = self._sums(xs, ys)
        m = len(xs)
        pen = [(lmbda / n) * (w if reg == "l2" else np.sign(w)) for w in self.weights]
        return [b / m for b in nb], [g / m + p for g, p in zip(nw, pen)]

    def update_mini_batch(self, xs, ys, eta, lmbda=0.0, n=1, reg="l2", momentum=None,
                          velocity=None):
        """network2's update: ``w → (1 − ηλ/n) w − (η/m) Σ ∇C0`` for L2,
        ``w − (ηλ/n) sgn(w) − (η/m) Σ ∇C0`` for L1; biases ``b − (η/m) Σ ∇C0``.
        With a velocity (vw, vb): ``v → μv − η∇C``, ``p → p + v``."""
        nabla_b, nabla_w = self._sums(xs, ys)
        m = len(xs)
        if velocity is None:
            if reg == "l2":
                self.weights = [(1 - eta * (lmbda / n)) * w - (eta / m) * nw
                                for w, nw in zip(self.weights, nabla_w)]
            else:
                self.weights = [w - eta * (lmbda / n) * np.sign(w) - (eta / m) * nw
                                for w, nw in zip(self.weights, nabla_w)]
            self.biases = [b - (eta / m) * nb for b, nb in zip(self.biases, nabla_b)]
            return None
        vw, vb = velocity
        pen = [(lmbda / n) * (w if reg == "l2" else np.sign(w)) for w in self.weights]
        vw = [momentum * v - eta * (nw / m + p) for v, nw, p in zip(vw, nabla_w, pen)]
        vb = [momentum * v.reshape(-1, 1) - eta * nb / m for v, nb in zip(vb, nabla_b)]
        self.weights = [w + v for w, v in zip(self.weights, vw)]
        self.biases = [b + v for b, v in zip(self.biases, vb)]
        return vw, vb

    def total_cost(self, xs, ys, lmbda, n_train, reg="l2"):
        """network2's total_cost, but with the regularisation term over the
        training-set size ``n_train`` (network2 uses ``len(data)``, the size of
        whatever set it evaluates)."""
        cost = sum(self.cost.fn(self.feedforward(x.reshape(-1, 1)), y.reshape(-1, 1))
                   for x, y in zip(xs, ys)) / len(xs)
        if reg == "l2":
            cost += 0.5 * (lmbda / n_train) * sum(np.linalg.norm(w) ** 2 for w in self.weights)
        else:
            cost += (lmbda / n_train) * sum(np.sum(np.abs(w)) for w in self.weights)
        return cost

    def save(self, filename):
        """network2.save, verbatim in effect."""
        data = {"sizes": self.sizes,
                "weights": [w.tolist() for w in self.weights],
                "biases": [b.tolist() for b in self.biases],
                "cost": str(self.cost.__name__)}
        with open(filename, "w") as f:
            json.dump(data, f)


def load(filename):
    """network2.load: the cost looked up by class name."""
    with open(filename) as f:
        data = json.load(f)
    cost = {c.__name__: name for name, c in COSTS.items()}[data["cost"]]
    return Network([np.array(w) for w in data["weights"]], [np.array(b) for b in data["biases"]],
                   cost=cost)
