"""Hostile and damaged files given to ``load_model`` / ``load_weights``: each gives ``LoadError``
(or, for harmless damage, the original model), never another exception, a hang, or a write.

Examples are derandomized with fixed counts, so the run is reproducible and stays short.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import tempfile
import time
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings, strategies as st

from lamina import Input, Model, layers
from lamina.errors import LoadError
from lamina.saving import load_model

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SLOW_LOAD_S = 10.0  # far above a normal load (~10 ms): anything near it is a hang


def _model():
    inp = Input((4,), name="x")
    hidden = layers.Dense(5, activation="relu", name="hidden")(inp)
    model = Model(inp, layers.Dense(2, name="out")(hidden))
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(np.ones((8, 4), "float32"), np.zeros((8, 2), "float32"), epochs=1, verbose=0)
    return model


MODEL = _model()
SAMPLE = np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4)  # goes to the model's device
with torch.no_grad():
    WANT = MODEL(SAMPLE).cpu().numpy()
with tempfile.TemporaryDirectory() as _d:
    MODEL.save(os.path.join(_d, "base.lamina"))
    with open(os.path.join(_d, "base.lamina"), "rb") as _f:
        BASE = _f.read()
with zipfile.ZipFile(io.BytesIO(BASE)) as _zf:
    MEMBERS = {n: _zf.read(n) for n in _zf.namelist()}
CONFIG = json.loads(MEMBERS["config.json"])


def _tree(root):
    return sorted(
        (os.path.relpath(os.path.join(d, f), root), os.path.getsize(os.path.join(d, f)))
        for d, _, files in os.walk(root)
        for f in files
    )


def attempt(data: bytes) -> object:
    """Load ``data`` as a file; returns the model or the LoadError. Any other exception, a slow
    load, or a change to the files around the target fails the test."""
    with tempfile.TemporaryDirectory() as root:
        target = os.path.join(root, "inbox", "m.lamina")
        os.makedirs(os.path.dirname(target))
        with open(target, "wb") as f:
            f.write(data)
        before, cwd_before = _tree(root), sorted(os.listdir(os.getcwd()))
        start = time.perf_counter()
        try:
            result: object = load_model(target)
        except LoadError as e:
            assert str(e), "a LoadError must say what was wrong"
            result = e
        assert time.perf_counter() - start < SLOW_LOAD_S
        assert _tree(root) == before and sorted(os.listdir(os.getcwd())) == cwd_before
    return result


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buf.getvalue()


def with_members(**changes) -> bytes:
    data = dict(MEMBERS)
    for key, value in changes.items():
        name = {
            "config": "config.json",
            "weights": "model.safetensors",
            "opt_weights": "optimizer.safetensors",
            "opt_state": "optimizer.json",
        }[key]
        if value is None:
            data.pop(name)
        else:
            data[name] = json.dumps(value).encode() if isinstance(value, (dict, list)) else value
    return zip_bytes(data)


def safetensors_bytes(header: dict, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def assert_original(result: object) -> None:
    if isinstance(result, LoadError):
        return
    with torch.no_grad():
        np.testing.assert_array_equal(result(SAMPLE).cpu().numpy(), WANT)


# ------------------------------------------------------------------------- damaged files
def test_the_base_file_loads():
    assert_original(attempt(BASE))
    assert not isinstance(attempt(BASE), LoadError)


@FUZZ
@given(st.integers(0, len(BASE) - 1))
def test_truncated_files(n):
    assert isinstance(attempt(BASE[:n]), LoadError)


@FUZZ
@given(st.lists(st.integers(0, len(BASE) * 8 - 1), min_size=1, max_size=3))
def test_bit_flips(bits):
    data = bytearray(BASE)
    for bit in bits:
        data[bit // 8] ^= 1 << (bit % 8)
    assert_original(attempt(bytes(data)))


# ------------------------------------------------------------------- mutated configuration
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(["Dense", "os.system", "__lambda__", "InputLayer"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _replace(node, path, value):
    if not path:
        return value
    node = json.loads(json.dumps(node))
    parent = node
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return node


CONFIG_PATHS = list(_paths(CONFIG))
OPT_STATE = json.loads(MEMBERS["optimizer.json"])
OPT_PATHS = list(_paths(OPT_STATE))


@FUZZ
@given(st.sampled_from(CONFIG_PATHS), _JSON)
@example(  # a tensor reference naming a list instead of a layer (found by this test)
    path=("config", "layers", 1, "inbound_nodes", 0, "args", 0, "__tensor__", 0), value=[]
)
def test_config_values_of_any_type(path, value):
    config = _replace(CONFIG, path, value)
    assert_original_or_config_effect(attempt(with_members(config=config)))


def assert_original_or_config_effect(result):
    """A mutated config may still describe a valid model (another name, trainable=False ...);
    such a model must at least hold the saved weights."""
    if isinstance(result, LoadError):
        return
    assert sorted(result.state_dict()) == sorted(MODEL.state_dict())
    for name, value in MODEL.state_dict().items():
        torch.testing.assert_close(result.state_dict()[name], value, rtol=0, atol=0)


@FUZZ
@given(st.sampled_from(OPT_PATHS), _JSON)
def test_optimizer_state_values_of_any_type(path, value):
    result = attempt(with_members(opt_state=_replace(OPT_STATE, path, value)))
    assert_original(result)


# -------------------------------------------------------------------- hand-crafted archives
def _deep(n):
    return ("[" * n + "]" * n).encode()


def _config(**changes):
    return {**CONFIG, **changes}


def _layer_config(**changes):
    """The config with the 'hidden' Dense layer's arguments changed."""
    cfg = json.loads(json.dumps(CONFIG))
    cfg["config"]["layers"][1]["config"].update(changes)
    return cfg


