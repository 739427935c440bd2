import random

import numpy as np
import pytest

from lamina.preprocessing.sequence import make_sampling_table, skipgrams


def test_positive_pairs_within_window_skip_padding():
    couples, labels = skipgrams([1, 2, 0, 3], 4, window_size=1, negative_samples=0, shuffle=False)
    assert couples == [[1, 2], [2, 1]]  # index 0 is neither a word nor a context
    assert labels == [1, 1]
    couples, _ = skipgrams([1, 2, 3], 4, window_size=2, negative_samples=0, shuffle=False)
    assert couples == [[1, 2], [1, 3], [2, 1], [2, 3], [3, 1], [3, 2]]


def test_negatives_shuffle_and_seed():
    seq = list(range(1, 11))
    state = random.getstate()
    couples, labels = skipgrams(seq, 50, window_size=2, negative_samples=2.0, seed=7)
    assert random.getstate() == state  # the global generator is untouched
    positives = sum(labels)
    assert positives == 34 and labels.count(0) == 68
    for (w, c), y in zip(couples, labels):
        assert 1 <= c <= 49
        if y == 1:
            assert abs(seq.index(w) - seq.index(c)) <= 2
    assert skipgrams(seq, 50, seed=7) == skipgrams(seq, 50, seed=7)
    _, cat = skipgrams(seq, 50, window_size=1, categorical=True, seed=1)
    assert sorted(map(tuple, cat))[0] == (0, 1) and [1, 0] in cat


def test_sampling_table_formula_and_use():
    table = make_sampling_table(6, sampling_factor=1e-3)
    rank = np.array([1, 1, 2, 3, 4, 5], dtype=float)
    f = 1e-3 * (rank * (np.log(rank) + 0.577) + 0.5 - 1 / (12 * rank))
    np.testing.assert_allclose(table, np.minimum(1, np.sqrt(f)))
    couples, _ = skipgrams([1, 2, 1, 2], 3, sampling_table=np.zeros(3), negative_samples=0)
    assert couples == []
    with pytest.raises(ValueError, match="size must be >= 1"):
        make_sampling_table(0)
