"""Read pickled NumPy data without running code: a restricted unpickler and a safe ``.npz`` reader.

A pickle is a small program: while it loads it may call any importable function, so
``np.load(path, allow_pickle=True)`` on a downloaded file runs whatever the file says. The IMDB
and Reuters ``.npz`` files (ragged ``dtype=object`` arrays) and the CIFAR-10 batches are
pickles, so lamina reads them here instead.

The unpickler resolves only the names NumPy itself writes when it pickles arrays, dtypes and
scalars (under both the NumPy 1 ``numpy.core`` and the NumPy 2 ``numpy._core`` spelling), and it
resolves them to *our own* builders, not to NumPy's functions. The builders check every argument
(shape, dtype, byte count, number of objects) and make the array with ``np.frombuffer`` or
``np.empty``. NumPy's ``ndarray.__setstate__`` trusts its input (a crafted state can make it read
object pointers out of raw bytes), so it never sees data from a file. Every name outside the
allow-list is refused before anything is called.

Example:
    >>> import io, pickle
    >>> import numpy as np
    >>> ragged = np.empty(2, dtype=object)
    >>> ragged[0], ragged[1] = [1, 2, 3], [4]
    >>> restricted_load(io.BytesIO(pickle.dumps(ragged))).tolist()
    [[1, 2, 3], [4]]
"""

from __future__ import annotations

import io
import math
import pickle
import re
import zipfile
from typing import IO, Any

import numpy as np

from lamina.errors import LoadError

__all__ = ["UnsafeDataError", "restricted_load", "load_npz"]

# Simple dtypes only: bool, ints, floats, complex, bytes, unicode, object. No structured or
# sub-array dtypes, whose layout a crafted file could make disagree with the data it carries.
_DTYPE_SPEC = re.compile(r"[biufcOSU][0-9]{0,6}")
_NUMERIC_KINDS = "biufcSU"
_MAX_NDIM = 32
_MAX_NESTING = 16
# An npz member is refused when it would expand past this size *and* this ratio (zip bomb).
_BOMB_FLOOR_BYTES = 1 << 28
_BOMB_RATIO = 100


class UnsafeDataError(LoadError, pickle.UnpicklingError):
    """A downloaded file holds something lamina refuses to load (code, a hostile archive member).

    Example:
        >>> issubclass(UnsafeDataError, ValueError)
        True
    """


def _refuse(what: str) -> UnsafeDataError:
    return UnsafeDataError(
        f"Refusing to load {what}. The file may be damaged or malicious: delete it from the "
        "cache and download it again from its official origin."
    )


def _text(value: Any) -> str:
    """A short str from a str or (Python 2 era) bytes argument."""
    if isinstance(value, bytes):
        value = value.decode("latin1")
    if not isinstance(value, str) or len(value) > 16:
        raise _refuse(f"a pickle whose dtype argument is {value!r}")
    return value


class _PendingDtype:
    """Stands for ``numpy.dtype(spec)`` until the pickle's state (the byte order) arrives."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = True) -> None:
        spec = _text(spec)
        if not _DTYPE_SPEC.fullmatch(spec):
            raise _refuse(f"a pickle with the dtype {spec!r} (only simple dtypes are allowed)")
        self.dtype = np.dtype(spec)
        self.done = False

    def __setstate__(self, state: Any) -> None:
        # NumPy writes (version, byte order, subarray, names, fields, elsize, alignment, flags).
        if self.done or not isinstance(state, tuple) or len(state) < 5:
            raise _refuse("a pickle with a malformed dtype state")
        if any(part is not None for part in state[2:5]):
            raise _refuse("a pickle with a structured dtype")
        order = _text(state[1])
        if order not in ("<", ">", "|", "="):
            raise _refuse(f"a pickle with the byte order {order!r}")
        if order in "<>" and self.dtype.kind != "O":
            self.dtype = self.dtype.newbyteorder(order)
        self.done = True


class _NDArrayMarker:
    """What ``numpy.ndarray`` resolves to: a token ``_reconstruct`` accepts, callable by no one."""


_NDARRAY = _NDArrayMarker()


class _PendingArray:
    """Stands for an array made by ``_reconstruct``; its state is checked, then built."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if self.array is not None or not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _refuse("a pickle with a malformed array state")
        shape, dtype, fortran, data = state[-4:]
        self.array = _build_array(shape, _dtype_of(dtype), fortran, data)


