import numpy as np
import pytest

from lamina.preprocessing.sequence import pad_sequences as classic_pad_sequences
from lamina.utils.sequence import pad_sequences

SEQS = [[1, 2, 3, 4], [5], [6, 7]]

# maxlen=3: truncating decides which end of [1, 2, 3, 4] goes, padding where the zeros go
EXPECTED = {
    ("pre", "pre"): [[2, 3, 4], [0, 0, 5], [0, 6, 7]],
    ("pre", "post"): [[1, 2, 3], [0, 0, 5], [0, 6, 7]],
    ("post", "pre"): [[2, 3, 4], [5, 0, 0], [6, 7, 0]],
    ("post", "post"): [[1, 2, 3], [5, 0, 0], [6, 7, 0]],
}


@pytest.mark.parametrize("padding,truncating", list(EXPECTED))
def test_padding_and_truncating(padding, truncating):
    out = pad_sequences(SEQS, maxlen=3, padding=padding, truncating=truncating)
    np.testing.assert_array_equal(out, EXPECTED[padding, truncating])
    assert out.dtype == np.int32
    assert classic_pad_sequences is pad_sequences


@pytest.mark.parametrize("padding", ["pre", "post"])
def test_default_maxlen_is_longest(padding):
    out = pad_sequences(SEQS, padding=padding)
    assert out.shape == (3, 4)
    expected = [[1, 2, 3, 4], [0, 0, 0, 5], [0, 0, 6, 7]]
    if padding == "post":
        expected = [[1, 2, 3, 4], [5, 0, 0, 0], [6, 7, 0, 0]]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("truncating", ["pre", "post"])
def test_longer_maxlen_never_truncates(truncating):
    out = pad_sequences(SEQS, maxlen=6, truncating=truncating)
    np.testing.assert_array_equal(out[0], [0, 0, 1, 2, 3, 4])


def test_value_and_float_dtypes():
    out = pad_sequences(SEQS, maxlen=3, value=-1)
    np.testing.assert_array_equal(out[1], [-1, -1, 5])
    out = pad_sequences([[0.5, 1.5], [2.5]], dtype="float32", value=np.nan, padding="post")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0], [0.5, 1.5])
    assert out[1, 0] == 2.5 and np.isnan(out[1, 1])
    # an int dtype truncates float steps, as NumPy (and Keras) do
    np.testing.assert_array_equal(pad_sequences([[1.7, 2.2]]), [[1, 2]])
    assert pad_sequences(SEQS, dtype="int64").dtype == np.int64


def test_empty_sequences_become_padding_rows():
    out = pad_sequences([[], [1, 2], []], maxlen=3, value=9)
    np.testing.assert_array_equal(out, [[9, 9, 9], [9, 1, 2], [9, 9, 9]])
    assert pad_sequences([[], []]).shape == (2, 0)
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([], maxlen=4).shape == (0, 4)


def test_maxlen_zero():
    out = pad_sequences(SEQS, maxlen=0)
    assert out.shape == (3, 0)


def test_numpy_and_tuple_inputs():
    arr = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(pad_sequences(arr, maxlen=2), [[1, 2], [4, 5]])
    np.testing.assert_array_equal(pad_sequences(((1,), (2, 3))), [[0, 1], [2, 3]])
    np.testing.assert_array_equal(pad_sequences([np.array([4, 5])], maxlen=3), [[0, 4, 5]])


def test_sequences_of_vectors_keep_the_step_shape():
    seqs = [np.ones((2, 3)), np.full((1, 3), 2.0)]
    out = pad_sequences(seqs, dtype="float32", padding="post")
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[1], [[2, 2, 2], [0, 0, 0]])
    with pytest.raises(ValueError, match=r"position 1 have shape \(4,\), expected \(3,\)"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 4))])


def test_strings_with_object_or_str_dtype():
    seqs = [["a", "bb"], ["ccc"]]
    out = pad_sequences(seqs, dtype=object, value="<pad>")
    assert out.dtype == object
    assert out.tolist() == [["a", "bb"], ["<pad>", "ccc"]]
    out = pad_sequences(seqs, dtype="<U5", value="", padding="post")
    assert out.tolist() == [["a", "bb"], ["ccc", ""]]
    with pytest.raises(
        ValueError, match="dtype 'int32' cannot hold the string value '<pad>'; use dtype=object"
    ):
        pad_sequences(seqs, value="<pad>")
    with pytest.raises(ValueError, match="position 0 cannot be converted to 'int32'.*dtype=object"):
        pad_sequences(seqs)


def test_ragged_and_wrong_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="found the non-sequence 1 at position 0"):
        pad_sequences([1, 2, 3])
    with pytest.raises(TypeError, match=r"position 0 is a string \('hello world'\)"):
        pad_sequences(["hello world"])
    with pytest.raises(ValueError, match="wrap a generator in list"):
        pad_sequences(x for x in SEQS)
    with pytest.raises(ValueError, match="steps of the sequence at position 0 have different"):
        pad_sequences([[[1, 2], [3]]])
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post', got 'left'"):
        pad_sequences(SEQS, padding="left")
    with pytest.raises(ValueError, match="truncating must be 'pre' or 'post', got 'end'"):
        pad_sequences(SEQS, truncating="end")
    with pytest.raises(ValueError, match="maxlen must be a non-negative int"):
        pad_sequences(SEQS, maxlen=-1)
