"""StringLookup / IntegerLookup: Keras's index layout, adapt order, OOV buckets, masks, invert
round trips, output modes against hand-computed arrays, and config round trips."""

import copy
import hashlib
import math

import numpy as np
import pytest
import torch

from lamina import layers
from lamina.layers.preprocessing import IntegerLookup, StringLookup


def md5_int(text: str) -> int:
    return int.from_bytes(hashlib.md5(text.encode("utf-8")).digest(), "big")


# ---------------------------------------------------------------------- StringLookup
def test_adapt_orders_by_count_then_token_descending():
    layer = StringLookup()
    layer.adapt(np.array([["b", "a"], ["c", "b"], ["d", "a"], ["b", "e"]]))
    # b 3, a 2, then c/d/e once each -> e, d, c
    assert layer.get_vocabulary() == ["[UNK]", "b", "a", "e", "d", "c"]
    capped = StringLookup(max_tokens=3, mask_token="")
    capped.adapt(["b", "a", "b", "", "", ""])  # the mask token is never counted
    assert capped.get_vocabulary() == ["", "[UNK]", "b"]


def test_int_lookup_with_mask_and_oov():
    layer = StringLookup(vocabulary=["a", "b"], mask_token="")
    assert layer.get_vocabulary() == ["", "[UNK]", "a", "b"]
    out = layer([["a", "", "zz"], ["b", "b", "a"]])
    assert out.dtype == torch.int64
    assert out.tolist() == [[2, 0, 1], [3, 3, 2]]


def test_several_oov_indices_use_the_stable_hash():
    layer = StringLookup(vocabulary=["a"], num_oov_indices=3)
    unknown = ["q", "rr", "s", "tt", "uvw"]
    assert layer.get_vocabulary() == ["[UNK]", "[UNK]", "[UNK]", "a"]
    assert layer(unknown).tolist() == [md5_int(w) % 3 for w in unknown]
    assert layer(["a"]).tolist() == [3]


def test_no_oov_indices_rejects_unknown_tokens():
    layer = StringLookup(vocabulary=["a", "b"], num_oov_indices=0)
    assert layer(["b", "a"]).tolist() == [1, 0]
    with pytest.raises(ValueError, match=r"num_oov_indices=0 .* found \['zz'\]"):
        layer(["a", "zz"])


def test_invert_round_trip():
    forward = StringLookup(vocabulary=["x", "y", "z"], mask_token="")
    inverse = StringLookup(vocabulary=["x", "y", "z"], mask_token="", invert=True)
    words = np.array([["z", "x", ""], ["y", "y", "x"]], dtype=object)
    back = inverse(forward(words))
    assert isinstance(back, np.ndarray) and back.tolist() == words.tolist()
    # OOV and out-of-range indices give the OOV token; the mask index gives the mask token
    assert inverse(torch.tensor([0, 1, 99, -3])).tolist() == ["", "[UNK]", "[UNK]", "[UNK]"]
    inp = layers.Input((3,), dtype="int64")
    assert inverse(inp).dtype == "string"


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("one_hot", [[0, 1, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]]),
        ("multi_hot", [[1, 1, 0, 1]]),
        ("count", [[1, 1, 0, 2]]),
    ],
)
def test_encoded_output_modes(mode, expected):
    layer = StringLookup(vocabulary=["a", "b", "c"], output_mode=mode)
    data = [["a"], ["c"], ["?"]] if mode == "one_hot" else [["a", "c", "?", "c"]]
    out = layer(data)
    assert out.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), expected)


def test_mask_token_is_dropped_outside_int_mode():
    layer = StringLookup(vocabulary=["a", "b"], mask_token="", output_mode="count")
    assert layer.get_vocabulary() == ["[UNK]", "a", "b"]  # no mask index in count mode
    np.testing.assert_array_equal(layer([["a", "", "", "b", "q"]]).numpy(), [[1, 1, 1]])


def test_tf_idf_weights_and_padding():
    layer = StringLookup(output_mode="tf_idf", max_tokens=6, pad_to_max_tokens=True)
    layer.adapt([["a", "a", "b"], ["a", "c"], ["c"]])
    # counts a 3, c 2, b 1; df a 2, c 2, b 1 over 3 documents
    assert layer.get_vocabulary() == ["[UNK]", "a", "c", "b"]
    idf_a = idf_c = math.log(1 + 3 / 3)
    idf_b = math.log(1 + 3 / 2)
    mean = (idf_a + idf_c + idf_b) / 3
    out = layer([["a", "b", "b", "zz"]]).numpy()
    np.testing.assert_allclose(out, [[mean, idf_a, 0, 2 * idf_b, 0, 0]], rtol=1e-6)


