"""Conv1D's own backward pass (lamina/layers/_conv1d_backward.py) against autograd through
PyTorch's convolution: gradcheck in float64, and the layer's two paths in float32."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lamina import layers
from lamina.layers._conv1d_backward import conv1d_channels_last


@pytest.mark.parametrize("dilation", [1, 3])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("length", [7, 30])  # 7: fewer rows than chunks after the reach
def test_gradcheck_in_float64(dilation, bias, length):
    torch.manual_seed(0)
    x = torch.randn(2, length, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True) if bias else None
    args = (x, w, b) if bias else (x, w)
    fn = (
        (lambda x, w, b: conv1d_channels_last(x, w, b, dilation))
        if bias
        else (lambda x, w: conv1d_channels_last(x, w, None, dilation))
    )
    assert torch.autograd.gradcheck(fn, args)


def test_matches_torch_conv1d_in_float32():
    torch.manual_seed(1)
    x = torch.randn(5, 60, 8, requires_grad=True)
    w = torch.randn(6, 8, 4, requires_grad=True)
    b = torch.randn(6, requires_grad=True)
    ours = conv1d_channels_last(x, w, b, 2)
    ref = F.conv1d(x.transpose(1, 2), w, b, dilation=2).transpose(1, 2)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    gy = torch.randn_like(ref)
    got = torch.autograd.grad(ours, (x, w, b), gy)
    want = torch.autograd.grad(ref, (x, w, b), gy)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_layer_uses_it_when_training_and_agrees_with_the_onednn_path(padding, monkeypatch):
    torch.manual_seed(2)
    layer = layers.Conv1D(32, 7, padding=padding, dilation_rate=2, activation="relu")
    x = torch.randn(16, 300, 32, requires_grad=True)  # 16*300*32*32*7 = 34M multiply-adds
    layer(x[:1])
    y = layer(x)
    assert type(y.grad_fn.next_functions[0][0]).__name__ == "Conv1dChannelsLastBackward"
    gy = torch.randn_like(y)
    got = torch.autograd.grad(y, (x, layer.kernel, layer.bias), gy)
    monkeypatch.setattr(layers.Conv1D, "_gemm_backward", lambda self, inputs: False)
    y_ref = layer(x)
    assert "Conv1dChannelsLast" not in type(y_ref.grad_fn.next_functions[0][0]).__name__
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    want = torch.autograd.grad(y_ref, (x, layer.kernel, layer.bias), gy)
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-3)


def test_not_used_for_inference_small_work_strides_or_groups():
    x = torch.randn(16, 300, 32)

    def built(**kwargs):
        layer = layers.Conv1D(32, 7, **kwargs)
        layer(x[:1])
        return layer

    big = built()
    assert big._gemm_backward(x)  # the kernel wants a gradient
    with torch.no_grad():
        assert not big._gemm_backward(x)
    big.trainable = False
    assert not big._gemm_backward(x)  # nothing wants a gradient
    assert not built()._gemm_backward(x[:, :20])  # too little work
    assert not built(strides=2)._gemm_backward(x)
    assert not built(groups=4)._gemm_backward(x)
