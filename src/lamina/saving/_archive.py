"""The ``.lamina`` zip container: atomic writing, and reading that trusts nothing in the file.

Reading never extracts to disk: each expected member is read into memory through a bounded
reader, after its declared size, compression method and compression ratio are checked against
:data:`LIMITS`. Any problem raises :class:`lamina.errors.LoadError`.

Example:
    >>> import os, tempfile
    >>> from lamina.saving._archive import atomic_write
    >>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> atomic_write(path, lambda f: f.write(b"hello"))
    >>> open(path, "rb").read()
    b'hello'
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from lamina.errors import LoadError

__all__ = ["Limits", "LIMITS", "atomic_write", "write_archive", "read_archive", "parse_json"]

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
OPT_WEIGHTS = "optimizer.safetensors"
OPT_STATE = "optimizer.json"
MEMBERS = (CONFIG, WEIGHTS, OPT_WEIGHTS, OPT_STATE)
_JSON_MEMBERS = (CONFIG, OPT_STATE)
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # same bytes for the same model: no timestamps
_CHUNK = 1 << 20
_MiB = 1 << 20


@dataclass
class Limits:
    """Bounds ``load_model`` / ``load_weights`` enforce on a file before using it.

    Attributes:
        max_total_bytes: the most uncompressed bytes an archive may hold, all members together.
        max_json_bytes: the most bytes of one JSON member (``config.json``, ``optimizer.json``)
            or of a safetensors header.
        max_ratio: the highest uncompressed / compressed size of a member above 1 MiB (zip
            bombs compress far better than weights do).
        max_json_depth: the deepest nesting of lists and dicts in JSON.
        build_margin_elements: while the architecture is built, torch may allocate 4x the
            number of values in the weights file plus this many values, no more (a config
            asking for huge layers is refused before the memory is touched).

    Example:
        >>> from lamina.saving import LIMITS
        >>> LIMITS.max_ratio
        100.0
    """

    max_total_bytes: int = 16 * 1024 * _MiB
    max_json_bytes: int = 64 * _MiB
    max_ratio: float = 100.0
    max_json_depth: int = 64
    build_margin_elements: int = 64 * _MiB


LIMITS = Limits()


# ---------------------------------------------------------------------------------- writing
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _open_temp(directory: str, base: str) -> tuple[str, IO[bytes]]:
    """A new temporary file next to the target (so that the final rename is atomic)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
    return tmp, os.fdopen(fd, "wb")


