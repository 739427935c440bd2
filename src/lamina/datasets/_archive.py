"""Extract tar and zip archives without letting a member write outside the target folder.

Every member name is checked before anything is written: absolute paths, drive letters,
``..`` components, links (symbolic or hard) and device files are refused with
:class:`UnsafeDataError`. Regular files are written by our own code (never ``extractall``), so
no permission bits, owners or timestamps from the archive are applied either.

Example:
    >>> import io, os, tempfile, zipfile
    >>> folder = tempfile.mkdtemp()
    >>> archive = os.path.join(folder, "a.zip")
    >>> with zipfile.ZipFile(archive, "w") as z:
    ...     z.writestr("data/hello.txt", "hi")
    >>> extract_archive(archive, os.path.join(folder, "out"))
    ['data']
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import tarfile
import zipfile
from typing import IO

from lamina.datasets._safe_pickle import UnsafeDataError

__all__ = ["extract_archive"]

_CHUNK = 1 << 20
# An archive may expand to at most this multiple of its own size (or 1 GiB): a bomb guard.
_MAX_EXPANSION = 100
_MIN_ALLOWANCE = 1 << 30


def _refuse(archive: str, member: str, why: str) -> UnsafeDataError:
    return UnsafeDataError(
        f"Refusing to extract {os.path.basename(archive)!r}: the member {member!r} {why}. "
        "Nothing outside the extraction folder was written. The archive may be damaged or "
        "malicious: delete it and download it again from its official origin."
    )


def _member_parts(archive: str, name: str) -> list[str]:
    """The path components of a member name, refusing any that could leave the folder."""
    if not name or "\x00" in name or "\\" in name:
        raise _refuse(archive, name, "has an invalid name")
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        raise _refuse(archive, name, "has an absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _refuse(archive, name, "has a '..' component that leaves the target folder")
    return parts


def _copy(source: IO[bytes], target: str, budget: list[int], archive: str, name: str) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as out:
        while chunk := source.read(_CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise _refuse(archive, name, "expands the archive past its size limit (a bomb)")
            out.write(chunk)


def _target(dest: str, parts: list[str], archive: str, name: str) -> str:
    target = os.path.join(dest, *parts)
    # Defense in depth: nothing we create is a link, but check the real path anyway.
    real_dest = os.path.realpath(dest)
    if not os.path.realpath(target).startswith(real_dest + os.sep):
        raise _refuse(archive, name, "resolves outside the target folder")
    return target


def _link_message(parts: list[str], link: str) -> str:
    resolved = posixpath.normpath(posixpath.join("", *parts[:-1], link))
    outside = link.startswith("/") or resolved == ".." or resolved.startswith("../")
    where = "outside" if outside else "inside"
    return f"is a link to {link!r} ({where} the target folder); links are never extracted"


def _extract_tar(archive: str, dest: str, budget: list[int]) -> list[str]:
    top = []
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            parts = _member_parts(archive, member.name)
            if not parts:
                continue
            if member.issym() or member.islnk():
                raise _refuse(archive, member.name, _link_message(parts, member.linkname))
            if not (member.isfile() or member.isdir()):
                raise _refuse(archive, member.name, "is a device, FIFO or other special file")
            target = _target(dest, parts, archive, member.name)
            if member.isdir():
                os.makedirs(target, exist_ok=True)
            else:
                source = tar.extractfile(member)
                assert source is not None  # regular files always have a payload
                with source:
                    _copy(source, target, budget, archive, member.name)
            top.append(parts[0])
    return top


def _extract_zip(archive: str, dest: str, budget: list[int]) -> list[str]:
    top = []
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            parts = _member_parts(archive, info.filename)
            if not parts:
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                link = zf.read(info).decode("utf-8", "replace")
                raise _refuse(archive, info.filename, _link_message(parts, link))
            target = _target(dest, parts, archive, info.filename)
            if info.is_dir():
                os.makedirs(target, exist_ok=True)
            else:
                with zf.open(info) as source:
                    _copy(source, target, budget, archive, info.filename)
            top.append(parts[0])
    return top


def extract_archive(archive: str, dest: str) -> list[str]:
    """Extract a zip or tar (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``) archive.

    Args:
        archive: Path of the archive; its format is detected from its content.
        dest: Folder to extract into (created if missing).

    Returns:
        The sorted top-level names the archive created inside ``dest``.

    Raises:
        UnsafeDataError: A member has an absolute path, a ``..`` component, is a link or a special
            file, or the archive expands past 100 times its size (at least 1 GiB allowed).
        ValueError: The file is neither a zip nor a tar archive.
    """
    os.makedirs(dest, exist_ok=True)
    budget = [max(_MAX_EXPANSION * os.path.getsize(archive), _MIN_ALLOWANCE)]
    if zipfile.is_zipfile(archive):
        top = _extract_zip(archive, dest, budget)
    elif tarfile.is_tarfile(archive):
        top = _extract_tar(archive, dest, budget)
    else:
        raise ValueError(
            f"Cannot extract {archive!r}: it is neither a zip nor a tar archive. "
            "Delete it and download it again."
        )
    return sorted(set(top))


def clear(path: str) -> None:
    """Remove a file, link or folder at ``path`` if there is one."""
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