def test_vocabulary_errors():
    with pytest.raises(ValueError, match="repeats"):
        StringLookup(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="reserved token '\\[UNK\\]'"):
        StringLookup(vocabulary=["a", "[UNK]"], invert=True)
    with pytest.raises(ValueError, match="invert=True needs output_mode='int'"):
        StringLookup(invert=True, output_mode="count")
    with pytest.raises(ValueError, match="has no vocabulary yet"):
        StringLookup()(["a"])
    with pytest.raises(TypeError, match="expects strings"):
        StringLookup(vocabulary=["a"])(torch.tensor([1]))
    with pytest.raises(ValueError, match="max_tokens must be greater than 1"):
        StringLookup(max_tokens=1)


@pytest.mark.parametrize(
    "kwargs",
    [dict(mask_token=""), dict(output_mode="tf_idf"), dict(num_oov_indices=2, output_mode="count")],
)
def test_string_lookup_config_round_trip(kwargs):
    layer = StringLookup(**kwargs)
    layer.adapt([["a", "b", "b"], ["c", "a", "b"]])
    clone = StringLookup.from_config(copy.deepcopy(layer.get_config()))
    probe = [["a", "zz", "c"], ["b", "yy", "b"]]
    assert clone.get_vocabulary() == layer.get_vocabulary()
    assert torch.equal(clone(probe), layer(probe))


def test_string_lookup_symbolic_shapes():
    inp = layers.Input((4,), dtype="string")
    assert StringLookup(vocabulary=["a"])(inp).shape == (None, 4)
    assert StringLookup(vocabulary=["a", "b"], output_mode="multi_hot")(inp).shape == (None, 3)
    one = layers.Input((1,), dtype="string")
    assert StringLookup(vocabulary=["a"], output_mode="one_hot")(one).shape == (None, 2)


# ---------------------------------------------------------------------- IntegerLookup
def test_integer_lookup_adapt_and_lookup():
    layer = IntegerLookup()
    layer.adapt(np.array([12, 36, 36, 1138, 1138, 7]))
    # 36 and 1138 twice (the larger first), then 12 / 7 once (the larger first)
    assert layer.get_vocabulary() == [-1, 1138, 36, 12, 7]
    out = layer(torch.tensor([[12, 1138, 42]]))
    assert out.dtype == torch.int64 and out.tolist() == [[3, 1, 0]]
    assert layer(np.array([[7]])).tolist() == [[4]]


def test_integer_lookup_floormod_oov_and_mask():
    layer = IntegerLookup(vocabulary=[10, 20], num_oov_indices=2, mask_token=0)
    assert layer.get_vocabulary() == [0, -1, -1, 10, 20]
    # unknown v -> 1 + (v mod 2); the mask value -> 0
    assert layer(torch.tensor([7, 8, -3, 0, 20])).tolist() == [2, 1, 2, 0, 4]


def test_integer_lookup_invert_round_trip_and_dtype():
    forward = IntegerLookup(vocabulary=[5, 9, 3])
    inverse = IntegerLookup(vocabulary=[5, 9, 3], invert=True, vocabulary_dtype="int32")
    ids = torch.tensor([[3, 5], [9, 9]])
    back = inverse(forward(ids))
    assert back.dtype == torch.int32 and back.tolist() == ids.tolist()
    assert inverse(torch.tensor([0, 42])).tolist() == [-1, -1]


def test_integer_lookup_output_modes_and_errors():
    layer = IntegerLookup(vocabulary=[4, 8], output_mode="multi_hot")
    np.testing.assert_array_equal(layer(torch.tensor([[8, 8, 1]])).numpy(), [[1, 0, 1]])
    with pytest.raises(TypeError, match="expects integers"):
        IntegerLookup(vocabulary=[1])(["a"])
    with pytest.raises(ValueError, match="mask_token must be an integer"):
        IntegerLookup(mask_token="")


def test_integer_lookup_config_round_trip():
    layer = IntegerLookup(output_mode="count", max_tokens=4)
    layer.adapt(torch.tensor([[3, 3, 4], [5, 6, 3]]))
    config = copy.deepcopy(layer.get_config())
    assert config["vocabulary"] == [-1, 3, 6, 5]
    clone = layers.deserialize({"class_name": "IntegerLookup", "config": config})
    probe = torch.tensor([[3, 5, 9, 9]])
    assert torch.equal(clone(probe), layer(probe))
