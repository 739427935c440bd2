import io
import stat
import tarfile
import zipfile

import pytest

from lamina.datasets import UnsafeDataError, _download, get_file
from lamina.datasets._archive import extract_archive


def _tar(members):
    """A .tar.gz from (TarInfo, bytes or None) pairs."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _tar_file(name, data=b"x"):
    return tarfile.TarInfo(name), data


def _tar_link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def _zip(members):
    """A .zip from (ZipInfo or name, bytes) pairs, names kept exactly as given."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for info, data in members:
            z.writestr(info, data)
    return buffer.getvalue()


def _zip_symlink(name, target):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def test_tar_and_zip_extract_next_to_the_archive_once(server, cache, monkeypatch):
    server.files["bundle.tar.gz"] = _tar([_tar_file("./bundle/a.txt", b"A"), _tar_file("top.txt")])
    server.files["bundle.zip"] = _zip([("folder/b.txt", b"B"), ("folder/", b"")])
    calls = []
    real = _download.extract_archive
    monkeypatch.setattr(_download, "extract_archive", lambda *a: calls.append(a) or real(*a))
    for name in ("bundle.tar.gz", "bundle.zip"):
        for _ in range(2):
            assert get_file(name, f"{server.url}/{name}", extract=True) == str(cache / name)
    assert (cache / "bundle" / "a.txt").read_bytes() == b"A"
    assert (cache / "top.txt").read_bytes() == b"x"
    assert (cache / "folder" / "b.txt").read_bytes() == b"B"
    assert len(calls) == 2  # the second call of each found the finished extraction
    # A top-level entry removed by hand is restored by extracting again.
    (cache / "folder" / "b.txt").unlink()
    (cache / "folder").rmdir()
    get_file("bundle.zip", f"{server.url}/bundle.zip", extract=True)
    assert (cache / "folder" / "b.txt").read_bytes() == b"B"
    assert len(calls) == 3


HOSTILE = {
    "tar-dotdot": (
        ".tar.gz",
        lambda: _tar([_tar_file("ok.txt"), _tar_file("../evil.txt")]),
        "'..'",
    ),
    "tar-nested-dotdot": (".tar.gz", lambda: _tar([_tar_file("a/../../evil.txt")]), "'..'"),
    "tar-absolute": (".tar.gz", lambda: _tar([_tar_file("/tmp/lamina-evil.txt")]), "absolute"),
    "tar-symlink-out": (".tar.gz", lambda: _tar([_tar_link("link", "../../..")]), "outside"),
    "tar-symlink-abs": (".tar.gz", lambda: _tar([_tar_link("link", "/etc")]), "outside"),
    "tar-symlink-in": (".tar.gz", lambda: _tar([_tar_link("link", "ok.txt")]), "link"),
    "tar-hardlink": (
        ".tar.gz",
        lambda: _tar([_tar_link("h", "/etc/passwd", tarfile.LNKTYPE)]),
        "link",
    ),
    "tar-device": (
        ".tar.gz",
        lambda: _tar([_tar_link("dev", "", tarfile.CHRTYPE)]),
        "special file",
    ),
    "zip-dotdot": (".zip", lambda: _zip([("ok.txt", b"x"), ("../evil.txt", b"x")]), "'..'"),
    "zip-absolute": (".zip", lambda: _zip([("/tmp/lamina-evil.txt", b"x")]), "absolute"),
    "zip-drive": (".zip", lambda: _zip([("C:/evil.txt", b"x")]), "absolute"),
    "zip-backslash": (".zip", lambda: _zip([("..\\evil.txt", b"x")]), "invalid name"),
    "zip-symlink-out": (".zip", lambda: _zip([_zip_symlink("link", "../../etc")]), "outside"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused_and_write_nothing(case, server, cache, tmp_path):
    suffix, build, message = HOSTILE[case]
    name = "hostile" + suffix
    server.files[name] = build()
    with pytest.raises(UnsafeDataError, match=message):
        get_file(name, f"{server.url}/{name}", extract=True)
    # Only the archive itself is left: no member, no temporary folder, no marker.
    assert sorted(p.name for p in cache.iterdir()) == [name]
    assert not (tmp_path / "home" / "evil.txt").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_extract_archive_refuses_files_that_are_not_archives(tmp_path):
    (tmp_path / "plain.bin").write_bytes(b"just bytes")
    with pytest.raises(ValueError, match="neither a zip nor a tar"):
        extract_archive(str(tmp_path / "plain.bin"), str(tmp_path / "out"))
