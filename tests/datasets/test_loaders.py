"""Each loader against a small file in its real format, served by the local origin server."""

import gzip
import io
import json
import pickle
import struct
import tarfile
import zipfile

import numpy as np
import pytest

from lamina.datasets import (
    DownloadError,
    boston_housing,
    cifar10,
    fashion_mnist,
    imdb,
    jena_climate,
    mnist,
    reuters,
)


def _npz(**arrays):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _ragged(*sequences):
    out = np.empty(len(sequences), dtype=object)
    for i, s in enumerate(sequences):
        out[i] = list(s)
    return out


def _shuffled(n, seed=113, rng=None):
    """The permutation Keras applies: ``RandomState(seed).shuffle(arange(n))``."""
    rng = rng or np.random.RandomState(seed)
    order = np.arange(n)
    rng.shuffle(order)
    return order


# ----------------------------------------------------------------------------- images


def test_mnist_reads_the_four_arrays_and_caches(serve, server):
    rng = np.random.RandomState(1)
    x_train, x_test = rng.randint(0, 256, (5, 28, 28)), rng.randint(0, 256, (3, 28, 28))
    arrays = dict(
        x_train=x_train.astype(np.uint8),
        y_train=np.array([5, 0, 4, 1, 9], np.uint8),
        x_test=x_test.astype(np.uint8),
        y_test=np.array([7, 2, 1], np.uint8),
    )
    serve(mnist, "mnist.npz", _npz(**arrays))
    (xa, ya), (xb, yb) = mnist.load_data()
    for got, key in ((xa, "x_train"), (ya, "y_train"), (xb, "x_test"), (yb, "y_test")):
        assert got.dtype == np.uint8 and np.array_equal(got, arrays[key])
    mnist.load_data()
    assert server.count("mnist.npz") == 1


