"""Download a file once into lamina's cache, verify its checksum, and write it atomically.

Files land in ``~/.lamina/<cache_subdir>/`` (``LAMINA_HOME`` replaces ``~/.lamina``). A download
goes to a temporary file in the same folder; it is verified, flushed to disk and only then
renamed into place with ``os.replace``, so an interrupted or corrupted transfer never leaves a
file that a later call would trust. When the network is unreachable the error names the URL and
the exact path where a copy of the file can be placed by hand.

The dataset loaders fetch through :func:`fetch`, which honours ``LAMINA_DATASETS_ORIGIN``: when
set (for example to ``http://mirror.local/datasets``), every dataset file is fetched from
``<LAMINA_DATASETS_ORIGIN>/<file name>`` instead of its public origin. Plain :func:`get_file`
calls are not redirected.

Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "hello.txt"), "w") as f:
    ...     _ = f.write("hi")
    >>> url = "file://" + os.path.join(folder, "hello.txt")
    >>> path = get_file("hello.txt", url, cache_dir=os.path.join(folder, "cache"))
    >>> open(path).read()
    'hi'
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings

from tqdm import tqdm

from lamina.datasets._archive import clear, extract_archive
from lamina.errors import LaminaWarning, LoadError

__all__ = [
    "ChecksumError",
    "DownloadError",
    "HOME_ENV",
    "ORIGIN_ENV",
    "cache_home",
    "fetch",
    "get_file",
    "hash_file",
]

HOME_ENV = "LAMINA_HOME"
ORIGIN_ENV = "LAMINA_DATASETS_ORIGIN"
_TIMEOUT_S = 60
_CHUNK = 1 << 16


class DownloadError(OSError):
    """A file could not be downloaded (offline, refused, HTTP error, interrupted transfer).

    Example:
        >>> issubclass(DownloadError, OSError)
        True
    """


class ChecksumError(LoadError):
    """A file's SHA-256 (or MD5) is not the expected one; the file was not kept.

    Example:
        >>> issubclass(ChecksumError, ValueError)
        True
    """


def cache_home() -> str:
    """lamina's cache root: ``$LAMINA_HOME`` if set, else ``~/.lamina``.

    Example:
        >>> import os
        >>> from unittest import mock
        >>> with mock.patch.dict(os.environ, {"LAMINA_HOME": "/tmp/lamina-home"}):
        ...     print(cache_home())
        /tmp/lamina-home
    """
    home = os.environ.get(HOME_ENV)
    return os.path.abspath(os.path.expanduser(home or os.path.join("~", ".lamina")))


def hash_file(path: str, algorithm: str = "sha256") -> str:
    """The hex digest of a file (``"sha256"`` or ``"md5"``), read in chunks.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile(delete=False) as f:
        ...     _ = f.write(b"abc")
        >>> hash_file(f.name)[:16]
        'ba7816bf8f01cfea'
    """
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            hasher.update(chunk)
    return hasher.hexdigest()


def _algorithm(file_hash: str | None, hash_algorithm: str) -> str | None:
    if file_hash is None:
        return None
    if not re.fullmatch(r"[0-9a-fA-F]+", file_hash):
        raise ValueError(f"file_hash must be a hexadecimal digest, got {file_hash!r}.")
    if hash_algorithm == "auto":
        by_length = {64: "sha256", 32: "md5"}
        if len(file_hash) not in by_length:
            raise ValueError(
                f"Cannot tell the hash algorithm of {file_hash!r} ({len(file_hash)} hex digits): "
                "pass a SHA-256 (64 digits) or MD5 (32 digits), or set hash_algorithm."
            )
        return by_length[len(file_hash)]
    if hash_algorithm not in ("sha256", "md5"):
        raise ValueError(
            f"hash_algorithm must be 'auto', 'sha256' or 'md5', got {hash_algorithm!r}."
        )
    return hash_algorithm


def _manual_hint(path: str, file_hash: str | None, algorithm: str | None) -> str:
    check = f" Its {algorithm.upper()} must be {file_hash}." if file_hash and algorithm else ""
    return (
        f"To work offline, download the file on another machine and copy it to\n    {path}\n"
        f"lamina then uses it without downloading.{check} To fetch dataset files from a mirror, "
        f"set {ORIGIN_ENV} to the mirror's base URL."
    )


def _download(url: str, path: str, file_hash: str | None, algorithm: str | None) -> None:
    """Stream ``url`` into a temporary file next to ``path``; verify, fsync, then rename."""
    folder, name = os.path.split(path)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    try:
        hasher = hashlib.new(algorithm or "sha256")
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=_TIMEOUT_S)
            except urllib.error.HTTPError as exc:
                raise DownloadError(
                    f"Could not download {url}: the server answered HTTP {exc.code} {exc.reason}."
                    f"\n{_manual_hint(path, file_hash, algorithm)}"
                ) from exc
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                raise DownloadError(
                    f"Could not download {url} ({reason}): the machine may be offline or the "
                    f"host unreachable.\n{_manual_hint(path, file_hash, algorithm)}"
                ) from exc
            received = 0
            with response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                try:
                    with tqdm(
                        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name
                    ) as bar:
                        while chunk := response.read(_CHUNK):
                            out.write(chunk)
                            hasher.update(chunk)
                            received += len(chunk)
                            bar.update(len(chunk))
                except (OSError, http.client.HTTPException) as exc:
                    raise DownloadError(
                        f"The download of {url} was interrupted after {received} bytes ({exc}); "
                        "nothing was saved. Try again."
                    ) from exc
            if total is not None and received != total:
                raise DownloadError(
                    f"The download of {url} was interrupted: received {received} of {total} "
                    "bytes; nothing was saved. Try again."
                )
            out.flush()
            os.fsync(out.fileno())
        actual = hasher.hexdigest()
        if file_hash is not None and actual != file_hash.lower():
            raise ChecksumError(
                f"The file downloaded from {url} does not have the expected {algorithm.upper()}:\n"
                f"    expected {file_hash.lower()}\n    actual   {actual}\n"
                f"It was discarded; nothing was written to {path}. The server sent a different "
                "or damaged file: try again later, or place a verified copy there by hand."
            )
        os.replace(temp, path)
        temp = None
        _fsync_folder(folder)
    finally:
        if temp is not None and os.path.exists(temp):
            os.remove(temp)


def _fsync_folder(folder: str) -> None:
    """Make the rename durable; folders cannot be opened for fsync on every platform."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _extract_once(archive: str, folder: str, fresh: bool) -> None:
    """Extract ``archive`` into ``folder`` unless a finished earlier extraction is still there.

    Members go to a temporary folder first and are moved into place one top-level entry at a
    time; a marker file written last records the entries, so an interrupted extraction is redone.
    """
    name = os.path.basename(archive)
    marker = os.path.join(folder, f".{name}.extracted")
    if not fresh and os.path.exists(marker):
        with open(marker, encoding="utf-8") as f:
            entries = f.read().split("\n")
        if all(entry and os.path.exists(os.path.join(folder, entry)) for entry in entries):
            return
    with tempfile.TemporaryDirectory(dir=folder, prefix=".extract-") as temp:
        entries = extract_archive(archive, temp)
        for entry in entries:
            if entry == name or entry.startswith("."):
                raise LoadError(
                    f"Refusing to extract {name!r}: its top-level entry {entry!r} would replace "
                    "the archive itself or a hidden cache file."
                )
        for entry in entries:
            clear(os.path.join(folder, entry))
            os.replace(os.path.join(temp, entry), os.path.join(folder, entry))
    fd, temp_marker = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(entries))
    os.replace(temp_marker, marker)


