"""Weights as safetensors: written under ``state_dict()`` names, read back only after the file's
names, shapes and dtypes are checked against the model.

Example:
    >>> import torch
    >>> from lamina.saving._weights import encode_tensors, read_header
    >>> data = encode_tensors({"w": torch.zeros(2, 3)}, {"note": "x"})
    >>> entries, meta = read_header(data, "example")
    >>> entries["w"], meta["lamina"]
    (('F32', (2, 3)), '{"note": "x", "order": ["w"]}')
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from lamina.errors import LoadError
from lamina.saving._archive import LIMITS, parse_json

__all__ = [
    "metadata", "state_tensors", "encode_tensors", "read_header", "decode_tensors", "match",
    "assign",
]  # fmt: skip

DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}  # fmt: skip
_CODES = {v: k for k, v in DTYPES.items()}
_MAX_RANK = 32
_SHOWN = 8


def metadata() -> dict[str, Any]:
    """What a lamina weights file says about itself (stored with the tensor names' order)."""
    import lamina

    version = str(getattr(lamina, "__version__", "unknown"))
    return {"format": "lamina.weights", "format_version": 1, "lamina_version": version}


def state_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``state_dict()`` as contiguous CPU tensors that share no memory (as safetensors needs)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int]] = set()
    for name, t in module.state_dict().items():
        if not torch.is_tensor(t):
            raise ValueError(f"state_dict entry {name!r} is not a tensor; it cannot be saved.")
        if t.dtype not in _CODES:
            raise ValueError(f"Weight {name!r} has dtype {t.dtype}, which lamina cannot save.")
        t = t.detach().to("cpu").contiguous()
        key = (t.untyped_storage().data_ptr(), t.storage_offset())
        if key in seen or t.untyped_storage().nbytes() != t.numel() * t.element_size():
            t = t.clone()  # tied or sliced weights: give each its own bytes
        seen.add((t.untyped_storage().data_ptr(), t.storage_offset()))
        out[name] = t
    return out


def encode_tensors(tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> bytes:
    """safetensors bytes. The metadata is one JSON string under ``"lamina"`` (one key keeps the
    bytes reproducible), with ``"order"``: the names in ``state_dict`` order."""
    from safetensors.torch import save

    info = json.dumps({**metadata, "order": list(tensors)})
    return save(tensors, metadata={"lamina": info})


def _shape(value: Any, name: str, what: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or len(value) > _MAX_RANK
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value)
    ):
        raise LoadError(f"{what}: tensor {name!r} has an invalid shape {str(value)[:80]}.")
    return tuple(value)


def read_header(
    data: bytes, what: str, data_len: int | None = None
) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, str]]:
    """Validate a safetensors header: ``({name: (dtype code, shape)}, metadata)``.

    ``data`` holds at least the header (the whole file for archive members); ``data_len`` is the
    size of the tensor data after it, when ``data`` is only the header.
    """
    if len(data) < 8:
        raise LoadError(f"{what} is too short to be a safetensors file.")
    n = int.from_bytes(data[:8], "little")
    if n < 2 or n > LIMITS.max_json_bytes or 8 + n > len(data):
        raise LoadError(f"{what} is not a safetensors file (its header length {n} is invalid).")
    header = parse_json(data[8 : 8 + n], f"{what} (safetensors header)")
    if not isinstance(header, dict):
        raise LoadError(f"{what}: the safetensors header is not a JSON object.")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise LoadError(f"{what}: the safetensors metadata must map names to strings.")
    limit = len(data) - 8 - n if data_len is None else data_len
    entries, spans = {}, []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise LoadError(f"{what}: the entry for {name!r} is malformed.")
        code = info["dtype"]
        if code not in DTYPES:
            raise LoadError(f"{what}: tensor {name!r} has unsupported dtype {str(code)[:20]!r}.")
        shape = _shape(info["shape"], name, what)
        offsets = info["data_offsets"]
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        ):
            raise LoadError(f"{what}: tensor {name!r} has invalid data offsets.")
        begin, end = offsets
        size = math.prod(shape) * torch.empty((), dtype=DTYPES[code]).element_size()
        if not 0 <= begin <= end <= limit or end - begin != size:
            raise LoadError(
                f"{what}: tensor {name!r} ({code} {shape}) does not fit the data "
                f"(offsets {begin}..{end} of {limit} bytes)."
            )
        entries[name] = (code, shape)
        spans.append((begin, end))
    spans.sort()
    if any(a_end > b_begin for (_, a_end), (b_begin, _) in zip(spans, spans[1:])):
        raise LoadError(f"{what}: tensors overlap in the data.")
    return entries, meta


