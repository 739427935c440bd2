import math

import numpy as np
import pytest

from lamina.preprocessing.sequence import TimeseriesGenerator as ClassicTimeseriesGenerator
from lamina.utils.py_dataset import PyDataset, Sequence
from lamina.utils.timeseries import (
    TimeseriesDataset,
    TimeseriesGenerator,
    timeseries_dataset_from_array,
    window_generator,
)

# -- PyDataset -----------------------------------------------------------------------------


class Squares(PyDataset):
    def __init__(self, n, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.n, self.batch_size, self.epochs = n, batch_size, 0

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __getitem__(self, i):
        x = np.arange(i * self.batch_size, min((i + 1) * self.batch_size, self.n))
        return x, x**2, np.ones(len(x))

    def on_epoch_end(self):
        self.epochs += 1


def test_py_dataset_iterates_batches_once():
    ds = Squares(7, 3, workers=2)
    batches = list(ds)
    assert len(ds) == ds.num_batches == 3 and len(batches) == 3
    np.testing.assert_array_equal(batches[-1][1], [36])
    assert [len(b[0]) for b in ds] == [3, 3, 1]
    assert ds.epochs == 0  # epoch hooks are the training loop's to call
    assert ds.workers == 2 and ds.use_multiprocessing is False and ds.max_queue_size == 10
    assert Sequence is PyDataset


def test_py_dataset_without_super_init_and_unimplemented():
    class Bare(PyDataset):
        def __init__(self):  # classic Keras Sequence subclasses often skip super().__init__()
            pass

    bare = Bare()
    assert bare.workers == 1 and bare.num_batches is None
    with pytest.raises(NotImplementedError, match="Bare must implement __len__"):
        len(bare)
    with pytest.raises(NotImplementedError, match=r"Bare must implement __getitem__\(index\)"):
        bare[0]
    with pytest.raises(ValueError, match="workers and max_queue_size must be >= 1"):
        Squares(3, 1, workers=0)


# -- timeseries_dataset_from_array ---------------------------------------------------------


def test_keras_docstring_example_1_windows():
    # indices 0..98, sequence_length=10, sampling_rate=2, sequence_stride=3
    ds = timeseries_dataset_from_array(
        np.arange(99), None, sequence_length=10, sampling_rate=2, sequence_stride=3
    )
    assert isinstance(ds, TimeseriesDataset) and isinstance(ds, PyDataset)
    assert len(ds) == 1
    x = ds[0]
    assert x.shape == (27, 10)  # starts 0, 3, ..., 78
    np.testing.assert_array_equal(x[0], np.arange(0, 20, 2))
    np.testing.assert_array_equal(x[1], np.arange(3, 23, 2))
    np.testing.assert_array_equal(x[-1], np.arange(78, 98, 2))


def test_keras_docstring_example_2_next_step_targets():
    data = np.arange(100) * 1.5
    ds = timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10, batch_size=16)
    x, y = ds[0]
    np.testing.assert_array_equal(x[0], data[:10])
    assert y[0] == data[10]
    # every window is followed by its target, and there are 90 - 10 + 1 = 81 windows
    xs = np.concatenate([b[0] for b in ds])
    ys = np.concatenate([b[1] for b in ds])
    assert len(ds) == math.ceil(81 / 16) and xs.shape == (81, 10)
    np.testing.assert_array_equal(ys, data[10:91])
    np.testing.assert_array_equal(xs[:, -1] + 1.5, ys)


def test_windows_vs_hand_computed_with_start_end_index():
    data = np.arange(100)
    targets = np.arange(100) * 10
    ds = timeseries_dataset_from_array(
        data,
        targets,
        sequence_length=4,
        sequence_stride=5,
        sampling_rate=3,
        batch_size=3,
        start_index=10,
        end_index=40,
    )
    # data[10:40]: 30 steps; a window spans (4 - 1) * 3 + 1 = 10, so 21 start positions
    # 0..20, every 5th: absolute starts 10, 15, 20, 25, 30
    starts = [10, 15, 20, 25, 30]
    xs, ys = zip(*list(ds))
    assert [len(x) for x in xs] == [3, 2]
    np.testing.assert_array_equal(np.concatenate(xs), [[s, s + 3, s + 6, s + 9] for s in starts])
    np.testing.assert_array_equal(np.concatenate(ys), [10 * s for s in starts])
    assert np.concatenate(xs).max() < 40  # end_index is exclusive


