"""Losses against NumPy formulas written here, plus the logits rule, shapes, lookup and configs."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lamina import activations, losses
from lamina.errors import LaminaWarning

EPS = 1e-7
RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------------- references
def _clip(p):
    return np.clip(p, EPS, 1 - EPS)


def np_bce(y, p, label_smoothing=0.0):
    y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    p = _clip(p)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(-1)


def np_cce(y, p, label_smoothing=0.0):
    y = y * (1 - label_smoothing) + label_smoothing / y.shape[-1]
    return -(y * np.log(_clip(p / p.sum(-1, keepdims=True)))).sum(-1)


def np_scce(labels, p):
    return np_cce(np.eye(p.shape[-1])[labels], p)


def np_focal(y, p, gamma=2.0):
    p_t = y * p + (1 - y) * (1 - p)
    pc = _clip(p)
    bce = -(y * np.log(pc) + (1 - y) * np.log(1 - pc))
    return ((1 - p_t) ** gamma * bce).mean(-1)


def np_hinge_labels(y):
    return 2 * y - 1 if np.isin(y, [0, 1]).all() else y


NP_REFERENCES = {
    "mean_squared_error": lambda y, p: ((y - p) ** 2).mean(-1),
    "mean_absolute_error": lambda y, p: np.abs(y - p).mean(-1),
    "mean_absolute_percentage_error": lambda y, p: (
        100 * (np.abs(y - p) / np.maximum(np.abs(y), EPS)).mean(-1)
    ),
    "mean_squared_logarithmic_error": lambda y, p: (
        (np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(y, EPS) + 1)) ** 2
    ).mean(-1),
    "huber": lambda y, p: np.where(
        np.abs(p - y) <= 1.0, 0.5 * (p - y) ** 2, np.abs(p - y) - 0.5
    ).mean(-1),
    "log_cosh": lambda y, p: np.log(np.cosh(p - y)).mean(-1),
    "kl_divergence": lambda y, p: (
        np.clip(y, EPS, 1) * np.log(np.clip(y, EPS, 1) / np.clip(p, EPS, 1))
    ).sum(-1),
    "poisson": lambda y, p: (p - y * np.log(p + EPS)).mean(-1),
    "hinge": lambda y, p: np.maximum(1 - np_hinge_labels(y) * p, 0).mean(-1),
    "squared_hinge": lambda y, p: (np.maximum(1 - np_hinge_labels(y) * p, 0) ** 2).mean(-1),
    "categorical_hinge": lambda y, p: np.maximum(((1 - y) * p).max(-1) - (y * p).sum(-1) + 1, 0),
    "cosine_similarity": lambda y, p: (
        -(
            y
            / np.linalg.norm(y, axis=-1, keepdims=True)
            * p
            / np.linalg.norm(p, axis=-1, keepdims=True)
        ).sum(-1)
    ),
    "binary_crossentropy": np_bce,
    "categorical_crossentropy": np_cce,
    "binary_focal_crossentropy": np_focal,
}

CLASSES = {
    "mean_squared_error": losses.MeanSquaredError,
    "mean_absolute_error": losses.MeanAbsoluteError,
    "mean_absolute_percentage_error": losses.MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": losses.MeanSquaredLogarithmicError,
    "huber": losses.Huber,
    "log_cosh": losses.LogCosh,
    "kl_divergence": losses.KLDivergence,
    "poisson": losses.Poisson,
    "hinge": losses.Hinge,
    "squared_hinge": losses.SquaredHinge,
    "categorical_hinge": losses.CategoricalHinge,
    "cosine_similarity": losses.CosineSimilarity,
    "binary_crossentropy": losses.BinaryCrossentropy,
    "categorical_crossentropy": losses.CategoricalCrossentropy,
    "binary_focal_crossentropy": losses.BinaryFocalCrossentropy,
}


def make_data(name, shape):
    """Targets and predictions in each loss's domain, as float32 arrays."""
    probs = RNG.uniform(0.05, 0.95, shape)
    if name in ("binary_crossentropy", "binary_focal_crossentropy"):
        y, p = RNG.integers(0, 2, shape), probs
    elif name in ("categorical_crossentropy", "categorical_hinge"):
        y, p = np.eye(shape[-1])[RNG.integers(0, shape[-1], shape[:-1])], probs
    elif name == "kl_divergence":
        y, p = probs / probs.sum(-1, keepdims=True), RNG.uniform(0.05, 0.95, shape)
    elif name in ("hinge", "squared_hinge"):
        y, p = RNG.integers(0, 2, shape), RNG.normal(size=shape)
    elif name in ("poisson", "mean_squared_logarithmic_error"):
        y, p = RNG.poisson(2.0, shape), RNG.uniform(0.1, 4.0, shape)
    else:
        y, p = RNG.normal(size=shape), RNG.normal(size=shape)
    return y.astype(np.float32), p.astype(np.float32)