def decode_tensors(data: bytes, what: str) -> dict[str, torch.Tensor]:
    """Tensors from validated safetensors bytes."""
    from safetensors.torch import load

    try:
        return load(data)
    except Exception as e:  # noqa: BLE001 - the library's error types vary by version
        raise LoadError(f"{what} is damaged: {e}.") from None


def saved_order(entries: dict[str, Any], meta: dict[str, str]) -> list[str] | None:
    """The names in the order they had in the model that was saved (from the metadata)."""
    try:
        order = json.loads(meta.get("lamina", "{}")).get("order")
    except (ValueError, AttributeError, RecursionError):
        return None
    if isinstance(order, list) and sorted(map(str, order)) == sorted(entries):
        return [str(n) for n in order]
    return None


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f", ... and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def match(
    model_state: dict[str, torch.Tensor],
    entries: dict[str, tuple[str, tuple[int, ...]]],
    order: list[str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """Pair file tensors with model weights: ``({file name: model name}, problems)``.

    Names must agree with shapes and dtypes. When no name agrees but the file records its order
    and the two lists have the same length, shapes, dtypes and final name parts (the same
    architecture built with other layer names, e.g. ``dense_3`` for ``dense``), pairs are made by
    position, as Keras 2 did.
    """
    want = {n: (_CODES.get(t.dtype, str(t.dtype)), tuple(t.shape)) for n, t in model_state.items()}
    pairs, problems = {}, []
    missing = [n for n in want if n not in entries]
    unexpected = [n for n in entries if n not in want]
    for name in want:
        if name in entries:
            if entries[name] == want[name]:
                pairs[name] = name
            else:
                (fc, fs), (mc, ms) = entries[name], want[name]
                problems.append(f"{name}: file {fc} {fs}, model {mc} {ms}")
    if (missing or unexpected) and order is not None and len(order) == len(want):
        names = list(want)
        if all(
            entries[f] == want[m] and f.rsplit(".", 1)[-1] == m.rsplit(".", 1)[-1]
            for f, m in zip(order, names)
        ):
            return dict(zip(order, names)), []
    out = []
    if missing:
        out.append(f"missing from the file ({len(missing)}): {_listing(missing)}")
    if unexpected:
        out.append(f"in the file but not in the model ({len(unexpected)}): {_listing(unexpected)}")
    if problems:
        out.append(f"different shape or dtype ({len(problems)}): {_listing(problems)}")
    return pairs, out


def mismatch_message(
    what: str, model: Any, problems: list[str], n_model: int, skipped: bool = False
) -> str:
    hint = (
        "Rebuild the architecture that was saved, or pass skip_mismatch=True to load only "
        "the weights that match."
    )
    if skipped:
        hint = "Only the weights that match were loaded; the others keep their values."
    elif n_model == 0:
        hint = (
            "The model has no weights yet: build it first (give the first layer an "
            "input_shape=, or call it on a batch of data), then load the weights."
        )
    lines = "\n  ".join(problems)
    verb = "partly match" if skipped else "do not match"
    return f"The weights in {what} {verb} model '{getattr(model, 'name', '?')}':\n  {lines}\n{hint}"


def assign(module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Load ``{state_dict name: tensor}`` through ``load_state_dict`` (so that modules' own
    load hooks run); names and shapes were checked by :func:`match`."""
    module.load_state_dict(tensors, strict=False)
