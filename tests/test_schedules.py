"""Learning-rate schedules against Keras's formulas (keras/src/optimizers/schedules), written
out independently here."""

import json
import math

import pytest

from lamina.optimizers import schedules as S

STEPS = [0, 1, 5, 9, 10, 11, 25, 99, 100, 101, 250]


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    s = S.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.9, staircase=staircase)
    for step in STEPS:
        p = step // 10 if staircase else step / 10
        assert s(step) == pytest.approx(0.1 * 0.9**p, rel=1e-12)


def test_piecewise_constant_decay_boundaries_are_inclusive_on_the_left_interval():
    s = S.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [s(x) for x in (0, 10, 11, 20, 21, 1000)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]


@pytest.mark.parametrize("cycle", [False, True])
def test_polynomial_decay(cycle):
    s = S.PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.01, power=0.5, cycle=cycle)
    for step in STEPS:
        if cycle:
            steps = 10 * (1 if step == 0 else math.ceil(step / 10))
            frac = step / steps
        else:
            frac = min(step, 10) / 10
        assert s(step) == pytest.approx((0.1 - 0.01) * (1 - frac) ** 0.5 + 0.01, rel=1e-12)


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay(staircase):
    s = S.InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=staircase)
    for step in STEPS:
        p = step // 10 if staircase else step / 10
        assert s(step) == pytest.approx(0.1 / (1 + 0.5 * p), rel=1e-12)


def test_cosine_decay_without_warmup():
    s = S.CosineDecay(0.1, decay_steps=100, alpha=0.1)
    for step in STEPS:
        frac = min(step, 100) / 100
        want = 0.1 * ((1 - 0.1) * 0.5 * (1 + math.cos(math.pi * frac)) + 0.1)
        assert s(step) == pytest.approx(want, rel=1e-12)


def test_cosine_decay_with_warmup():
    s = S.CosineDecay(0.0, decay_steps=100, alpha=0.0, warmup_target=0.2, warmup_steps=10)
    for step in STEPS:
        if step < 10:
            want = 0.2 * step / 10
        else:
            frac = min(step - 10, 100) / 100
            want = 0.2 * 0.5 * (1 + math.cos(math.pi * frac))
        assert s(step) == pytest.approx(want, rel=1e-12, abs=1e-15)


def sgdr(step, initial, first, t_mul, m_mul, alpha):
    """Walk the periods one by one (Keras computes the same thing in closed form)."""
    start, length, i = 0.0, float(first), 0
    while step >= start + length:
        start, length, i = start + length, length * t_mul, i + 1
    frac = (step - start) / length
    return initial * ((1 - alpha) * m_mul**i * 0.5 * (1 + math.cos(math.pi * frac)) + alpha)


@pytest.mark.parametrize(("t_mul", "m_mul"), [(2.0, 1.0), (1.0, 0.5), (1.5, 0.8)])
def test_cosine_decay_restarts(t_mul, m_mul):
    s = S.CosineDecayRestarts(0.1, first_decay_steps=10, t_mul=t_mul, m_mul=m_mul, alpha=0.05)
    for step in [*STEPS, 29, 30, 31, 69, 70, 71]:
        want = sgdr(step, 0.1, 10, t_mul, m_mul, 0.05)
        assert s(step) == pytest.approx(want, rel=1e-9), step


ALL = [
    S.ExponentialDecay(0.1, 10, 0.9, staircase=True),
    S.PiecewiseConstantDecay([5, 10], [0.1, 0.01, 0.001]),
    S.PolynomialDecay(0.1, 10, cycle=True),
    S.InverseTimeDecay(0.1, 10, 0.5),
    S.CosineDecay(0.1, 100, warmup_target=0.5, warmup_steps=3),
    S.CosineDecayRestarts(0.1, 10, t_mul=3.0),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_config_round_trip(schedule):
    data = json.loads(json.dumps(S.serialize(schedule)))
    assert data["class_name"] == type(schedule).__name__
    rebuilt = S.deserialize(data)
    assert rebuilt.get_config() == schedule.get_config()
    assert [rebuilt(x) for x in STEPS] == [schedule(x) for x in STEPS]
    assert repr(schedule).startswith(f"{type(schedule).__name__}(initial_learning_rate=") or (
        isinstance(schedule, S.PiecewiseConstantDecay)
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="`decay_steps` must be > 0"):
        S.ExponentialDecay(0.1, 0, 0.9)
    with pytest.raises(ValueError, match="should be 1 less than the length of values"):
        S.PiecewiseConstantDecay([1, 2], [0.1])
    with pytest.raises(ValueError, match="`first_decay_steps` must be > 0"):
        S.CosineDecayRestarts(0.1, -1)
    with pytest.raises(ValueError, match="Unknown learning_rate_schedule: 'CosineDecy'"):
        S.deserialize({"class_name": "CosineDecy", "config": {}})
    with pytest.raises(TypeError, match="Could not interpret learning rate schedule"):
        S.get(0.1)


def test_custom_schedule_config_needs_its_arguments_stored():
    class Bad(S.LearningRateSchedule):
        def __init__(self, rate):
            self.r = rate

        def __call__(self, step):
            return self.r

    with pytest.raises(
        NotImplementedError, match=r"stores no attribute for argument\(s\) \['rate'\]"
    ):
        Bad(0.1).get_config()
    with pytest.raises(NotImplementedError, match="must override `__call__"):
        S.LearningRateSchedule()(0)