SHAPES = [(6, 3), (4, 5, 2)]


# ----------------------------------------------------------------------------- formulas
@pytest.mark.parametrize("name,shape", list(itertools.product(NP_REFERENCES, SHAPES)))
def test_function_matches_numpy(name, shape):
    y, p = make_data(name, shape)
    got = getattr(losses, name)(torch.from_numpy(y), torch.from_numpy(p))
    assert got.shape == shape[:-1]
    expected = NP_REFERENCES[name](y.astype(np.float64), p.astype(np.float64))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "name,reduction", list(itertools.product(CLASSES, ["sum_over_batch_size", "sum", "none"]))
)
def test_class_reductions_with_sample_weight(name, reduction):
    y, p = make_data(name, (6, 3))
    w = RNG.uniform(0, 2, 6).astype(np.float32)
    per = NP_REFERENCES[name](y.astype(np.float64), p.astype(np.float64))
    loss = CLASSES[name](reduction=reduction)
    got = loss(torch.from_numpy(y), torch.from_numpy(p), sample_weight=torch.from_numpy(w))
    unweighted = loss(torch.from_numpy(y), torch.from_numpy(p))
    if reduction == "sum_over_batch_size":
        expected, plain = (per * w).sum() / per.size, per.mean()
    elif reduction == "sum":
        expected, plain = (per * w).sum(), per.sum()
    else:
        expected, plain = per * w, per
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(unweighted.numpy(), plain, rtol=1e-5, atol=1e-6)


def test_sparse_categorical_crossentropy_matches_numpy_and_label_shapes():
    p = RNG.uniform(0.05, 1, (7, 4)).astype(np.float32)
    labels = RNG.integers(0, 4, 7)
    expected = np_scce(labels, p.astype(np.float64))
    for y in (labels, labels.reshape(7, 1), labels.astype(np.float32)):
        got = losses.sparse_categorical_crossentropy(torch.from_numpy(y), torch.from_numpy(p))
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
    seq = RNG.uniform(0.05, 1, (3, 5, 4)).astype(np.float32)
    seq_labels = RNG.integers(0, 4, (3, 5))
    got = losses.sparse_categorical_crossentropy(torch.from_numpy(seq_labels), torch.tensor(seq))
    np.testing.assert_allclose(got.numpy(), np_scce(seq_labels, seq.astype(np.float64)), rtol=1e-5)


def test_reductions_mean_alias_and_mean_with_sample_weight():
    y, p = make_data("mean_squared_error", (5, 2))
    w = np.array([1.0, 0.0, 2.0, 0.5, 0.0], np.float32)
    per = ((y - p) ** 2).mean(-1)
    args = (torch.from_numpy(y), torch.from_numpy(p))
    got_mean = losses.MeanSquaredError(reduction="mean")(*args, sample_weight=w)
    np.testing.assert_allclose(got_mean.item(), (per * w).sum() / 5, rtol=1e-5)
    got = losses.MeanSquaredError(reduction="mean_with_sample_weight")(*args, sample_weight=w)
    np.testing.assert_allclose(got.item(), (per * w).sum() / w.sum(), rtol=1e-5)
    got_2d = losses.MeanSquaredError(reduction=None)(*args, sample_weight=w.reshape(5, 1))
    assert got_2d.shape == (5,)


