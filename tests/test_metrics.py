"""Metrics against NumPy / scikit-learn over several batches, resolution rules, configs, no sync."""

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from lamina import activations, losses, metrics

RNG = np.random.default_rng(0)


def feed(metric, *arrays, batch=16, weights=None):
    """Update ``metric`` batch by batch (several update_state calls) and return the result."""
    n = len(arrays[0])
    for i in range(0, n, batch):
        part = [torch.as_tensor(a[i : i + batch]) for a in arrays]
        w = None if weights is None else torch.as_tensor(weights[i : i + batch])
        metric.update_state(*part, sample_weight=w)
    return metric.result()


def check_reset(metric, *arrays):
    """After reset_state the metric equals a fresh one fed the same data."""
    metric.reset_state()
    fresh = type(metric)(**{k: v for k, v in metric.get_config().items() if k != "fn"})
    torch.testing.assert_close(feed(metric, *arrays), feed(fresh, *arrays))


# ----------------------------------------------------------------------------- means
def test_mean_and_sum_weighted_over_batches():
    v = RNG.normal(size=50).astype(np.float32)
    w = RNG.uniform(0, 2, 50).astype(np.float32)
    mean = metrics.Mean()
    assert feed(mean, v, weights=w).item() == pytest.approx((v * w).sum() / w.sum(), rel=1e-5)
    total = metrics.Sum()
    assert feed(total, v, weights=w).item() == pytest.approx((v * w).sum(), rel=1e-5)
    mean.reset_state()
    assert mean.result().item() == 0.0
    assert feed(mean, v).item() == pytest.approx(v.mean(), rel=1e-5)
    per_entry = RNG.normal(size=(10, 3)).astype(np.float32)  # values reduced per sample first
    assert metrics.Mean()(torch.tensor(per_entry)).item() == pytest.approx(per_entry.mean(), 1e-5)


def test_metric_state_is_lazy_and_detached():
    m = metrics.Mean()
    assert m.variables == [] and m.result().item() == 0.0
    x = torch.ones(3, requires_grad=True)
    m.update_state(x * 2)
    assert [v.requires_grad for v in m.variables] == [False, False]
    with torch.inference_mode():
        m.update_state(torch.ones(3))
    m.update_state(torch.ones(3))  # state made under inference_mode still updates outside it
    m.reset_state()
    m.update_state(torch.ones(3))
    assert m.result().item() == 1.0


def test_additive_variables_sum_across_workers():
    data = RNG.uniform(size=(40, 1)).astype(np.float32), RNG.integers(0, 2, (40, 1))
    whole, halves = metrics.AUC(), [metrics.AUC(), metrics.AUC()]
    feed(whole, data[1], data[0])
    feed(halves[0], data[1][:20], data[0][:20])
    feed(halves[1], data[1][20:], data[0][20:])
    halves[0].variables = [a + b for a, b in zip(halves[0].variables, halves[1].variables)]
    torch.testing.assert_close(halves[0].result(), whole.result())
    assert metrics.AUC.additive and not metrics.MeanAveragePrecision.additive


# ----------------------------------------------------------------------------- accuracy
def _probs(n, k):
    p = RNG.uniform(size=(n, k)).astype(np.float32)
    return p / p.sum(-1, keepdims=True)


