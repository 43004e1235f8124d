"""A run is a handful of checked values (issue: "checked once, into values").

jaxnet.TrainingData, Regularization, Patience and Checkpoint are checked when they
are made, as Model is; fit takes them and checks nothing in them again; the book's
keywords stay a shorthand that makes the same values, so both spellings train the
same network bit for bit.
"""

import inspect

import jax
import numpy as np
import pytest

import jaxnet
from jaxnet._core import validate

# fit's signature: a handful of values, not 28 keywords (the ceiling).
MAX_FIT_PARAMETERS = 16


@pytest.fixture(scope="module")
def small(sample):
    x, labels = sample.train.images[:60], sample.train.labels[:60]
    ev = (sample.test.images[:40], sample.test.labels[:40])
    params = jaxnet.init_params(jax.random.PRNGKey(0), [784, 12, 10])
    return x, labels, ev, params


def test_fit_takes_at_most_sixteen_parameters():
    n = len(inspect.signature(jaxnet.fit).parameters)
    assert n <= MAX_FIT_PARAMETERS, n


def test_values_and_the_book_shorthand_train_the_same_network(small, tmp_path):
    x, labels, ev, params = small
    short = jaxnet.fit(jax.random.PRNGKey(1), params, x, labels, epochs=3, batch_size=10,
                       eta=0.5, momentum=0.5, lmbda=2.0, n="batches", x_scale=1 / 256,
                       eval_data=ev, schedule=1, early_stop=2,
                       checkpoint=tmp_path / "a.npz", checkpoint_every=2)
    values = jaxnet.fit(jax.random.PRNGKey(1), params,
                        jaxnet.TrainingData(x, labels, 1 / 256, eval_data=ev), epochs=3,
                        batch_size=10, rule=jaxnet.momentum(0.5, 0.5),
                        penalty=jaxnet.Regularization(2.0, "batches"),
                        schedule=jaxnet.Patience(halve_eta_after=1, stop_after=2),
                        checkpoint=jaxnet.Checkpoint(tmp_path / "b.npz", every=2))
    assert [r.correct for r in short.history] == [r.correct for r in values.history]
    assert [r.eta for r in short.history] == [r.eta for r in values.history]
    for a, b in zip(short.params, values.params):
        np.testing.assert_array_equal(a.w, b.w)
        np.testing.assert_array_equal(a.b, b.b)
    assert short.history[-1].correct > 4, "the net learned nothing: a vacuous comparison"


def test_fit_never_checks_a_training_data_s_values_again(small, monkeypatch):
    """The NaN/Inf pass over the examples happens when the TrainingData is made: with
    the value check broken afterwards, fit still runs (it would raise if it looked)."""
    x, labels, ev, params = small
    xf = np.asarray(x, np.float32) / 256
    import jaxnet.train._values as values
    calls, real = [], validate.check_finite
    monkeypatch.setattr(values, "check_finite", lambda a, name: calls.append(name) or real(a, name))
    data = jaxnet.TrainingData(xf, labels, eval_data=(np.asarray(ev[0], np.float32) / 256, ev[1]))
    assert calls == ["x", "eval_data x"], calls

    def refuse(a, name):
        if name in ("x", "eval_data x"):
            raise AssertionError(f"{name} checked again")
        return real(a, name)
    monkeypatch.setattr(validate, "check_finite", refuse)   # every checker in the core
    monkeypatch.setattr(values, "check_finite", refuse)
    r = jaxnet.fit(jax.random.PRNGKey(1), params, data, epochs=1, batch_size=10)
    assert len(r.history) == 1


