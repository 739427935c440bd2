import pytest

from lamina.text import DEFAULT_FILTERS, ngrams, text_to_char_sequence, text_to_word_sequence


def test_word_sequence_lowers_filters_and_drops_empty_tokens():
    assert text_to_word_sequence("The cat,  sat.\tOn the MAT!") == [
        "the",
        "cat",
        "sat",
        "on",
        "the",
        "mat",
    ]
    # the apostrophe is kept by the default filters (Keras)
    assert "'" not in DEFAULT_FILTERS
    assert text_to_word_sequence("Don't stop") == ["don't", "stop"]


def test_word_sequence_options():
    assert text_to_word_sequence("A-B c", lower=False) == ["A", "B", "c"]
    assert text_to_word_sequence("a-b c", filters="") == ["a-b", "c"]
    assert text_to_word_sequence("a,b;c", split=",", filters=";") == ["a", "b", "c"]
    assert text_to_word_sequence("a1b2c", split=lambda s: s.split("1"), filters="2") == [
        "a",
        "b c",
    ]


def test_word_sequence_rejects_a_list():
    with pytest.raises(TypeError, match="one text as a str"):
        text_to_word_sequence(["a b"])


def test_char_sequence():
    assert text_to_char_sequence("Hi, Bo") == ["h", "i", ",", " ", "b", "o"]
    assert text_to_char_sequence("Hi, Bo", lower=False, filters=", ") == ["H", "i", "B", "o"]


def test_ngrams_n_and_below_overlapping():
    toks = ["a", "b", "c", "d"]
    assert ngrams(toks, 1) == toks
    assert ngrams(toks, 2) == ["a", "b", "c", "d", "a b", "b c", "c d"]
    assert ngrams(toks, 3)[-2:] == ["a b c", "b c d"]
    assert len(ngrams(toks, 3)) == 4 + 3 + 2
    assert ngrams(toks, (3,)) == ["a b c", "b c d"]
    assert ngrams(toks, 2, separator="_")[-1] == "c_d"
    assert ngrams(["a"], 3) == ["a"]  # no n-gram longer than the text
    assert ngrams([], 2) == []


@pytest.mark.parametrize("bad", [0, -1, (0,), (), 2.0, True])
def test_ngrams_bad_n(bad):
    with pytest.raises((ValueError, TypeError), match="n"):
        ngrams(["a", "b"], bad)


def test_ngrams_rejects_str():
    with pytest.raises(TypeError, match="list of tokens"):
        ngrams("a b c", 2)