def test_accuracies_match_numpy_with_weights():
    n, k = 45, 4
    p = _probs(n, k)
    labels = RNG.integers(0, k, n)
    onehot = np.eye(k, dtype=np.float32)[labels]
    w = RNG.uniform(0, 1, n).astype(np.float32)
    hit = (p.argmax(-1) == labels).astype(float)
    expect = (hit * w).sum() / w.sum()
    got = feed(metrics.CategoricalAccuracy(), onehot, p, weights=w)
    assert got.item() == pytest.approx(expect, rel=1e-5)
    assert feed(metrics.SparseCategoricalAccuracy(), labels, p, weights=w).item() == pytest.approx(
        expect, rel=1e-5
    )
    col = labels[:, None]
    assert feed(metrics.SparseCategoricalAccuracy(), col, p).item() == pytest.approx(hit.mean())
    ranks = (p > p[np.arange(n), labels][:, None]).sum(-1)
    for k_ in (1, 2, 3):
        top = (ranks < k_).mean()
        assert feed(metrics.TopKCategoricalAccuracy(k=k_), onehot, p).item() == pytest.approx(top)
        got = feed(metrics.SparseTopKCategoricalAccuracy(k=k_), labels, p)
        assert got.item() == pytest.approx(top)
    yb = RNG.integers(0, 2, (n, 1)).astype(np.float32)
    pb = RNG.uniform(size=(n, 1)).astype(np.float32)
    m = metrics.BinaryAccuracy(threshold=0.3)
    assert feed(m, yb, pb).item() == pytest.approx(((pb > 0.3) == yb).mean())
    check_reset(m, yb, pb)
    exact = RNG.integers(0, 3, (n, 2))
    guess = RNG.integers(0, 3, (n, 2))
    assert feed(metrics.Accuracy(), exact, guess).item() == pytest.approx((exact == guess).mean())


def test_accuracy_functions_are_per_sample():
    p = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.5, 0.5]])
    torch.testing.assert_close(
        metrics.categorical_accuracy(torch.tensor([[0, 1], [0, 1], [1, 0]]), p),
        torch.tensor([1.0, 0.0, 1.0]),  # ties pick the first index, as numpy does
    )
    torch.testing.assert_close(
        metrics.sparse_categorical_accuracy(torch.tensor([1, 0, 1]), p),
        torch.tensor([1.0, 1.0, 0.0]),
    )
    torch.testing.assert_close(
        metrics.binary_accuracy(torch.tensor([1.0, 0.0, 1.0]), torch.tensor([[0.6], [0.4], [0.2]])),
        torch.tensor([1.0, 1.0, 0.0]),
    )
    ties = torch.tensor([[0.3, 0.3, 0.3, 0.1]])  # tied with the k-th score counts as inside
    assert metrics.top_k_categorical_accuracy(torch.tensor([[0, 0, 1, 0]]), ties, k=1).item() == 1


# ----------------------------------------------------------------------------- confusion metrics
def test_precision_recall_match_sklearn():
    y = RNG.integers(0, 2, 60)
    p = RNG.uniform(size=60).astype(np.float32)
    w = RNG.uniform(0, 2, 60).astype(np.float32)
    for thr in (0.5, 0.7):
        pred = (p > thr).astype(int)
        prec = feed(metrics.Precision(thresholds=thr), y, p, weights=w).item()
        rec = feed(metrics.Recall(thresholds=thr), y, p, weights=w).item()
        assert prec == pytest.approx(skm.precision_score(y, pred, sample_weight=w), rel=1e-5)
        assert rec == pytest.approx(skm.recall_score(y, pred, sample_weight=w), rel=1e-5)
    several = feed(metrics.Precision(thresholds=[0.7, 0.2, 0.5]), y, p).numpy()
    expect = [skm.precision_score(y, (p > t).astype(int)) for t in (0.7, 0.2, 0.5)]
    np.testing.assert_allclose(several, expect, rtol=1e-5)
    check_reset(metrics.Recall(thresholds=[0.7, 0.2]), y, p)


def test_precision_recall_top_k_and_class_id():
    y = RNG.integers(0, 2, (30, 5))
    p = RNG.uniform(size=(30, 5)).astype(np.float32)
    top2 = np.zeros_like(y)
    np.put_along_axis(top2, np.argsort(-p, -1)[:, :2], 1, -1)
    got = feed(metrics.Precision(top_k=2), y, p).item()
    assert got == pytest.approx((top2 * y).sum() / top2.sum(), rel=1e-5)
    got = feed(metrics.Recall(top_k=2), y, p).item()
    assert got == pytest.approx((top2 * y).sum() / y.sum(), rel=1e-5)
    got = feed(metrics.Precision(class_id=3), y, p).item()
    assert got == pytest.approx(skm.precision_score(y[:, 3], (p[:, 3] > 0.5).astype(int)), 1e-5)
    with pytest.raises(ValueError, match=r"Threshold values must be in \[0, 1\]"):
        metrics.Precision(thresholds=1.5)


