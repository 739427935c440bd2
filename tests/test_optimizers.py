"""lamina.optimizers against Keras's update formulas written out in NumPy.

The references below are transcribed from the formulas in Keras 3's
``keras/src/optimizers/<name>.py`` (``update_step``) and ``base_optimizer.py`` (clipping, weight
decay, EMA, gradient accumulation), with Keras's documented defaults repeated here as a second
source of truth. Parameters are float64 so the comparison checks the formula, not rounding.
"""

import io
import json

import numpy as np
import pytest
import safetensors.torch
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

import lamina.optimizers as lo
from lamina.errors import LaminaWarning
from lamina.optimizers import schedules
from lamina.optimizers.kernels import _ForeachOptimizer

SHAPES = [(3, 2), (4,)]


# --------------------------------------------------------------------------- NumPy references
def ref_sgd(w, g, s, t, lr, momentum=0.0, nesterov=False):
    if momentum == 0:
        return w - lr * g
    s["m"] = momentum * s.get("m", 0.0) - lr * g
    return w + momentum * s["m"] - lr * g if nesterov else w + s["m"]


def ref_rmsprop(w, g, s, t, lr, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
    denominator = s["v"] + epsilon
    if centered:
        s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g
        denominator = s["v"] - s["a"] ** 2 + epsilon
    increment = lr * g / np.sqrt(denominator)
    if momentum > 0:
        s["m"] = momentum * s.get("m", 0.0) + increment
        return w - s["m"]
    return w - increment


def ref_adam(w, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
    s["v"] = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * (1 - beta_2)
    v = s["v"]
    if amsgrad:
        s["vh"] = v = np.maximum(s.get("vh", 0.0), s["v"])
    alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    return w - s["m"] * alpha / (np.sqrt(v) + epsilon)


def ref_adagrad(w, g, s, t, lr, initial_accumulator_value=0.1, epsilon=1e-7):
    s["acc"] = s.get("acc", initial_accumulator_value) + g * g
    return w - lr * g / np.sqrt(s["acc"] + epsilon)


def ref_adadelta(w, g, s, t, lr, rho=0.95, epsilon=1e-7):
    s["ag"] = rho * s.get("ag", 0.0) + (1 - rho) * g * g
    delta = -np.sqrt(s.get("ad", 0.0) + epsilon) * g / np.sqrt(s["ag"] + epsilon)
    s["ad"] = rho * s.get("ad", 0.0) + (1 - rho) * delta * delta
    return w + lr * delta


def ref_adamax(w, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
    s["u"] = np.maximum(beta_2 * s.get("u", 0.0), np.abs(g))
    return w - lr * s["m"] / ((1 - beta_1**t) * (s["u"] + epsilon))


def ref_nadam(w, g, s, t, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    u_t = beta_1 * (1 - 0.5 * 0.96**t)
    u_next = beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
    s["prod"] = s.get("prod", 1.0) * u_t
    s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - beta_1)
    s["v"] = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * (1 - beta_2)
    m_hat = u_next * s["m"] / (1 - s["prod"] * u_next) + (1 - u_t) * g / (1 - s["prod"])
    v_hat = s["v"] / (1 - beta_2**t)
    return w - m_hat * lr / (np.sqrt(v_hat) + epsilon)


def ref_ftrl(w, g, s, t, lr, learning_rate_power=-0.5, initial_accumulator_value=0.1,
             l1_regularization_strength=0.0, l2_regularization_strength=0.0,
             l2_shrinkage_regularization_strength=0.0, beta=0.0):  # fmt: skip
    acc = s.get("acc", np.full_like(w, initial_accumulator_value))
    linear = s.get("linear", np.zeros_like(w))
    l2 = l2_regularization_strength + beta / (2 * lr)
    g_used = g + 2 * l2_shrinkage_regularization_strength * w
    new_acc = acc + g * g
    p = -learning_rate_power
    linear = linear + g_used - (new_acc**p - acc**p) / lr * w
    quadratic = new_acc**p / lr + 2 * l2
    l1 = l1_regularization_strength
    s["acc"], s["linear"] = new_acc, linear
    return (np.clip(linear, -l1, l1) - linear) / quadratic


def ref_lion(w, g, s, t, lr, beta_1=0.9, beta_2=0.99):
    m = s.get("m", 0.0)
    w = w - lr * np.sign(m * beta_1 + g * (1 - beta_1))
    s["m"] = m * beta_2 + g * (1 - beta_2)
    return w


# name -> (class, reference, Keras's default learning rate)
ALGORITHMS = {
    "sgd": (lo.SGD, ref_sgd, 0.01),
    "rmsprop": (lo.RMSprop, ref_rmsprop, 0.001),
    "adam": (lo.Adam, ref_adam, 0.001),
    "adamw": (lo.AdamW, ref_adam, 0.001),
    "adagrad": (lo.Adagrad, ref_adagrad, 0.001),
    "adadelta": (lo.Adadelta, ref_adadelta, 0.001),
    "adamax": (lo.Adamax, ref_adamax, 0.001),
    "nadam": (lo.Nadam, ref_nadam, 0.001),
    "ftrl": (lo.Ftrl, ref_ftrl, 0.001),
    "lion": (lo.Lion, ref_lion, 0.001),
}
BASE_ARGS = ("learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm")


def reference(name, ws, grad_steps, **kwargs):
    """Keras's apply(): clip, decoupled weight decay (with the step's lr), update_step."""
    _, update, default_lr = ALGORITHMS[name]
    lr = kwargs.pop("learning_rate", default_lr)
    wd = kwargs.pop("weight_decay", 0.004 if name == "adamw" else None)
    clipnorm, clipvalue = kwargs.pop("clipnorm", None), kwargs.pop("clipvalue", None)
    global_clipnorm = kwargs.pop("global_clipnorm", None)
    states = [{} for _ in ws]
    history = []
    for t, grads in enumerate(grad_steps, start=1):
        lr_t = lr(t - 1) if callable(lr) else lr
        if clipnorm:
            grads = [g * clipnorm / max(np.linalg.norm(g), clipnorm) for g in grads]
        elif global_clipnorm:
            total = np.sqrt(sum((g**2).sum() for g in grads))
            grads = [g * global_clipnorm * min(1 / total, 1 / global_clipnorm) for g in grads]
        elif clipvalue:
            grads = [np.clip(g, -clipvalue, clipvalue) for g in grads]
        if wd:
            ws = [w - w * wd * lr_t for w in ws]
        ws = [update(w, g, s, t, lr_t, **kwargs) for w, g, s in zip(ws, grads, states)]
        history.append(ws)
    return history


def make_problem(n_steps=3, seed=0):
    rng = np.random.default_rng(seed)
    ws = [rng.normal(size=s) for s in SHAPES]
    grads = [[rng.normal(size=s) for s in SHAPES] for _ in range(n_steps)]
    return ws, grads


def run_lamina(opt, ws, grad_steps, dtype=torch.float64, rate_as_tensor=False, grads_as=None):
    """The parameters' values after each step. ``grads_as``: a function of (parameter, value)
    making each gradient (default: a new contiguous tensor)."""
    params = [torch.nn.Parameter(torch.tensor(w, dtype=dtype)) for w in ws]
    return run_on(opt, params, grad_steps, rate_as_tensor, grads_as)


def transposed(a, dtype=torch.float64):
    """``a`` as a tensor of its shape stored column by column (a 2-D array), else as usual."""
    t = torch.tensor(a, dtype=dtype)
    return t.T.contiguous().T if t.dim() == 2 else t


def run_on(opt, params, grad_steps, rate_as_tensor=False, grads_as=None):
    dtype = params[0].dtype
    opt.build(params)
    if rate_as_tensor:  # the path of jit_compile's update, uncompiled
        assert isinstance(opt.torch_optimizer, _ForeachOptimizer)
        opt.torch_optimizer._jit_update = opt.torch_optimizer._update_all
    history = []
    for grads in grad_steps:
        for p, g in zip(params, grads):
            p.grad = grads_as(p, g) if grads_as else torch.tensor(g, dtype=dtype)
        opt.step()
        history.append([p.detach().numpy().copy() for p in params])
    return history


CASES = [
    ("sgd", {}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("sgd", {"learning_rate": 0.1, "weight_decay": 0.1}),
    # Keras folds the step's learning rate into the velocity (torch.optim.SGD does not)
    ("sgd", {"learning_rate": schedules.ExponentialDecay(0.1, 1, 0.5), "momentum": 0.9}),
    ("rmsprop", {}),
    ("rmsprop", {"learning_rate": 0.01, "momentum": 0.5}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.9, "rho": 0.8}),
    # a large epsilon tells sqrt(v + eps) (Keras) from sqrt(v) + eps (torch.optim)
    ("rmsprop", {"learning_rate": 0.01, "epsilon": 0.5}),
    ("adam", {}),
    ("adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("adam", {"learning_rate": 0.01, "weight_decay": 0.1, "beta_1": 0.5}),
    ("adam", {"learning_rate": 0.01, "epsilon": 0.5}),
    ("adamw", {}),
    ("adamw", {"learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("adagrad", {}),
    ("adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "epsilon": 0.5}),
    ("adadelta", {}),
    ("adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 0.5}),
    ("adamax", {}),
    ("adamax", {"learning_rate": 0.01, "beta_2": 0.9, "weight_decay": 0.1, "epsilon": 0.5}),
    ("nadam", {}),
    ("nadam", {"learning_rate": 0.01, "beta_1": 0.8, "epsilon": 0.5}),
    ("ftrl", {}),
    (
        "ftrl",
        {
            "learning_rate": 0.1,
            "l1_regularization_strength": 0.01,
            "l2_regularization_strength": 0.1,
            "l2_shrinkage_regularization_strength": 0.05,
            "beta": 0.5,
            "learning_rate_power": -0.7,
        },
    ),  # fmt: skip
    ("lion", {}),
    ("lion", {"learning_rate": 0.01, "beta_1": 0.5, "weight_decay": 0.1}),
]


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=lambda v: str(v))
def test_first_steps_match_keras_formula(name, kwargs):
    ws, grads = make_problem()
    got = run_lamina(ALGORITHMS[name][0](**kwargs), ws, grads)
    want = reference(name, ws, grads, **kwargs)
    for step, (g_step, w_step) in enumerate(zip(got, want)):
        for g, w, w0 in zip(g_step, w_step, ws):  # compare the moves, not the (big) weights
            np.testing.assert_allclose(g - w0, w - w0, rtol=1e-5, atol=1e-12, err_msg=f"{step=}")


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [case for case in CASES if case[0] not in ("adadelta", "nadam")],  # lamina's own kernels
    ids=lambda v: str(v),
)
def test_the_rate_as_a_tensor_computes_the_same_formula(name, kwargs):
    # jit_compile's update receives the learning rate as a 0-dim tensor (a new rate is then no
    # new graph); the formulas must not change with it.
    ws, grads = make_problem()
    got = run_lamina(ALGORITHMS[name][0](**kwargs), ws, grads, rate_as_tensor=True)
    want = reference(name, ws, grads, **kwargs)
    for step, (g_step, w_step) in enumerate(zip(got, want)):
        for g, w, w0 in zip(g_step, w_step, ws):
            np.testing.assert_allclose(g - w0, w - w0, rtol=1e-5, atol=1e-12, err_msg=f"{step=}")


FUSED_CASES = [case for case in CASES if case[0] in ("rmsprop", "adam", "adamw", "adagrad")]


@pytest.mark.parametrize(("name", "kwargs"), FUSED_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_fused_kernels_compute_the_keras_formula(name, kwargs, dtype, monkeypatch):
    # On CPU, Adam / RMSprop / Adagrad run torch's single-pass fused kernels; the formula must
    # stay Keras's. The calls are counted, so a case that silently left the fused path (or a
    # torch without the kernels) fails instead of passing on the foreach path.
    calls = []
    for attr in ("_FUSED_ADAM", "_FUSED_ADAGRAD"):
        kernel = getattr(lo.kernels, attr)
        if kernel is None:
            pytest.skip(f"this torch has no {attr.lower()}")
        counted = lambda *a, _k=kernel, **k: calls.append(1) or _k(*a, **k)  # noqa: E731
        monkeypatch.setattr(lo.kernels, attr, counted)
    ws, grads = make_problem(n_steps=4)
    got = run_lamina(ALGORITHMS[name][0](**kwargs), ws, grads, dtype=dtype)
    want = reference(name, ws, grads, **kwargs)
    rtol = 1e-5 if dtype == torch.float64 else 2e-4
    fused = name != "rmsprop" or not (kwargs.get("momentum") or kwargs.get("centered"))
    assert len(calls) == (4 if fused else 0)
    for step, (g_step, w_step) in enumerate(zip(got, want)):
        for g, w, w0 in zip(g_step, w_step, ws):
            np.testing.assert_allclose(g - w0, w - w0, rtol=rtol, atol=1e-6, err_msg=f"{step=}")


@pytest.mark.parametrize(("name", "kwargs"), FUSED_CASES, ids=lambda v: str(v))
def test_fused_kernels_take_parameters_stored_transposed_but_never_mixed_layouts(
    name, kwargs, monkeypatch
):
    # A small Dense kernel is stored transposed (its .T contiguous). torch's fused kernels walk
    # memory in storage order: with the gradient and slots in the parameter's layout that is
    # the same update, but a gradient in another layout would be paired with the wrong
    # elements without any error, so that case must take the foreach form.
    calls = []
    for attr in ("_FUSED_ADAM", "_FUSED_ADAGRAD"):
        kernel = getattr(lo.kernels, attr)
        counted = lambda *a, _k=kernel, **k: calls.append(1) or _k(*a, **k)  # noqa: E731
        monkeypatch.setattr(lo.kernels, attr, counted)
    fused = name != "rmsprop" or not (kwargs.get("momentum") or kwargs.get("centered"))
    ws, grads = make_problem(n_steps=4)
    want = reference(name, ws, grads, **kwargs)
    same_layout = lambda p, g: torch.empty_like(p).copy_(torch.tensor(g))  # noqa: E731
    contiguous = lambda p, g: torch.tensor(g, dtype=p.dtype)  # noqa: E731
    for grads_as, expect_fused in ((same_layout, fused), (contiguous, False)):
        calls.clear()
        params = [torch.nn.Parameter(transposed(w)) for w in ws]
        assert params[0].stride() == (1, 3)
        got = run_on(ALGORITHMS[name][0](**kwargs), params, grads, grads_as=grads_as)
        assert len(calls) == (4 if expect_fused else 0)
        for step, (g_step, w_step) in enumerate(zip(got, want)):
            for g, w, w0 in zip(g_step, w_step, ws):
                np.testing.assert_allclose(g - w0, w - w0, rtol=1e-5, atol=1e-12, err_msg=str(step))


def test_a_column_kernel_stays_on_the_fused_path_whatever_its_size_1_stride(monkeypatch):
    # A (n, 1) kernel (Dense(1)) is contiguous with strides (1, 1); its gradient may come as
    # (1, n): the same memory order, since a size-1 axis has no order. Comparing raw strides
    # would send it to the slower foreach form.
    calls = []
    kernel = lo.kernels._FUSED_ADAGRAD
    monkeypatch.setattr(
        lo.kernels, "_FUSED_ADAGRAD", lambda *a, **k: calls.append(1) or kernel(*a, **k)
    )
    ws = [np.arange(1.0, 6.0).reshape(5, 1)]
    grads = [[np.linspace(-1, 1, 5).reshape(5, 1)] for _ in range(3)]
    as_row = lambda p, g: torch.tensor(g.ravel()).as_strided((5, 1), (1, 5))  # noqa: E731
    assert as_row(None, grads[0][0]).stride() == (1, 5)
    got = run_on(lo.RMSprop(learning_rate=0.1), [torch.nn.Parameter(torch.tensor(ws[0]))],
                 grads, grads_as=as_row)  # fmt: skip
    assert len(calls) == 3
    want = reference("rmsprop", ws, grads, learning_rate=0.1)
    for g_step, w_step in zip(got, want):
        np.testing.assert_allclose(g_step[0], w_step[0], rtol=1e-6)


@pytest.mark.parametrize("name", ["rmsprop", "adam", "adagrad"])
def test_loaded_slots_take_the_layout_of_their_parameter(name):
    # A saved state comes back contiguous; the slots of a parameter stored transposed are put
    # back in its layout, or every later step would leave the fused path.
    ws, grads = make_problem(n_steps=2)
    params = [torch.nn.Parameter(transposed(w)) for w in ws]
    first = ALGORITHMS[name][0](learning_rate=0.01)
    run_on(first, params, grads)
    saved = first.torch_optimizer.state_dict()
    matrices = {k for k, v in saved["state"][0].items() if torch.is_tensor(v) and v.dim() == 2}
    assert matrices and all(saved["state"][0][k].stride() == (1, 3) for k in matrices)
    for slots in saved["state"].values():
        for k, v in slots.items():
            slots[k] = v.contiguous() if torch.is_tensor(v) else v
    second = ALGORITHMS[name][0](learning_rate=0.01)
    second.build(params)
    second.torch_optimizer.load_state_dict(saved)
    loaded = second.torch_optimizer.state[params[0]]
    assert all(loaded[k].stride() == (1, 3) for k in matrices)
    for k in matrices:
        torch.testing.assert_close(loaded[k], saved["state"][0][k])


@pytest.mark.parametrize("name", ["rmsprop", "adam", "adagrad"])
def test_fused_updates_are_seen_by_version_counters_and_weight_caches(name):
    # torch's fused kernels write through data pointers and leave version counters alone; a
    # Dense layer caches its inference kernel by the weights' versions, so without a bump its
    # next inference call (validation inside fit) would use the weights of before the update.
    from lamina import layers

    dense = layers.Dense(3)
    x = torch.randn(5, 4)
    before = dense(x).detach().clone()  # inference call: fills the cache
    opt = ALGORITHMS[name][0](learning_rate=0.1)
    opt.build(list(dense.parameters()))
    versions = [p._version for p in dense.parameters()]
    for p in dense.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    assert all(p._version > v for p, v in zip(dense.parameters(), versions))
    after = dense(x)
    want = x @ dense.kernel.detach() + dense.bias.detach()
    torch.testing.assert_close(after, want)
    assert not torch.allclose(after, before)


@pytest.mark.parametrize(("name", "kwargs"), FUSED_CASES, ids=lambda v: str(v))
def test_without_fused_kernels_the_foreach_form_computes_the_same(name, kwargs, monkeypatch):
    # the path of CUDA, other devices and torch releases without the fused kernels
    monkeypatch.setattr(lo.kernels, "_FUSED_ADAM", None)
    monkeypatch.setattr(lo.kernels, "_FUSED_ADAGRAD", None)
    ws, grads = make_problem(n_steps=4)
    got = run_lamina(ALGORITHMS[name][0](**kwargs), ws, grads)
    want = reference(name, ws, grads, **kwargs)
    for step, (g_step, w_step) in enumerate(zip(got, want)):
        for g, w, w0 in zip(g_step, w_step, ws):
            np.testing.assert_allclose(g - w0, w - w0, rtol=1e-5, atol=1e-12, err_msg=f"{step=}")


def test_stored_velocity_decodes_to_keras_velocity_and_follows_rho_changes():
    # RMSprop keeps s = (v + eps) / (1 - rho); the state says so, s decodes to Keras's v, and a
    # new rho mid-run re-encodes the slot so the formula continues with the new rho.
    ws, grads = make_problem(n_steps=4)
    params = [torch.nn.Parameter(torch.tensor(w)) for w in ws]
    kernel = lo.kernels.KerasRMSprop(params, lr=0.01, rho=0.9, eps=0.5)
    ref_states = [{} for _ in ws]
    want = list(ws)
    for t, step_grads in enumerate(grads, start=1):
        rho = 0.9 if t <= 2 else 0.6
        kernel.param_groups[0]["rho"] = rho
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g)
        kernel.step()
        want = [ref_rmsprop(w, g, st, t, 0.01, rho=rho, epsilon=0.5)
                for w, g, st in zip(want, step_grads, ref_states)]  # fmt: skip
        for p, w in zip(params, want):
            np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-12, err_msg=f"{t=}")
    form = kernel.state_dict()["param_groups"][0]["stored_form"]
    name, stored, scale, shift = form
    assert (name, stored) == ("velocity", "scaled_velocity") and scale == pytest.approx(1 / 0.4)
    for p, st in zip(params, ref_states):
        v = (kernel.state[p][stored] - shift) / scale
        np.testing.assert_allclose(v.numpy(), st["v"], rtol=1e-10)
        assert "velocity" not in kernel.state[p]


@pytest.mark.parametrize("direction", ["plain-to-stored", "stored-to-plain"])
def test_state_saved_in_the_other_form_loads_and_resumes(direction):
    # A plain velocity (an older lamina, or RMSprop with momentum) loads into an RMSprop that
    # keeps it scaled, and the reverse; the run continues on Keras's formula.
    ws, grads = make_problem(n_steps=4)
    params = [torch.nn.Parameter(torch.tensor(w)) for w in ws]
    source = lo.kernels.KerasRMSprop(params, lr=0.01, eps=0.5)
    for step_grads in grads[:2]:
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g)
        source.step()
    sd = source.state_dict()
    group = sd["param_groups"][0]
    if direction == "plain-to-stored":  # write the state out as a plain velocity
        name, stored, scale, shift = group.pop("stored_form")
        sd["state"] = {i: {name: (st[stored] - shift) / scale} for i, st in sd["state"].items()}
    copies = [torch.nn.Parameter(p.detach().clone()) for p in params]
    target = lo.kernels.KerasRMSprop(copies, lr=0.01, eps=0.5)
    target.load_state_dict(sd)
    if direction == "stored-to-plain":  # the loaded stored form, now under momentum 0 -> none
        target.param_groups[0]["centered"] = True
        target.param_groups[0]["rho"] = 0.9
    for step_grads in grads[2:]:
        for p, g in zip(copies, step_grads):
            p.grad = torch.tensor(g)
        target.step()
    ref_states = [{} for _ in ws]
    want = list(ws)
    for t, step_grads in enumerate(grads, start=1):
        centered = direction == "stored-to-plain" and t > 2
        if centered:  # the reference starts its average gradient at 0 at the switch, as lamina
            for st in ref_states:
                st.setdefault("a", 0.0)
        want = [ref_rmsprop(w, g, st, t, 0.01, epsilon=0.5, centered=centered)
                for w, g, st in zip(want, step_grads, ref_states)]  # fmt: skip
    for p, w in zip(copies, want):
        np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-10)
    assert all(len([k for k in target.state[p] if "velocity" in k]) == 1 for p in copies)


@pytest.mark.parametrize(
    "clip", [{"clipnorm": 0.5}, {"clipvalue": 0.3}, {"global_clipnorm": 0.7}], ids=str
)
@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_gradient_clipping_matches_keras(name, clip):
    ws, grads = make_problem()
    kwargs = {"learning_rate": 0.1, **clip}
    got = run_lamina(ALGORITHMS[name][0](**kwargs), ws, grads)
    want = reference(name, ws, grads, **kwargs)
    for g, w, w0 in zip(got[-1], want[-1], ws):
        np.testing.assert_allclose(g - w0, w - w0, rtol=1e-5)


def test_clipnorm_actually_clips():
    w = torch.nn.Parameter(torch.zeros(2))
    opt = lo.SGD(learning_rate=1.0, clipnorm=1.0)
    opt.build([w])
    w.grad = torch.tensor([3.0, 4.0])
    opt.step()
    torch.testing.assert_close(w.detach(), torch.tensor([-0.6, -0.8]))


def test_only_one_clipping_argument():
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue`"):
        lo.Adam(clipnorm=1.0, clipvalue=1.0)


def sgd_on_one_weight(**kwargs):
    w = torch.nn.Parameter(torch.tensor([0.0], dtype=torch.float64))
    return w, lo.SGD(**kwargs)


def step_with_grad(opt, w, g=1.0):
    before = w.item()
    w.grad = torch.tensor([g], dtype=torch.float64)
    opt.step()
    return before - w.item()  # = lr * g for plain SGD


def test_learning_rate_setter_before_and_after_build():
    w, opt = sgd_on_one_weight(learning_rate=0.1)
    assert not opt._lr_is_scheduled  # the trainer logs the rate only once it can change
    opt.learning_rate = 0.5
    assert opt._lr_is_scheduled
    assert opt.learning_rate == 0.5
    opt.build([w])
    assert step_with_grad(opt, w) == pytest.approx(0.5)
    opt.learning_rate = 0.25
    assert opt.learning_rate == 0.25
    assert step_with_grad(opt, w) == pytest.approx(0.25)
    assert opt.get_config()["learning_rate"] == 0.25


def test_schedule_drives_learning_rate_each_step():
    schedule = schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    w, opt = sgd_on_one_weight(learning_rate=schedule)
    opt.build([w])
    for i in range(4):
        assert opt.learning_rate == pytest.approx(0.1 * 0.5**i)
        assert step_with_grad(opt, w) == pytest.approx(0.1 * 0.5**i)
    with pytest.raises(TypeError, match="cannot be set to a float"):
        opt.learning_rate = 0.1


def test_schedule_matches_keras_in_adam():
    schedule = schedules.PiecewiseConstantDecay([1], [0.1, 0.01])
    ws, grads = make_problem()
    got = run_lamina(lo.Adam(learning_rate=schedule, weight_decay=0.1), ws, grads)
    want = reference("adam", ws, grads, learning_rate=schedule, weight_decay=0.1)
    for g, w, w0 in zip(got[-1], want[-1], ws):
        np.testing.assert_allclose(g - w0, w - w0, rtol=1e-5)


def test_callable_learning_rate_and_legacy_arguments():
    rate = {"value": 0.2}
    w, opt = sgd_on_one_weight(learning_rate=lambda: rate["value"])
    opt.build([w])
    assert step_with_grad(opt, w) == pytest.approx(0.2)
    rate["value"] = 0.3
    assert step_with_grad(opt, w) == pytest.approx(0.3)
    with pytest.warns(LaminaWarning, match="plain callable learning rate cannot be saved"):
        assert opt.get_config()["learning_rate"] == 0.3
    w, old = sgd_on_one_weight(lr=0.5, decay=1.0)  # Keras 2: lr / (1 + decay * iterations)
    old.build([w])
    assert [step_with_grad(old, w) for _ in range(3)] == pytest.approx([0.5, 0.25, 0.5 / 3])


@pytest.mark.parametrize("bad", [-0.1, "0.1", None])
def test_bad_learning_rate(bad):
    with pytest.raises(ValueError, match="`learning_rate` should be a float"):
        lo.RMSprop(learning_rate=bad)


def test_torch_lr_scheduler_on_the_underlying_optimizer():
    w, opt = sgd_on_one_weight(learning_rate=1.0)
    opt.build([w])
    scheduler = torch.optim.lr_scheduler.StepLR(opt.torch_optimizer, step_size=1, gamma=0.5)
    step_with_grad(opt, w)
    scheduler.step()
    assert opt.learning_rate == 0.5
    assert step_with_grad(opt, w) == pytest.approx(0.5)


def test_step_hooks_and_schedulers_still_see_every_step(recwarn):
    """lamina skips torch.optim's step wrapper only when nothing listens: step hooks (on the
    optimizer or global) run, and a torch scheduler sees the step (no "scheduler.step() before
    optimizer.step()" warning)."""
    w, opt = sgd_on_one_weight(learning_rate=1.0)
    opt.build([w])
    seen = []
    pre = opt.torch_optimizer.register_step_pre_hook(lambda o, a, k: seen.append("pre"))
    assert step_with_grad(opt, w) == pytest.approx(1.0)
    pre.remove()
    post = register_optimizer_step_post_hook(lambda o, a, k: seen.append("global post"))
    try:
        step_with_grad(opt, w)
    finally:
        post.remove()
    step_with_grad(opt, w)
    assert seen == ["pre", "global post"]  # each hook once; removed hooks are not called
    scheduler = torch.optim.lr_scheduler.StepLR(opt.torch_optimizer, step_size=1, gamma=0.5)
    for expected in (1.0, 0.5, 0.25):
        assert step_with_grad(opt, w) == pytest.approx(expected)
        scheduler.step()
    assert not [r for r in recwarn if "lr_scheduler.step()" in str(r.message)]


def test_weight_decay_exclusion():
    a = torch.nn.Parameter(torch.ones(2))
    b = torch.nn.Parameter(torch.ones(2))
    b.path = "dense/bias"
    c = torch.nn.Parameter(torch.ones(2))
    opt = lo.SGD(learning_rate=0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[a], var_names=["bias"])
    opt.build([a, b, c])
    for p in (a, b, c):
        p.grad = torch.zeros(2)
    opt.step()
    assert a.tolist() == [1.0, 1.0] and b.tolist() == [1.0, 1.0]
    assert c.detach().tolist() == pytest.approx([0.95, 0.95])


def test_ema_follows_keras_and_finalize_copies_it():
    ws, grads = make_problem(n_steps=3)
    opt = lo.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.9)
    got = run_lamina(opt, ws, grads)
    averages = [w.copy() for w in got[0]]  # the first step sets the average to the weights
    for step in got[1:]:
        averages = [0.9 * a + 0.1 * w for a, w in zip(averages, step)]
    opt.finalize_variable_values()
    for p, a in zip(opt._params, averages):
        np.testing.assert_allclose(p.detach().numpy(), a, rtol=1e-12)


def test_ema_overwrite_frequency():
    w, opt = sgd_on_one_weight(learning_rate=1.0, use_ema=True, ema_momentum=0.5,
                               ema_overwrite_frequency=2)  # fmt: skip
    opt.build([w])
    step_with_grad(opt, w)  # w = -1, avg = -1
    step_with_grad(opt, w)  # w = -2, avg = -1.5, overwritten
    assert w.item() == -1.5


def test_gradient_accumulation_uses_mean_gradient():
    w, opt = sgd_on_one_weight(learning_rate=1.0, gradient_accumulation_steps=2)
    opt.build([w])
    assert step_with_grad(opt, w, 1.0) == 0.0 and opt.iterations == 0
    assert step_with_grad(opt, w, 3.0) == pytest.approx(2.0) and opt.iterations == 1


def test_loss_scale_factor_unscales_gradients():
    w, opt = sgd_on_one_weight(learning_rate=1.0, loss_scale_factor=8.0)
    opt.build([w])
    assert opt.scale_loss(torch.tensor(2.0)).item() == 16.0
    assert step_with_grad(opt, w, 8.0) == pytest.approx(1.0)


def test_lifecycle_errors_and_zero_grad():
    w, opt = sgd_on_one_weight()
    with pytest.raises(RuntimeError, match=r"call optimizer.build\(parameters\)"):
        opt.step()
    opt.build([w])
    opt.build([w])  # idempotent
    with pytest.raises(ValueError, match="already built for 1 other parameters"):
        opt.build([torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(ValueError, match="No gradients provided for any parameter"):
        opt.step()
    w.grad = torch.ones(1, dtype=torch.float64)
    opt.zero_grad()
    assert w.grad is None


def test_apply_gradients_and_variables():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    v = torch.nn.Parameter(torch.tensor([3.0]))
    opt = lo.Adam(learning_rate=0.1)
    opt.apply_gradients(zip([torch.tensor([1.0, 1.0]), torch.tensor([-1.0])], [w, v]))
    assert opt.iterations == 1
    torch.testing.assert_close(w.detach(), torch.tensor([0.9, 1.9]))
    shapes = [tuple(t.shape) for t in opt.variables]
    assert shapes == [(2,), (1,), (2,), (1,)]  # momentums, then velocities (Keras order)


def test_argument_validation_messages():
    with pytest.raises(ValueError, match="`momentum` must be a float in"):
        lo.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="`weight_decay` must be a float"):
        lo.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="degenerates to SignSGD"):
        lo.Lion(beta_1=0.0)
    with pytest.raises(ValueError, match="`learning_rate_power` must be <= 0"):
        lo.Ftrl(learning_rate_power=0.5)
    with pytest.raises(TypeError, match="unexpected keyword argument 'rhoo'"):
        lo.RMSprop(rhoo=0.9)


# --------------------------------------------------------------------------- state round trip
def grads_for(step, params):
    g = torch.Generator().manual_seed(100 + step)
    return [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in params]


def train(opt, params, steps, start=0):
    for i in range(start, start + steps):
        for p, g in zip(params, grads_for(i, params)):
            p.grad = g
        opt.step()


def through_disk(opt):
    """What saving does: tensors through safetensors, the rest through JSON."""
    blob = safetensors.torch.save(opt.get_state_tensors())
    text = json.dumps(opt.get_state_json())
    return safetensors.torch.load(blob), json.loads(text)


ROUND_TRIP = [
    lo.SGD(learning_rate=0.1, momentum=0.9),
    lo.RMSprop(),  # its velocity is kept scaled and shifted (the fused kernel's form)
    lo.RMSprop(centered=True, momentum=0.5),
    lo.Adam(amsgrad=True, learning_rate=schedules.CosineDecay(0.01, 10)),
    lo.AdamW(),
    lo.Adagrad(),
    lo.Adadelta(learning_rate=1.0),
    lo.Adamax(),
    lo.Nadam(),
    lo.Ftrl(learning_rate=0.1),
    lo.Lion(),
    lo.SGD(learning_rate=0.1, use_ema=True, gradient_accumulation_steps=3),
    lo.TorchOptimizer("Adam", lr=0.01),
]


@pytest.mark.parametrize("prototype", ROUND_TRIP, ids=repr)
@pytest.mark.parametrize("load_before_build", [True, False], ids=["before-build", "after-build"])
def test_state_round_trip_resumes_exactly(prototype, load_before_build):
    config = prototype.get_config()
    params = [torch.nn.Parameter(torch.randn(s)) for s in SHAPES]
    copies = [torch.nn.Parameter(p.detach().clone()) for p in params]

    straight = type(prototype).from_config(config)
    straight.build(params)
    train(straight, params, 4)

    first = type(prototype).from_config(config)
    first.build(copies)
    train(first, copies, 2)
    tensors, meta = through_disk(first)
    resumed_params = [torch.nn.Parameter(p.detach().clone()) for p in copies]
    resumed = type(prototype).from_config(config)
    if load_before_build:
        resumed.set_state_json(meta)
        resumed.set_state_tensors(tensors)
        assert resumed.iterations == first.iterations
        resumed.build(resumed_params)
    else:
        resumed.build(resumed_params)
        resumed.load_state_dict({"tensors": tensors, "json": meta})
    train(resumed, resumed_params, 2, start=2)

    assert resumed.iterations == straight.iterations
    for a, b in zip(resumed_params, params):
        assert torch.equal(a, b)
    assert resumed.learning_rate == straight.learning_rate


@pytest.mark.parametrize("prototype", [lo.RMSprop(), lo.Adagrad()], ids=repr)
def test_a_loaded_stored_slot_replaces_the_fresh_one(prototype):
    # A freshly built RMSprop holds a plain (zero) velocity until its first step; loading a
    # saved scaled velocity must replace it, not sit beside it (one slot per weight).
    params = [torch.nn.Parameter(torch.randn(s)) for s in SHAPES]
    first = type(prototype).from_config(prototype.get_config())
    first.build(params)
    train(first, params, 2)
    resumed = type(prototype).from_config(prototype.get_config())
    resumed.build([torch.nn.Parameter(p.detach().clone()) for p in params])
    resumed.load_state_dict(first.state_dict())
    assert len(resumed.variables) == len(params)
    for a, b in zip(resumed.variables, first.variables):
        assert torch.equal(a, b)


def test_state_errors_are_clear():
    params = [torch.nn.Parameter(torch.randn(s)) for s in SHAPES]
    adam = lo.Adam()
    adam.build(params)
    train(adam, params, 1)
    with pytest.raises(ValueError, match="saved by Adam; it cannot be loaded into RMSprop"):
        lo.RMSprop().set_state_json(adam.get_state_json())
    other = lo.Adam()
    other.build([torch.nn.Parameter(torch.randn(5, 2)), torch.nn.Parameter(torch.randn(4))])
    with pytest.raises(ValueError, match=r"has shape \(3, 2\) in the saved state but \(5, 2\)"):
        other.set_state_tensors(adam.get_state_tensors())
    with pytest.raises(ValueError, match="is not '<parameter index>.<slot name>'"):
        other.set_state_tensors({"7.momentum": torch.zeros(1)})
    with pytest.raises(ValueError, match="expects the dict returned by get_state_json"):
        other.set_state_json({"iterations": 3})


def test_state_dict_is_tensors_plus_json():
    params = [torch.nn.Parameter(torch.randn(s)) for s in SHAPES]
    opt = lo.RMSprop(momentum=0.9)
    opt.build(params)
    train(opt, params, 2)
    sd = opt.state_dict()
    assert sorted(sd["tensors"]) == ["0.momentum", "0.velocity", "1.momentum", "1.velocity"]
    assert sd["json"]["iterations"] == 2 and sd["json"]["param_groups"][0]["rho"] == 0.9
    safetensors.torch.save(sd["tensors"])
    json.dumps(sd["json"])


# --------------------------------------------------------------------------- torch optimizers
def test_wrapping_a_torch_optimizer_instance():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    torch_opt = torch.optim.SGD([w], lr=0.5, momentum=0.9)
    opt = lo.get(torch_opt)
    assert isinstance(opt, lo.TorchOptimizer) and opt.torch_optimizer is torch_opt
    opt.build([w])
    w.grad = torch.tensor([1.0])
    opt.step()
    assert w.item() == 0.5 and opt.iterations == 1
    opt.learning_rate = 0.1
    assert torch_opt.param_groups[0]["lr"] == 0.1
    rebuilt = lo.TorchOptimizer.from_config(opt.get_config())
    assert rebuilt.get_config() == opt.get_config()
    with pytest.raises(ValueError, match="shares no parameter with the model"):
        lo.TorchOptimizer(torch.optim.SGD([w], lr=0.1)).build([torch.nn.Parameter(torch.ones(1))])


def test_torch_optimizer_by_name_and_errors():
    opt = lo.get(torch.optim.Adagrad)
    assert opt.learning_rate == 0.01  # torch's default
    with pytest.raises(ValueError, match="Unknown torch.optim optimizer 'Adamm'"):
        lo.TorchOptimizer("Adamm")
    with pytest.raises(TypeError, match="apply only when TorchOptimizer builds"):
        lo.TorchOptimizer(torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1), lr=2)


# --------------------------------------------------------------------------- registry-wide
def registered_classes():
    return sorted(
        {lo.OPTIMIZERS.lookup(n) for n in lo.OPTIMIZERS.names()}, key=lambda c: c.__name__
    )


def instance_of(cls):
    return cls("Adam", lr=0.01) if cls is lo.TorchOptimizer else cls()


@pytest.mark.parametrize("cls", registered_classes(), ids=lambda c: c.__name__)
def test_registry_conformance(cls):
    opt = instance_of(cls)
    if cls is not lo.TorchOptimizer:
        assert type(lo.get(cls.__name__.lower())) is cls
        assert repr(opt) == f"{cls.__name__}(learning_rate={opt.learning_rate!r})"
    config = opt.get_config()
    json.dumps(config)
    assert cls.from_config(config).get_config() == config
    assert lo.deserialize(json.loads(json.dumps(lo.serialize(opt)))).get_config() == config
    assert type(lo.get(lo.serialize(opt))) is cls


def test_keras_config_names_and_defaults():
    config = lo.RMSprop().get_config()
    assert config == {
        "name": "rmsprop", "learning_rate": 0.001, "weight_decay": None, "clipnorm": None,
        "clipvalue": None, "global_clipnorm": None, "use_ema": False, "ema_momentum": 0.99,
        "ema_overwrite_frequency": None, "loss_scale_factor": None,
        "gradient_accumulation_steps": None, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
        "centered": False,
    }  # fmt: skip
    assert lo.SGD().learning_rate == 0.01 and lo.Adadelta().learning_rate == 0.001
    scheduled = lo.SGD(learning_rate=schedules.InverseTimeDecay(0.1, 10, 0.5)).get_config()
    assert scheduled["learning_rate"]["class_name"] == "InverseTimeDecay"
    assert isinstance(lo.SGD.from_config(scheduled)._learning_rate, schedules.InverseTimeDecay)


def test_misspelled_name_suggests_the_right_one():
    with pytest.raises(ValueError, match="Unknown optimizer: 'rmsporp'. Did you mean 'rmsprop'"):
        lo.get("rmsporp")
    assert type(lo.get("RMSProp")) is lo.RMSprop
    with pytest.raises(TypeError, match="Could not interpret optimizer identifier 3"):
        lo.get(3)


# --------------------------------------------------------------------------- convergence
CONVERGENCE = {
    "sgd": {"learning_rate": 0.1, "momentum": 0.5},
    "rmsprop": {"learning_rate": 0.02},
    "adam": {"learning_rate": 0.05},
    "adamw": {"learning_rate": 0.05, "weight_decay": 0.001},
    "adagrad": {"learning_rate": 0.5},
    "adadelta": {"learning_rate": 30.0},
    "adamax": {"learning_rate": 0.05},
    "nadam": {"learning_rate": 0.05},
    "ftrl": {"learning_rate": 0.5},
    "lion": {"learning_rate": 0.03},
}


@pytest.mark.parametrize("name", sorted(CONVERGENCE))
def test_minimizes_a_quadratic(name):
    target = torch.tensor([1.0, -2.0, 0.5, 3.0])
    scales = torch.tensor([1.0, 2.0, 0.5, 1.5])
    w = torch.nn.Parameter(torch.zeros(4))
    opt = lo.get(name)
    opt = type(opt)(**CONVERGENCE[name])
    opt.build([w])

    def loss():
        return (scales * (w - target) ** 2).sum()

    start = loss().item()
    for _ in range(300):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < 1e-2 * start, f"{name}: {start} -> {loss().item()}"


def test_kernels_are_plain_torch_optimizers():
    w = torch.nn.Parameter(torch.tensor([1.0]))
    kernel = lo.kernels.KerasAdam([w], lr=0.1)
    assert isinstance(kernel, torch.optim.Optimizer)
    buffer = io.BytesIO()
    torch.save(kernel.state_dict(), buffer)
    w.grad = torch.tensor([1.0])
    kernel.step()
    assert kernel.param_groups[0]["step"] == 1 and w.item() == pytest.approx(0.9)
