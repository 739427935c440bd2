import numpy as np
import pytest
import torch

import lamina
from lamina import layers, mixed_precision
from lamina.errors import LaminaWarning
from lamina.layers import convolutional

# This machine's CPUs have no 16-bit arithmetic: lamina says so once (tested below).
pytestmark = pytest.mark.filterwarnings("ignore:The 'mixed_.*' policy computes")


@pytest.fixture(autouse=True)
def _restore_policy():
    yield
    mixed_precision.set_global_policy("float32")
    lamina.config.set_device(None)
    mixed_precision._WARNED.clear()


_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=_CUDA)]


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 16)).astype("float32")
    y = (x[:, :4].sum(1) > 0).astype("int64")
    return x, y


def _model():
    lamina.utils.set_random_seed(0)
    model = lamina.Sequential(
        [
            layers.Dense(32, activation="relu", input_shape=(16,)),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        lamina.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_policies_train_with_float32_weights(policy, device):
    lamina.config.set_device(device)
    mixed_precision.set_global_policy(policy)
    x, y = _data()
    model = _model()
    seen = []
    model.layers[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    hist = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert seen[-1] == getattr(torch, mixed_precision.global_policy().compute_dtype)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert hist.history["accuracy"][-1] > 0.9
    pred = model.predict(x, verbose=0)
    assert pred.dtype == np.float32 and np.allclose(pred.sum(1), 1, atol=1e-2)
    if policy == "mixed_float16":
        assert model._loss_scaler is not None and model._loss_scaler.scale >= 1.0
    else:
        assert model._loss_scaler is None


def test_loss_scaler_skips_non_finite_steps_and_grows_after_good_ones():
    scaler = mixed_precision.LossScaler(initial_scale=8.0, growth_interval=2)
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.tensor([8.0, 16.0, float("nan")])
    assert scaler.unscale_and_check([p]) is False and scaler.scale == 4.0
    p.grad = torch.tensor([4.0, 8.0, 12.0])
    assert scaler.unscale_and_check([p]) is True
    torch.testing.assert_close(p.grad, torch.tensor([1.0, 2.0, 3.0]))
    p.grad = torch.tensor([4.0, 8.0, 12.0])
    assert scaler.unscale_and_check([p]) and scaler.scale == 8.0


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        mixed_precision.set_global_policy("mixed_float8")


# ---------------------------------------------------------------- layers with their own kernels
# Recurrent layers run torch's fused kernels or lamina's sequence kernels, and Conv1D its own
# backward pass and the Embedding -> Conv1D vocabulary path: torch.autocast reaches none of
# them, so each must run in the compute dtype itself. Each case trains under both policies and
# agrees with the float32 model (same weights) on outputs and gradients.
_CASES = {
    "lstm_fused": lambda: [layers.LSTM(8), layers.Dense(1, activation="sigmoid")],
    "lstm_recurrent_dropout": lambda: [
        layers.LSTM(8, recurrent_dropout=0.2),
        layers.Dense(1, activation="sigmoid"),
    ],
    "gru": lambda: [layers.GRU(8, return_sequences=True), layers.GRU(8), layers.Dense(1)],
    "gru_recurrent_dropout": lambda: [layers.GRU(8, recurrent_dropout=0.2), layers.Dense(1)],
    "gru_reset_before": lambda: [layers.GRU(8, reset_after=False), layers.Dense(1)],
    "simple_rnn": lambda: [layers.SimpleRNN(8), layers.Dense(1)],
    "bidirectional_lstm": lambda: [layers.Bidirectional(layers.LSTM(8)), layers.Dense(1)],
}


def _masked_model():
    inp = lamina.Input((30,), dtype="int64")
    emb = layers.Embedding(50, 16, mask_zero=True)(inp)
    seq, h, c = layers.LSTM(8, return_sequences=True, return_state=True)(emb)
    gru = layers.GRU(8)(seq)
    out = layers.Dense(1)(layers.Concatenate()([gru, h, c]))
    return lamina.Model(inp, out)


def _conv_model(case):
    if case == "conv1d_vocabulary":  # 64-channel embeddings of 1000 tokens: the vocabulary path
        first = [lamina.Input((500,), dtype="int64"), layers.Embedding(1000, 64)]
    else:  # 16 x 500 x 64 x 32 x 7 multiply-adds on float input: lamina's GEMM backward
        first = [lamina.Input((500, 64))]
    return lamina.Sequential(
        [*first, layers.Conv1D(32, 7), layers.GlobalMaxPooling1D(), layers.Dense(1)]
    )


def _forward_and_grads(model, x, y, dtype, device):
    """Training-mode output and weight gradients of a squared loss, under autocast if dtype."""
    model.zero_grad(set_to_none=True)
    on = dtype is not None
    with torch.autocast(device, dtype=dtype or torch.bfloat16, enabled=on):
        lamina.utils.set_random_seed(1)  # the same dropout masks in both runs
        out = model(torch.as_tensor(x, device=device), training=True)
        loss = ((out.float() - y) ** 2).mean()
    loss.backward()
    return out, [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize(
    "case", [*_CASES, "masked_lstm_state", "conv1d_gemm_backward", "conv1d_vocabulary"]
)
def test_layers_with_own_kernels_follow_the_policy(device, policy, case, monkeypatch):
    rng = np.random.default_rng(0)
    lamina.config.set_device(device)
    lamina.utils.set_random_seed(0)
    if case == "masked_lstm_state":
        model, vocab, length, batch = _masked_model(), 50, 30, 16
    elif case.startswith("conv1d"):
        model, vocab, length, batch = _conv_model(case), 1000, 500, 16
    else:
        model = lamina.Sequential([layers.Embedding(50, 16), *_CASES[case]()])
        vocab, length, batch = 50, 30, 16
    x = rng.integers(1, vocab, size=(batch, length))
    if case == "conv1d_gemm_backward":
        x = rng.normal(size=(batch, length, 64)).astype("float32")
    kernels = ("conv1d_vocabulary", "conv1d_gemm_backward")
    calls = []
    if case in kernels:  # count the calls of the layer's own kernel
        module = convolutional.evc if case == "conv1d_vocabulary" else convolutional
        name = "embedding_conv1d" if case == "conv1d_vocabulary" else "conv1d_channels_last"
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, **k: calls.append(1) or real(*a, **k))
    if case == "masked_lstm_state":
        x[:, :10] = 0  # left padding
        x[::3, -5:] = 0  # and right padding
    y = torch.as_tensor(rng.random((batch, 1)), dtype=torch.float32, device=device)
    if not model.built:
        model.build((None, length))  # weights drawn before the dropout masks of both runs
    dtype = getattr(torch, mixed_precision.Policy(policy).compute_dtype)
    own = [m for m in model.layers if isinstance(m, (layers.Conv1D, layers.RNN))]
    own += [m.forward_layer for m in model.layers if isinstance(m, layers.Bidirectional)]
    seen = []
    for layer in own:
        layer.register_forward_hook(lambda m, i, o: seen.append(o[0] if isinstance(o, list) else o))

    model.to(device)
    ref_out, ref_grads = _forward_and_grads(model, x, y, None, device)
    assert ref_out.dtype == torch.float32 and {t.dtype for t in seen} == {torch.float32}
    assert len(calls) == (case in kernels and device == "cpu")  # float32: the layer's own
    seen.clear()
    out, grads = _forward_and_grads(model, x, y, dtype, device)
    assert len(calls) == (case in kernels and device == "cpu")  # autocast's convolution now
    # cuDNN's kernels stay float32 under bfloat16 (recurrent_fused.kernel_dtype).
    fused = case in ("lstm_fused", "gru", "simple_rnn", "bidirectional_lstm", "masked_lstm_state")
    want = torch.float32 if device == "cuda" and dtype == torch.bfloat16 and fused else dtype
    if case != "gru_reset_before":  # the reference loop of cell equations: autocast's own mix
        assert seen and all(t.dtype == want for t in seen), [t.dtype for t in seen]
    scale = float(ref_out.detach().abs().max()) + 1e-3
    assert float((out.float() - ref_out).detach().abs().max()) < 0.05 * scale + 0.02
    assert len(grads) == len(ref_grads)
    for g, r in zip(grads, ref_grads):
        assert g.dtype == torch.float32  # the weights stay float32
        cosine = torch.nn.functional.cosine_similarity(g.flatten(), r.flatten(), dim=0)
        assert float(cosine) > 0.97, float(cosine)

    mixed_precision.set_global_policy(policy)
    model.compile("rmsprop", "mse")
    before = [p.detach().clone() for p in model.parameters()]
    # float16 skips steps whose scaled gradients overflow, halving the scale each time
    hist = model.fit(x, y.cpu().numpy(), epochs=6, batch_size=8, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    pred = model.predict(x, verbose=0)
    assert pred.dtype == np.float32 and pred.shape == (batch, 1)


def test_kernel_dtype_keeps_cudnn_in_float32_under_bfloat16_only():
    from types import SimpleNamespace

    from lamina.layers.recurrent_fused import kernel_dtype

    def fake(device_type, dtype=torch.float32):  # a CUDA tensor's attributes, without CUDA
        return SimpleNamespace(
            device=torch.device(device_type), dtype=dtype, is_floating_point=lambda: True
        )

    bf16, fp16, fp32 = torch.bfloat16, torch.float16, torch.float32
    assert kernel_dtype("torch", fake("cuda"), bf16) == fp32
    assert kernel_dtype("torch", fake("cuda"), fp16) == fp16
    assert kernel_dtype("lamina", fake("cuda"), bf16) == bf16
    assert kernel_dtype("torch", fake("cpu"), bf16) == bf16  # oneDNN's LSTM takes bfloat16
    assert kernel_dtype("torch", fake("cuda"), None) == fp32
    ids = torch.zeros(2, 3, dtype=torch.long)
    assert kernel_dtype("lamina", ids, bf16) == torch.long


def test_the_cudnn_weight_copy_warning_is_silenced_for_lamina_calls_only():
    # In a fresh interpreter (pytest manages warnings filters itself): importing lamina hides
    # torch's per-call advice for calls from lamina's recurrent module, and only for those.
    import subprocess
    import sys

    code = (
        "import warnings, lamina\n"
        "m = 'RNN module weights are not part of single contiguous chunk of memory.'\n"
        "for mod in ('lamina.layers.recurrent_fused', 'lamina.layers.recurrent', 'user'):\n"
        "    warnings.warn_explicit(m, UserWarning, mod + '.py', 1, module=mod)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    shown = [line for line in done.stderr.splitlines() if "RNN module weights" in line]
    assert len(shown) == 2 and not any("recurrent_fused" in line for line in shown), shown


@pytest.mark.parametrize("has_units", [False, True])
def test_a_cpu_without_16_bit_arithmetic_is_named_once(has_units, monkeypatch, cpu_only):
    import warnings

    monkeypatch.setattr(mixed_precision, "_cpu_computes", lambda dtype: has_units)
    x, y = _data()
    model = _model()

    def warned(policy, run):
        mixed_precision.set_global_policy(policy)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run()
        return [str(w.message) for w in caught if issubclass(w.category, LaminaWarning)]

    first = warned("mixed_bfloat16", lambda: model.fit(x, y, epochs=1, verbose=0))
    again = warned("mixed_bfloat16", lambda: model.predict(x, verbose=0))
    plain = warned("float32", lambda: model.fit(x, y, epochs=1, verbose=0))
    if has_units:
        assert first == []
    else:
        assert len(first) == 1 and "no bfloat16 arithmetic" in first[0]
        assert "set_global_policy('float32')" in first[0]
    assert again == [] and plain == []  # once per process; float32 needs no 16-bit units


def test_the_16_bit_check_says_nothing_when_torch_cannot_tell(monkeypatch):
    # oneDNN's check answers where torch has it; a torch without it must not make every
    # mixed-precision fit warn about hardware nobody looked at.
    class NoCheck:
        def __getattr__(self, name):
            raise AttributeError(name)

    monkeypatch.setattr(torch.ops, "mkldnn", NoCheck())
    assert mixed_precision._cpu_computes("bfloat16") is True
    assert mixed_precision._cpu_computes("float16") is True