def _layer_entry(**changes):
    """The config with the 'hidden' layer's entry (class name, config ...) changed."""
    cfg = json.loads(json.dumps(CONFIG))
    cfg["config"]["layers"][1].update(changes)
    return cfg


def _header_of(weights: bytes) -> dict:
    n = struct.unpack("<Q", weights[:8])[0]
    return json.loads(weights[8 : 8 + n])


def _weights_with(**entry_changes) -> bytes:
    header = _header_of(MEMBERS["model.safetensors"])
    n = struct.unpack("<Q", MEMBERS["model.safetensors"][:8])[0]
    data = MEMBERS["model.safetensors"][8 + n :]
    for name, change in entry_changes.items():
        header[name.replace("__", ".")].update(change)
    return safetensors_bytes(header, data)


def _zip_with_declared_size(name: str, size: int) -> bytes:
    """A valid archive whose central directory then claims ``size`` bytes for ``name``."""
    data = bytearray(BASE)
    at = data.find(b"PK\x01\x02")  # central directory entries
    while at != -1:
        name_len = struct.unpack("<H", data[at + 28 : at + 30])[0]
        if data[at + 46 : at + 46 + name_len] == name.encode():
            data[at + 24 : at + 28] = struct.pack("<I", size)
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


HOSTILE = {
    "empty file": b"",
    "not a zip": b"hello, world" * 10,
    "pickle file": pickle.dumps(_Evil()),
    "empty zip": zip_bytes({}),
    "path traversal": zip_bytes({**MEMBERS, "../../evil": b"x"}),
    "path traversal replacing config": zip_bytes(
        {
            "../../config.json": MEMBERS["config.json"],
            "model.safetensors": MEMBERS["model.safetensors"],
        }
    ),
    "absolute path": zip_bytes({**MEMBERS, "/tmp/evil": b"x"}),
    "windows absolute path": zip_bytes({**MEMBERS, "C:\\evil.dll": b"x"}),
    "backslash traversal": zip_bytes({**MEMBERS, "..\\..\\evil": b"x"}),
    "NUL in a name": zip_bytes(
        {
            "config.json": MEMBERS["config.json"],
            "model.safetensors#.py": MEMBERS["model.safetensors"],
        }
    ).replace(b"model.safetensors#.py", b"model.safetensors\0.py"),
    "extra member": zip_bytes({**MEMBERS, "payload.py": b"import os"}),
    "missing weights": with_members(weights=None),
    "missing config": with_members(config=None),
    "half the optimizer": with_members(opt_state=None),
    "huge declared config": _zip_with_declared_size("config.json", 0xFFFFFFF0),
    "huge declared weights": _zip_with_declared_size("model.safetensors", 0xFFFFFFF0),
    "zip bomb": zip_bytes(
        {"config.json": MEMBERS["config.json"], "model.safetensors": b"\0" * (4 << 20)},
        zipfile.ZIP_DEFLATED,
    ),
    "bzip2 member": zip_bytes(MEMBERS, zipfile.ZIP_BZIP2),
    "config not UTF-8": with_members(config=b"\xff\xfe{}"),
    "config not JSON": with_members(config=b"{'class_name': 'Dense'"),
    "config truncated": with_members(config=MEMBERS["config.json"][:-20]),
    "config deeply nested": with_members(config=_deep(100_000)),
    "config nested beyond the limit": with_members(config=_deep(200)),
    "config is a list": with_members(config=[1, 2]),
    "config huge integer": with_members(config=b'{"format_version": ' + b"9" * 5000 + b"}"),
    "wrong format": with_members(config=_config(format="keras")),
    "newer version": with_members(config=_config(format_version=7)),
    "version is a string": with_members(config=_config(format_version="1")),
    "unknown top-level entry": with_members(config=_config(code="import os")),
    "unknown model class": with_members(config=_config(class_name="os.system")),
    "plain layer as the model": with_members(config=_config(class_name="Dense")),
    "unknown layer class": with_members(config=_layer_entry(class_name="subprocess.Popen")),
    "unknown initializer": with_members(
        config=_layer_config(kernel_initializer={"class_name": "builtins.eval", "config": {}})
    ),
    "lambda with code": with_members(
        config=_layer_entry(
            class_name="Lambda",
            config={
                "name": "hidden",
                "function": {"class_name": "__lambda__", "code": "YQ==", "name": "f"},
            },
        )
    ),
    "wrong type units": with_members(config=_layer_config(units="five")),
    "negative units": with_members(config=_layer_config(units=-5)),
    "huge layer": with_members(config=_layer_config(units=2**40)),
    "wrong kernel shape": with_members(
        weights=_weights_with(_layers__hidden__kernel={"shape": [5, 4]})
    ),
    "wrong dtype": with_members(weights=_weights_with(_layers__hidden__bias={"dtype": "I32"})),
    "unknown dtype": with_members(weights=_weights_with(_layers__hidden__bias={"dtype": "F128"})),
    "offsets out of range": with_members(
        weights=_weights_with(_layers__hidden__bias={"data_offsets": [0, 10**12]})
    ),
    "missing tensor": with_members(weights=safetensors_bytes({})),
    "extra tensor": with_members(
        weights=safetensors_bytes(
            {
                **_header_of(MEMBERS["model.safetensors"]),
                "evil": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            }
        )
    ),
    "huge safetensors header": with_members(weights=struct.pack("<Q", 2**62) + b"{}"),
    "pickle as weights": with_members(weights=pickle.dumps(_Evil())),
    "pickle as optimizer state": with_members(opt_weights=pickle.dumps(_Evil())),
    "pickle as config": with_members(config=pickle.dumps(_Evil())),
    "optimizer of other weights": with_members(opt_state={**OPT_STATE, "param_names": ["a"]}),
    "optimizer of another class": with_members(
        opt_state={**OPT_STATE, "state": {**OPT_STATE["state"], "class_name": "SGD"}}
    ),
    "optimizer slot key": with_members(
        opt_weights=safetensors_bytes(
            {"../0.momentum": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4
        )
    ),
    "unknown loss": with_members(
        config=_config(compile_config={**CONFIG["compile_config"], "loss": "os.system"})
    ),
    "loss as code": with_members(
        config=_config(
            compile_config={
                **CONFIG["compile_config"],
                "loss": {"class_name": "__lambda__", "config": {}},
            }
        )
    ),
}
_dup = io.BytesIO()
with zipfile.ZipFile(_dup, "w") as _zf, pytest.warns(UserWarning, match="Duplicate"):
    for _name, _data in MEMBERS.items():
        _zf.writestr(_name, _data)
    _zf.writestr("config.json", json.dumps(_config(class_name="Evil")))
HOSTILE["duplicate member"] = _dup.getvalue()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hand_crafted_hostile_archives(case, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a payload that ran would write 'pwned' here
    result = attempt(HOSTILE[case])
    assert isinstance(result, LoadError), f"{case}: loaded without error"
    assert not os.path.exists(tmp_path / "pwned")


def test_messages_say_what_was_wrong():
    def message(case):
        return str(attempt(HOSTILE[case]))

    assert "'../../evil'" in message("path traversal") and "'..'" in message("path traversal")
    assert "absolute path" in message("absolute path")
    assert "zip bomb" in message("zip bomb")
    assert "limit" in message("huge declared config")
    assert "unknown class 'os.system'" in message("unknown model class")
    assert "subprocess.Popen" in message("unknown layer class")
    assert "safe_mode=False" in message("lambda with code")
    assert "_layers.hidden.kernel: file F32 (5, 4), model F32 (4, 5)" in message(
        "wrong kernel shape"
    )
    assert "newer lamina" in message("newer version")
    assert "not a safetensors file" in message("pickle as weights")
