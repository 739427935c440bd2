"""TextVectorization: vocabulary rules, output modes, tf-idf, n-grams, callables, padding,
OOV, adapt sources, config round trip, symbolic use and an end-to-end classifier."""

import copy
import math

import numpy as np
import pytest
import torch

import lamina
from lamina import layers
from lamina.engine import layer as engine_layer
from lamina.layers.preprocessing import TextVectorization

TEXTS = ["the cat sat on the mat", "The dog sat!", "a cat"]


# ---------------------------------------------------------------------- vocabulary
def test_vocabulary_order_frequency_then_token_descending():
    layer = TextVectorization()
    layer.adapt(TEXTS)
    # counts: the 3, cat 2, sat 2, on/mat/dog/a 1; ties: larger string first (Keras).
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "sat", "cat", "on", "mat", "dog", "a"]
    assert layer.get_vocabulary(include_special_tokens=False)[:3] == ["the", "sat", "cat"]
    assert layer.vocabulary_size() == 9


def test_max_tokens_counts_reserved_entries():
    layer = TextVectorization(max_tokens=5)
    layer.adapt(TEXTS)
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "sat", "cat"]
    hot = TextVectorization(max_tokens=5, output_mode="multi_hot")
    hot.adapt(TEXTS)
    # no padding index outside int mode: only '[UNK]' is reserved
    assert hot.get_vocabulary() == ["[UNK]", "the", "sat", "cat", "on"]


def test_keras_documented_examples():
    layer = TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    out = layer([["foo qux bar"], ["qux baz"]])
    assert out.dtype == torch.int64
    assert out.tolist() == [[4, 1, 3, 0], [1, 2, 0, 0]]
    given = TextVectorization(output_sequence_length=4, vocabulary=["earth", "wind", "and", "fire"])
    assert given.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]