def get_file(
    fname: str | None = None,
    origin: str | None = None,
    *,
    file_hash: str | None = None,
    cache_subdir: str = "datasets",
    hash_algorithm: str = "auto",
    extract: bool = False,
    cache_dir: str | None = None,
    force_download: bool = False,
) -> str:
    """Download a file from a URL unless it is already in the cache, and return its path.

    The file is saved as ``<cache_dir>/<cache_subdir>/<fname>``, where ``cache_dir`` defaults to
    ``$LAMINA_HOME`` or ``~/.lamina``. With ``file_hash`` the file is checked after download and
    each time it is found in the cache; a cached file that does not match is downloaded again.

    Args:
        fname: Name of the file in the cache (an absolute path is used as is). ``None`` takes
            the last part of ``origin``.
        origin: URL of the file (``https://``, ``http://`` or ``file://``).
        file_hash: Expected SHA-256 (64 hex digits) or MD5 (32 hex digits) of the file.
        cache_subdir: Folder under ``cache_dir`` (an absolute path is used as is).
        hash_algorithm: ``"auto"`` (from the digest's length), ``"sha256"`` or ``"md5"``.
        extract: Also extract the file (zip or tar archive) into the same folder. Members that
            would leave the folder (absolute paths, ``..``, links) are refused.
        cache_dir: Cache root; ``None`` means ``$LAMINA_HOME`` or ``~/.lamina``.
        force_download: Download even when a verified copy is cached.

    Returns:
        The path of the downloaded file (the archive itself when ``extract=True``).

    Raises:
        DownloadError: The file is not cached and could not be downloaded; the message says
            where to place it by hand.
        ChecksumError: The downloaded file does not match ``file_hash`` (it was not kept).

    Example:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> with open(os.path.join(folder, "data.csv"), "w") as f:
        ...     _ = f.write("a,b\\n1,2\\n")
        >>> path = get_file(origin="file://" + os.path.join(folder, "data.csv"),
        ...                 cache_dir=os.path.join(folder, "cache"))
        >>> os.path.relpath(path, folder)
        'cache/datasets/data.csv'
    """
    if not origin:
        raise ValueError("get_file needs origin=, the URL to download the file from.")
    if fname is None:
        fname = os.path.basename(urllib.parse.urlparse(origin).path)
        if not fname:
            raise ValueError(f"Cannot take a file name from {origin!r}: pass fname=.")
    fname = os.fspath(fname)
    algorithm = _algorithm(file_hash, hash_algorithm)
    folder = os.path.join(cache_dir or cache_home(), cache_subdir)
    path = os.path.join(folder, fname)
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OSError(
            f"Cannot create the cache folder {folder} ({exc}). Set {HOME_ENV} to a writable "
            "folder, or pass cache_dir=."
        ) from exc

    fresh = False
    if os.path.exists(path) and not force_download:
        if file_hash is not None:
            actual = hash_file(path, algorithm)
            if actual != file_hash.lower():
                warnings.warn(
                    f"The cached file {path} does not have the expected {algorithm.upper()} "
                    f"(expected {file_hash.lower()}, found {actual}); downloading it again.",
                    LaminaWarning,
                    stacklevel=2,
                )
                fresh = True
    else:
        fresh = True
    if fresh:
        _download(origin, path, file_hash, algorithm)
    if extract:
        _extract_once(path, folder, fresh)
    return path


