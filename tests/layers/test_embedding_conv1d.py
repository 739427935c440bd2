"""Embedding -> Conv1D through the vocabulary (lamina/layers/_embedding_conv1d.py): gradcheck of
the gather-sum in float64, the layers' outputs and gradients against PyTorch's convolution of the
embedded tokens, when the path is taken and when it must not be."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lamina
from lamina import layers, models
from lamina.layers import _embedding_conv1d as evc

# The vocabulary path is a CPU path: on a GPU machine lamina would train on CUDA instead.
pytestmark = pytest.mark.usefixtures("cpu_only")


def reference(ids, embeddings, kernel, bias, stride, dilation, padding):
    """PyTorch's conv1d on the embedded tokens, TF's padding rules, channels last."""
    x = F.embedding(ids.long(), embeddings).transpose(1, 2)
    taps = kernel.shape[2]
    span = (taps - 1) * dilation + 1
    if padding == "causal":
        x = F.pad(x, (span - 1, 0))
    elif padding == "same":
        length = ids.shape[1]
        out = -(-length // stride)
        total = max((out - 1) * stride + span - length, 0)
        x = F.pad(x, (total // 2, total - total // 2))
    return F.conv1d(x, kernel, bias, stride, 0, dilation).transpose(1, 2)


def spy(monkeypatch) -> list:
    """Count the calls of the vocabulary path (the calls still run it)."""
    calls: list = []
    real = evc.embedding_conv1d
    monkeypatch.setattr(evc, "embedding_conv1d", lambda *a: calls.append(1) or real(*a))
    return calls


@pytest.mark.parametrize(
    "stride, dilation, padding",
    [(1, 1, "valid"), (2, 1, "same"), (1, 2, "causal"), (3, 1, "valid"), (1, 1, "same")],
)
def test_gradcheck_in_float64(stride, dilation, padding):
    torch.manual_seed(0)
    ids = torch.randint(0, 6, (2, 9))
    emb = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    length, span = 9, 2 * dilation + 1
    if padding == "valid":
        pads = (0, 0)
    elif padding == "causal":
        pads = (span - 1, 0)
    else:
        total = max((-(-length // stride) - 1) * stride + span - length, 0)
        pads = (total // 2, total - total // 2)

    def fn(emb, w, b):
        return evc.embedding_conv1d(ids, emb, w, b, stride, dilation, pads)

    torch.testing.assert_close(fn(emb, w, b), reference(ids, emb, w, b, stride, dilation, padding))
    assert torch.autograd.gradcheck(fn, (emb, w, b))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"padding": "same", "strides": 2},
        {"padding": "causal", "dilation_rate": 3, "use_bias": False},
        {"activation": "relu"},
    ],
)
def test_layers_train_through_the_vocabulary_and_agree_with_the_convolution(kwargs, monkeypatch):
    torch.manual_seed(1)
    emb = layers.Embedding(50, 64)
    conv = layers.Conv1D(6, 5, **kwargs)
    ids = torch.randint(0, 50, (16, 40), dtype=torch.int32)
    conv(emb(ids[:1]))
    calls = spy(monkeypatch)
    y = conv(emb(ids))
    assert calls, "the vocabulary path was not taken"
    weights = [emb.embeddings, conv.kernel] + ([conv.bias] if conv.use_bias else [])
    gy = torch.randn_like(y)
    got = torch.autograd.grad(y, weights, gy)
    want_y = conv.activation(
        reference(
            ids,
            emb.embeddings,
            conv.kernel,
            conv.bias,
            conv.strides[0],
            conv.dilation_rate[0],
            conv.padding,
        )
    )
    torch.testing.assert_close(y, want_y, rtol=1e-5, atol=1e-6)
    want = torch.autograd.grad(want_y, weights, gy)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)


def test_the_cost_model_picks_the_faster_way_for_the_shapes_it_was_fitted_on():
    # (vocab, channels, filters, taps, output steps) timed on the reference machine
    assert evc.cheaper_in_training(10_000, 128, 32, 7, 128 * 494)  # W3: 2x faster
    assert evc.cheaper_in_training(10_000, 128, 32, 7, 64 * 494)  # 0.51x
    assert not evc.cheaper_in_training(10_000, 128, 32, 7, 16 * 494)  # 1.73x slower
    assert not evc.cheaper_in_training(20_000, 100, 64, 5, 32 * 196)  # 2.8x slower
    assert not evc.cheaper_in_training(10_000, 8, 16, 3, 256 * 98)  # 1.15x slower
    assert evc.cheaper_in_inference(128, 32, 7)  # 0.43x
    assert evc.cheaper_in_inference(64, 32, 5)  # 0.63x
    assert not evc.cheaper_in_inference(8, 16, 3)  # 1.7x slower


@pytest.mark.parametrize("vocab, channels", [(10_000, 64), (200, 4)])
def test_not_taken_where_the_convolution_is_cheaper(vocab, channels, monkeypatch):
    emb, conv = layers.Embedding(vocab, channels), layers.Conv1D(4, 3)
    ids = torch.randint(0, vocab, (4, 20))
    conv(emb(ids))  # build
    calls = spy(monkeypatch)
    y = conv(emb(ids))  # a large vocabulary for 4 x 18 steps, or a narrow embedding
    assert not calls and y.requires_grad
    with torch.no_grad():
        conv(emb(ids))  # inference: the table would cost more than 8 such batches / no gain
    assert not calls
    with torch.no_grad():
        conv(emb(torch.randint(0, vocab, (64, 40))))  # 64 x 38 steps: worth making the table
        conv(emb(ids))  # ... which a small batch then uses too
    assert len(calls) == (2 if channels == 64 and vocab <= 8 * 64 * 38 else 0)


def test_a_changed_embedding_output_is_convolved_as_it_is(monkeypatch):
    # 64 channels: unchanged, this output would go through the vocabulary (checked first)
    emb, conv = layers.Embedding(20, 64), layers.Conv1D(3, 3)
    ids = torch.randint(0, 20, (32, 10))
    conv(emb(ids))
    calls = spy(monkeypatch)
    with torch.no_grad():
        conv(emb(ids))
    assert calls, "the unchanged output should take the vocabulary path"
    calls.clear()
    with torch.no_grad():
        x = emb(ids)
        x.mul_(2.0)  # in place: the mark no longer describes the values
        y = conv(x)
    assert not calls
    torch.testing.assert_close(
        y, reference(ids, 2 * emb.embeddings, conv.kernel, conv.bias, 1, 1, "valid")
    )
    scaled = conv(emb(ids) * 2.0)  # a new tensor carries no mark
    assert not calls
    torch.testing.assert_close(scaled, y)


def test_inference_table_is_rebuilt_when_weights_change():
    torch.manual_seed(3)
    model = models.Sequential(
        [layers.Input((12,), dtype="int64"), layers.Embedding(30, 32), layers.Conv1D(4, 3)]
    )
    ids = np.random.default_rng(0).integers(0, 30, (8, 12))
    emb, conv = model.layers

    def expected():
        with torch.no_grad():
            return reference(
                torch.from_numpy(ids), emb.embeddings, conv.kernel, conv.bias, 1, 1, "valid"
            ).numpy()

    np.testing.assert_allclose(model.predict(ids, verbose=0), expected(), rtol=1e-5, atol=1e-6)
    assert "_vocabulary_cache" in conv.__dict__
    weights = model.get_weights()
    model.set_weights([w + 0.5 for w in weights])
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected(), rtol=1e-5, atol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(ids, np.ones((8, 10, 4), np.float32), epochs=1, verbose=0)
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected(), rtol=1e-5, atol=1e-6)


def test_frozen_embeddings_and_a_second_consumer_get_the_right_gradients(monkeypatch):
    torch.manual_seed(4)
    inputs = layers.Input((24,), dtype="int64")
    emb = layers.Embedding(40, 64)
    x = emb(inputs)
    conv_out = layers.GlobalMaxPooling1D()(layers.Conv1D(5, 3)(x))
    avg = layers.GlobalAveragePooling1D()(x)  # the embeddings are also used directly
    model = models.Model(inputs, layers.Dense(1)(layers.Concatenate()([conv_out, avg])))
    ids = torch.randint(0, 40, (64, 24))
    calls = spy(monkeypatch)
    loss = model(ids).square().mean()
    assert calls
    got = torch.autograd.grad(loss, [emb.embeddings] + list(model.layers[2].parameters()))

    def unfused(t):
        return t.clone()  # an unmarked copy: the usual convolution

    conv = model.layers[2]
    out = model.layers[-1](
        torch.cat(
            [
                conv(unfused(emb(ids))).amax(1),
                emb(ids).mean(1),
            ],
            dim=1,
        )
    )
    want = torch.autograd.grad(out.square().mean(), [emb.embeddings] + list(conv.parameters()))
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)

    emb.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    before = emb.embeddings.detach().clone()
    kernel_before = conv.kernel.detach().clone()
    model.fit(ids.numpy(), np.ones((64, 1), np.float32), epochs=1, batch_size=64, verbose=0)
    assert torch.equal(emb.embeddings, before)
    assert not torch.equal(conv.kernel, kernel_before)


def test_imdb_style_convnet_learns_through_the_vocabulary(monkeypatch):
    """A token-presence task the book's 1D convnet solves: label 1 iff token 7 appears."""
    torch.manual_seed(5)
    rng = np.random.default_rng(5)
    ids = rng.integers(8, 200, (1200, 60))
    y = rng.integers(0, 2, (1200, 1)).astype(np.float32)
    where = rng.integers(0, 60, 1200)
    ids[y[:, 0] == 1, where[y[:, 0] == 1]] = 7
    calls = spy(monkeypatch)
    model = models.Sequential(
        [
            layers.Input((60,), dtype="int64"),
            layers.Embedding(200, 64),
            layers.Conv1D(8, 5, activation="relu"),
            layers.GlobalMaxPooling1D(),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=lamina.optimizers.RMSprop(3e-3), loss="binary_crossentropy", metrics=["accuracy"]
    )
    model.fit(ids[:1000], y[:1000], epochs=8, batch_size=64, verbose=0)
    assert calls
    _, acc = model.evaluate(ids[1000:], y[1000:], verbose=0)
    assert acc > 0.95


def test_an_in_place_lambda_in_predict_is_seen(monkeypatch):
    """predict runs in inference mode, where tensors have no version counter; the Embedding's
    output keeps one so that an in-place change before the Conv1D is still noticed."""
    torch.manual_seed(6)
    model = models.Sequential(
        [
            layers.Input((10,), dtype="int64"),
            layers.Embedding(30, 64),
            layers.Lambda(lambda x: x.mul_(2.0)),
            layers.Conv1D(3, 3),
        ]
    )
    ids = np.random.default_rng(1).integers(0, 30, (6, 10))
    emb, conv = model.layers[0], model.layers[2]
    calls = spy(monkeypatch)
    with torch.inference_mode():  # without the Lambda, these shapes take the vocabulary path
        conv(emb(torch.from_numpy(ids)))
    assert calls
    calls.clear()
    got = model.predict(ids, verbose=0)
    assert not calls
    with torch.no_grad():
        want = reference(
            torch.from_numpy(ids), 2 * emb.embeddings, conv.kernel, conv.bias, 1, 1, "valid"
        )
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-6)
