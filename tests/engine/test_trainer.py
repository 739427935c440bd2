import warnings

import numpy as np
import pytest
import torch

import lamina
from lamina import Input, Model, Sequential, layers
from lamina.errors import LaminaWarning
from lamina.utils import set_random_seed, to_categorical


def _blobs(n=200, classes=3, features=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (classes, features))
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.normal(0, 0.5, (n, features))).astype("float32")
    return x, y


def _classifier(features=4, classes=3, activation="softmax"):
    return Sequential(
        [
            layers.Dense(16, activation="relu", input_shape=(features,)),
            layers.Dense(classes, activation=activation),
        ]
    )


def test_fit_learns_and_history_uses_user_metric_names():
    x, y = _blobs()
    model = _classifier()
    model.compile(lamina.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["acc"])
    hist = model.fit(x, y, epochs=15, batch_size=32, validation_split=0.2, verbose=0)
    assert set(hist.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert hist.history["acc"][-1] > 0.9
    model2 = _classifier()
    model2.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    hist2 = model2.fit(x, y, epochs=1, verbose=0)
    assert set(hist2.history) == {"loss", "accuracy"}


def test_validation_split_holds_out_the_last_samples():
    x, y = _blobs(100)
    model = _classifier()
    model.compile("sgd", "sparse_categorical_crossentropy")
    hist = model.fit(x, y, epochs=1, validation_split=0.25, shuffle=False, verbose=0)
    val_loss = model.evaluate(x[75:], y[75:], verbose=0)
    assert hist.history["val_loss"][0] == pytest.approx(val_loss, rel=1e-5)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)


def test_reported_loss_is_the_sample_weighted_mean_of_batch_losses():
    x, y = _blobs(50)
    model = _classifier()
    model.compile(lamina.optimizers.SGD(learning_rate=0.0), "sparse_categorical_crossentropy")
    hist = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert hist.history["loss"][0] == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-5)


def test_class_weight_and_sample_weight_scale_the_loss():
    x, y = _blobs(40)
    model = _classifier()
    model.compile(lamina.optimizers.SGD(learning_rate=0.0), "sparse_categorical_crossentropy")
    probs = model.predict(x, verbose=0)
    per_sample = -np.log(probs[np.arange(len(y)), y])
    weights = {0: 1.0, 1: 2.0, 2: 0.5}
    got = model.train_on_batch(x, y, class_weight=weights)
    expected = (per_sample * np.vectorize(weights.get)(y)).sum() / len(y)
    assert got == pytest.approx(expected, rel=1e-5)
    sw = np.linspace(0, 1, len(y)).astype("float32")
    got = model.train_on_batch(x, y, sample_weight=sw)
    assert got == pytest.approx((per_sample * sw).sum() / len(y), rel=1e-5)


def test_multi_output_losses_and_loss_weights_sum():
    a = Input((4,), name="a")
    h = layers.Dense(8, activation="relu")(a)
    reg = layers.Dense(1, name="reg")(h)
    cls = layers.Dense(3, activation="softmax", name="cls")(h)
    model = Model(a, [reg, cls])
    model.compile(
        lamina.optimizers.SGD(learning_rate=0.0),
        loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
        loss_weights={"reg": 0.25, "cls": 2.0},
        metrics={"cls": ["accuracy"]},
    )
    x, y = _blobs(32)
    yr = np.random.rand(32, 1).astype("float32")
    logs = model.evaluate(x, {"reg": yr, "cls": y}, return_dict=True, verbose=0)
    assert set(logs) == {"loss", "reg_loss", "cls_loss", "cls_accuracy"}
    assert logs["loss"] == pytest.approx(0.25 * logs["reg_loss"] + 2.0 * logs["cls_loss"], rel=1e-5)
    pred_r, pred_c = model.predict(x, verbose=0)
    assert logs["reg_loss"] == pytest.approx(((pred_r - yr) ** 2).mean(), rel=1e-4)
    hist = model.fit(x, [yr, y], epochs=1, verbose=0)
    assert "cls_accuracy" in hist.history and "reg_loss" in hist.history
    with pytest.raises(ValueError, match="outputs"):
        model.compile("sgd", loss=["mse"])


def test_evaluate_and_predict_forms():
    x, y = _blobs(30)
    model = _classifier()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    values = model.evaluate(x, y, verbose=0)
    assert isinstance(values, list) and len(values) == 2
    assert model.metrics_names == ["loss", "accuracy"]
    logs = model.evaluate(x, y, return_dict=True, verbose=0)
    assert logs["loss"] == pytest.approx(values[0])
    pred = model.predict(x, batch_size=7, verbose=0)
    assert isinstance(pred, np.ndarray) and pred.shape == (30, 3)
    np.testing.assert_allclose(pred.sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(x), pred, rtol=1e-6)
    assert isinstance(model.test_on_batch(x, y), list)


