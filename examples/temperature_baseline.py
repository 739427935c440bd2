"""Temperature forecasting: time-ordered splits and the naive baseline to beat.

The Jena climate example of *Deep Learning with Python* (section 6.3): from the last 5 days of
weather measurements (one sample per hour), predict the temperature 24 hours later. The data
is split in time order (first half training, next quarter validation, last quarter test) and
normalized with training statistics only; ``check_splits`` confirms that validation and test
come after the training data. The common-sense baseline -- "the temperature in 24 hours is the
temperature now" -- gives a mean absolute error (about 2.4 degrees C on Jena) that a model must
beat. The book's first model, ``Flatten -> Dense(32, relu) -> Dense(1)``, is compared with it,
and often loses: flattening the window throws away the order of time, and without the
baseline nothing would say that its error is not good. (Recurrent layers do better.)

The Jena data is used when it is in lamina's cache (``~/.lamina/datasets/``, from
``lamina.datasets.jena_climate.load_data()``); otherwise a synthetic series (daily and yearly
temperature cycles, weather fronts, noise, and correlated pressure and humidity) stands in.

Run: ``python examples/temperature_baseline.py`` (``--quick``: a few seconds).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import lamina
from lamina import layers, workflow

STEP = 6  # one sample per hour from 10-minute records
LOOKBACK = 720  # 5 days of records
DELAY = 144  # 24 hours ahead


def jena_if_cached():
    from lamina.datasets._download import cache_home

    csv = os.path.join(cache_home(), "datasets", "jena_climate_2009_2016.csv")
    if not os.path.exists(csv):
        return None
    from lamina.datasets import jena_climate

    data, columns, timestamps = jena_climate.load_data(csv_path=csv)
    return data.astype("float32"), columns.index("T (degC)"), timestamps


def synthetic_weather(days: int, seed: int):
    rng = np.random.default_rng(seed)
    t = np.arange(days * 144) / 144.0  # in days
    fronts = np.convolve(rng.normal(size=t.size), np.ones(700) / 35, mode="same")
    temp = 9 - 10 * np.cos(2 * np.pi * t / 365) - 4 * np.cos(2 * np.pi * t) + fronts
    temp += rng.normal(scale=0.3, size=t.size)
    pressure = 990 - 2 * fronts + rng.normal(scale=1.0, size=t.size)
    humidity = 75 + 10 * np.cos(2 * np.pi * t) - 2 * fronts + rng.normal(scale=3, size=t.size)
    data = np.stack([pressure, temp, humidity], 1).astype("float32")
    timestamps = np.datetime64("2009-01-01T00:10") + (np.arange(t.size) * 10).astype(
        "timedelta64[m]"
    )
    return data, 1, timestamps


def windows(data: np.ndarray, temp: np.ndarray, start: int, end: int, stride: int):
    """Samples ``data[i - LOOKBACK : i : STEP]`` with target ``temp[i + DELAY - 1]``, for window
    ends ``i`` in ``[start + LOOKBACK, end - DELAY]``: a window never reads past ``end``."""
    ends = np.arange(start + LOOKBACK, end - DELAY + 1, stride)
    index = ends[:, None] - LOOKBACK + np.arange(0, LOOKBACK, STEP)[None, :]
    return data[index], temp[ends + DELAY - 1], ends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="less data, few epochs")
    args = parser.parse_args()
    lamina.utils.set_random_seed(0)

    found = None if args.quick else jena_if_cached()
    if found is not None:
        data, temp_col, timestamps = found
        source = "Jena climate"
    else:
        data, temp_col, timestamps = synthetic_weather(120 if args.quick else 1500, seed=0)
        source = "synthetic weather"
    n = len(data)
    train_end, val_end = n // 2, 3 * n // 4
    print(f"Data: {source}, {n} records, {data.shape[1]} measurements")

    # Normalize with the statistics of the training period only.
    mean, std = data[:train_end].mean(0), data[:train_end].std(0)
    scaled = (data - mean) / std
    temp = data[:, temp_col]

    stride = 6 if args.quick else 12
    x_train, y_train, e_train = windows(scaled, temp, 0, train_end, stride)
    x_val, y_val, e_val = windows(scaled, temp, train_end, val_end, stride)
    x_test, y_test, e_test = windows(scaled, temp, val_end, n, stride)
    print(f"Windows: {len(x_train)} training, {len(x_val)} validation, {len(x_test)} test")
    print(
        workflow.check_splits(
            x_train,
            x_val,
            x_test,
            timestamps=[timestamps[e_train], timestamps[e_val], timestamps[e_test]],
        )
    )

    # The common-sense baseline: tomorrow's temperature is today's (the window's last value).
    base = workflow.last_value_forecast(
        x_val, y_val, feature=temp_col, scale=std[temp_col], offset=mean[temp_col]
    )
    print(f"Naive forecast on validation: MAE {base.scores['mae']:.3f} degC")

    model = lamina.Sequential(
        [
            layers.Flatten(input_shape=x_train.shape[1:]),
            layers.Dense(32, activation="relu"),
            layers.Dense(1),
        ]
    )
    model.compile("rmsprop", "mae")
    history = model.fit(
        x_train,
        y_train,
        epochs=10 if args.quick else 20,
        batch_size=128,
        validation_data=(x_val, y_val),
        verbose=0,
        callbacks=[workflow.BaselineCallback(base, monitor="val_loss")],
    )
    print("Diagnosis:", workflow.diagnose(history))
    test_base = workflow.last_value_forecast(
        x_test, y_test, feature=temp_col, scale=std[temp_col], offset=mean[temp_col]
    )
    test_mae = model.evaluate(x_test, y_test, verbose=0)
    print("Test:", test_base.compare("mae", test_mae))


if __name__ == "__main__":
    main()
