import hashlib
import os
import socket

import pytest

from lamina.datasets import ChecksumError, DownloadError, _download, cache_home, get_file
from lamina.errors import LaminaWarning

PAYLOAD = bytes(range(256)) * 64  # 16 KiB, several read chunks
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


def _files(folder):
    """Every entry under ``folder``, hidden temporaries included."""
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_downloads_into_lamina_home_then_serves_from_cache(server, cache):
    server.files["blob.bin"] = PAYLOAD
    url = server.url + "/blob.bin"
    path = get_file("blob.bin", url, file_hash=SHA256)
    assert path == str(cache / "blob.bin")
    assert open(path, "rb").read() == PAYLOAD
    assert get_file("blob.bin", url, file_hash=SHA256) == path
    assert server.count("blob.bin") == 1
    assert _files(cache) == ["blob.bin"]  # no temporary left behind


def test_cache_home_follows_lamina_home(monkeypatch, tmp_path):
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "elsewhere"))
    assert cache_home() == str(tmp_path / "elsewhere")
    monkeypatch.delenv("LAMINA_HOME")
    assert cache_home() == os.path.expanduser(os.path.join("~", ".lamina"))


def test_name_defaults_to_the_url_and_subdir_and_md5_are_honoured(server, tmp_path):
    server.files["notes.txt"] = b"hello"
    md5 = hashlib.md5(b"hello").hexdigest()
    path = get_file(origin=server.url + "/notes.txt", file_hash=md5, cache_subdir="models")
    assert path == str(tmp_path / "home" / "models" / "notes.txt")


def test_checksum_mismatch_names_both_hashes_and_keeps_nothing(server, cache):
    server.files["blob.bin"] = PAYLOAD
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as info:
        get_file("blob.bin", server.url + "/blob.bin", file_hash=wrong)
    message = str(info.value)
    assert wrong in message and SHA256 in message and "blob.bin" in message
    assert _files(cache) == []


def test_interrupted_transfer_leaves_no_file(server, cache):
    server.files["blob.bin"] = PAYLOAD
    server.truncated.add("blob.bin")
    with pytest.raises(DownloadError, match="interrupted"):
        get_file("blob.bin", server.url + "/blob.bin")  # even without a hash to catch it
    assert _files(cache) == []
    # A later call does not trust anything from the failed one: it downloads again.
    server.truncated.clear()
    path = get_file("blob.bin", server.url + "/blob.bin", file_hash=SHA256)
    assert open(path, "rb").read() == PAYLOAD
    assert server.count("blob.bin") == 2


def test_offline_error_names_the_url_and_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path))
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mnist.npz"
    with pytest.raises(DownloadError) as info:
        get_file("mnist.npz", url, file_hash=SHA256)
    message = str(info.value)
    assert url in message
    assert str(tmp_path / "datasets" / "mnist.npz") in message
    assert SHA256 in message and "LAMINA_DATASETS_ORIGIN" in message
    assert not (tmp_path / "datasets" / "mnist.npz").exists()


def test_file_placed_by_hand_is_used_without_network(server, cache):
    cache.mkdir(parents=True)
    (cache / "blob.bin").write_bytes(PAYLOAD)
    path = get_file("blob.bin", server.url + "/blob.bin", file_hash=SHA256)
    assert open(path, "rb").read() == PAYLOAD
    assert server.requests == []


def test_corrupted_cached_file_is_replaced_with_a_warning(server, cache):
    cache.mkdir(parents=True)
    (cache / "blob.bin").write_bytes(b"garbage")
    server.files["blob.bin"] = PAYLOAD
    with pytest.warns(LaminaWarning, match="downloading it again"):
        path = get_file("blob.bin", server.url + "/blob.bin", file_hash=SHA256)
    assert open(path, "rb").read() == PAYLOAD


def test_http_error_is_reported_with_its_status(server):
    with pytest.raises(DownloadError, match="HTTP 404"):
        get_file("missing.bin", server.url + "/missing.bin")


def test_force_download_fetches_again(server):
    server.files["blob.bin"] = PAYLOAD
    get_file("blob.bin", server.url + "/blob.bin")
    get_file("blob.bin", server.url + "/blob.bin", force_download=True)
    assert server.count("blob.bin") == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"origin": None}, "needs origin"),
        ({"origin": "http://x/y.bin", "file_hash": "xyz"}, "hexadecimal"),
        ({"origin": "http://x/y.bin", "file_hash": "ab" * 10}, "Cannot tell the hash"),
        ({"origin": "http://x/", "fname": None}, "Cannot take a file name"),
    ],
)
def test_bad_arguments_are_refused_before_any_download(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        get_file(cache_dir=str(tmp_path), **kwargs)


def test_dataset_origin_override_keeps_only_the_file_name(monkeypatch):
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    monkeypatch.delenv("LAMINA_DATASETS_ORIGIN", raising=False)
    assert _download.dataset_url(url) == url
    monkeypatch.setenv("LAMINA_DATASETS_ORIGIN", "http://mirror:81/data")
    assert _download.dataset_url(url) == "http://mirror:81/data/cifar-10-python.tar.gz"
