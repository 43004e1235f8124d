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

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def evaluate(self, test_data):
        """The book's count of correct answers; test_data: list of (x (784, 1), label int)."""
        return sum(int(np.argmax(self.feedforward(x)) == y) for x, y in test_data)

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


def main(argv=None):
    """The whole book experiment as network.py runs it, for the cold-start benchmark:
    ``python benchmarks/peers/network_py.py CACHE.npz [--epochs 30]`` where CACHE.npz
    is jaxnet's verified MNIST cache (uint8 pixels; x = k/256 as in the book's file)."""
    import argparse
    import random
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
    order = list(range(len(training_data)))
    for j in range(args.epochs):
        random.shuffle(order)
        net.epoch(training_data, order, 3.0, 10)
        print(f"Epoch {j}: {net.evaluate(test_data)} / {len(test_data)}", flush=True)


def book_format(x, y):
    """(N, n_in), (N, n_out) arrays → the book's list of column-vector pairs (float64)."""
    return [(xi.reshape(-1, 1).astype(np.float64), yi.reshape(-1, 1).astype(np.float64))
            for xi, yi in zip(x, y)]


if __name__ == "__main__":
    main()