def _scores(n, labels=None):
    y = RNG.integers(0, 2, n if labels is None else (n, labels))
    s = np.clip(RNG.normal(0.5 + 0.15 * (2 * y - 1), 0.25), 0, 1).astype(np.float32)
    return y, s


@pytest.mark.parametrize("num_thresholds,tol", [(200, 1e-2), (10000, 1e-3)])
def test_auc_matches_sklearn(num_thresholds, tol):
    y, s = _scores(600)
    w = RNG.uniform(0, 2, 600).astype(np.float32)
    roc = feed(metrics.AUC(num_thresholds=num_thresholds), y, s, batch=64).item()
    assert roc == pytest.approx(skm.roc_auc_score(y, s), abs=tol)
    pr = feed(metrics.AUC(num_thresholds=num_thresholds, curve="PR"), y, s, batch=64).item()
    assert pr == pytest.approx(skm.average_precision_score(y, s), abs=tol)
    weighted = feed(metrics.AUC(num_thresholds=num_thresholds), y, s, batch=64, weights=w).item()
    assert weighted == pytest.approx(skm.roc_auc_score(y, s, sample_weight=w), abs=tol)
    ym, sm = _scores(400, labels=3)
    multi = metrics.AUC(num_thresholds=num_thresholds, multi_label=True)
    assert feed(multi, ym, sm).item() == pytest.approx(skm.roc_auc_score(ym, sm), abs=tol)
    lw = [1.0, 0.0, 3.0]
    weighted_labels = metrics.AUC(num_thresholds=num_thresholds, multi_label=True, label_weights=lw)
    per = [skm.roc_auc_score(ym[:, j], sm[:, j]) for j in range(3)]
    expect = np.dot(per, lw) / sum(lw)
    assert feed(weighted_labels, ym, sm).item() == pytest.approx(expect, abs=tol)


def test_auc_keras_example_summations_and_logits():
    y, p = [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]
    assert metrics.AUC(num_thresholds=3)(y, p).item() == pytest.approx(0.75)  # Keras's docstring
    y2, s2 = _scores(300)
    lo = feed(metrics.AUC(summation_method="minoring"), y2, s2).item()
    mid = feed(metrics.AUC(), y2, s2).item()
    hi = feed(metrics.AUC(summation_method="majoring"), y2, s2).item()
    assert lo <= mid <= hi and hi - lo < 0.05
    logits = np.log(s2.clip(1e-4, 1 - 1e-4) / (1 - s2.clip(1e-4, 1 - 1e-4)))
    via_logits = feed(metrics.AUC(from_logits=True), y2, logits.astype(np.float32)).item()
    assert via_logits == pytest.approx(feed(metrics.AUC(), y2, s2.clip(1e-4, 1 - 1e-4)).item())
    custom = metrics.AUC(thresholds=[0.25, 0.5, 0.75])
    assert custom.num_thresholds == 5
    check_reset(custom, y2, s2)
    with pytest.raises(ValueError, match="curve"):
        metrics.AUC(curve="XY")


