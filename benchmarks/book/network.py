"""The book's network.py (chapter 1) in Python 3: NumPy, float64, column
vectors, one example at a time. Nothing here imports jaxnet.

``Network`` is Nielsen's class, its methods as the book writes them, with two
departures that make runs comparable: the parameters are given rather than
drawn by ``np.random.randn``, and ``epoch`` is one pass of ``SGD``'s loop with
the shuffle given as ``order``. ``backprop`` takes an optional ``trace`` dict
that receives its forward pass (the golden state of tests/golden/ needs it);
its ``nabla_b`` are the book's per-example δ. Below the class, the same
algorithm as functions of ``(weights, biases)`` lists, which the tests call.

Run as a script it is the whole book experiment, the cold start's peer::

    python benchmarks/book/network.py CACHE.npz [--epochs 30]
"""

import random

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    """Derivative of the sigmoid function."""
    return sigmoid(z) * (1 - sigmoid(z))


class Network:
    def __init__(self, weights, biases):
        """weights[l]: (n_out, n_in); biases[l]: (n_out,) or (n_out, 1); copied as float64."""
        self.weights = [np.array(w, np.float64) for w in weights]
        self.biases = [np.array(b, np.float64).reshape(-1, 1) for b in biases]
        self.num_layers = len(self.weights) + 1
        self.sizes = [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    def feedforward(self, a):
        """Return the output of the network if ``a`` (n_in, 1) is input."""
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None):
        """The book's mini-batch SGD: training_data a list of (x (n_in, 1), y (n_out, 1)),
        shuffled in place by ``random.shuffle`` before each epoch; test_data a list of
        (x (n_in, 1), label int)."""
        if test_data:
            n_test = len(test_data)
        n = len(training_data)
        for j in range(epochs):
            random.shuffle(training_data)
            mini_batches = [training_data[k:k + mini_batch_size]
                            for k in range(0, n, mini_batch_size)]
            for mini_batch in mini_batches:
                self.update_mini_batch(mini_batch, eta)
            if test_data:
                print("Epoch {0}: {1} / {2}".format(j, self.evaluate(test_data), n_test))
            else:
                print("Epoch {0} complete".format(j))

    def epoch(self, training_data, order, eta, mini_batch_size):
        """One pass of SGD's loop with the shuffle given: training_data[order[0]] first."""
        training_data = [training_data[i] for i in order]
        for k in range(0, len(training_data), mini_batch_size):
            self.update_mini_batch(training_data[k:k + mini_batch_size], eta)

    def update_mini_batch(self, mini_batch, eta):
        """Gradient descent on one mini-batch, a list of (x, y) column pairs."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [w - (eta / len(mini_batch)) * nw
                        for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb
                       for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y, trace=None):
        """(nabla_b, nabla_w), the gradient of the quadratic cost C_x for x (n_in, 1),
        y (n_out, 1), layer by layer like self.biases and self.weights. ``trace`` (not
        in the book): a dict that receives the forward pass, ``zs`` and ``activations``."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        # feedforward
        activation = x
        activations = [x]  # list to store all the activations, layer by layer
        zs = []  # list to store all the z vectors, layer by layer
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        if trace is not None:
            trace.update(zs=zs, activations=activations)
        # backward pass
        delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            z = zs[-l]
            sp = sigmoid_prime(z)
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sp
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return (nabla_b, nabla_w)

    def evaluate(self, test_data):
        """The number of test inputs, (x (n_in, 1), label int), whose output's argmax is
        the label."""
        test_results = [(np.argmax(self.feedforward(x)), y) for (x, y) in test_data]
        return sum(int(x == y) for (x, y) in test_results)

    def cost_derivative(self, output_activations, y):
        """∂C_x/∂a for the output activations."""
        return output_activations - y


# --- the same, as functions of (weights, biases) lists ----------------------------------

def book_format(x, y):
    """(N, n_in), (N, n_out) arrays → the book's list of (x (n_in, 1), y (n_out, 1)) pairs,
    float64."""
    return [(xi.reshape(-1, 1).astype(np.float64), yi.reshape(-1, 1).astype(np.float64))
            for xi, yi in zip(x, y)]


