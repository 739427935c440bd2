import time

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits

from lamina import Sequential, layers
from lamina.errors import LaminaWarning
from lamina.workflow import LeakageError, check_splits, count_shared_samples


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x.astype(np.float32), y


def test_planted_duplicates_are_counted(digits):
    x, _ = digits
    train, val = x[:1200], x[1200:1500].copy()
    planted = [3, 50, 77, 150, 299]
    val[planted] = train[[10, 20, 30, 40, 50]]
    assert count_shared_samples(train, val) == 5
    assert count_shared_samples(torch.from_numpy(train), torch.from_numpy(val)) == 5
    # A sample counts as shared only when all of its inputs are.
    other = np.arange(1, len(val) + 1, dtype=np.float32)[:, None]
    other[50] = 0.0
    assert count_shared_samples([train, np.zeros((1200, 1), np.float32)], [val, other]) == 1
    assert count_shared_samples({"a": train}, {"a": val}) == 5
    assert count_shared_samples(train, x[1500:]) == 0


def test_repeated_validation_copies_each_count():
    assert count_shared_samples(np.eye(3), np.eye(3)[[0, 0, 0, 1]]) == 4


def test_hash_collisions_are_resolved_by_comparing_bytes():
    # Rows that differ only in sign bits collide under the linear row hash; they are not equal.
    a = np.array([[1.0, 2.0]])
    b = np.array([[-1.0, -2.0]])
    assert count_shared_samples(a, b) == 0
    assert count_shared_samples(a, np.vstack([b, a])) == 1


def test_text_samples():
    train = np.array(["a good film", "dull", "great"], dtype=object)
    val = np.array(["great", "not bad"], dtype=object)
    assert count_shared_samples(train, val) == 1


def test_mnist_sized_data_is_fast():
    rng = np.random.default_rng(0)
    train = torch.from_numpy(rng.random((60000, 784), dtype=np.float32))
    val = torch.cat([torch.from_numpy(rng.random((9000, 784), dtype=np.float32)), train[:1000]])
    start = time.perf_counter()
    assert count_shared_samples(train, val) == 1000
    assert time.perf_counter() - start < 1.5


def test_fit_warns_when_validation_data_repeats_training_samples(digits):
    x, y = digits
    model = Sequential([layers.Dense(10, activation="softmax", input_shape=(64,))])
    model.compile("rmsprop", "sparse_categorical_crossentropy")
    val_x = np.concatenate([x[:3], x[500:517]])
    with pytest.warns(LaminaWarning, match="3 of 20 validation samples"):
        model.fit(x[:400], y[:400], validation_data=(val_x, y[:20]), epochs=1, verbose=0)


def test_check_splits_reports_duplicates_across_all_pairs(digits):
    x, y = digits
    train, val, test = x[:1000], x[1000:1400].copy(), x[1400:].copy()
    val[:4] = train[:4]
    test[:2] = val[100:102]
    test[5] = train[7]
    report = check_splits(train, val, test)
    assert report.sizes == {"train": 1000, "val": 400, "test": 397}
    assert report.shared == {"train/val": 4, "train/test": 1, "val/test": 2}
    assert report.shared_index["train/test"].tolist() == [5]
    assert report.shared_index["val/test"].tolist() == [0, 1]
    assert not report.ok and len(report.issues) == 3
    text = str(report)
    assert "val samples also in train: 4" in text and "Issues" in text
    with pytest.raises(LeakageError, match="4 of 400 val samples also appear in train"):
        report.raise_for_issues()
    with pytest.raises(LeakageError):
        check_splits(train, val, strict=True)


def test_check_splits_clean_data_is_ok(digits):
    x, y = digits
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    tr, va = order[:1400], order[1400:]
    report = check_splits(x[tr], x[va], labels=[y[tr], y[va]])
    assert report.ok, report.issues
    assert set(report.class_balance) == {"train", "val"}
    np.testing.assert_allclose(report.class_balance["val"][3], np.mean(y[va] == 3))
    assert "OK: no leakage found." in str(report)


def test_check_splits_compares_values_across_dtypes():
    a = np.arange(12, dtype=np.float64).reshape(6, 2)
    b = a[:2].astype(np.float32)
    assert check_splits(a, b).shared["train/val"] == 2


def test_internal_duplicates_are_reported():
    x = np.array([[1, 2], [1, 2], [3, 4]])
    assert check_splits(x).internal_duplicates == {"train": 1}


def test_time_order_violations_with_datetimes():
    t = np.arange("2024-01-01", "2024-01-11", dtype="datetime64[D]")
    x = np.arange(10.0)[:, None]
    ok = check_splits(x[:6], x[6:8], x[8:], timestamps=[t[:6], t[6:8], t[8:]])
    assert ok.time_violations == {"train/val": 0, "train/test": 0, "val/test": 0} and ok.ok
    shuffled = np.array([0, 7, 2, 3, 4, 5])
    bad = check_splits(x[shuffled], x[[6, 1]], timestamps={"train": t[shuffled], "val": t[[6, 1]]})
    assert bad.time_violations == {"train/val": 2}
    assert "not later than the latest train sample" in bad.issues[0]
    with pytest.raises(ValueError, match="timestamps for val has 1 entries for 2 samples"):
        check_splits(x[:2], x[2:4], timestamps=[t[:2], t[:1]])


def test_class_balance_flags_a_sorted_split():
    x, y = load_breast_cancer(return_X_y=True)
    order = np.argsort(y, kind="stable")
    x, y = x[order], y[order]
    report = check_splits(x[:450], x[450:], labels=[y[:450], y[450:]])
    assert any("class 0 is missing from val" in issue for issue in report.issues)
    # One-hot labels give the same shares.
    onehot = np.eye(2)[y]
    report2 = check_splits(x[:450], x[450:], labels=[onehot[:450], onehot[450:]])
    assert report2.class_balance == report.class_balance


def test_multilabel_and_continuous_targets():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    multi = (rng.random((200, 4)) < 0.3).astype(int)
    multi[0, :] = 1
    report = check_splits(x[:150], x[150:], labels=[multi[:150], multi[150:]])
    assert set(report.class_balance["train"]) == {"label 0", "label 1", "label 2", "label 3"}
    np.testing.assert_allclose(report.class_balance["val"]["label 2"], multi[150:, 2].mean())
    yr = rng.normal(size=200)
    cont = check_splits(x[:150], x[150:], labels=[yr[:150], yr[150:]])
    np.testing.assert_allclose(cont.class_balance["val"]["mean"], yr[150:].mean())


def test_bad_arguments():
    with pytest.raises(ValueError, match="one entry per split"):
        check_splits(np.zeros((2, 1)), np.ones((2, 1)), labels=[np.zeros(2)])
    with pytest.raises(ValueError, match="different shapes"):
        check_splits(np.zeros((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="labels for val has 1 entries"):
        check_splits(np.zeros((2, 1)), np.ones((2, 1)), labels=[np.zeros(2), np.zeros(1)])