def test_accepts_tensors_pandas_datasets_dataloaders_generators_and_pydataset():
    import pandas as pd
    from torch.utils.data import DataLoader, TensorDataset

    from lamina.utils import PyDataset

    x, y = _blobs(64)
    model = _classifier()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(torch.from_numpy(x), torch.from_numpy(y), epochs=1, verbose=0)
    model.fit(pd.DataFrame(x), pd.Series(y), epochs=1, verbose=0)
    ds = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    model.fit(ds, epochs=1, batch_size=16, verbose=0)
    model.fit(DataLoader(ds, batch_size=16), epochs=2, verbose=0)

    def gen():
        while True:
            for i in range(0, 64, 16):
                yield x[i : i + 16], y[i : i + 16]

    hist = model.fit(gen(), steps_per_epoch=4, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2

    class Batches(PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 16 : (i + 1) * 16], y[i * 16 : (i + 1) * 16]

    model.fit(Batches(), epochs=1, verbose=0)
    assert model.evaluate(Batches(), verbose=0) > 0
    assert model.predict(ds, verbose=0).shape == (64, 3)


def test_multi_input_lists_and_dicts():
    a, b = Input((2,), name="a"), Input((3,), name="b")
    out = layers.Dense(1)(layers.Concatenate()([a, b]))
    model = Model([a, b], out)
    model.compile("sgd", "mse")
    xa, xb, y = np.ones((10, 2)), np.ones((10, 3)), np.zeros((10, 1))
    model.fit([xa, xb], y, verbose=0)
    model.fit({"a": xa, "b": xb}, y, verbose=0)
    assert model.predict([xa, xb], verbose=0).shape == (10, 1)
    with pytest.raises(ValueError, match="2 inputs"):
        model.fit(xa, y, verbose=0)


def test_initial_epoch_and_steps_per_epoch():
    x, y = _blobs(64)
    model = _classifier()
    model.compile("adam", "sparse_categorical_crossentropy")
    hist = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert hist.epoch == [3, 4]
    seen = []

    class Count(lamina.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    model.fit(x, y, batch_size=8, steps_per_epoch=3, epochs=1, verbose=0, callbacks=[Count()])
    assert seen == [0, 1, 2]


def test_same_seed_same_weights_and_same_training_run():
    x, y = _blobs(64)

    def run():
        set_random_seed(123)
        model = Sequential(
            [
                layers.Dense(16, activation="relu", input_shape=(4,)),
                layers.Dropout(0.3),
                layers.Dense(3, activation="softmax"),
            ]
        )
        model.compile("rmsprop", "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        return model.get_weights()

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)


def test_errors_before_training():
    x, y = _blobs(20)
    model = _classifier()
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y, verbose=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="20 .*19|19 .*20|cardinality"):
        model.fit(x, y[:19], verbose=0)
    with pytest.raises(ValueError, match=r"0\.\.2"):
        model.fit(x, y + 5, verbose=0)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"nan at index \(3, 1\)"):
        model.fit(bad, y, verbose=0)
    with pytest.raises(ValueError, match=r"expects samples of shape \(4,\).*\(5,\)"):
        model.fit(np.zeros((20, 5)), y, verbose=0)
    with pytest.raises(ValueError, match="Did you mean 'categorical_crossentropy'"):
        model.compile("adam", "categorical_crossentrophy")
    model.compile("adam", "categorical_crossentropy")
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="different lengths"):
        model.fit([[1, 2], [3]], y[:2], verbose=0)


@pytest.mark.usefixtures("cpu_only")  # on CUDA the check is once per epoch (decision 16)
def test_nan_loss_stops_before_update_and_keeps_last_good_weights():
    x = np.ones((32, 4), "float32")
    y = np.ones((32, 1), "float32")
    model = Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile(lamina.optimizers.SGD(learning_rate=1e30), "mse")
    with pytest.warns(LaminaWarning, match="loss became"):
        hist = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert hist.stopped_reason and "batch" in hist.stopped_reason
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert len(hist.epoch) <= 1


