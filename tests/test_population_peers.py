"""benchmarks/population_peers.py: a peer is timed only after it follows
fit_population's members, and the check can fail."""

import numpy as np
import population_peers as pp

import jaxnet


def test_a_peer_that_differs_is_not_timed():
    ref = [(np.ones((3, 2)), np.ones(3))]
    calls = []

    def wrong():
        calls.append(1)
        return [(np.ones((3, 2)) * (1 + 10 * pp.PEER_RTOL), np.ones(3))]

    diff, first, times = pp.checked_times(wrong, ref, 3)
    assert diff > pp.PEER_RTOL and first is None and times is None and len(calls) == 1


def _members_and_reference(sample, P: int):
    """P members of 784-30-10 on 200 images and fit_population's host (w, b) after an epoch."""
    x, labels = sample.train.images[:200], sample.train.labels[:200]
    model = jaxnet.Model.dense([784, 30, 10])
    m = pp.members(P, x, labels, model)
    res = jaxnet.fit_population(m.keys, m.pop, m.x, m.labels, epochs=1, eta=m.etas,
                                batch_size=10, x_scale=m.scale, model=model)
    return m, [(np.asarray(layer.w), np.asarray(layer.b)) for layer in res.params]


def test_the_train_epoch_loop_follows_fit_population(sample):
    m, ref = _members_and_reference(sample, 5)
    loop = pp.peers()[0][0].make        # the loop of train_epoch, always available
    assert pp.rel(loop(m)(), ref) <= pp.PEER_RTOL
    # a member trained with another η is caught
    wrong = m._replace(etas=m.etas[::-1].copy())
    off = pp.rel(loop(wrong)(), ref)
    assert off > 10 * pp.PEER_RTOL, off


def test_the_c_population_follows_fit_population(sample):
    m, ref = _members_and_reference(sample, 4)
    peer = next(p for p in pp.peers()[0] if p.name == 'jaxnet.fit_population(impl="c")')
    assert peer.rtol == pp.C_RTOL and pp.rel(peer.make(m)(), ref) <= pp.PEER_RTOL
    # a member trained with another η is caught by the C row's own tolerance
    off = pp.rel(peer.make(m._replace(etas=m.etas[::-1].copy()))(), ref)
    assert off > 10 * pp.C_RTOL, off