def _dtype_of(value: Any) -> np.dtype:
    if not isinstance(value, _PendingDtype) or not value.done:
        raise _refuse("a pickle whose array dtype is not a dtype")
    return value.dtype


def _shape_of(shape: Any) -> tuple[int, ...]:
    if not isinstance(shape, tuple) or len(shape) > _MAX_NDIM:
        raise _refuse(f"a pickle with the array shape {shape!r}")
    for dim in shape:
        # bool is an int subclass; refuse it along with floats, strings and negatives.
        if type(dim) is not int or dim < 0:
            raise _refuse(f"a pickle with the array shape {shape!r}")
    return shape


def _as_bytes(data: Any) -> bytes | bytearray | memoryview:
    if isinstance(data, str):  # a Python 2 byte string read with encoding="latin1"
        return data.encode("latin1")
    if isinstance(data, (bytes, bytearray, memoryview, pickle.PickleBuffer)):
        return memoryview(data).cast("B")
    raise _refuse(f"a pickle whose numeric array data is a {type(data).__name__}")


def _build_array(shape: Any, dtype: np.dtype, fortran: Any, data: Any) -> np.ndarray:
    shape = _shape_of(shape)
    if fortran not in (True, False):  # also accepts 0/1 from old pickles
        raise _refuse(f"a pickle with the array order flag {fortran!r}")
    order = "F" if fortran else "C"
    count = math.prod(shape)
    if dtype.kind == "O":
        # The elements already exist in the stream, so this allocation is bounded by its size.
        if not isinstance(data, list) or len(data) != count:
            raise _refuse(f"a pickle whose object array {shape} does not carry {count} objects")
        flat = np.empty(count, dtype=object)
        for i, item in enumerate(data):
            flat[i] = _plain(item, 1)
        return flat.reshape(shape, order=order)
    buffer = _as_bytes(data)
    if len(buffer) != count * dtype.itemsize:
        raise _refuse(
            f"a pickle whose array {shape} of {dtype} carries {len(buffer)} bytes "
            f"instead of {count * dtype.itemsize}"
        )
    return np.frombuffer(buffer, dtype=dtype, count=count).reshape(shape, order=order).copy("K")


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> _PendingArray:
    if subtype is not _NDARRAY:
        raise _refuse("a pickle that rebuilds something other than numpy.ndarray")
    return _PendingArray()


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    # Pickle protocol 5 form of a contiguous numeric array.
    dtype = _dtype_of(dtype)
    if order not in ("C", "F") or dtype.kind == "O":
        raise _refuse("a pickle with a malformed protocol-5 array")
    return _build_array(shape, dtype, order == "F", buffer)


def _scalar(dtype: Any, data: Any = None) -> np.generic:
    dtype = _dtype_of(dtype)
    if dtype.kind == "O":
        raise _refuse("a pickle with an object scalar")
    return _build_array((), dtype, False, data)[()]


def _latin1_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # Python 3 pickles bytes with protocol 2 as _codecs.encode(str, "latin1").
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _refuse("a pickle that calls _codecs.encode with unexpected arguments")
    return text.encode("latin1")


_NUMPY_NAMES = {
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _PendingDtype,
    ("_codecs", "encode"): _latin1_encode,
}
for _core in ("numpy.core", "numpy._core"):  # NumPy 1 and NumPy 2 spellings
    _NUMPY_NAMES[(f"{_core}.multiarray", "_reconstruct")] = _reconstruct
    _NUMPY_NAMES[(f"{_core}.multiarray", "scalar")] = _scalar
    _NUMPY_NAMES[(f"{_core}.numeric", "_frombuffer")] = _frombuffer