def _idx(array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_parses_idx_files_into_its_own_subfolder(serve, cache):
    images = np.arange(4 * 28 * 28).reshape(4, 28, 28) % 256
    labels = np.array([9, 0, 0, 3])
    for prefix, n in (("train", 4), ("t10k", 2)):
        serve(fashion_mnist, f"{prefix}-images-idx3-ubyte.gz", _idx(images[:n], 2051))
        serve(fashion_mnist, f"{prefix}-labels-idx1-ubyte.gz", _idx(labels[:n], 2049))
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (4, 28, 28) and x_train.dtype == np.uint8
    assert np.array_equal(x_train, images) and y_train.tolist() == [9, 0, 0, 3]
    assert x_test.shape == (2, 28, 28) and y_test.tolist() == [9, 0]
    assert (cache / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_fashion_mnist_refuses_a_file_with_the_wrong_magic(serve):
    images = _idx(np.zeros((1, 28, 28)), 2051)
    for prefix in ("train", "t10k"):
        serve(fashion_mnist, f"{prefix}-images-idx3-ubyte.gz", images)
        serve(fashion_mnist, f"{prefix}-labels-idx1-ubyte.gz", images)  # images, not labels
    with pytest.raises(ValueError, match="not an IDX file"):
        fashion_mnist.load_data()


class _Py2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 byte strings, as the real CIFAR-10 batches were."""

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str


def _py2_pickle(obj):
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    # NumPy 1 wrote its module as numpy.core; GLOBAL opcodes are newline-terminated text.
    return buffer.getvalue().replace(b"numpy._core", b"numpy.core")


def _cifar_archive(batches):
    """``cifar-10-python.tar.gz`` layout: Python 2 pickled dicts with bytes keys in one folder."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, (data, labels) in batches.items():
            batch = {
                b"batch_label": name.encode(),
                b"labels": labels,
                b"data": data,
                b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
            }
            payload = _py2_pickle(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def test_cifar10_rebuilds_channels_last_images_from_the_batches(serve, server, cache):
    rng = np.random.RandomState(2)
    batches = {
        name: (rng.randint(0, 256, (2, 3072)).astype(np.uint8), [i % 10, (i + 3) % 10])
        for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"])
    }
    serve(cifar10, "cifar-10-python.tar.gz", _cifar_archive(batches))
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert x_train.shape == (10, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (10, 1) and y_train.dtype == np.uint8
    assert x_test.shape == (2, 32, 32, 3) and y_test.ravel().tolist() == [5, 8]
    assert y_train.ravel().tolist() == [0, 3, 1, 4, 2, 5, 3, 6, 4, 7]
    # Pixel (row 4, column 7) of channel c is entry c*1024 + 4*32 + 7 of the flat row.
    data = batches["data_batch_2"][0]
    for c in range(3):
        assert x_train[3, 4, 7, c] == data[1, c * 1024 + 4 * 32 + 7]
    cifar10.load_data()
    assert server.count("cifar-10-python.tar.gz") == 1
    assert (cache / "cifar-10-batches-py" / "test_batch").exists()


def test_cifar10_batch_with_code_in_it_is_refused(serve, tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    good = (np.zeros((1, 3072), np.uint8), [0])
    batches = {f"data_batch_{k}": good for k in range(1, 6)}
    batches["test_batch"] = (Exploit(), [0])
    serve(cifar10, "cifar-10-python.tar.gz", _cifar_archive(batches))
    with pytest.raises(pickle.UnpicklingError, match="Refusing"):
        cifar10.load_data()
    assert not marker.exists()


# ----------------------------------------------------------------------------- text

TRAIN = [([0, 1, 2], 10), ([5, 3], 11), ([7, 0, 0, 4], 12)]
TEST = [([2, 9], 20), ([1], 21)]


@pytest.fixture
def imdb_file(serve):
    serve(
        imdb,
        "imdb.npz",
        _npz(
            x_train=_ragged(*(x for x, _ in TRAIN)),
            y_train=np.array([y for _, y in TRAIN]),
            x_test=_ragged(*(x for x, _ in TEST)),
            y_test=np.array([y for _, y in TEST]),
        ),
    )


# Expected sequences by label, worked out by hand from TRAIN / TEST (defaults: start 1,
# oov 2, index_from 3, so word w becomes w + 3 after a leading 1).
IMDB_CASES = {
    # Without num_words the bound is the largest index (12), which itself becomes oov (Keras).
    "defaults": (
        {},
        {10: [1, 3, 4, 5], 11: [1, 8, 6], 12: [1, 10, 3, 3, 7], 20: [1, 5, 2], 21: [1, 4]},
    ),
    "num_words+skip_top": (
        {"num_words": 6, "skip_top": 4},
        {10: [2, 2, 4, 5], 11: [2, 2, 2], 12: [2, 2, 2, 2, 2], 20: [2, 5, 2], 21: [2, 4]},
    ),
    "maxlen": ({"maxlen": 4}, {11: [1, 8, 6], 20: [1, 5, 2], 21: [1, 4]}),
    "drop oov": (
        {"num_words": 6, "oov_char": None},
        {10: [1, 3, 4, 5], 11: [1], 12: [1, 3, 3], 20: [1, 5], 21: [1, 4]},
    ),
    "raw indices": (
        {"start_char": None, "index_from": 0},
        {10: [0, 1, 2], 11: [5, 3], 12: [7, 0, 0, 4], 20: [2, 2], 21: [1]},
    ),
    "other markers": (
        {"start_char": 7, "oov_char": 9, "index_from": 1, "num_words": 5},
        {10: [9, 1, 2, 3], 11: [9, 9, 4], 12: [9, 9, 1, 1, 9], 20: [9, 3, 9], 21: [9, 2]},
    ),
}


@pytest.mark.parametrize("case", sorted(IMDB_CASES))
def test_imdb_processing_options_match_hand_computed_sequences(case, imdb_file):
    options, expected = IMDB_CASES[case]
    (x_train, y_train), (x_test, y_test) = imdb.load_data(**options)
    for x, y in ((x_train, y_train), (x_test, y_test)):
        assert x.dtype == object and x.ndim == 1 and y.dtype == np.int64
        assert {int(label): seq for seq, label in zip(x, y)} == {
            label: expected[label] for label in y.tolist()
        }
    assert sorted(y_train.tolist() + y_test.tolist()) == sorted(expected)
    if case != "maxlen":
        # Train then test are shuffled with one RandomState(113), in that order.
        rng = np.random.RandomState(113)
        assert y_train.tolist() == [TRAIN[i][1] for i in _shuffled(3, rng=rng)]
        assert y_test.tolist() == [TEST[i][1] for i in _shuffled(2, rng=rng)]


def test_imdb_refuses_bad_options_and_an_empty_maxlen_result(imdb_file):
    with pytest.raises(ValueError, match="num_words"):
        imdb.load_data(num_words=-1)
    with pytest.raises(ValueError, match="skip_top"):
        imdb.load_data(skip_top=None)
    with pytest.raises(ValueError, match="increase maxlen"):
        imdb.load_data(maxlen=2)


def test_imdb_and_reuters_word_indexes(serve):
    serve(imdb, "imdb_word_index.json", json.dumps({"the": 1, "and": 2}).encode())
    serve(reuters, "reuters_word_index.json", json.dumps({"said": 5}).encode())
    assert imdb.get_word_index() == {"the": 1, "and": 2}
    assert reuters.get_word_index() == {"said": 5}


def test_word_index_that_is_not_a_mapping_is_refused(serve):
    serve(imdb, "imdb_word_index.json", b'["the", "and"]')
    with pytest.raises(ValueError, match="not a word index"):
        imdb.get_word_index()


def test_reuters_shuffles_processes_then_splits(serve):
    wires = [[0, 1], [2], [3, 3, 3], [1, 4], [5]]
    serve(reuters, "reuters.npz", _npz(x=_ragged(*wires), y=np.arange(5)))
    (x_train, y_train), (x_test, y_test) = reuters.load_data(num_words=6, skip_top=0)
    order = _shuffled(5)
    assert y_train.tolist() == order[:4].tolist() and y_test.tolist() == order[4:].tolist()
    # By hand: [1] + [w + 3], then indices >= 6 become 2.
    expected = {0: [1, 3, 4], 1: [1, 5], 2: [1, 2, 2, 2], 3: [1, 4, 2], 4: [1, 2]}
    assert [expected[y] for y in y_train.tolist()] == list(x_train)
    assert [expected[y] for y in y_test.tolist()] == list(x_test)
    # maxlen=3 keeps the wires of length < 3 with the start index: [2] and [5] (labels 1, 4);
    # then int(2 * 0.5) = 1 goes to training.
    (x_train, y_train), (x_test, y_test) = reuters.load_data(test_split=0.5, maxlen=3)
    assert sorted(y_train.tolist() + y_test.tolist()) == [1, 4] and len(y_train) == 1
    assert [expected[y] for y in y_train.tolist() + y_test.tolist()] == list(x_train) + list(x_test)
    with pytest.raises(ValueError, match="test_split"):
        reuters.load_data(test_split=1.0)


def test_reuters_label_names_cover_the_46_topics():
    names = reuters.get_label_names()
    assert len(names) == len(set(names)) == 46
    assert (names[0], names[3], names[19], names[45]) == ("cocoa", "earn", "money-fx", "lead")


# ----------------------------------------------------------------------------- tables


def test_boston_housing_split_follows_the_seeded_shuffle(serve):
    x = np.arange(10 * 13, dtype=np.float64).reshape(10, 13)
    y = np.arange(10) * 1.5
    serve(boston_housing, "boston_housing.npz", _npz(x=x, y=y))
    (x_train, y_train), (x_test, y_test) = boston_housing.load_data()
    order = _shuffled(10)
    assert x_train.shape == (8, 13) and x_test.shape == (2, 13) and y_train.dtype == np.float64
    assert np.array_equal(x_train, x[order[:8]]) and np.array_equal(y_test, y[order[8:]])
    (x_train, _), (x_test, _) = boston_housing.load_data(test_split=0.5, seed=1)
    assert np.array_equal(x_test, x[_shuffled(10, seed=1)[5:]])


JENA_CSV = (
    '"Date Time","p (mbar)","T (degC)","Tpot (K)"\n'
    "01.01.2009 00:10:00,996.52,-8.02,265.40\n"
    "01.01.2009 00:20:00,996.57,-8.41,265.01\n"
    "31.12.2016 23:50:00,999.99,1.5e1,290.00\n"
)


def _jena_zip(csv_text):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("jena_climate_2009_2016.csv", csv_text)
        z.writestr("__MACOSX/._jena_climate_2009_2016.csv", b"\x00\x05")  # as in the real zip
    return buffer.getvalue()


def test_jena_climate_returns_values_columns_and_timestamps(serve, server, tmp_path):
    serve(jena_climate, "jena_climate_2009_2016.csv.zip", _jena_zip(JENA_CSV))
    data, columns, timestamps = jena_climate.load_data()
    assert columns == ["p (mbar)", "T (degC)", "Tpot (K)"]
    assert data.dtype == np.float64 and data.shape == (3, 3)
    assert data[:, columns.index("T (degC)")].tolist() == [-8.02, -8.41, 15.0]
    assert timestamps.dtype == np.dtype("datetime64[s]")
    assert timestamps.astype(str).tolist() == [
        "2009-01-01T00:10:00",
        "2009-01-01T00:20:00",
        "2016-12-31T23:50:00",
    ]
    assert jena_climate.load_data(dtype="float32").data.dtype == np.float32
    assert server.count("jena_climate_2009_2016.csv.zip") == 1
    # A CSV the user already has is read without the network.
    (tmp_path / "mine.csv").write_text(JENA_CSV.replace("996.52", "1000.0"))
    assert jena_climate.load_data(csv_path=str(tmp_path / "mine.csv")).data[0, 0] == 1000.0


def test_jena_climate_reports_malformed_rows(tmp_path):
    (tmp_path / "bad.csv").write_text(JENA_CSV.replace("01.01.2009 00:20:00", "2009-01-01 00:20"))
    with pytest.raises(ValueError, match="row 3"):
        jena_climate.load_data(csv_path=str(tmp_path / "bad.csv"))


def test_loader_offline_message_points_into_the_cache(monkeypatch, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path))
    monkeypatch.setenv("LAMINA_DATASETS_ORIGIN", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError) as info:
        mnist.load_data()
    assert f"http://127.0.0.1:{port}/mnist.npz" in str(info.value)
    assert str(tmp_path / "datasets" / "mnist.npz") in str(info.value)
    assert mnist.FILE_HASHES["mnist.npz"] in str(info.value)