def test_label_smoothing_binary_and_categorical():
    y, p = make_data("binary_crossentropy", (6, 3))
    got = losses.BinaryCrossentropy(label_smoothing=0.2)(torch.tensor(y), torch.tensor(p))
    np.testing.assert_allclose(got.item(), np_bce(y, p.astype(np.float64), 0.2).mean(), rtol=1e-5)
    y, p = make_data("categorical_crossentropy", (6, 3))
    got = losses.CategoricalCrossentropy(label_smoothing=0.3)(torch.tensor(y), torch.tensor(p))
    np.testing.assert_allclose(got.item(), np_cce(y, p.astype(np.float64), 0.3).mean(), rtol=1e-5)


def test_huber_delta_and_cosine_sign():
    got = losses.huber(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.5, 3.0]]), delta=2.0)
    assert got.item() == pytest.approx((0.5 * 1.5**2 + (2.0 * 3.0 - 0.5 * 4.0)) / 2)
    same = losses.cosine_similarity(torch.tensor([[1.0, 2.0]]), torch.tensor([[2.0, 4.0]]))
    opposite = losses.cosine_similarity(torch.tensor([[1.0, 2.0]]), torch.tensor([[-1.0, -2.0]]))
    assert same.item() == pytest.approx(-1.0) and opposite.item() == pytest.approx(1.0)


def test_hinge_keeps_minus_one_one_labels():
    y, p = torch.tensor([[-1.0, 1.0]]), torch.tensor([[0.5, 0.5]])
    assert losses.hinge(y, p).item() == pytest.approx((1.5 + 0.5) / 2)
    assert losses.hinge(torch.tensor([[0.0, 1.0]]), p).item() == pytest.approx(1.0)


# ----------------------------------------------------------------------------- logits rule
def test_logits_route_agrees_with_probabilities_on_ordinary_values():
    z = torch.randn(8, 4)
    probs = activations.softmax(z)
    plain = probs.detach().clone()  # no _keras_logits: the clipped-probability route
    assert hasattr(probs, "_keras_logits") and not hasattr(plain, "_keras_logits")
    onehot = torch.eye(4)[torch.randint(0, 4, (8,))]
    labels = onehot.argmax(-1)
    for fn, y in [
        (losses.categorical_crossentropy, onehot),
        (losses.sparse_categorical_crossentropy, labels),
    ]:
        torch.testing.assert_close(fn(y, probs), fn(y, plain), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(fn(y, probs), fn(y, z, from_logits=True))
    zb = torch.randn(8, 1)
    sig = activations.sigmoid(zb)
    yb = torch.randint(0, 2, (8, 1)).float()
    bce = losses.binary_crossentropy
    torch.testing.assert_close(bce(yb, sig), bce(yb, sig.detach().clone()), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bce(yb, sig), bce(yb, zb, from_logits=True))


def test_logits_route_stays_exact_where_probabilities_saturate():
    z = torch.tensor([[60.0, -60.0, 0.0]], requires_grad=True)
    probs = activations.softmax(z)
    loss = losses.CategoricalCrossentropy()(torch.tensor([[0.0, 1.0, 0.0]]), probs)
    assert loss.item() == pytest.approx(120.0, rel=1e-5)  # clipped probabilities give 16.1
    loss.backward()
    assert torch.isfinite(z.grad).all() and z.grad[0, 1] == pytest.approx(-1.0)
    sparse = losses.SparseCategoricalCrossentropy()(torch.tensor([1]), activations.softmax(z))
    assert sparse.item() == pytest.approx(120.0, rel=1e-5)
    s = activations.sigmoid(torch.tensor([[50.0], [-50.0]]))
    bce = losses.BinaryCrossentropy(reduction="none")(torch.tensor([0.0, 1.0]), s)
    np.testing.assert_allclose(bce.numpy(), [50.0, 50.0], rtol=1e-5)
    clipped = losses.BinaryCrossentropy(reduction="none")(torch.tensor([0.0, 1.0]), s.detach())
    assert clipped.max().item() < 17  # the probability route is capped by the clipping


def test_from_logits_with_softmax_output_warns():
    probs = activations.softmax(torch.randn(2, 3))
    with pytest.warns(LaminaWarning, match="from_logits=True"):
        losses.categorical_crossentropy(torch.eye(3)[:2], probs, from_logits=True)


def test_logits_survive_rank_fix_and_dtype_cast():
    z = torch.tensor([[40.0], [-40.0]], dtype=torch.float64)
    s = activations.sigmoid(z)
    got = losses.BinaryCrossentropy(reduction="none")(torch.tensor([0.0, 1.0]), s)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), [40.0, 40.0], rtol=1e-5)


