"""Jena climate: 14 weather measurements every 10 minutes from 2009 to 2016 (420,451 rows).

Recorded by the weather station of the Max Planck Institute for Biogeochemistry in Jena; the
temperature-forecasting dataset of *Deep Learning with Python*, fetched from the same origin
as the book.

Example:
    >>> from lamina.datasets import jena_climate
    >>> jena_climate.CSV_NAME
    'jena_climate_2009_2016.csv'
"""

from __future__ import annotations

import csv
import os
from typing import NamedTuple

import numpy as np

from lamina.datasets._download import fetch
from lamina.errors import LoadError

__all__ = ["load_data", "JenaClimate"]

URL = "https://s3.amazonaws.com/keras-datasets/jena_climate_2009_2016.csv.zip"
CSV_NAME = "jena_climate_2009_2016.csv"
# No checksum of this file is published alongside the book or Keras. Set the SHA-256 here
# (or in a test) to have every download and cached copy verified.
FILE_HASHES: dict[str, str | None] = {"jena_climate_2009_2016.csv.zip": None}


class JenaClimate(NamedTuple):
    """What :func:`load_data` returns; unpacks as ``data, columns, timestamps``."""

    data: np.ndarray
    """``(n, 14)`` float measurements, one row per 10 minutes."""
    columns: list[str]
    """The 14 column names, e.g. ``"T (degC)"``; ``columns.index("T (degC)")`` is 1."""
    timestamps: np.ndarray
    """``(n,)`` ``datetime64[s]`` times of the rows (local time as recorded)."""


def _parse_timestamps(stamps: list[str], path: str) -> np.ndarray:
    """``"01.01.2009 00:10:00"`` (day.month.year) strings to ``datetime64[s]``."""
    text = np.array(stamps, dtype="U19")
    chars = text.view("U1").reshape(len(stamps), 19)
    expected = {2: ".", 5: ".", 10: " ", 13: ":", 16: ":"}
    for position, char in expected.items():
        bad = np.flatnonzero(chars[:, position] != char)
        if bad.size:
            raise LoadError(
                f"{path}, row {bad[0] + 2}: the time {stamps[bad[0]]!r} is not "
                "'dd.mm.yyyy hh:mm:ss'."
            )
    iso = np.concatenate(
        [chars[:, 6:10], chars[:, 5:6], chars[:, 3:5], chars[:, 2:3], chars[:, 0:2],
         chars[:, 10:11], chars[:, 11:19]],
        axis=1,
    )  # fmt: skip
    iso[:, [4, 7]], iso[:, 10] = "-", "T"
    return np.ascontiguousarray(iso).view("U19").ravel().astype("datetime64[s]")


def _read_csv(path: str, dtype: str) -> JenaClimate:
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if not lines:
        raise LoadError(f"{path} is empty.")
    header = next(csv.reader([lines[0]]))
    body = [line for line in lines[1:] if line.strip()]
    if len(header) < 2 or not body:
        raise LoadError(f"{path} has no measurement columns or no rows.")
    stamps, rests = zip(*(line.split(",", 1) for line in body))
    try:
        data = np.loadtxt(rests, delimiter=",", dtype=dtype, ndmin=2)
    except ValueError as exc:
        raise LoadError(f"{path} holds a value that is not a number: {exc}") from exc
    if data.shape[1] != len(header) - 1:
        raise LoadError(f"{path}: {data.shape[1]} values per row but {len(header) - 1} columns.")
    return JenaClimate(data, header[1:], _parse_timestamps(list(stamps), path))


def load_data(dtype: str = "float64", csv_path: str | None = None) -> JenaClimate:
    """Load the Jena climate table, downloading the zipped CSV (13 MB) on first use.

    Args:
        dtype: Float type of ``data``.
        csv_path: Read this copy of ``jena_climate_2009_2016.csv`` instead of the cached
            download (no network is used).

    Returns:
        A :class:`JenaClimate` ``(data, columns, timestamps)``: ``data`` is ``(n, 14)`` floats,
        ``columns`` the 14 names from the CSV header (``"p (mbar)"``, ``"T (degC)"``, ...), and
        ``timestamps`` the ``datetime64[s]`` of each row.

    Example:
        >>> from lamina.datasets import jena_climate
        >>> data, columns, timestamps = jena_climate.load_data()  # doctest: +SKIP
        >>> data.shape, columns[1], timestamps[0]  # doctest: +SKIP
        ((420451, 14), 'T (degC)', numpy.datetime64('2009-01-01T00:10:00'))
    """
    if np.dtype(dtype).kind != "f":
        raise ValueError(f"dtype must be a float type, got {dtype!r}.")
    if csv_path is None:
        name = "jena_climate_2009_2016.csv.zip"
        archive = fetch(name, URL, FILE_HASHES[name], extract=True)
        csv_path = os.path.join(os.path.dirname(archive), CSV_NAME)
    return _read_csv(csv_path, dtype)
