"""Hashing: bins from the stable MD5 hash (checked against hashlib), the same in every process,
masks, salts, integer inputs, output modes; CategoryEncoding against hand-computed arrays."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import check_layer

from lamina import layers
from lamina.layers.preprocessing import CategoryEncoding, Hashing

WORDS = ["A", "B", "C", "D", "E", "héllo", "naïve"]


def md5_bin(text: str, bins: int) -> int:
    return int.from_bytes(hashlib.md5(text.encode("utf-8")).digest(), "big") % bins


# ---------------------------------------------------------------------- Hashing
def test_bins_are_md5_of_the_text():
    out = Hashing(num_bins=7)(np.array(WORDS)[:, None])
    assert out.dtype == torch.int64 and out.shape == (len(WORDS), 1)
    assert out[:, 0].tolist() == [md5_bin(w, 7) for w in WORDS]


def test_mask_value_takes_bin_zero():
    out = Hashing(num_bins=5, mask_value="")(["A", "", "B"])
    assert out.tolist() == [md5_bin("A", 4) + 1, 0, md5_bin("B", 4) + 1]


def test_salt_changes_the_bins():
    plain = Hashing(num_bins=1000)(WORDS).tolist()
    salted = Hashing(num_bins=1000, salt=133)(WORDS).tolist()
    pair = Hashing(num_bins=1000, salt=[133, 7])(WORDS).tolist()
    assert salted == [md5_bin(f"133:133:{w}", 1000) for w in WORDS]
    assert pair == [md5_bin(f"133:7:{w}", 1000) for w in WORDS]
    assert salted != plain
    with pytest.raises(ValueError, match="salt must be an integer or a pair"):
        Hashing(num_bins=3, salt="x")


def test_integers_hash_as_decimal_text_and_floats_are_truncated():
    ints = Hashing(num_bins=11)(torch.tensor([[5, -12, 40000]]))
    assert ints.tolist() == [[md5_bin("5", 11), md5_bin("-12", 11), md5_bin("40000", 11)]]
    floats = Hashing(num_bins=11)(np.array([[5.7, -12.2]]))
    assert floats.tolist() == [[md5_bin("5", 11), md5_bin("-12", 11)]]
    masked = Hashing(num_bins=11, mask_value=0)(torch.tensor([0, 5]))
    assert masked.tolist() == [0, md5_bin("5", 10) + 1]


def test_bins_are_the_same_in_another_process():
    from lamina.layers.preprocessing import StringLookup

    code = (
        "from lamina.layers.preprocessing import Hashing, StringLookup;"
        f"print(Hashing(num_bins=97)({WORDS!r}).tolist());"
        f"print(StringLookup(vocabulary=['a'], num_oov_indices=5)({WORDS!r}).tolist())"
    )
    # A hash seed different from this process's: Python's hash() would change every bin.
    seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONHASHSEED=seed),
        check=True,
    )
    here = [
        str(Hashing(num_bins=97)(WORDS).tolist()),
        str(StringLookup(vocabulary=["a"], num_oov_indices=5)(WORDS).tolist()),
    ]
    assert done.stdout.splitlines() == here


@pytest.mark.parametrize(
    "mode, shape", [("one_hot", (3, 4)), ("multi_hot", (3, 4)), ("count", (3, 4))]
)
def test_hashing_output_modes(mode, shape):
    data = [["A"], ["B"], ["C"]] if mode == "one_hot" else [["A", "A"], ["B", "C"], ["D", "D"]]
    out = Hashing(num_bins=4, output_mode=mode)(data)
    assert tuple(out.shape) == shape and out.dtype == torch.float32
    ids = Hashing(num_bins=4)(data)
    expected = np.zeros(shape)
    for row, bins in enumerate(ids.tolist()):
        for b in bins:
            expected[row, b] += 1
    if mode != "count":
        expected = np.minimum(expected, 1)
    np.testing.assert_array_equal(out.numpy(), expected)


def test_hashing_symbolic_and_config():
    inp = layers.Input((3,), dtype="string")
    assert Hashing(num_bins=8)(inp).shape == (None, 3)
    assert Hashing(num_bins=8, output_mode="multi_hot")(inp).shape == (None, 8)
    layer = Hashing(num_bins=9, salt=(1, 2), mask_value="")
    clone = Hashing.from_config(layer.get_config())
    assert clone.salt == [1, 2]
    assert torch.equal(clone(WORDS + [""]), layer(WORDS + [""]))
    with pytest.raises(ValueError, match="num_bins must be a positive integer"):
        Hashing(num_bins=0)


# ---------------------------------------------------------------------- CategoryEncoding
def test_category_encoding_modes():
    one = CategoryEncoding(num_tokens=4, output_mode="one_hot")
    np.testing.assert_array_equal(one(torch.tensor([3, 2, 0, 1])).numpy(), np.eye(4)[[3, 2, 0, 1]])
    assert one(torch.tensor([[3], [1]])).shape == (2, 4)  # a last axis of 1 is replaced
    multi = CategoryEncoding(num_tokens=4)
    np.testing.assert_array_equal(
        multi(torch.tensor([[0, 1], [0, 0], [1, 2], [3, 1]])).numpy(),
        [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]],
    )
    count = CategoryEncoding(num_tokens=4, output_mode="count")
    weights = torch.tensor([[0.1, 0.2], [0.1, 0.1], [0.2, 0.3], [0.4, 0.2]])
    np.testing.assert_allclose(
        count(torch.tensor([[0, 1], [0, 0], [1, 2], [3, 1]]), count_weights=weights).numpy(),
        [[0.1, 0.2, 0, 0], [0.2, 0, 0, 0], [0, 0.2, 0.3, 0], [0, 0.2, 0, 0.4]],
        rtol=1e-6,
    )


def test_category_encoding_errors():
    layer = CategoryEncoding(num_tokens=3)
    with pytest.raises(ValueError, match=r"input value 3 is outside \[0, 3\)"):
        layer(torch.tensor([[0, 3]]))
    with pytest.raises(ValueError, match=r"input value -1 is outside"):
        layer(torch.tensor([[-1]]))
    with pytest.raises(ValueError, match="count_weights is only used with output_mode='count'"):
        layer(torch.tensor([[1]]), count_weights=torch.ones(1, 1))
    with pytest.raises(ValueError, match="needs num_tokens"):
        CategoryEncoding()


def test_category_encoding_check_layer():
    layer = check_layer(
        CategoryEncoding,
        {"num_tokens": 10, "output_mode": "count"},
        (4, 5),
        (4, 10),
        expected_num_params=0,
        input_dtype="int64",
    )
    assert layer.get_config()["num_tokens"] == 10
    check_layer(
        CategoryEncoding,
        {"num_tokens": 10, "output_mode": "one_hot"},
        (4, 5),
        (4, 5, 10),
        expected_num_params=0,
        input_dtype="int64",
    )