def test_mean_average_precision_matches_sklearn_macro():
    y, s = _scores(90, labels=4)
    s[:10] = 0.5  # ties are grouped the way scikit-learn groups them
    w = RNG.uniform(0.1, 2, 90).astype(np.float32)
    got = feed(metrics.MeanAveragePrecision(), y, s).item()
    assert got == pytest.approx(skm.average_precision_score(y, s, average="macro"), rel=1e-5)
    m = metrics.MeanAveragePrecision()
    got = feed(m, y, s, weights=w).item()
    expect = skm.average_precision_score(y, s, average="macro", sample_weight=w)
    assert got == pytest.approx(expect, rel=1e-5)
    check_reset(m, y, s)
    labels = RNG.integers(0, 3, 50)  # ranking with integer labels: one-hot per class
    scores = _probs(50, 3)
    expect = skm.average_precision_score(np.eye(3)[labels], scores, average="macro")
    assert feed(metrics.MeanAveragePrecision(), labels, scores).item() == pytest.approx(
        expect, 1e-5
    )
    no_pos = y.copy()
    no_pos[:, 1] = 0  # a label without positives is left out of the mean
    expect = np.mean([skm.average_precision_score(no_pos[:, j], s[:, j]) for j in (0, 2, 3)])
    assert feed(metrics.MeanAveragePrecision(), no_pos, s).item() == pytest.approx(expect, 1e-5)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f1_score_matches_sklearn(average):
    y = RNG.integers(0, 2, (60, 4))
    p = RNG.uniform(size=(60, 4)).astype(np.float32)
    got = feed(metrics.F1Score(average=average, threshold=0.5), y, p).numpy()
    expect = skm.f1_score(y, (p > 0.5).astype(int), average=average)
    np.testing.assert_allclose(got, expect, rtol=1e-4)
    labels = RNG.integers(0, 4, 60)
    got = feed(metrics.F1Score(average=average), np.eye(4)[labels], p).numpy()
    np.testing.assert_allclose(got, skm.f1_score(labels, p.argmax(-1), average=average), rtol=1e-4)


# ----------------------------------------------------------------------------- regression & co
REGRESSION = {
    metrics.MeanSquaredError: lambda y, p: ((y - p) ** 2).mean(-1),
    metrics.MeanAbsoluteError: lambda y, p: np.abs(y - p).mean(-1),
    metrics.MeanAbsolutePercentageError: lambda y, p: 100 * np.abs((y - p) / y).mean(-1),
    metrics.MeanSquaredLogarithmicError: lambda y, p: (
        (np.log1p(np.maximum(p, 1e-7)) - np.log1p(np.maximum(y, 1e-7))) ** 2
    ).mean(-1),
    metrics.LogCoshError: lambda y, p: np.log(np.cosh(p - y)).mean(-1),
    metrics.CosineSimilarity: lambda y, p: (
        y
        / np.linalg.norm(y, axis=-1, keepdims=True)
        * p
        / np.linalg.norm(p, axis=-1, keepdims=True)
    ).sum(-1),
}


@pytest.mark.parametrize("cls", list(REGRESSION))
def test_regression_metrics_weighted_over_batches(cls):
    y = RNG.uniform(0.5, 2, (40, 3)).astype(np.float32)
    p = RNG.uniform(0.5, 2, (40, 3)).astype(np.float32)
    w = RNG.uniform(0, 2, 40).astype(np.float32)
    per = REGRESSION[cls](y.astype(np.float64), p.astype(np.float64))
    m = cls()
    assert feed(m, y, p, weights=w).item() == pytest.approx((per * w).sum() / w.sum(), rel=1e-5)
    check_reset(m, y, p)


def test_root_mean_squared_error():
    y = RNG.normal(size=(40, 2)).astype(np.float32)
    p = RNG.normal(size=(40, 2)).astype(np.float32)
    got = feed(metrics.RootMeanSquaredError(), y, p).item()
    assert got == pytest.approx(np.sqrt(((y - p) ** 2).mean()), rel=1e-5)


def test_probabilistic_and_hinge_metrics_are_means_of_the_losses():
    p = _probs(30, 3)
    labels = RNG.integers(0, 3, 30)
    onehot = np.eye(3, dtype=np.float32)[labels]
    pairs = [
        (metrics.CategoricalCrossentropy(), losses.categorical_crossentropy, onehot),
        (metrics.SparseCategoricalCrossentropy(), losses.sparse_categorical_crossentropy, labels),
        (metrics.BinaryCrossentropy(), losses.binary_crossentropy, onehot),
        (metrics.KLDivergence(), losses.kl_divergence, onehot),
        (metrics.Poisson(), losses.poisson, onehot),
        (metrics.Hinge(), losses.hinge, onehot),
        (metrics.SquaredHinge(), losses.squared_hinge, onehot),
        (metrics.CategoricalHinge(), losses.categorical_hinge, onehot),
    ]
    for metric, fn, y in pairs:
        expect = fn(torch.as_tensor(y), torch.as_tensor(p)).mean().item()
        assert feed(metric, y, p).item() == pytest.approx(expect, rel=1e-5), metric.name


