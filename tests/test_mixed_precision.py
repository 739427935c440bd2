import numpy as np
import pytest
import torch

import lamina
from lamina import layers, mixed_precision


@pytest.fixture(autouse=True)
def _restore_policy():
    yield
    mixed_precision.set_global_policy("float32")


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


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_policies_train_with_float32_weights(policy):
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