def test_set_vocabulary_with_and_without_reserved_tokens():
    a = TextVectorization(vocabulary=["x", "y"])
    b = TextVectorization(vocabulary=["", "[UNK]", "x", "y"])
    assert a.get_vocabulary() == b.get_vocabulary() == ["", "[UNK]", "x", "y"]
    a.set_vocabulary(["z"])
    assert a(["z x"]).tolist() == [[2, 1]]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(vocabulary=["a", "b", "a"]), "repeats"),
        (dict(vocabulary=["a", "", "b"]), "reserved token ''"),
        (dict(vocabulary=["a", "b", "c"], max_tokens=3), "max_tokens is 3"),
        (dict(vocabulary=["a"], output_mode="tf_idf"), "idf_weights"),
        (dict(vocabulary=["a"], idf_weights=[1.0]), "only used with output_mode='tf_idf'"),
        (dict(vocabulary="vocab.txt"), "files are not read"),
        (dict(standardize="upper"), "unknown standardize='upper'"),
        (dict(split="comma"), "unknown split='comma'"),
        (dict(output_mode="one_hot"), "unknown output_mode='one_hot'"),
        (dict(ngrams=0), "ngrams must be"),
        (dict(output_mode="count", output_sequence_length=3), "only applies to output_mode"),
        (dict(output_sequence_length=0), "positive integer"),
        (dict(max_tokens=1), "greater than 1"),
        (dict(pad_to_max_tokens=True, output_mode="count"), "needs max_tokens"),
    ],
)
def test_bad_arguments_are_explained(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        TextVectorization(**kwargs)


# ---------------------------------------------------------------------- standardize / split
def test_standardize_and_split_options():
    text = ["Hello, World! Hi"]
    assert TextVectorization().tokenize(text) == [["hello", "world", "hi"]]
    assert TextVectorization(standardize="lower").tokenize(text) == [["hello,", "world!", "hi"]]
    assert TextVectorization(standardize="strip_punctuation").tokenize(text) == [
        ["Hello", "World", "Hi"]
    ]
    assert TextVectorization(standardize=None).tokenize(text) == [["Hello,", "World!", "Hi"]]
    assert TextVectorization(split="character").tokenize(["Ab c"]) == [["a", "b", " ", "c"]]
    assert TextVectorization(split=None).tokenize(["Ab c"]) == [["ab c"]]
    # whitespace split: runs of whitespace, tabs and newlines, ends stripped
    assert TextVectorization().tokenize(["  a \t b\nc  "]) == [["a", "b", "c"]]


def test_standardize_and_split_callables():
    layer = TextVectorization(standardize=lambda s: s.upper(), split=lambda s: s.split("-"))
    layer.adapt(["a-b-b", "c"])
    assert layer.get_vocabulary() == ["", "[UNK]", "B", "C", "A"]
    assert layer(["b-a-zz"]).tolist() == [[2, 4, 1]]
    with pytest.raises(TypeError, match="must return a str"):
        TextVectorization(standardize=lambda s: 3).tokenize(["x"])


def test_ngrams():
    layer = TextVectorization(ngrams=2)
    assert layer.tokenize(["a b c"]) == [["a", "b", "c", "a b", "b c"]]
    assert TextVectorization(ngrams=(2, 3)).tokenize(["a b c"]) == [["a b", "b c", "a b c"]]
    layer.adapt(["a b a b"])
    # counts: a 2, b 2, "a b" 2, "b a" 1 -> ties broken by the larger string first
    assert layer.get_vocabulary() == ["", "[UNK]", "b", "a b", "a", "b a"]
    assert layer(["b a b"]).tolist() == [[2, 4, 2, 5, 3]]


# ---------------------------------------------------------------------- int output
def test_sequence_length_padding_truncation_and_oov():
    layer = TextVectorization(vocabulary=["a", "b", "c"])
    out = layer(["a b c a", "b", "zz a", ""])
    assert out.tolist() == [[2, 3, 4, 2], [3, 0, 0, 0], [1, 2, 0, 0], [0, 0, 0, 0]]
    fixed = TextVectorization(vocabulary=["a", "b", "c"], output_sequence_length=3)
    assert fixed(["a b c a", "b"]).tolist() == [[2, 3, 4], [3, 0, 0]]  # keeps the first tokens


def test_input_shapes_and_types():
    layer = TextVectorization(vocabulary=["a", "b"])
    flat = layer(np.array(["a b", "b"]))
    column = layer(np.array([["a b"], ["b"]], dtype=object))
    assert torch.equal(flat, column)
    assert torch.equal(layer(("a b", b"b")), flat)  # tuples and bytes work too
    with pytest.raises(ValueError, match=r"shape \(batch,\) or \(batch, 1\)"):
        layer(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="expects strings"):
        layer(torch.zeros(2, 1))
    with pytest.raises(ValueError, match="has no vocabulary yet"):
        TextVectorization()(["a"])


def test_split_none_keeps_one_token_per_string():
    layer = TextVectorization(split=None, vocabulary=["new york", "paris"])
    assert layer(np.array([["New York"], ["Paris"], [""], ["Rome"]])).tolist() == [
        [2],
        [3],
        [0],
        [1],
    ]


# ---------------------------------------------------------------------- encoded outputs
def test_multi_hot_and_count():
    hot = TextVectorization(output_mode="multi_hot", vocabulary=["a", "b", "c"])
    count = TextVectorization(output_mode="count", vocabulary=["a", "b", "c"])
    texts = ["a a c zz", "", "b"]
    np.testing.assert_array_equal(hot(texts).numpy(), [[1, 1, 0, 1], [0, 0, 0, 0], [0, 0, 1, 0]])
    np.testing.assert_array_equal(count(texts).numpy(), [[1, 2, 0, 1], [0, 0, 0, 0], [0, 0, 1, 0]])
    assert hot(texts).dtype == torch.float32
    padded = TextVectorization(
        output_mode="count", vocabulary=["a"], max_tokens=6, pad_to_max_tokens=True
    )
    assert padded(["a a"]).tolist() == [[0.0, 2.0, 0.0, 0.0, 0.0, 0.0]]


def test_tf_idf_matches_formula():
    layer = TextVectorization(output_mode="tf_idf")
    layer.adapt(["a a b", "a c"])
    # df: a 2, b 1, c 1 over 2 documents; a appears 3 times -> first, then c > b (ties)
    assert layer.get_vocabulary() == ["[UNK]", "a", "c", "b"]
    idf_a, idf_bc = math.log(1 + 2 / 3), math.log(1 + 2 / 2)
    mean = (idf_a + 2 * idf_bc) / 3  # the OOV entry gets the mean weight
    np.testing.assert_allclose(layer.idf_weights, [mean, idf_a, idf_bc, idf_bc])
    out = layer(["a a z b"]).numpy()
    np.testing.assert_allclose(out, [[mean, 2 * idf_a, 0.0, idf_bc]], rtol=1e-6)
    given = TextVectorization(
        output_mode="tf_idf", vocabulary=["a", "c", "b"], idf_weights=[idf_a, idf_bc, idf_bc]
    )
    np.testing.assert_allclose(given(["a a z b"]).numpy(), out, rtol=1e-6)


def test_sparse_output_equals_dense():
    dense = TextVectorization(output_mode="count", vocabulary=["a", "b"])
    sparse = TextVectorization(output_mode="count", vocabulary=["a", "b"], sparse=True)
    out = sparse(["a b b", "q"])
    assert out.is_sparse
    assert torch.equal(out.to_dense(), dense(["a b b", "q"]))


# ---------------------------------------------------------------------- adapt sources
def test_adapt_from_batches_datasets_and_generators():
    reference = TextVectorization()
    reference.adapt(TEXTS)
    expected = reference.get_vocabulary()

    batched = TextVectorization()
    batched.adapt(np.array(TEXTS), batch_size=2)
    loader = TextVectorization()
    loader.adapt(torch.utils.data.DataLoader(TEXTS, batch_size=2))
    pairs = TextVectorization()
    pairs.adapt((TEXTS[i : i + 2], np.array([0, 1][: len(TEXTS[i : i + 2])])) for i in (0, 2))
    assert batched.get_vocabulary() == loader.get_vocabulary() == expected
    assert pairs.get_vocabulary() == expected

    first_only = TextVectorization()
    first_only.adapt(iter([["x x"], ["y"]]), steps=1)
    assert first_only.get_vocabulary() == ["", "[UNK]", "x"]
    with pytest.raises(ValueError, match="found no tokens"):
        TextVectorization().adapt(["", "  "])
    with pytest.raises(TypeError, match="expects strings"):
        TextVectorization().adapt(iter([np.zeros(3)]))


def test_adapt_again_replaces_the_vocabulary():
    layer = TextVectorization()
    layer.adapt(["a b"])
    layer.adapt(["c"])
    assert layer.get_vocabulary() == ["", "[UNK]", "c"]


# ---------------------------------------------------------------------- config and models
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(output_sequence_length=5, max_tokens=8),
        dict(output_mode="tf_idf", ngrams=(1, 2)),
        dict(output_mode="multi_hot", max_tokens=20, pad_to_max_tokens=True),
    ],
)
def test_config_round_trip_keeps_the_vocabulary(kwargs):
    layer = TextVectorization(**kwargs)
    layer.adapt(TEXTS)
    config = copy.deepcopy(layer.get_config())
    assert config["vocabulary"] == layer.get_vocabulary()
    clone = TextVectorization.from_config(config)
    probe = ["the cat and the dog sat", "nothing known"]
    assert clone.get_vocabulary() == layer.get_vocabulary()
    assert torch.equal(clone(probe), layer(probe))
    assert layers.deserialize(layers.serialize(layer)).get_vocabulary() == layer.get_vocabulary()