def to_book(params):
    """(w (n_out, n_in), b (n_out,)) pairs, one per layer (jaxnet's Layers are such
    pairs) → the book's ``(weights, biases)`` lists, float64, biases as columns."""
    weights = [np.array(w, np.float64) for w, _ in params]
    biases = [np.array(b, np.float64).reshape(-1, 1) for _, b in params]
    return weights, biases


def mean_gradient(weights, biases, xs, ys):
    """The mean over the examples xs (m, n_in), ys (m, n_out) of backprop's
    per-example gradients: (nabla_b, nabla_w), biases as columns."""
    net = Network(weights, biases)
    nabla_b = [np.zeros(b.shape) for b in net.biases]
    nabla_w = [np.zeros(w.shape) for w in net.weights]
    for x, y in book_format(xs, ys):
        db, dw = net.backprop(x, y)
        nabla_b = [nb + d for nb, d in zip(nabla_b, db)]
        nabla_w = [nw + d for nw, d in zip(nabla_w, dw)]
    m = len(xs)
    return [nb / m for nb in nabla_b], [nw / m for nw in nabla_w]


def update_mini_batch(weights, biases, xs, ys, eta):
    """network.py's update_mini_batch on xs (m, n_in), ys (m, n_out): the new
    (weights, biases), w − (η/m)·Σ ∇C_x."""
    net = Network(weights, biases)
    net.update_mini_batch(book_format(xs, ys), eta)
    return net.weights, net.biases


def sgd_epoch(weights, biases, xs, ys, order, eta, batch_size):
    """One epoch of network.py's SGD over ``order`` (the book's shuffle, given)."""
    net = Network(weights, biases)
    net.epoch(book_format(xs, ys), order, eta, batch_size)
    return net.weights, net.biases


def cost(weights, biases, xs, ys):
    """The quadratic cost, the mean over xs (m, n_in), ys (m, n_out) of ½‖a − y‖²."""
    net = Network(weights, biases)
    total = 0.0
    for x, y in book_format(xs, ys):
        total += 0.5 * np.sum((net.feedforward(x) - y) ** 2)
    return total / len(xs)


def trace(weights, biases, xs, ys):
    """Per-example intermediates of backprop, stacked over the batch.

    Returns ``{"z": [Z^1..Z^L], "a": [A^0..A^L], "delta": [δ^1..δ^L]}``, each
    ``(m, n_l)``, with the book's per-example δ (no 1/m), and the mean
    gradient ``"gw"``, ``"gb"``.
    """
    net = Network(weights, biases)
    L = len(net.weights)
    out = {"z": [[] for _ in range(L)], "a": [[] for _ in range(L + 1)],
           "delta": [[] for _ in range(L)]}
    for x, y in book_format(xs, ys):
        seen = {}
        deltas, _ = net.backprop(x, y, trace=seen)
        for l in range(L):
            out["z"][l].append(seen["zs"][l].ravel())
            out["delta"][l].append(deltas[l].ravel())
        for l in range(L + 1):
            out["a"][l].append(seen["activations"][l].ravel())
    result = {k: [np.array(v) for v in vs] for k, vs in out.items()}
    result["gb"], result["gw"] = mean_gradient(weights, biases, xs, ys)
    return result


def main(argv=None):
    """The whole book experiment as network.py runs it, for the cold-start benchmark:
    ``python benchmarks/book/network.py CACHE.npz [--epochs 30]`` where CACHE.npz
    is jaxnet's verified MNIST cache (uint8 pixels; x = k/256 as in the book's file)."""
    import argparse
    ap = argparse.ArgumentParser(description=main.__doc__.split("\n")[0])
    ap.add_argument("npz")
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args(argv)
    d = np.load(args.npz)
    onehot = np.eye(10)[d["train_labels"]]
    training_data = book_format(d["train_images"] / 256.0, onehot)
    test_data = [(x.reshape(-1, 1) / 256.0, int(y))
                 for x, y in zip(d["test_images"], d["test_labels"])]
    rng = np.random.default_rng(0)
    net = Network([rng.standard_normal((30, 784)), rng.standard_normal((10, 30))],
                  [rng.standard_normal(30), rng.standard_normal(10)])
    random.seed(0)
    net.SGD(training_data, args.epochs, 10, 3.0, test_data=test_data)


if __name__ == "__main__":
    main()