def test_keyboard_interrupt_keeps_weights_and_returns_history():
    x, y = _blobs(64)
    model = _classifier()
    model.compile("adam", "sparse_categorical_crossentropy")

    class Interrupt(lamina.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    with pytest.warns(LaminaWarning, match="interrupted"):
        hist = model.fit(x, y, epochs=5, verbose=0, callbacks=[Interrupt()])
    assert hist.epoch == [0, 1]


def test_regularization_penalty_is_added_to_training_loss():
    model = Sequential(
        [layers.Dense(1, input_shape=(2,), kernel_regularizer="l2", kernel_initializer="ones")]
    )
    model.compile(lamina.optimizers.SGD(learning_rate=0.0), "mse")
    x, y = np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32")
    # Keras's default l2 factor is 0.01: penalty = 0.01 * (1 + 1).
    assert model.train_on_batch(x, y) == pytest.approx(0.02)


def test_verbose_output_is_one_line_per_epoch_in_logs(capsys):
    x, y = _blobs(64)
    model = _classifier()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3, verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = [line for line in out.splitlines() if line.startswith("Epoch")]
    assert len(lines) == 3 and "accuracy:" in lines[0]


def test_no_warnings_on_a_clean_run():
    x, y = _blobs(32)
    model = _classifier()
    model.compile("adam", "sparse_categorical_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, epochs=1, verbose=0, validation_data=(x[:8] + 1, y[:8]))


def test_one_hot_targets_with_categorical_crossentropy():
    x, y = _blobs(64)
    model = _classifier()
    model.compile(lamina.optimizers.Adam(0.01), "categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, to_categorical(y), epochs=40, verbose=0)
    assert hist.history["accuracy"][-1] > 0.8


def test_device_override_cpu():
    lamina.config.set_device("cpu")
    try:
        model = _classifier()
        model.compile("adam", "sparse_categorical_crossentropy")
        x, y = _blobs(16)
        model.fit(x, y, verbose=0)
        assert all(p.device.type == "cpu" for p in model.parameters())
    finally:
        lamina.config.set_device(None)


def test_regularization_loss_is_logged_separately():
    from lamina import regularizers

    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = x.sum(1, keepdims=True)
    model = Sequential(
        [
            layers.Dense(2, input_shape=(3,), kernel_regularizer=regularizers.l2(0.1)),
            layers.Dense(1),
        ]
    )
    model.compile(lamina.optimizers.SGD(0.0), "mse")
    h = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0).history
    k = model.layers[0].get_weights()[0]
    np.testing.assert_allclose(h["regularization_loss"], [0.1 * (k**2).sum()] * 2, rtol=1e-5)
    assert "val_regularization_loss" not in h
    data_loss = model.evaluate(x[:48], y[:48], verbose=0) - 0.1 * (k**2).sum()
    np.testing.assert_allclose(np.array(h["loss"]) - h["regularization_loss"], data_loss, rtol=1e-4)
    plain = Sequential([layers.Dense(1, input_shape=(3,))])
    plain.compile("sgd", "mse")
    assert list(plain.fit(x, y, epochs=1, verbose=0).history) == ["loss"]


def test_jit_compile_falls_back_to_eager_with_a_warning(monkeypatch):
    def broken_compile(fn, *args, **kwargs):
        def run(*a, **k):
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    x, y = _blobs(32)
    model = _classifier()
    model.compile("rmsprop", "sparse_categorical_crossentropy", jit_compile="all")
    with pytest.warns(LaminaWarning, match="could not compile"):
        hist = model.fit(x, y, epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    with pytest.raises(ValueError, match="jit_compile"):
        model.compile("rmsprop", "mse", jit_compile="fast")


@pytest.mark.slow
def test_jit_compile_matches_eager_training():
    x, y = _blobs(64)

    def run(jit):
        set_random_seed(5)
        model = _classifier()
        model.compile("rmsprop", "sparse_categorical_crossentropy", jit_compile=jit)
        return model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0), model

    eager, _ = run(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dynamo's own notices
        compiled, model = run(True)
    np.testing.assert_allclose(compiled.history["loss"], eager.history["loss"], rtol=1e-4)
    update = model.optimizer.torch_optimizer._jit_update
    assert update.compiled is not None and update.compile_seconds > 0


@pytest.mark.slow
def test_jit_compile_compiles_every_model_of_a_k_fold_loop():
    # torch.compile's cache is per code object (8 entries) and each optimizer's graphs are
    # guarded on its identity: sharing one code object, the 5th model ran eagerly with a
    # LaminaWarning (an error under this suite's settings).
    x, y = _blobs(64)
    steps = []
    for fold in range(6):
        set_random_seed(fold)
        model = _classifier()
        model.compile("rmsprop", "sparse_categorical_crossentropy", jit_compile=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="torch")  # dynamo's own notices
            model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        steps.append(model.optimizer.torch_optimizer._jit_update)
    assert all(s.compiled is not None and s.compile_seconds > 0 for s in steps)
    assert len({id(s.eager.__func__.__code__) for s in steps}) == len(steps)  # one cache each


@pytest.mark.slow
@pytest.mark.parametrize("how", ["schedule", "callback", "torch_optimizer"])
def test_jit_compile_follows_learning_rate_changes_without_recompiling(how):
    # lamina's compiled update takes the rate as a tensor: a schedule changing it every step
    # or a callback changing it every epoch must give eager's results and no new graphs (each
    # used to recompile, then fall back to eager with a warning after 8). torch.optim's own
    # updates (Nadam here) hold the rate as a constant and stay eager under a schedule.
    x, y = _blobs(64)

    def run(jit):
        set_random_seed(3)
        model = _classifier()
        cbs = []
        if how == "callback":
            rate = 0.01
            cbs = [lamina.callbacks.LearningRateScheduler(lambda e, lr: 0.01 * 0.5**e)]
        else:
            rate = lamina.optimizers.schedules.ExponentialDecay(0.01, 1, 0.9)
        kind = lamina.optimizers.Nadam if how == "torch_optimizer" else lamina.optimizers.RMSprop
        model.compile(kind(rate), "sparse_categorical_crossentropy", jit_compile=jit)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="torch")  # dynamo's own notices
            hist = model.fit(x, y, epochs=10, batch_size=16, verbose=0, callbacks=cbs)
        return hist, model.optimizer.torch_optimizer

    eager, _ = run(False)
    compiled, opt = run(True)
    np.testing.assert_allclose(compiled.history["loss"], eager.history["loss"], rtol=1e-4)
    if how == "torch_optimizer":
        assert not hasattr(opt.step, "compiled")
        return
    update = opt._jit_update
    assert update.compiled is not None
    # a bounded number of graphs, not one per rate: here at most one recompile (the step
    # count or the group's contents becoming graph inputs)
    graphs = torch._dynamo.eval_frame._debug_get_cache_entry_list(update.eager.__func__.__code__)
    assert len(graphs) <= 2


@pytest.mark.slow
def test_jit_compile_all_keeps_masks_of_padded_sequences():
    """The whole forward compiled: Embedding(mask_zero) -> LSTM must still skip the padding
    (a graph break inside a layer once made torch.compile drop the mask silently)."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 50, (32, 12))
    x[:, 8:] = 0  # right padding
    y = rng.integers(0, 2, (32, 1)).astype("float32")

    def run(jit):
        set_random_seed(3)
        model = Sequential(
            [
                layers.Embedding(50, 4, mask_zero=True),
                layers.LSTM(4),
                layers.Dense(1, activation="sigmoid"),
            ]
        )
        model.compile("rmsprop", "binary_crossentropy", jit_compile=jit)
        hist = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        return hist.history["loss"], model

    eager, _ = run(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # dynamo's own notices
        warnings.simplefilter("error", LaminaWarning)  # no fallback to eager allowed
        compiled, model = run("all")
    np.testing.assert_allclose(compiled, eager, rtol=1e-4)
    # Padding changes nothing: the same as running the 8 real steps.
    np.testing.assert_allclose(
        model.predict(x, verbose=0), model.predict(x[:, :8], verbose=0), atol=1e-6
    )


def test_predict_before_fit_builds_trainable_weights():
    """A model built by its first predict (under inference_mode) must still train."""
    x = np.random.default_rng(0).normal(size=(16, 5)).astype("float32")
    y = x.sum(1, keepdims=True)
    model = Sequential(
        [layers.Dense(8, activation="relu"), layers.BatchNormalization(), layers.Dense(1)]
    )
    model.compile("adam", "mse")
    before = model.predict(x, verbose=0)
    assert not any(w.is_inference() for w in model.weights)
    hist = model.fit(x, y, epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert not np.allclose(model.predict(x, verbose=0), before)


# --------------------------------------------------------------------------- predict's outputs
def test_predict_writes_batches_into_one_buffer_and_keeps_no_batch_output():
    # A list of per-batch outputs kept to the end fragments the heap (each small output pins
    # a hole a large temporary left); predict copies each batch into one buffer instead.
    import weakref

    from lamina.engine.trainer import _Outputs

    collector = _Outputs(10)
    batches = [torch.arange(12.0).reshape(4, 3), torch.ones(4, 3), torch.zeros(2, 3)]
    refs = []
    for b in batches:
        collector.add(b)
        refs.append(weakref.ref(b))
    del b, batches
    assert all(r() is None for r in refs)
    got = collector.result()
    want = np.concatenate([np.arange(12.0).reshape(4, 3), np.ones((4, 3)), np.zeros((2, 3))])
    np.testing.assert_array_equal(got, want)


def test_predict_outputs_fall_back_to_a_list_when_the_batches_do_not_fit():
    from lamina.engine.trainer import _Outputs

    more = _Outputs(6)  # more samples than announced: what was written is kept, then a list
    for k in range(3):
        more.add(torch.full((4, 2), float(k)))
    np.testing.assert_array_equal(more.result(), np.repeat([0.0, 1.0, 2.0], 4)[:, None] * [1, 1])
    unknown = _Outputs(None)  # a generator: no count
    unknown.add({"a": torch.ones(2, 1)})
    unknown.add({"a": torch.zeros(1, 1)})
    np.testing.assert_array_equal(unknown.result()["a"], [[1.0], [1.0], [0.0]])
    with pytest.raises(ValueError, match="received no data"):
        _Outputs(5).result()


def test_predict_with_several_outputs_matches_calling_the_model():
    inp = Input((4,))
    hidden = layers.Dense(8, activation="relu")(inp)
    model = Model(
        inp, {"p": layers.Dense(3, activation="softmax")(hidden), "r": layers.Dense(1)(hidden)}
    )
    x = np.random.default_rng(0).normal(size=(37, 4)).astype("float32")  # last batch of 5
    got = model.predict(x, batch_size=8, verbose=0)
    with torch.no_grad():
        want = model(torch.from_numpy(x))
    assert got["p"].shape == (37, 3) and got["r"].shape == (37, 1)
    np.testing.assert_allclose(got["p"], want["p"].numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got["r"], want["r"].numpy(), rtol=1e-6, atol=1e-7)
    pair = Model(inp, [layers.Dense(2)(hidden), layers.Dense(1)(hidden)])
    out = pair.predict(x, batch_size=8, verbose=0)
    assert isinstance(out, list) and [o.shape for o in out] == [(37, 2), (37, 1)]


def test_predict_never_returns_the_callers_array():
    # An identity model's outputs are views of the input; predict returns a copy, both when it
    # writes into its own buffer (known sample count) and when it concatenates a list.
    from lamina.engine.trainer import _concat_outputs

    inp = Input((3,))
    model = Model(inp, inp)
    x = np.arange(12, dtype="float32").reshape(4, 3)
    got = model.predict(x, batch_size=4, verbose=0)
    np.testing.assert_array_equal(got, x)
    assert not np.shares_memory(got, x)
    t = torch.from_numpy(x)
    assert not np.shares_memory(_concat_outputs([t]), x)


def test_the_step_backward_goes_straight_to_the_engine_with_the_same_gradients(monkeypatch):
    """train_step hands the scalar loss to autograd's engine without torch.autograd.backward's
    Python checks; gradients and trained weights are those of loss.backward(), and anything
    but a plain scalar with a graph goes through loss.backward() (its errors included)."""
    from lamina.engine import trainer

    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    x = torch.randn(5, 4, dtype=torch.float64)
    trainer._backward(((x @ w).tanh() ** 2).mean())
    direct = w.grad.clone()
    w.grad = None
    ((x @ w).tanh() ** 2).mean().backward()
    assert torch.equal(direct, w.grad)

    leaf = torch.tensor(2.0, requires_grad=True)  # no graph: loss.backward() seeds the leaf
    trainer._backward(leaf)
    assert leaf.grad == 1.0
    with pytest.raises(RuntimeError, match="scalar outputs"):
        trainer._backward(x @ w)  # not a scalar: the engine path is not taken

    class Logged(torch.Tensor):
        calls: list = []

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            cls.calls.append(getattr(func, "__name__", str(func)))
            return super().__torch_function__(func, types, args, kwargs or {})

    w.grad = None
    trainer._backward(((x @ w) ** 2).sum().as_subclass(Logged))
    assert "backward" in Logged.calls  # a subclass keeps its __torch_function__

    def trained(engine):
        monkeypatch.setattr(trainer, "_ENGINE", engine)
        torch.manual_seed(0)
        model = lamina.Sequential(
            [layers.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(1)]
        )
        model.compile("rmsprop", "mse")
        data = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
        model.fit(data, data.sum(1), batch_size=16, epochs=2, verbose=0, shuffle=False)
        return model.get_weights()

    engine, runs = trainer._ENGINE, []

    class Counted:
        def run_backward(self, *args, **kwargs):
            runs.append(1)
            return engine.run_backward(*args, **kwargs)

    for a, b in zip(trained(Counted()), trained(None)):
        np.testing.assert_array_equal(a, b)
    assert len(runs) == 8  # every step took the engine path