def test_mask_on_predictions_is_respected():
    p = torch.tensor([[[1.0], [2.0], [9.0]]])
    p._keras_mask = torch.tensor([[True, True, False]])
    m = metrics.MeanAbsoluteError()
    m.update_state(torch.zeros(1, 3, 1), p)
    assert m.result().item() == pytest.approx(1.5)


def test_metrics_update_without_host_sync_on_meta_tensors():
    """Meta tensors have no data: any .item()/bool()/.cpu() in update_state would raise."""
    meta = torch.device("meta")
    y, p = torch.empty(8, 3, device=meta), torch.empty(8, 3, device=meta)
    labels, w = torch.empty(8, dtype=torch.long, device=meta), torch.empty(8, device=meta)
    for name in metrics._REGISTRY.names():
        cls = metrics._REGISTRY.lookup(name)
        if name != cls.__name__ or cls is metrics.MeanMetricWrapper:
            continue
        m = cls()
        if cls in (metrics.Mean, metrics.Sum):
            m.update_state(p[:, 0], sample_weight=w)
        elif name.startswith("Sparse"):
            m.update_state(labels, activations.softmax(p), sample_weight=w)
        else:
            m.update_state(y, p, sample_weight=w)
        assert all(v.device == meta for v in m.variables), name
        assert m.result().device == meta, name


# ----------------------------------------------------------------------------- lookup
@pytest.mark.parametrize(
    "loss,y_true,y_pred,expected",
    [
        ("binary_crossentropy", (8, 5), (8, 5), metrics.BinaryAccuracy),
        ("bce", None, None, metrics.BinaryAccuracy),
        (losses.BinaryCrossentropy(), None, None, metrics.BinaryAccuracy),
        ("sparse_categorical_crossentropy", None, None, metrics.SparseCategoricalAccuracy),
        (losses.SparseCategoricalCrossentropy(), (8, 5), (8, 5), metrics.SparseCategoricalAccuracy),
        ("categorical_crossentropy", (8,), (8, 5), metrics.CategoricalAccuracy),
        (losses.get("categorical_crossentropy"), None, None, metrics.CategoricalAccuracy),
        ("mse", (8, 1), (8, 1), metrics.BinaryAccuracy),
        (None, (8,), (8,), metrics.BinaryAccuracy),
        (None, (8,), (8, 5), metrics.SparseCategoricalAccuracy),
        (None, (8, 1), (8, 5), metrics.SparseCategoricalAccuracy),
        (None, (8, 5), (8, 5), metrics.CategoricalAccuracy),
        ("hinge", np.zeros((4, 3)), torch.zeros(4, 3), metrics.CategoricalAccuracy),
    ],
)
def test_accuracy_resolution(loss, y_true, y_pred, expected):
    for name in ("accuracy", "acc", "ACC"):
        m = metrics.get(name, loss=loss, y_true=y_true, y_pred=y_pred)
        assert type(m) is expected and m.name == name


def test_accuracy_after_logits_loss_uses_threshold_zero_and_crossentropy_alias():
    m = metrics.get("accuracy", loss=losses.BinaryCrossentropy(from_logits=True))
    assert type(m) is metrics.BinaryAccuracy and m.threshold == 0.0
    assert m(torch.tensor([[1.0], [0.0]]), torch.tensor([[0.3], [-0.2]])).item() == 1.0
    ce = metrics.get("ce", y_true=(8,), y_pred=(8, 4))
    assert type(ce) is metrics.SparseCategoricalCrossentropy and ce.name == "ce"
    ce = metrics.get("crossentropy", loss=losses.CategoricalCrossentropy(from_logits=True))
    assert type(ce) is metrics.CategoricalCrossentropy and ce.from_logits is True
    with pytest.raises(ValueError, match="ambiguous"):
        metrics.get("accuracy")