ALLOWED_GLOBALS = frozenset(_NUMPY_NAMES)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _NUMPY_NAMES[(module, name)]
        except KeyError:
            raise _refuse(f"a pickle that calls {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _refuse("a pickle with persistent references")


def _plain(value: Any, depth: int) -> Any:
    """``value`` with pending arrays replaced by arrays; anything but plain data is refused."""
    if depth > _MAX_NESTING:
        raise _refuse("a pickle nested too deeply")
    kind = type(value)
    if kind in (int, float, bool, str, bytes, type(None)) or isinstance(value, np.generic):
        return value
    if kind is _PendingArray:
        if value.array is None:
            raise _refuse("a pickle with an array that has no state")
        return value.array
    if kind is np.ndarray:
        return value
    if kind is list:
        if set(map(type, value)) <= {int}:  # the common case: a token sequence
            return value
        return [_plain(item, depth + 1) for item in value]
    if kind is tuple:
        return tuple(_plain(item, depth + 1) for item in value)
    if kind is dict:
        return {_plain(k, depth + 1): _plain(v, depth + 1) for k, v in value.items()}
    raise _refuse(f"a pickle that holds a {kind.__name__}")


def restricted_load(file: IO[bytes], *, encoding: str = "latin1") -> Any:
    """Unpickle NumPy arrays, dtypes, scalars and plain containers from ``file``, nothing else.

    Args:
        file: A binary file object positioned at the start of a pickle stream.
        encoding: How Python 2 byte strings are decoded: ``"latin1"`` (NumPy's choice) or
            ``"bytes"`` to keep them as ``bytes`` (the CIFAR batches' dict keys).

    Returns:
        The unpickled object: arrays, lists, tuples, dicts, numbers, strings and bytes.

    Raises:
        UnsafeDataError: The stream names any other function or class, or describes an array
            inconsistent with the data it carries. Nothing from the stream is called.

    Example:
        >>> import io, os, pickle
        >>> class Exploit:
        ...     def __reduce__(self):
        ...         return (os.system, ("echo hacked",))
        >>> try:
        ...     restricted_load(io.BytesIO(pickle.dumps(Exploit())))
        ... except UnsafeDataError as error:
        ...     print(type(error).__name__)
        UnsafeDataError
    """
    try:
        return _plain(_RestrictedUnpickler(file, encoding=encoding).load(), 0)
    except UnsafeDataError:
        raise
    except Exception as exc:  # truncated stream, bad opcode, wrong argument count ...
        raise _refuse(f"a damaged pickle ({type(exc).__name__}: {exc})") from exc


def _read_npy(raw: bytes, member: str) -> np.ndarray:
    stream = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version in ((2, 0), (3, 0)):
            # 3.0 differs from 2.0 only in allowing UTF-8 in the header text.
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except ValueError as exc:
        raise LoadError(f"The npz member {member!r} is not a valid .npy file: {exc}") from exc
    order = "F" if fortran else "C"
    if dtype.kind == "O" and dtype.fields is None and dtype.subdtype is None:
        array = restricted_load(stream)
        if type(array) is not np.ndarray or array.shape != tuple(shape):
            raise _refuse(f"the npz member {member!r}: its pickle is not the declared array")
        return array
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _refuse(f"the npz member {member!r} with the dtype {dtype}")
    count = math.prod(shape)
    offset = stream.tell()
    if len(raw) - offset != count * dtype.itemsize:
        raise LoadError(
            f"The npz member {member!r} declares {count} values of {dtype} but holds "
            f"{len(raw) - offset} bytes: the file is truncated or damaged."
        )
    flat = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order=order).copy("K")


def load_npz(file: str | IO[bytes]) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` archive; object arrays go through :func:`restricted_load`.

    A replacement for ``np.load(path, allow_pickle=True)`` that cannot run code: numeric members
    are read straight from their bytes, pickled (object) members by the restricted unpickler.

    Args:
        file: Path or binary file object of the ``.npz`` archive.

    Returns:
        A dict from member name (without ``.npy``) to array.

    Example:
        >>> import io
        >>> import numpy as np
        >>> buffer = io.BytesIO()
        >>> np.savez(buffer, x=np.arange(3), y=np.array([[1], [2]], dtype=object))
        >>> arrays = load_npz(buffer)
        >>> arrays["x"].tolist(), arrays["y"].tolist()
        ([0, 1, 2], [[1], [2]])
    """
    arrays = {}
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile as exc:
        raise LoadError(f"{file!r} is not an .npz (zip) archive: {exc}") from exc
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            if info.file_size > _BOMB_FLOOR_BYTES and info.file_size > (
                _BOMB_RATIO * max(info.compress_size, 1)
            ):
                raise _refuse(
                    f"the npz member {info.filename!r}: it expands {info.compress_size} bytes "
                    f"to {info.file_size} (a decompression bomb)"
                )
            with archive.open(info) as member:
                raw = member.read()
            arrays[info.filename[: -len(".npy")]] = _read_npy(raw, info.filename)
    return arrays