def test_config_with_a_lambda_needs_safe_mode_off():
    layer = TextVectorization(split=lambda s: s.split(","), standardize=None, vocabulary=["a", "b"])
    config = layer.get_config()
    assert config["split"]["class_name"] == "__lambda__"
    with pytest.raises(lamina.errors.LoadError, match="safe_mode=False"):
        TextVectorization.from_config(config)
    clone = TextVectorization.from_config(config, safe_mode=False)
    assert clone(["a,b,c"]).tolist() == [[2, 3, 1]]


def test_symbolic_shapes_and_dtypes():
    inp = layers.Input(shape=(1,), dtype="string")
    ids = TextVectorization(vocabulary=["a"], output_sequence_length=7)(inp)
    assert ids.shape == (None, 7) and ids.dtype == "int64"
    free = TextVectorization(vocabulary=["a"])(inp)
    assert free.shape == (None, None)
    hot = TextVectorization(vocabulary=["a", "b"], output_mode="multi_hot")(inp)
    assert hot.shape == (None, 3) and hot.dtype == "float32"
    padded = TextVectorization(max_tokens=50, output_mode="count", pad_to_max_tokens=True)(inp)
    assert padded.shape == (None, 50)
    with pytest.raises(ValueError, match=r"shape \(batch,\) or \(batch, 1\)"):
        TextVectorization(vocabulary=["a"])(layers.Input(shape=(2,), dtype="string"))