# ----------------------------------------------------------------------------- shapes
def test_rank_one_labels_against_column_predictions_do_not_broadcast():
    y = torch.tensor([0.0, 1.0, 1.0, 0.0])
    p = torch.tensor([[0.1], [0.8], [0.6], [0.3]])
    expected = np_bce(y.numpy()[:, None], p.numpy().astype(np.float64))
    for y_in, p_in in [(y, p), (y[:, None], p[:, 0])]:
        got = losses.binary_crossentropy(y_in, p_in)
        assert got.numel() in (1, 4)
        np.testing.assert_allclose(got.mean().item(), expected.mean(), rtol=1e-5)
    per = losses.BinaryCrossentropy(reduction="none")(y, p)
    assert per.shape == (4,)
    np.testing.assert_allclose(per.numpy(), expected, rtol=1e-5)
    mse = losses.MeanSquaredError(reduction="none")(y, p)
    np.testing.assert_allclose(mse.numpy(), (y.numpy() - p.numpy()[:, 0]) ** 2, rtol=1e-6)
    wrong = ((y[None, :] - p) ** 2).mean()  # what a (4,) vs (4, 1) broadcast would give
    assert losses.MeanSquaredError()(y, p).item() != pytest.approx(wrong.item())


def test_mismatched_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="does not match y_pred"):
        losses.mean_squared_error(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.categorical_crossentropy(torch.tensor([[1], [2]]), torch.rand(2, 3))
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        losses.sparse_categorical_crossentropy(torch.eye(3), torch.rand(3, 3))
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, 3\)"):
        losses.sparse_categorical_crossentropy(torch.tensor([0, 3]), torch.rand(2, 3))
    with pytest.raises(ValueError, match="integers"):
        losses.sparse_categorical_crossentropy(torch.tensor([0.5, 1.0]), torch.rand(2, 3))
    with pytest.raises(ValueError, match="sample_weight of shape"):
        losses.MeanSquaredError()(torch.zeros(4, 2), torch.zeros(4, 2), sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="Unknown reduction"):
        losses.MeanSquaredError(reduction="avg")


def test_single_class_categorical_warns():
    with pytest.warns(LaminaWarning, match="1 class"):
        losses.categorical_crossentropy(torch.ones(2, 1), torch.ones(2, 1))


