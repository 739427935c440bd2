import hashlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import lamina
from lamina.errors import LaminaWarning
from lamina.preprocessing.text import (
    hashing_trick as classic_hashing_trick,
    one_hot as classic_one_hot,
)
from lamina.text import (
    COLLISION_WARNING_THRESHOLD,
    hashing_collisions,
    hashing_trick,
    one_hot,
    stable_hash,
)

TEXT = "The quick brown fox jumps over the lazy dog"


def md5_index(word, n):
    # Keras's hash_function='md5': int(md5(w.encode()).hexdigest(), 16) % (n - 1) + 1
    return int(hashlib.md5(word.encode()).hexdigest(), 16) % (n - 1) + 1


def test_default_hash_is_md5_as_keras_md5_mode():
    words = TEXT.lower().split()
    expected = [md5_index(w, 10007) for w in words]
    assert one_hot(TEXT, 10007) == expected
    assert hashing_trick(TEXT, 10007) == expected
    assert hashing_trick(TEXT, 10007, hash_function="md5") == expected
    assert classic_one_hot is one_hot and classic_hashing_trick is hashing_trick
    assert stable_hash("é") == int(hashlib.md5("é".encode()).hexdigest(), 16)


def test_indices_in_1_to_n_minus_1():
    idx = hashing_trick(" ".join(f"w{i}" for i in range(300)), 20000)
    assert min(idx) >= 1 and max(idx) <= 19999
    with pytest.warns(LaminaWarning):  # n=3: indices 1 and 2 only
        assert set(hashing_trick(" ".join(f"w{i}" for i in range(30)), 3)) == {1, 2}


def test_same_indices_in_processes_with_different_hash_seeds():
    # The child registers the lamina package without running lamina/__init__.py (which imports
    # torch, seconds per process); lamina.text itself is imported and run as usual.
    pkg_dir = str(Path(lamina.__file__).resolve().parent)
    code = (
        "import json, sys, types; pkg = types.ModuleType('lamina'); "
        f"pkg.__path__ = [{pkg_dir!r}]; sys.modules['lamina'] = pkg; "
        "from lamina.text import one_hot, hashing_trick; "
        f"t = {TEXT!r}; "
        "print(json.dumps([one_hot(t, 10007), hashing_trick(t, 10007, 'md5'), hash('lamina')]))"
    )
    procs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", code],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    (a_onehot, a_md5, a_hash), (b_onehot, b_md5, b_hash) = results
    assert a_hash != b_hash  # the seeds really do change Python's hash()
    here = one_hot(TEXT, 10007)
    assert a_onehot == b_onehot == here == a_md5 == b_md5


def test_callable_hash_function_and_builtin_hash_warning():
    assert hashing_trick("a bb ccc", 10, hash_function=len) == [2, 3, 4]
    with pytest.warns(LaminaWarning, match="randomized per process"):
        hashing_trick("a", 1000, hash_function=hash)
    with pytest.raises(TypeError, match="must return an int"):
        hashing_trick("a", 10, hash_function=lambda w: "x")


@pytest.mark.parametrize("n", [0, 1, 2.5, True])
def test_bad_n(n):
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        one_hot("a b", n)


def test_unknown_hash_name():
    with pytest.raises(ValueError, match="Unknown hash_function 'sha1'"):
        hashing_trick("a", 10, hash_function="sha1")


def test_collision_report_against_brute_force():
    words = [f"word{i}" for i in range(200)] + ["word0"]  # duplicates count once
    n = 150
    report = hashing_collisions(words, n)
    buckets = {}
    for w in dict.fromkeys(words):
        buckets.setdefault(md5_index(w, n), []).append(w)
    colliding = [w for w in dict.fromkeys(words) if len(buckets[md5_index(w, n)]) > 1]
    assert report["num_words"] == 200
    assert report["colliding_words"] == colliding
    assert report["num_colliding"] == len(colliding)
    assert report["rate"] == pytest.approx(len(colliding) / 200)
    assert report["collisions"] == {i: g for i, g in buckets.items() if len(g) > 1}
    assert report["buckets"] == 149
    assert report["expected_rate"] == pytest.approx(1 - (1 - 1 / 149) ** 199)
    # the rate is near the birthday-problem expectation for random hashing
    assert abs(report["rate"] - report["expected_rate"]) < 0.15


def test_suggested_n_is_the_smallest_n_meeting_the_threshold():
    report = hashing_collisions([f"w{i}" for i in range(1000)], 100)
    m = report["suggested_n"] - 1

    def expected(buckets):
        return 1 - (1 - 1 / buckets) ** 999

    assert expected(m) <= COLLISION_WARNING_THRESHOLD < expected(m - 1)
    big = hashing_collisions([f"w{i}" for i in range(1000)], report["suggested_n"] * 10)
    assert big["rate"] < COLLISION_WARNING_THRESHOLD


def test_collision_report_edge_cases():
    assert hashing_collisions([], 10)["rate"] == 0.0
    assert hashing_collisions(["a"], 2) == {
        "rate": 0.0,
        "num_words": 1,
        "num_colliding": 0,
        "colliding_words": [],
        "collisions": {},
        "buckets": 1,
        "expected_rate": 0.0,
        "suggested_n": 2,
    }
    # a word_index dict works: its keys are the words
    assert hashing_collisions({"a": 1, "b": 2}, 2)["rate"] == 1.0


def test_warns_when_text_collides_above_threshold():
    text = " ".join(f"w{i}" for i in range(30))
    assert hashing_collisions(text.split(), 20)["rate"] > COLLISION_WARNING_THRESHOLD
    with pytest.warns(LaminaWarning, match=r"n=20, more than 10% of the text's distinct words"):
        one_hot(text, 20)
    with pytest.warns(LaminaWarning) as record:
        hashing_trick(text, 20)
    assert record[0].filename == __file__  # points at the caller's line


def test_no_warning_at_a_roomy_dimension():
    text = " ".join(f"w{i}" for i in range(30))
    assert hashing_collisions(text.split(), 100_000)["rate"] <= COLLISION_WARNING_THRESHOLD
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one_hot(text, 100_000)
        one_hot("same same same", 2)  # one distinct word cannot collide
