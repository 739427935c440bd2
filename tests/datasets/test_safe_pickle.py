import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from lamina.datasets import UnsafeDataError, load_npz, restricted_load
from lamina.datasets._safe_pickle import ALLOWED_GLOBALS
from lamina.errors import LoadError

_CORE = (getattr(np, "_core", None) or np.core).multiarray  # the installed NumPy's spelling


def _ragged(*sequences):
    out = np.empty(len(sequences), dtype=object)
    for i, s in enumerate(sequences):
        out[i] = s
    return out


def _npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    return buffer


def _npz_with_pickle(payload: bytes, shape=(1,)):
    """An npz whose one member is an object-array header followed by ``payload``."""
    header = f"{{'descr': '|O', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(
            "x.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + payload
        )
    buffer.seek(0)
    return buffer


class _Crafted:
    """Pickles as NumPy's own ``_reconstruct`` call with a state we choose."""

    def __init__(self, args, state):
        self.args, self.state = args, state

    def __reduce__(self):
        return (_CORE._reconstruct, self.args, self.state)


def test_ragged_object_arrays_and_numeric_arrays_load():
    x = _ragged([1, 14, 22], [1, 194], [1, 14, 47, 8])
    arrays = load_npz(_npz(x=x, y=np.array([1, 0, 1]), f=np.ones((2, 3), "float32")))
    assert arrays["x"].dtype == object and arrays["x"].shape == (3,)
    assert [type(s) for s in arrays["x"]] == [list, list, list]
    assert arrays["x"].tolist() == [[1, 14, 22], [1, 194], [1, 14, 47, 8]]
    assert arrays["y"].tolist() == [1, 0, 1] and arrays["y"].dtype == np.int64
    assert arrays["f"].dtype == np.float32 and arrays["f"].shape == (2, 3)
    arrays["f"][0, 0] = 5  # writable, owned copies


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_pickle_protocol_of_arrays_scalars_and_nesting_loads(protocol):
    inner = _ragged(np.arange(3), np.arange(5, dtype=">i4"))
    value = {
        b"data": np.arange(12, dtype=np.uint8).reshape(3, 4),
        b"fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        b"flags": np.array([True, False]),
        b"labels": [np.int64(7), 3],
        b"ragged": _ragged(inner, [1, 2]),
        b"name": b"batch 1",
    }
    loaded = restricted_load(io.BytesIO(pickle.dumps(value, protocol=protocol)), encoding="bytes")
    assert loaded[b"data"].tolist() == value[b"data"].tolist()
    assert loaded[b"fortran"].tolist() == value[b"fortran"].tolist()
    assert loaded[b"flags"].tolist() == [True, False]
    assert loaded[b"labels"] == [7, 3] and type(loaded[b"labels"][0]) is np.int64
    assert loaded[b"ragged"][0][1].dtype == np.dtype(">i4")
    assert loaded[b"ragged"][0][1].tolist() == [0, 1, 2, 3, 4]
    assert loaded[b"ragged"][1] == [1, 2] and loaded[b"name"] == b"batch 1"


@pytest.mark.parametrize("spelling", [b"numpy.core", b"numpy._core"])
def test_numpy_1_and_numpy_2_module_names_both_load(spelling):
    stream = pickle.dumps(_ragged([1, 2], np.arange(3)), protocol=2)
    stream = stream.replace(b"numpy._core", b"numpy.core").replace(b"numpy.core", spelling)
    assert spelling + b".multiarray" in stream
    loaded = restricted_load(io.BytesIO(stream))
    assert loaded[0] == [1, 2] and loaded[1].tolist() == [0, 1, 2]


def test_allow_list_is_exactly_numpys_rebuild_names():
    cores = ("numpy.core", "numpy._core")
    expected = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
    for core in cores:
        expected |= {
            (f"{core}.multiarray", "_reconstruct"),
            (f"{core}.multiarray", "scalar"),
            (f"{core}.numeric", "_frombuffer"),
        }
    assert ALLOWED_GLOBALS == expected


def test_malicious_pickle_in_npz_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with pytest.raises(UnsafeDataError, match="calls"):
        load_npz(_npz(x=_ragged(Exploit(), [1])))
    assert not marker.exists()
    # The control: NumPy's own allow_pickle=True would have run it.
    np.load(_npz(x=_ragged(Exploit())), allow_pickle=True)["x"]
    assert marker.exists()


@pytest.mark.parametrize(
    "target", [b"builtins\neval", b"subprocess\nPopen", b"numpy\nload", b"posix\nsystem"]
)
def test_any_other_global_is_refused(target):
    # GLOBAL opcode, then a call: what a hand-written exploit looks like.
    stream = b"c" + target + b"\n(S'print(1)'\ntR."
    with pytest.raises(UnsafeDataError, match=target.split(b"\n")[1].decode()):
        restricted_load(io.BytesIO(stream))


@pytest.mark.parametrize(
    ("args", "state"),
    [
        # Object array whose data is raw bytes: NumPy would read them as object pointers.
        ((np.ndarray, (0,), b"b"), (1, (1,), np.dtype("O"), False, b"\x00" * 8)),
        # Fewer objects than the shape has elements.
        ((np.ndarray, (0,), b"b"), (1, (2, 3), np.dtype("O"), False, [None] * 5)),
        # More bytes than the array holds.
        ((np.ndarray, (0,), b"b"), (1, (1,), np.dtype("i8"), False, b"\x00" * 64)),
        # A structured dtype, whose layout could disagree with the data.
        ((np.ndarray, (0,), b"b"), (1, (1,), np.dtype([("a", "i8"), ("b", "O")]), False, [0])),
        # Shapes that are not tuples of non-negative ints.
        ((np.ndarray, (0,), b"b"), (1, (-1,), np.dtype("i8"), False, b"")),
        ((np.ndarray, (0,), b"b"), (1, (1.0,), np.dtype("i8"), False, b"\x00" * 8)),
        ((np.ndarray, (0,), b"b"), (1, [1], np.dtype("i8"), False, b"\x00" * 8)),
        # A numeric array carrying a list.
        ((np.ndarray, (0,), b"b"), (1, (2,), np.dtype("i8"), False, [1, 2])),
        # _reconstruct asked to build something other than an ndarray.
        ((np.dtype, (0,), b"b"), (1, (1,), np.dtype("i8"), False, b"\x00" * 8)),
    ],
)
def test_crafted_array_states_are_refused(args, state):
    with pytest.raises(UnsafeDataError):
        load_npz(_npz_with_pickle(pickle.dumps(_Crafted(args, state), protocol=3)))


def test_damaged_streams_and_truncated_members_give_clear_errors():
    stream = pickle.dumps(_ragged([1, 2], [3]), protocol=3)
    with pytest.raises(UnsafeDataError, match="damaged"):
        restricted_load(io.BytesIO(stream[: len(stream) // 2]))
    # A numeric header claiming 2**40 bytes with none present: refused before allocating.
    header = b"{'descr': '|i1', 'fortran_order': False, 'shape': (1099511627776,), }"
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("x.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
    with pytest.raises(LoadError, match="truncated"):
        load_npz(buffer)
    with pytest.raises(LoadError, match="not an .npz"):
        load_npz(io.BytesIO(b"not a zip"))