def dataset_url(url: str) -> str:
    """``url``, or ``$LAMINA_DATASETS_ORIGIN/<file name>`` when that variable is set.

    Example:
        >>> import os
        >>> from unittest import mock
        >>> url = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
        >>> with mock.patch.dict(os.environ, {"LAMINA_DATASETS_ORIGIN": "http://10.0.0.7/mirror/"}):
        ...     print(dataset_url(url))
        http://10.0.0.7/mirror/mnist.npz
    """
    mirror = os.environ.get(ORIGIN_ENV)
    if not mirror:
        return url
    return mirror.rstrip("/") + "/" + url.rsplit("/", 1)[-1]


def fetch(
    fname: str,
    url: str,
    file_hash: str | None,
    *,
    cache_subdir: str = "datasets",
    extract: bool = False,
) -> str:
    """:func:`get_file` for the dataset loaders: honours ``LAMINA_DATASETS_ORIGIN``.

    Example:
        >>> import os, tempfile
        >>> from unittest import mock
        >>> mirror = tempfile.mkdtemp()
        >>> with open(os.path.join(mirror, "notes.txt"), "w") as f:
        ...     _ = f.write("from the mirror")
        >>> env = {"LAMINA_DATASETS_ORIGIN": "file://" + mirror, "LAMINA_HOME": tempfile.mkdtemp()}
        >>> with mock.patch.dict(os.environ, env):
        ...     path = fetch("notes.txt", "https://example.invalid/data/notes.txt", None)
        >>> open(path).read()
        'from the mirror'
    """
    return get_file(
        fname,
        dataset_url(url) if url else url,
        file_hash=file_hash,
        cache_subdir=cache_subdir,
        extract=extract,
    )