def test_layer_in_sequential_gets_a_string_input():
    model = lamina.Sequential(
        [TextVectorization(vocabulary=["a"], output_mode="count", input_shape=(1,))]
    )
    assert model.layers[0].count_params() == 0
    assert model.input_shape == (None, 1)
    assert model._input.dtype == "string"


# ---------------------------------------------------------------------- end to end
@pytest.fixture
def string_batches(monkeypatch):
    """The engine must hand NumPy string batches to the first layer unconverted. Until
    `lamina.engine.layer._to_tensor` leaves string arrays alone, this test patches it."""
    try:
        engine_layer._to_tensor(np.array(["x"], dtype=object))
    except TypeError:
        original = engine_layer._to_tensor
        monkeypatch.setattr(
            engine_layer,
            "_to_tensor",
            lambda x: x if isinstance(x, np.ndarray) and x.dtype.kind in "OUS" else original(x),
        )


def _sentiment(n, rng):
    good, bad = ["good", "great", "fine"], ["bad", "awful", "poor"]
    filler = [f"w{i}" for i in range(20)]
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(filler, 5)) + [str(rng.choice(good if label else bad))]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return np.array(texts, dtype=object)[:, None], np.array(labels, dtype=np.float32)


@pytest.mark.slow
def test_text_classifier_fits_on_string_arrays(string_batches):
    rng = np.random.default_rng(0)
    x, y = _sentiment(400, rng)
    x_test, y_test = _sentiment(200, rng)
    vectorize = TextVectorization(max_tokens=40, output_mode="multi_hot")
    vectorize.adapt(x)  # training texts only
    model = lamina.Sequential(
        [layers.Input((1,), dtype="string"), vectorize, layers.Dense(1, activation="sigmoid")]
    )
    model.compile(
        optimizer=lamina.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"]
    )
    model.fit(x, y, epochs=8, batch_size=64, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.95
    probs = model.predict(x_test[:4], verbose=0)
    assert probs.shape == (4, 1)


@pytest.mark.slow
def test_text_to_embedding_model(string_batches):
    if not hasattr(layers, "Embedding"):
        pytest.skip("lamina.layers.Embedding is not available yet")
    rng = np.random.default_rng(1)
    x, y = _sentiment(400, rng)
    vectorize = TextVectorization(max_tokens=40, output_sequence_length=6)
    vectorize.adapt(x)
    inp = layers.Input((1,), dtype="string")
    h = layers.Embedding(40, 8)(vectorize(inp))
    out = layers.Dense(1, activation="sigmoid")(layers.Flatten()(h))
    model = lamina.Model(inp, out)
    model.compile(
        optimizer=lamina.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"]
    )
    model.fit(x, y, epochs=10, batch_size=64, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] >= 0.9


def test_outputs_follow_the_layer_device():
    """Ids are created on the device of the layer's buffers (here the 'meta' device stands in
    for a GPU), so `model.to(device)` is enough for string inputs."""
    for layer in [
        TextVectorization(vocabulary=["a"]),
        TextVectorization(vocabulary=["a"], output_mode="tf_idf", idf_weights=[1.0]),
    ]:
        layer.to("meta")
        assert layer(["a b"]).device.type == "meta"
    assert "_anchor" not in TextVectorization(vocabulary=["a"]).state_dict()
