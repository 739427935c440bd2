"""Forecast the temperature 24 hours ahead with a GRU, against the naive "same as now" baseline.

The workflow of *Deep Learning with Python* (chapter 10 of the 2nd edition): hourly samples of
the last 5 days of weather, normalized with the training part's mean and standard deviation,
windows from ``timeseries_dataset_from_array``, and ``GRU(32) -> Dense(1)`` trained on the mean
absolute error. A model is only useful if it beats the baseline that predicts the temperature
of the last step of the window.

The Jena climate data is used when it is in lamina's cache (``lamina.datasets.jena_climate``);
otherwise the script makes a synthetic record (a daily cycle, weather fronts, noise) with
10-minute steps, so that it runs offline.

Run: ``python examples/temperature_forecast.py`` (``--quick`` for a run of a few seconds).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

import lamina
from lamina.layers.core import Dense
from lamina.layers.recurrent import GRU
from lamina.utils.timeseries import timeseries_dataset_from_array

STEPS_PER_DAY = 144  # one row every 10 minutes


def jena_if_cached() -> tuple[np.ndarray, int] | None:
    from lamina.datasets import jena_climate
    from lamina.datasets._download import cache_home

    path = os.path.join(cache_home(), "datasets", jena_climate.CSV_NAME)
    if not os.path.exists(path):
        return None
    data, columns, _ = jena_climate.load_data(dtype="float32", csv_path=path)
    return data, columns.index("T (degC)")


def synthetic_weather(days: int, seed: int) -> tuple[np.ndarray, int]:
    """Temperature, pressure and humidity every 10 minutes: a daily cycle, weather fronts that
    pressure and temperature share (slow oscillations of a few days, so that the past says
    something about the next day), and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * STEPS_PER_DAY) / STEPS_PER_DAY  # in days
    periods, phases = (4.0, 9.0), rng.uniform(0, 2 * np.pi, 2)
    fronts = sum(np.sin(2 * np.pi * t / p + f) for p, f in zip(periods, phases)) / 1.5
    temperature = 10 - 4 * np.cos(2 * np.pi * t) + 3 * fronts
    pressure = 990 - 6 * fronts + rng.normal(0, 0.5, t.size)
    humidity = 70 + 15 * np.cos(2 * np.pi * t) + rng.normal(0, 3, t.size)
    temperature += rng.normal(0, 0.3, t.size)
    return np.stack([pressure, temperature, humidity], 1).astype("float32"), 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, a short run")
    parser.add_argument("--synthetic", action="store_true", help="do not use cached Jena data")
    parser.add_argument("--threads", type=int, help="torch threads (--quick: 1)")
    args = parser.parse_args()
    # Small models step faster on one thread; on a busy machine, threads that wait for each
    # other can make every step many times slower.
    if args.threads or args.quick:
        torch.set_num_threads(args.threads or 1)
    lamina.utils.set_random_seed(0)

    found = None if args.synthetic else jena_if_cached()
    if found is None:
        print("Jena climate not in the cache: using a synthetic weather record.")
        found = synthetic_weather(days=90 if args.quick else 1500, seed=0)
    raw, t_col = found
    n = len(raw)
    num_train, num_val = int(0.5 * n), int(0.25 * n)

    # Normalize with statistics of the training part only (no peeking at the future).
    mean, std = raw[:num_train].mean(axis=0), raw[:num_train].std(axis=0)
    data = (raw - mean) / std
    # The target is the normalized temperature; errors are reported in degrees.
    temperature, t_std = data[:, t_col], std[t_col]

    sampling_rate = 6  # one sample per hour
    sequence_length = 72 if args.quick else 120  # 3 or 5 days of history
    stride = 3 if args.quick else 1  # the quick run uses every third window only
    delay = sampling_rate * (sequence_length + 24 - 1)  # the target is 24 h after the window

    def windows(start: int, end: int | None, shuffle: bool):
        return timeseries_dataset_from_array(
            data[:-delay],
            targets=temperature[delay:],
            sampling_rate=sampling_rate,
            sequence_length=sequence_length,
            sequence_stride=stride,
            shuffle=shuffle,
            batch_size=256,
            seed=0,
            start_index=start,
            end_index=end,
        )

    train = windows(0, num_train, shuffle=True)
    val = windows(num_train, num_train + num_val, shuffle=False)
    test = windows(num_train + num_val, None, shuffle=False)

    def naive_mae(dataset) -> float:
        errors = []
        for i in range(len(dataset)):
            x, y = dataset[i]
            errors.append(np.abs(x[:, -1, t_col] - y))  # "the same as now"
        return float(np.mean(np.concatenate(errors))) * t_std

    print(f"naive baseline MAE: validation {naive_mae(val):.2f}, test {naive_mae(test):.2f}")

    model = lamina.Sequential(
        [GRU(16 if args.quick else 32, input_shape=(sequence_length, data.shape[-1])), Dense(1)]
    )
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    model.fit(train, epochs=10 if args.quick else 10, validation_data=val, verbose=2)
    mae = model.evaluate(test, verbose=0)[1] * t_std
    print(f"GRU test MAE: {mae:.2f} (naive baseline {naive_mae(test):.2f})")


if __name__ == "__main__":
    main()