def test_multivariate_data_and_batch_size_none():
    data = np.arange(30, dtype=np.float32).reshape(10, 3)
    ds = timeseries_dataset_from_array(data, data[:, 0], sequence_length=3, batch_size=None)
    assert len(ds) == 8
    x, y = ds[2]
    assert x.shape == (3, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x, data[2:5])
    assert y == data[2, 0]
    np.testing.assert_array_equal(ds[-1][0], data[7:10])
    with pytest.raises(IndexError, match="out of range"):
        ds[8]


def test_targets_shorter_than_data_limit_windows():
    ds = timeseries_dataset_from_array(np.arange(20), np.arange(5), sequence_length=3)
    x, y = ds[0]
    assert len(x) == 5
    np.testing.assert_array_equal(y, np.arange(5))


def test_shuffle_is_keras_order_and_deterministic_with_seed():
    data = np.arange(50)
    ds = timeseries_dataset_from_array(
        data, data, sequence_length=5, batch_size=8, shuffle=True, seed=42
    )
    positions = np.arange(46)
    np.random.RandomState(42).shuffle(positions)  # Keras shuffles start positions this way
    ys = np.concatenate([y for _, y in ds])
    np.testing.assert_array_equal(ys, positions)
    for x, y in ds:
        np.testing.assert_array_equal(x[:, 0], y)
    again = timeseries_dataset_from_array(
        data, data, sequence_length=5, batch_size=8, shuffle=True, seed=42
    )
    np.testing.assert_array_equal(np.concatenate([y for _, y in again]), ys)
    ds.on_epoch_end()
    again.on_epoch_end()
    epoch2 = np.concatenate([y for _, y in ds])
    assert not np.array_equal(epoch2, ys)  # reshuffled ...
    np.testing.assert_array_equal(np.sort(epoch2), np.arange(46))  # ... same windows
    np.testing.assert_array_equal(np.concatenate([y for _, y in again]), epoch2)
    plain = timeseries_dataset_from_array(data, data, sequence_length=5, batch_size=8)
    plain.on_epoch_end()
    np.testing.assert_array_equal(np.concatenate([y for _, y in plain]), np.arange(46))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"sequence_length": 11}, "no window fits: a window spans"),
        ({"sequence_length": 3, "sampling_rate": 0}, "sampling_rate must be an integer >= 1"),
        ({"sequence_length": 3, "sampling_rate": 10}, "sampling_rate must be lower than"),
        ({"sequence_length": 3, "sequence_stride": 10}, "sequence_stride must be lower than"),
        ({"sequence_length": 0}, "sequence_length must be an integer >= 1"),
        ({"sequence_length": 2, "start_index": 10}, "start_index must be lower than"),
        ({"sequence_length": 2, "start_index": 5, "end_index": 5}, "must be higher than start"),
        ({"sequence_length": 2, "end_index": 10}, "end_index must be lower than the length"),
        ({"sequence_length": 2, "batch_size": 0}, "batch_size must be an integer >= 1"),
    ],
)
def test_timeseries_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        timeseries_dataset_from_array(np.arange(10), None, **kwargs)


# -- TimeseriesGenerator (classic) -----------------------------------------------------------


def test_timeseries_generator_keras_doc_example():
    data = np.array([[i] for i in range(50)])
    gen = TimeseriesGenerator(data, data, length=10, sampling_rate=2, batch_size=2)
    assert ClassicTimeseriesGenerator is TimeseriesGenerator and isinstance(gen, PyDataset)
    assert len(gen) == 20
    x, y = gen[0]
    np.testing.assert_array_equal(x, [[[0], [2], [4], [6], [8]], [[1], [3], [5], [7], [9]]])
    np.testing.assert_array_equal(y, [[10], [11]])
    x, y = gen[-1]
    np.testing.assert_array_equal(y, [[48], [49]])


