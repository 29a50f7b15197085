import numpy as np
import pytest

from eiegen.compiler.network import Layer, Network
from eiegen.compiler.prune import (PruneError, agp_schedule, apply_masks, prune_masks,
                                   sparsity_mask, sparsity_of, threshold_mask)


def make_net(seed=0):
    rng = np.random.default_rng(seed)
    return Network((Layer(rng.normal(size=(20, 16)), rng.normal(size=20), "relu", "a"),
                    Layer(rng.normal(size=(5, 20)) * 3, None, "none", "b")))


def test_threshold_is_quality_times_std():
    w = np.random.default_rng(0).normal(size=(50, 40))
    mask = threshold_mask(w, 0.7)
    assert np.array_equal(mask, np.abs(w) > 0.7 * w.std())
    assert np.array_equal(threshold_mask(w, 0.7, std=2.0), np.abs(w) > 1.4)


def test_sparsity_mask_is_exact_and_monotone():
    w = np.random.default_rng(1).normal(size=(30, 30))
    m = sparsity_mask(w, 0.9)
    assert (~m).sum() == round(0.9 * w.size)
    assert np.abs(w[m]).min() >= np.abs(w[~m]).max()
    w2 = np.where(m, w, 0.0)
    # a lower target keeps what is already pruned pruned
    assert np.array_equal(sparsity_mask(w2, 0.5), m)


def test_ties_are_deterministic():
    w = np.ones((4, 4))
    m = sparsity_mask(w, 0.5)
    assert m.sum() == 8 and np.array_equal(m, sparsity_mask(w.copy(), 0.5))


def test_per_layer_and_global():
    net = make_net()
    masks = prune_masks(net, sparsity=[0.5, 0.8])
    assert [round(1 - m.mean(), 2) for m in masks] == [0.5, 0.8]
    masks = prune_masks(net, sparsity=[None, 0.8])
    assert masks[0].all()
    g = prune_masks(net, global_sparsity=0.6)
    total = sum(m.size for m in g)
    assert sum((~m).sum() for m in g) == round(0.6 * total)
    # one threshold: every survivor is at least as large as every pruned weight
    kept = np.concatenate([np.abs(la.weight[m]) for la, m in zip(net, g)])
    gone = np.concatenate([np.abs(la.weight[~m]) for la, m in zip(net, g)])
    assert kept.min() >= gone.max()
    # layer b has larger weights, so it loses less than layer a
    assert (~g[1]).mean() < (~g[0]).mean()


def test_quality_uses_reference_std():
    net = make_net()
    masks = prune_masks(net, quality=1.0)
    pruned = apply_masks(net, masks)
    # with the dense reference, a second pass with the same quality removes nothing more
    again = prune_masks(pruned, quality=1.0, reference=net)
    assert all(np.array_equal(a, b) for a, b in zip(masks, again))


def test_apply_masks():
    net = make_net()
    masks = prune_masks(net, sparsity=0.75)
    pruned = apply_masks(net, masks)
    assert all(np.array_equal(la.weight != 0, m) for la, m in zip(pruned, masks))
    assert abs(sparsity_of(pruned) - 0.75) < 0.01
    assert pruned[0].name == "a" and np.array_equal(pruned[0].bias, net[0].bias)


def test_agp_schedule():
    s = agp_schedule(0.9, 5)
    assert len(s) == 5 and s[-1] == 0.9 and np.all(np.diff(s) >= 0)
    # cubic: most of the pruning happens early
    assert s[0] > 0.9 * 0.4
    assert agp_schedule(0.5, 1) == [0.5]


@pytest.mark.parametrize("kwargs, match", [
    (dict(sparsity=1.0), r"\[0, 1\)"),
    (dict(sparsity=-0.1), r"\[0, 1\)"),
    (dict(sparsity=[0.5]), "1 sparsity values given for a network of 2 layers"),
    (dict(quality=-1.0), "quality factor"),
    (dict(sparsity=0.5, quality=1.0), "exactly one"),
    (dict(), "exactly one"),
])
def test_bad_requests_rejected(kwargs, match):
    with pytest.raises(PruneError, match=match):
        prune_masks(make_net(), **kwargs)


def test_bad_schedule_and_masks_rejected():
    with pytest.raises(PruneError, match="steps"):
        agp_schedule(0.5, 0)
    with pytest.raises(PruneError, match="exceeds"):
        agp_schedule(0.5, 2, initial=0.6)
    with pytest.raises(PruneError, match="mask shape"):
        apply_masks(make_net(), [np.ones((2, 2), bool), np.ones((5, 20), bool)])