@pytest.mark.parametrize("make, err, match", [
    (lambda x, l: jaxnet.TrainingData(np.full((3, 4), np.nan), np.zeros(3, np.int32)),
     ValueError, "x: contains NaN or Inf"),
    (lambda x, l: jaxnet.TrainingData(x, l), TypeError, "x: integer inputs .* need x_scale"),
    (lambda x, l: jaxnet.TrainingData(x, l[:5], 1 / 256), ValueError,
     r"labels: expected shape \(60,\), got \(5,\)"),
    (lambda x, l: jaxnet.TrainingData(x, -1 - l, 1 / 256), ValueError,
     "labels: expected values >= 0"),
    (lambda x, l: jaxnet.TrainingData(x, l, 1 / 256, eval_data=x), TypeError,
     r"eval_data: expected a pair \(x, labels\)"),
    (lambda x, l: jaxnet.TrainingData(x, l, 1 / 256, test_data=(x[:, :5], l)), ValueError,
     r"test_data x: expected shape \(batch, 784\)"),
    (lambda x, l: jaxnet.Regularization(-1.0), ValueError, "lmbda: expected a finite number"),
    (lambda x, l: jaxnet.Regularization(1.0, n=0), ValueError, "n: expected None"),
    (lambda x, l: jaxnet.Patience(halve_eta_after=0), ValueError, "schedule: expected a positive"),
    (lambda x, l: jaxnet.Patience(stop_after=True), ValueError, "early_stop: expected a positive"),
    (lambda x, l: jaxnet.Checkpoint("ck.npz", every=0), ValueError,
     "checkpoint_every: expected a positive int"),
    (lambda x, l: jaxnet.Checkpoint("ck.npz", resume="yes"), TypeError, "resume: expected True"),
    (lambda x, l: jaxnet.Checkpoint(3), TypeError, "checkpoint: expected a file path"),
    (lambda x, l: jaxnet.Checkpoint("ck.npz", names={"colour": 1}), ValueError, "names: expected keys"),
])
def test_each_value_is_checked_when_it_is_made(small, make, err, match):
    x, labels, _, _ = small
    with pytest.raises(err, match=match):
        make(x, labels)


@pytest.mark.parametrize("kw, match", [
    (dict(penalty=jaxnet.Regularization(1.0), lmbda=1.0), "lmbda: the Regularization holds it"),
    (dict(schedule=jaxnet.Patience(2), early_stop=3), "early_stop: the Patience holds it"),
    (dict(checkpoint=jaxnet.Checkpoint("ck.npz"), resume=True), "resume: the Checkpoint holds it"),
    (dict(rule=jaxnet.sgd(1.0), momentum=0.5), "momentum: give rule="),
    (dict(penalty=0.5), "penalty: expected a jaxnet.Regularization"),
    (dict(etta=3.0), "unexpected keyword argument 'etta'"),
])
def test_a_value_and_its_shorthand_together_are_refused_by_name(small, kw, match):
    x, labels, _, params = small
    with pytest.raises((TypeError, ValueError), match=match):
        jaxnet.fit(jax.random.PRNGKey(1), params, x, labels, epochs=1, x_scale=1 / 256, **kw)


def test_a_training_data_and_loose_data_together_are_refused(small):
    x, labels, ev, params = small
    data = jaxnet.TrainingData(x, labels, 1 / 256)
    for kw in (dict(x_scale=1 / 256), dict(eval_data=ev)):
        with pytest.raises(TypeError, match="the TrainingData holds it"):
            jaxnet.fit(jax.random.PRNGKey(1), params, data, epochs=1, **kw)
    with pytest.raises(TypeError, match="labels: the TrainingData holds it"):
        jaxnet.fit(jax.random.PRNGKey(1), params, data, labels, epochs=1)
    with pytest.raises(TypeError, match="labels: expected the"):
        jaxnet.fit(jax.random.PRNGKey(1), params, x, epochs=1, x_scale=1 / 256)


def test_a_training_data_is_fitted_to_the_model_by_its_shapes(small):
    x, labels, _, _ = small
    data = jaxnet.TrainingData(x, labels, 1 / 256)
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, 5\), got \(60, 784\)"):
        jaxnet.fit(jax.random.PRNGKey(1), jaxnet.init_params(jax.random.PRNGKey(0), [5, 10]),
                   data, epochs=1)
    with pytest.raises(ValueError, match=r"labels: expected values in \[0, 3\), got min 0"):
        jaxnet.fit(jax.random.PRNGKey(1), jaxnet.init_params(jax.random.PRNGKey(0), [784, 3]),
                   data, epochs=1)