def test_get_keeps_the_users_name_and_wraps_callables():
    assert metrics.get("mse").name == "mse" and type(metrics.get("mse")) is metrics.MeanSquaredError
    assert type(metrics.get("auc")) is metrics.AUC and metrics.get("auc").name == "auc"
    named = [
        ("precision", metrics.Precision),
        ("recall", metrics.Recall),
        ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
        ("binary_accuracy", metrics.BinaryAccuracy),
        ("root_mean_squared_error", metrics.RootMeanSquaredError),
        ("mae", metrics.MeanAbsoluteError),
        ("map", metrics.MeanAveragePrecision),
    ]
    for name, cls in named:
        assert type(metrics.get(name)) is cls and metrics.get(name).name == name
    obj = metrics.AUC(curve="PR")
    assert metrics.get(obj) is obj and metrics.get(None) is None

    def doubled(y_true, y_pred):
        return 2 * (y_true - y_pred).abs().mean(-1)

    m = metrics.get(doubled)
    assert isinstance(m, metrics.MeanMetricWrapper) and m.name == "doubled"
    assert m(torch.zeros(2, 1), torch.ones(2, 1)).item() == 2.0
    with pytest.raises(TypeError, match="Could not interpret metric"):
        metrics.get(1.5)


def test_misspelled_metric_name_suggests_the_right_one():
    with pytest.raises(ValueError, match="Did you mean 'categorical_accuracy'"):
        metrics.get("categorical_acuracy")


def _example(name):
    cls = metrics._REGISTRY.lookup(name)
    if cls is metrics.MeanMetricWrapper:
        return cls(metrics.binary_accuracy, name="ba", threshold=0.7)
    return cls(name=f"my_{name.lower()}")


@pytest.mark.parametrize("name", metrics._REGISTRY.names())
def test_registry_round_trip(name):
    m = _example(name)
    back = metrics.deserialize(metrics.serialize(m))
    assert type(back) is type(m) and back.get_config() == m.get_config()
    assert back.name == m.name and repr(back) == repr(m)


def test_configs_keep_constructor_arguments():
    m = metrics.AUC(num_thresholds=50, curve="PR", multi_label=True, label_weights=[1.0, 2.0])
    back = metrics.deserialize(metrics.serialize(m))
    assert (back.num_thresholds, back.curve, back.label_weights) == (50, "PR", [1.0, 2.0])
    p = metrics.Precision(thresholds=[0.2, 0.4], top_k=2, class_id=1)
    assert metrics.deserialize(metrics.serialize(p)).get_config() == p.get_config()
    with pytest.raises(ValueError, match="not registered"):
        metrics.serialize(metrics.get(lambda y_true, y_pred: y_pred))


def test_result_before_the_first_update_and_after_reset():
    m = metrics.Precision(thresholds=[0.3, 0.6])
    assert m.result().tolist() == [0.0, 0.0] and m.variables == []
    m.update_state(torch.tensor([1, 0, 1]), torch.tensor([0.5, 0.4, 0.9]))
    assert m.result().tolist() == pytest.approx([2 / 3, 1.0])
    m.reset_state()
    assert m.result().tolist() == [0.0, 0.0] and len(m.variables) == 2


def test_loss_objects_as_metrics_average_per_sample():
    y = torch.tensor([[0.0], [0.0], [0.0]])
    m = metrics.get(losses.MeanAbsoluteError(name="l1"))
    m.update_state(y[:1], torch.tensor([[3.0]]))
    m.update_state(y[1:], torch.tensor([[0.0], [0.0]]))
    assert m.name == "l1" and m.result().item() == pytest.approx(1.0)  # not (3 + 0) / 2
    assert metrics.serialize(m)["config"]["fn"] == "mean_absolute_error"


def test_half_precision_predictions_give_finite_crossentropy():
    m = metrics.BinaryCrossentropy()
    m.update_state(torch.tensor([[0.0], [1.0]]), torch.tensor([[1.0], [0.0]]).half())
    assert torch.isfinite(m.result()) and m.result().dtype == torch.float32