def test_timeseries_generator_stride_reverse_range_and_shuffle():
    data = np.arange(30)
    gen = TimeseriesGenerator(
        data, data * 2, length=3, stride=4, start_index=2, end_index=20, batch_size=2, reverse=True
    )
    rows = [5, 9, 13, 17]  # start_index + length .. end_index, every 4th
    assert len(gen) == 2
    xs = np.concatenate([b[0] for b in gen])
    np.testing.assert_array_equal(xs, [[r - 1, r - 2, r - 3] for r in rows])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in gen]), [2 * r for r in rows])
    shuffled = TimeseriesGenerator(data, data, length=3, shuffle=True, batch_size=6, seed=0)
    x, y = shuffled[0]
    assert len(y) == 6 and y.min() >= 3
    np.testing.assert_array_equal(x[:, -1] + 1, y)
    again = TimeseriesGenerator(data, data, length=3, shuffle=True, batch_size=6, seed=0)
    np.testing.assert_array_equal(again[0][1], y)


def test_timeseries_generator_errors():
    with pytest.raises(ValueError, match="same length; data has 5 steps and targets 4"):
        TimeseriesGenerator(np.arange(5), np.arange(4), length=2)
    with pytest.raises(ValueError, match=r"start_index \+ length = 6 > end_index = 4"):
        TimeseriesGenerator(np.arange(5), np.arange(5), length=6)
    with pytest.raises(IndexError):
        TimeseriesGenerator(np.arange(5), np.arange(5), length=2)[5]


# -- window_generator (Deep Learning with Python) -------------------------------------------


def jena_like(n=200, cols=3):
    return np.arange(n * cols, dtype=np.float32).reshape(n, cols)


def test_window_generator_shapes_and_targets():
    data = jena_like()
    gen = window_generator(
        data, lookback=10, delay=5, min_index=0, max_index=100, step=2, batch_size=8
    )
    samples, targets = next(gen)
    assert samples.shape == (8, 5, 3) and targets.shape == (8,)
    assert samples.dtype == np.float32
    for j, row in enumerate(range(10, 18)):
        np.testing.assert_array_equal(samples[j], data[row - 10 : row : 2])
        assert targets[j] == data[row + 5, 1]


def test_window_generator_cycles_with_full_batches():
    data = jena_like()
    gen = window_generator(
        data, lookback=10, delay=5, min_index=0, max_index=100, step=2, batch_size=8
    )
    batches = [next(gen) for _ in range(12)]
    # rows 10..97 in 11 full batches of 8; 98 + 8 >= 100, so it starts over at row 10
    assert all(len(t) == 8 for _, t in batches)
    np.testing.assert_array_equal(batches[11][1], batches[0][1])
    np.testing.assert_array_equal(batches[10][1], data[np.arange(90, 98) + 5, 1])


def test_window_generator_default_max_index_and_target_col():
    data = jena_like(50, 2)
    gen = window_generator(
        data, lookback=6, delay=3, min_index=10, step=3, batch_size=100, target_col=0
    )
    samples, targets = next(gen)
    # max_index=None means len(data) - delay - 1 = 46: rows 16..45
    assert samples.shape == (30, 2, 2)
    np.testing.assert_array_equal(targets, data[np.arange(16, 46) + 3, 0])


def test_window_generator_shuffle_seeded():
    data = jena_like()
    gen = window_generator(
        data,
        lookback=10,
        delay=5,
        min_index=20,
        max_index=120,
        shuffle=True,
        batch_size=16,
        step=2,
        seed=1,
    )
    samples, targets = next(gen)
    rows = samples[:, -1, 0] / 3 + 2  # the last sampled step is row - 2
    assert rows.min() >= 30 and rows.max() < 120
    np.testing.assert_array_equal(targets, data[rows.astype(int) + 5, 1])
    gen2 = window_generator(
        data,
        lookback=10,
        delay=5,
        min_index=20,
        max_index=120,
        shuffle=True,
        batch_size=16,
        step=2,
        seed=1,
    )
    np.testing.assert_array_equal(next(gen2)[1], targets)


def test_window_generator_errors():
    with pytest.raises(ValueError, match=r"must be 2-D \(timesteps, features\)"):
        window_generator(np.arange(10), 2, 1, 0)
    with pytest.raises(ValueError, match="reaches past the data"):
        window_generator(jena_like(), 10, 5, 0, max_index=199)
    with pytest.raises(ValueError, match="min_index \\+ lookback = 110 must be lower"):
        window_generator(jena_like(), 10, 5, 100, max_index=110)
    with pytest.raises(ValueError, match="target_col=3 is out of range"):
        window_generator(jena_like(), 10, 5, 0, target_col=3)
