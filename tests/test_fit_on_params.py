"""fit's ``on_params(epoch, params)``: after every epoch, the parameters it ended with."""

import jax
import numpy as np

import jaxnet


def test_on_params_sees_each_epochs_parameters_and_the_last_is_the_result(sample):
    params = jaxnet.init_params(jax.random.PRNGKey(0), [784, 10, 10])
    seen = []
    res = jaxnet.fit(jax.random.PRNGKey(1), params, sample.train.images[:200],
                     sample.train.labels[:200], epochs=3, batch_size=10, x_scale=1 / 256,
                     eval_data=(sample.test.images[:50], sample.test.labels[:50]),
                     on_params=lambda epoch, p: seen.append((epoch, p)))
    assert [e for e, _ in seen] == [0, 1, 2]
    assert all(type(p) is type(params) for _, p in seen)   # the caller's containers
    for a, b in zip(jax.tree.leaves(seen[-1][1]), jax.tree.leaves(res.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    first, last = np.asarray(seen[0][1][0][0]), np.asarray(seen[-1][1][0][0])
    assert not np.array_equal(first, last)   # each epoch's own, not one shared buffer