def test_ignore_class_and_mask_leave_entries_out_of_the_mean():
    p = torch.tensor([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    y = torch.tensor([1, -1, 0])
    per = losses.sparse_categorical_crossentropy(y, p, ignore_class=-1)
    np.testing.assert_allclose(per.numpy(), [-math.log(0.8), 0.0, -math.log(0.5)], rtol=1e-6)
    loss = losses.SparseCategoricalCrossentropy(ignore_class=-1)(y, p)
    assert loss.item() == pytest.approx((-math.log(0.8) - math.log(0.5)) / 2, rel=1e-6)
    z = torch.log(p)  # the logits route uses F.cross_entropy(ignore_index=...)
    via_logits = losses.SparseCategoricalCrossentropy(ignore_class=-1, from_logits=True)(y, z)
    assert via_logits.item() == pytest.approx(loss.item(), rel=1e-5)
    seq = torch.rand(2, 3, 1)
    seq._keras_mask = torch.tensor([[True, True, False], [True, False, False]])
    target = torch.zeros(2, 3, 1)
    masked = losses.MeanSquaredError()(target, seq)
    expected = (seq[..., 0] ** 2)[seq._keras_mask].mean()
    assert masked.item() == pytest.approx(expected.item(), rel=1e-6)


def test_loss_dtype_upcasts_half_precision():
    p = torch.rand(4, 3).half()
    y = torch.rand(4, 3)
    got = losses.MeanSquaredError()(y, p)
    assert got.dtype == torch.float32
    assert losses.MeanSquaredError(dtype="float64")(y, p).dtype == torch.float64


def test_losses_run_without_host_sync_on_meta_tensors():
    """Meta tensors have no data: any .item()/bool()/.cpu() in the loss path would raise."""
    meta = torch.device("meta")
    p, y = torch.empty(8, 3, device=meta), torch.empty(8, 3, device=meta)
    labels = torch.empty(8, dtype=torch.long, device=meta)
    for name, cls in CLASSES.items():
        assert cls()(y, p, sample_weight=torch.empty(8, device=meta)).device == meta, name
    got = losses.SparseCategoricalCrossentropy()(labels, activations.softmax(p))
    assert got.device == meta


# ----------------------------------------------------------------------------- CTC
def _ctc_brute_force(labels, logits):
    """-log of the summed probability of every path that collapses to ``labels``."""
    probs = torch.softmax(logits.double(), -1).numpy()
    steps, classes = probs.shape
    total = 0.0
    for path in itertools.product(range(classes), repeat=steps):
        collapsed = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        if [c for c in collapsed if c != 0] == labels:
            total += np.prod([probs[t, c] for t, c in enumerate(path)])
    return -math.log(total)


def test_ctc_matches_brute_force_enumeration():
    logits = torch.randn(3, 4, 3)
    y_true = torch.tensor([[1, 2], [1, 1], [2, 0]])  # 0 pads and is the blank
    got = losses.ctc(y_true, logits)
    expected = [_ctc_brute_force(lab, logits[i]) for i, lab in enumerate([[1, 2], [1, 1], [2]])]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
    mean = losses.CTC()(y_true, logits)
    assert mean.item() == pytest.approx(np.mean(expected), rel=1e-5)
    from_softmax = losses.ctc(y_true, activations.softmax(logits))  # traced back to the logits
    np.testing.assert_allclose(from_softmax.numpy(), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="ctc expects"):
        losses.ctc(torch.tensor([1, 2]), logits)


# ----------------------------------------------------------------------------- lookup
def test_get_resolves_names_classes_callables_and_keeps_names():
    assert losses.get(None) is None
    mse = losses.get("mse")
    assert mse.name == "mse" and mse.fn is losses.mean_squared_error
    assert losses.get("MeanSquaredError").name == "mean_squared_error"
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    obj = losses.Huber(delta=3.0)
    assert losses.get(obj) is obj
    assert losses.get("kullback_leibler_divergence").fn is losses.kl_divergence
    assert losses.get("logcosh").fn is losses.log_cosh

    def my_loss(y_true, y_pred):
        return (y_true - y_pred).abs().sum(-1)

    wrapped = losses.get(my_loss)
    assert wrapped.name == "my_loss"
    assert wrapped(torch.ones(2, 2), torch.zeros(2, 2)).item() == 2.0
    cfg = {"class_name": "BinaryCrossentropy", "config": {"from_logits": True}}
    assert losses.get(cfg).from_logits is True
    with pytest.raises(TypeError, match="Could not interpret loss"):
        losses.get(3)


def test_misspelled_loss_name_suggests_the_right_one():
    with pytest.raises(ValueError, match="Did you mean 'categorical_crossentropy'"):
        losses.get("categorical_crossentrophy")


@pytest.mark.parametrize(
    "y_true,y_pred,fn",
    [
        ((8, 1), (8, 1), losses.binary_crossentropy),
        ((8,), (8, 5), losses.sparse_categorical_crossentropy),
        ((8, 1), (8, 5), losses.sparse_categorical_crossentropy),
        ((8, 5), (8, 5), losses.categorical_crossentropy),
    ],
)
def test_crossentropy_alias_follows_shapes(y_true, y_pred, fn):
    loss = losses.get("crossentropy", y_true=y_true, y_pred=y_pred)
    assert loss.fn is fn and loss.name == "crossentropy"
    with pytest.raises(ValueError, match="ambiguous"):
        losses._problem_kind(None, None, None, "ce")


def test_crossentropy_without_shapes_decides_at_each_call():
    ce = losses.get("ce")  # as at compile time, before any data
    assert ce.name == "ce" and ce.fn is losses.crossentropy
    probs = torch.softmax(torch.randn(4, 3), -1)
    labels = torch.tensor([0, 2, 1, 1])
    column, binary = torch.rand(4, 1), torch.tensor([1.0, 0.0, 1.0, 0.0])
    torch.testing.assert_close(
        ce(labels, probs), losses.SparseCategoricalCrossentropy()(labels, probs)
    )
    onehot = torch.eye(3)[labels]
    torch.testing.assert_close(ce(onehot, probs), losses.CategoricalCrossentropy()(onehot, probs))
    torch.testing.assert_close(ce(binary, column), losses.BinaryCrossentropy()(binary, column))


def _example_instance(name):
    obj = losses._REGISTRY.lookup(name)
    if obj is losses.LossFunctionWrapper:
        return losses.LossFunctionWrapper(losses.huber, reduction="sum", name="h", delta=2.0)
    if isinstance(obj, type):
        return obj(name=f"my_{name.lower()}", reduction="sum")
    return obj


@pytest.mark.parametrize("name", losses._REGISTRY.names())
def test_registry_round_trip(name):
    obj = _example_instance(name)
    data = losses.serialize(obj)
    back = losses.deserialize(data)
    if isinstance(obj, losses.Loss):
        assert type(back) is type(obj) and back.get_config() == obj.get_config()
        assert back.name == obj.name and back.reduction == "sum"
        assert repr(back).startswith(f"<{type(obj).__name__}")
    else:
        assert back is obj and losses.get(name).fn is obj


def test_serialize_rejects_unregistered_functions():
    with pytest.raises(ValueError, match="not registered"):
        losses.serialize(losses.get(lambda y_true, y_pred: y_pred))


@pytest.mark.parametrize(
    "name, sparse",
    [
        ("categorical_crossentropy", False),
        ("sparse_categorical_crossentropy", True),
        ("binary_crossentropy", False),
        ("mse", False),
        ("mae", False),
    ],
)
def test_fused_fast_path_equals_the_general_route_in_value_and_gradient(name, sparse):
    torch.manual_seed(0)
    units = 1 if name == "binary_crossentropy" else 5
    z = torch.randn(32, units, requires_grad=True)
    act = activations.sigmoid if units == 1 else activations.softmax
    labels = torch.randint(0, max(units, 2), (32,))
    y = labels[:, None].float() if units == 1 else F.one_hot(labels, units).float()
    y_true = labels if sparse else y
    loss = losses.get(name)
    fast = loss(y_true, act(z))
    (g_fast,) = torch.autograd.grad(fast, z)
    slow = losses.Loss.__call__(loss, y_true, act(z))
    (g_slow,) = torch.autograd.grad(slow, z)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_fast, g_slow, rtol=1e-4, atol=1e-6)