def _fsync_dir(directory: str) -> None:
    with contextlib.suppress(OSError):  # not possible on every platform / filesystem
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str, write: Callable[[IO[bytes]], Any], overwrite: bool = True) -> None:
    """Write a file so that readers see the old file or the complete new one, never a part.

    ``write(f)`` fills a temporary file in the same directory, which is flushed, fsynced and
    renamed over ``path``. On any failure (disk full included) the temporary file is removed
    and the previous file stays as it was. ``overwrite=False`` refuses to replace a file.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"Cannot save to {path!r}: the directory {directory!r} does not exist. Create it first."
        )
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot save to {path!r}: it is a directory. Give a file name.")
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(
            f"{path!r} already exists and overwrite=False: choose another name "
            "or pass overwrite=True."
        )
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_umask()
    tmp, f = _open_temp(directory, os.path.basename(path))
    try:
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the name appeared meanwhile: never clobbers
            except FileExistsError:
                raise FileExistsError(f"{path!r} already exists and overwrite=False.") from None
            except OSError:  # hard links not supported here
                if os.path.lexists(path):
                    raise FileExistsError(f"{path!r} already exists and overwrite=False.") from None
                os.replace(tmp, path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        _fsync_dir(directory)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise OSError(
                e.errno,
                f"{e.strerror or e}: could not save {path!r}; the previous "
                "file there (if any) is unchanged",
                path,
            ) from e
        raise


def _write_member(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    compressed = name in _JSON_MEMBERS  # weights barely compress: store them as they are
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def write_archive(path: str, members: dict[str, bytes], overwrite: bool = True) -> None:
    """Write ``members`` (name -> bytes, in order) as a zip, atomically."""

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w", allowZip64=True) as zf:
            for name, data in members.items():
                _write_member(zf, name, data)

    atomic_write(path, write, overwrite)


# ---------------------------------------------------------------------------------- reading
def _check_name(name: str) -> None:
    if name in MEMBERS:
        return
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        why = "an absolute path"
    elif ".." in parts:
        why = "a path that climbs out of the archive ('..')"
    else:
        why = "not a member of the lamina format"
    raise LoadError(
        f"The archive holds an entry named {name!r}: {why}. A lamina file holds only "
        f"{', '.join(MEMBERS)}."
    )


def _check_infos(infos: list[zipfile.ZipInfo]) -> None:
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        if info.orig_filename != name:  # zipfile cut the name at a NUL byte
            raise LoadError(
                f"The archive holds an entry named {info.orig_filename!r}, with a NUL "
                "byte: it was tampered with."
            )
        _check_name(name)
        if name in seen:
            raise LoadError(
                f"The archive holds {name!r} twice: it is damaged or was tampered with."
            )
        seen.add(name)
        if info.flag_bits & 0x1:
            raise LoadError(f"{name!r} is encrypted; lamina files are never encrypted.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise LoadError(
                f"{name!r} uses compression method {info.compress_type}; lamina "
                "files use only stored or deflated members."
            )
        size = info.file_size
        limit = LIMITS.max_json_bytes if name in _JSON_MEMBERS else LIMITS.max_total_bytes
        if size > limit:
            raise LoadError(
                f"{name!r} declares {size} bytes, more than the limit of {limit} "
                "(lamina.saving.LIMITS). Raise the limit only for a file you trust."
            )
        if size > _MiB and size > LIMITS.max_ratio * max(info.compress_size, 1):
            raise LoadError(
                f"{name!r} would expand from {info.compress_size} to {size} bytes, a "
                f"ratio above {LIMITS.max_ratio:g} (lamina.saving.LIMITS.max_ratio): "
                "this looks like a zip bomb."
            )
        total += size
        if total > LIMITS.max_total_bytes:
            raise LoadError(
                f"The archive declares more than {LIMITS.max_total_bytes} "
                "uncompressed bytes (lamina.saving.LIMITS.max_total_bytes)."
            )
    missing = [n for n in (CONFIG, WEIGHTS) if n not in seen]
    if missing:
        raise LoadError(
            f"The archive lacks {', '.join(missing)}: it is not a complete lamina model file."
        )
    if (OPT_WEIGHTS in seen) != (OPT_STATE in seen):
        raise LoadError(f"The archive holds only one of {OPT_WEIGHTS} and {OPT_STATE}.")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    out = io.BytesIO()
    with zf.open(info) as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            out.write(chunk)
            if out.tell() > info.file_size:
                raise LoadError(f"{info.filename!r} holds more bytes than it declares.")
    if out.tell() != info.file_size:
        raise LoadError(
            f"{info.filename!r} holds {out.tell()} bytes, not the {info.file_size} it declares."
        )
    return out.getvalue()


def is_archive(path: str) -> bool:
    """Whether ``path`` starts like a zip file (the ``.lamina`` format)."""
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def read_archive(path: str) -> dict[str, bytes]:
    """The members of a lamina archive, validated; raises ``LoadError`` on any problem."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}.")
    if not os.path.isfile(path):
        raise LoadError(f"{path!r} is not a file; a lamina model is a single .lamina file.")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            _check_infos(infos)
            return {info.filename: _read_member(zf, info) for info in infos}
    except LoadError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise LoadError(f"{path!r} is not a valid lamina file (a zip archive): {e}.") from None
    except Exception as e:  # noqa: BLE001 - any failure to parse the container is a bad file
        raise LoadError(
            f"{path!r} is damaged: reading the archive failed with {type(e).__name__}: {e}."
        ) from None


def _depth(value: Any) -> int:
    """Nesting depth of lists and dicts, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            if level > LIMITS.max_json_depth:
                return level
            stack.extend(
                (v, level + 1) for v in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def parse_json(data: bytes, what: str) -> Any:
    """Parse JSON from the file with a clear ``LoadError`` for anything malformed."""
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise LoadError(f"{what} is not UTF-8 text: {e}.") from None
    except RecursionError:
        raise LoadError(f"{what} is nested too deeply to be a lamina file.") from None
    except ValueError as e:  # JSONDecodeError, and integers too long to convert
        raise LoadError(f"{what} is not valid JSON: {e}.") from None
    if _depth(value) > LIMITS.max_json_depth:
        raise LoadError(
            f"{what} is nested more than {LIMITS.max_json_depth} levels deep "
            "(lamina.saving.LIMITS.max_json_depth)."
        )
    return value
