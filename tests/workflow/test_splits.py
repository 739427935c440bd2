import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.datasets import load_breast_cancer

from lamina.workflow import holdout_split, iterated_k_fold, k_fold, time_series_split


def _partition(tr, va, n):
    assert np.intersect1d(tr, va).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va])), np.arange(n))


def test_holdout_sizes_disjoint_and_seeded():
    tr, va = holdout_split(100, 0.25, seed=3)
    assert (len(tr), len(va)) == (75, 25)
    _partition(tr, va, 100)
    tr2, va2 = holdout_split(100, 0.25, seed=3)
    np.testing.assert_array_equal(va, va2)
    _, va3 = holdout_split(100, 0.25, seed=4)
    assert not np.array_equal(va, va3)
    # Shuffled: the validation samples are not simply the last quarter.
    assert not np.array_equal(va, np.arange(75, 100))


def test_holdout_integer_count_and_length_of_data():
    tr, va = holdout_split(np.zeros((10, 3)), 4, seed=0)
    assert (len(tr), len(va)) == (6, 4)


def test_holdout_time_ordered_keeps_the_last_samples_for_validation():
    tr, va = holdout_split(10, 0.3, time_ordered=True)
    assert tr.tolist() == list(range(7)) and va.tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match="look ahead"):
        holdout_split(10, 0.3, shuffle=True, time_ordered=True)


def test_holdout_stratified_keeps_class_shares():
    _, y = load_breast_cancer(return_X_y=True)
    tr, va = holdout_split(len(y), 0.2, seed=0, stratify=y)
    _partition(tr, va, len(y))
    assert abs(y[tr].mean() - y.mean()) < 0.01 and abs(y[va].mean() - y.mean()) < 0.01


@pytest.mark.parametrize("split", [0.0, 1.0, -0.2, 0.001, 100])
def test_holdout_rejects_splits_that_leave_a_part_empty(split):
    with pytest.raises(ValueError, match="validation"):
        holdout_split(100, split)


def test_k_fold_validates_each_sample_once():
    folds = list(k_fold(10, k=4, seed=0))
    assert len(folds) == 4
    seen = np.concatenate([va for _, va in folds])
    np.testing.assert_array_equal(np.sort(seen), np.arange(10))
    for tr, va in folds:
        _partition(tr, va, 10)
    unshuffled = [va.tolist() for _, va in k_fold(8, k=4, shuffle=False)]
    assert unshuffled == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_k_fold_stratified_and_errors():
    _, y = load_breast_cancer(return_X_y=True)
    for _, va in k_fold(len(y), k=5, seed=1, stratify=y):
        assert abs(y[va].mean() - y.mean()) < 0.02
    with pytest.raises(ValueError, match="at least 2 folds"):
        list(k_fold(10, k=1))
    with pytest.raises(ValueError, match="need at least 5 samples"):
        list(k_fold(3, k=5))


def test_iterated_k_fold_reshuffles_each_round():
    folds = list(iterated_k_fold(12, k=3, repeats=2, seed=0))
    assert len(folds) == 6
    for r in range(2):
        vals = np.concatenate([va for _, va in folds[3 * r : 3 * r + 3]])
        np.testing.assert_array_equal(np.sort(vals), np.arange(12))
    first = {tuple(va) for _, va in folds[:3]}
    second = {tuple(va) for _, va in folds[3:]}
    assert first != second
    with pytest.raises(ValueError, match="repeats"):
        list(iterated_k_fold(12, k=3, repeats=0))


def test_time_series_split_known_answer():
    pairs = [(tr.tolist(), te.tolist()) for tr, te in time_series_split(10, n_splits=3)]
    assert pairs == [
        ([0, 1, 2, 3], [4, 5]),
        ([0, 1, 2, 3, 4, 5], [6, 7]),
        ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9]),
    ]


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(8, 300),
    n_splits=st.integers(2, 6),
    gap=st.integers(0, 5),
    window=st.one_of(st.none(), st.integers(1, 50)),
)
def test_time_series_split_never_looks_ahead(n, n_splits, gap, window):
    try:
        pairs = list(time_series_split(n, n_splits=n_splits, gap=gap, max_train_size=window))
    except ValueError as e:
        assert "too few" in str(e)
        return
    assert len(pairs) == n_splits
    for tr, te in pairs:
        assert len(tr) and len(te)
        assert tr.max() + gap < te.min()  # every test sample is later, beyond the gap
        np.testing.assert_array_equal(te, np.arange(te.min(), te.max() + 1))
        if window is not None:
            assert len(tr) <= window


def test_time_series_split_too_few_samples():
    with pytest.raises(ValueError, match="too few"):
        list(time_series_split(5, n_splits=5))
    with pytest.raises(ValueError, match="at least 2"):
        list(time_series_split(50, n_splits=1))
