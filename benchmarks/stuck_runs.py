"""Why two of three chapter-1 runs with 100 hidden neurons get stuck (book_tables.py).

    python benchmarks/stuck_runs.py

Retrains 784-100-10, quadratic cost, eta 3.0, large init, 30 epochs, seeds 1
and 2 exactly as benchmarks/book_tables.py does, and prints per-digit recall
on the test set, each output neuron's largest activation over the test set,
and the fraction of saturated hidden activations.
"""
import jax
import numpy as np

import jaxnet
from jaxnet import data

d = data.load_mnist(progress=False)
for seed in (1, 2):
    k_init, k_fit = jax.random.split(jax.random.PRNGKey(seed))
    params = jaxnet.init_params(k_init, [784, 100, 10], init="large")
    res = jaxnet.fit(k_fit, params, d.train.images, d.train.labels, epochs=30, eta=3.0, batch_size=10,
                     x_scale=data.PIXEL_SCALE, eval_data=(d.test.images, d.test.labels))
    p = res.params
    a = np.asarray(jaxnet.feedforward(p, d.test.x))
    pred = a.argmax(1)
    recall = [float(np.mean(pred[d.test.labels == c] == c)) for c in range(10)]
    # output neurons' activation over the whole test set
    print("seed", seed, "acc", res.history[-1].correct, "recall per digit", np.round(recall, 3).tolist())
    print("  max output activation per neuron", np.round(a.max(0), 4).tolist())
    z1 = np.asarray(d.test.x @ np.asarray(p[0].w).T + np.asarray(p[0].b))
    h = 1 / (1 + np.exp(-z1))
    sat = np.mean((h < 1e-3) | (h > 1 - 1e-3))
    print("  hidden activations saturated (<1e-3 or >1-1e-3):", round(float(sat), 3))
    # epoch 0 accuracy
    correct = [r.correct for r in res.history]
    print("  accuracy by epoch", correct[:5], "...", correct[-3:])
