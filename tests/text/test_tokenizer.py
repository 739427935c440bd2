import json
import math

import numpy as np
import pytest

from lamina.preprocessing.text import Tokenizer as ClassicTokenizer
from lamina.text import Tokenizer, tokenizer_from_json

TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "Cat and dog"]
# counts: the 3, cat 2, dog 2, then the 1-count words in order of first occurrence
INDEX = {
    "the": 1,
    "cat": 2,
    "dog": 3,
    "sat": 4,
    "on": 5,
    "mat": 6,
    "ate": 7,
    "my": 8,
    "homework": 9,
    "and": 10,
}


def fitted(**kwargs):
    tok = Tokenizer(**kwargs)
    tok.fit_on_texts(TEXTS)
    return tok


def test_word_index_by_frequency_then_first_occurrence():
    tok = fitted()
    assert tok.word_index == INDEX
    assert list(tok.word_index) == list(INDEX)
    assert tok.index_word == {i: w for w, i in INDEX.items()}
    assert tok.word_counts["the"] == 3 and list(tok.word_counts)[:3] == ["the", "cat", "sat"]
    assert tok.word_docs["the"] == 2 and tok.word_docs["cat"] == 2 and tok.word_docs["my"] == 1
    assert tok.index_docs[1] == 2 and tok.index_docs[10] == 1
    assert tok.document_count == 3
    assert ClassicTokenizer is Tokenizer


def test_fitting_twice_accumulates():
    tok = fitted()
    tok.fit_on_texts(["my my my my"])
    assert tok.document_count == 4
    assert tok.word_index["my"] == 1  # now 5 occurrences, more than 'the'
    assert tok.word_index["the"] == 2


def test_texts_to_sequences_drops_unknown_words():
    tok = fitted()
    assert tok.texts_to_sequences(["the cat and the fish"]) == [[1, 2, 10, 1]]
    assert tok.texts_to_sequences([]) == []
    assert list(tok.texts_to_sequences_generator(["dog"])) == [[3]]


def test_num_words_cuts_indices_at_num_words():
    tok = fitted(num_words=4)  # keeps indices 1, 2, 3
    assert tok.word_index == INDEX  # the index itself keeps every word
    assert tok.texts_to_sequences(["the cat and the dog ate fish"]) == [[1, 2, 1, 3]]
    assert tok.sequences_to_texts([[1, 2, 4, 3]]) == ["the cat dog"]


def test_oov_token_takes_index_1_and_replaces_unknown_and_cut_words():
    tok = fitted(oov_token="<OOV>", num_words=5)
    assert tok.word_index["<OOV>"] == 1
    assert tok.word_index["the"] == 2 and tok.word_index["and"] == 11
    seq = tok.texts_to_sequences(["the cat and the dog ate fish"])
    assert seq == [[2, 3, 1, 2, 4, 1, 1]]
    assert tok.sequences_to_texts(seq) == ["the cat <OOV> the dog <OOV> <OOV>"]
    assert tok.sequences_to_texts([[99]]) == ["<OOV>"]


def test_oov_token_that_is_also_a_word_stays_at_index_1():
    tok = Tokenizer(oov_token="x", filters="")
    tok.fit_on_texts(["y x x"])
    assert tok.word_index == {"x": 1, "y": 2}


def test_char_level_ignores_filters():
    tok = Tokenizer(char_level=True)
    tok.fit_on_texts(["aab", "B!"])
    assert tok.word_index == {"a": 1, "b": 2, "!": 3}
    assert tok.texts_to_sequences(["ba!?"]) == [[2, 1, 3]]


def test_pretokenized_lists_and_analyzer():
    tok = Tokenizer()
    tok.fit_on_texts([["New York", "is"], ["new york"]])
    assert tok.word_index == {"new york": 1, "is": 2}
    tok = Tokenizer(analyzer=lambda s: s.split("|"))
    tok.fit_on_texts(["a|b|b"])
    assert tok.word_index == {"b": 1, "a": 2}


def test_matrix_modes_against_hand_computed_values():
    tok = fitted()
    width = len(INDEX) + 1
    binary = tok.texts_to_matrix(["the the sat fish"], mode="binary")
    count = tok.texts_to_matrix(["the the sat fish"], mode="count")
    freq = tok.texts_to_matrix(["the the sat fish"], mode="freq")
    assert binary.shape == (1, width) and binary.dtype == np.float64
    expected_binary = np.zeros((1, width))
    expected_binary[0, [1, 4]] = 1
    np.testing.assert_array_equal(binary, expected_binary)
    assert count[0, 1] == 2 and count[0, 4] == 1 and count.sum() == 3
    # 'fish' is unknown, so the sequence is [1, 1, 4]
    np.testing.assert_allclose(freq[0, [1, 4]], [2 / 3, 1 / 3])


def test_tfidf_is_keras_formula():
    tok = fitted()
    x = tok.texts_to_matrix(["the the sat", ""], mode="tfidf")
    # tf = 1 + ln(count); idf = ln(1 + documents / (1 + documents containing the word))
    the = (1 + math.log(2)) * math.log(1 + 3 / (1 + 2))
    sat = (1 + math.log(1)) * math.log(1 + 3 / (1 + 1))
    assert x[0, 1] == pytest.approx(the) and x[0, 4] == pytest.approx(sat)
    assert np.count_nonzero(x) == 2  # the empty text is a zero row


def test_sequences_to_matrix_width_and_freq_counts_out_of_range_steps():
    tok = Tokenizer(num_words=3)
    np.testing.assert_allclose(
        tok.sequences_to_matrix([[1, 1, 2, 5]], mode="freq"), [[0, 0.5, 0.25]]
    )
    with pytest.raises(ValueError, match="tfidf mode needs document frequencies"):
        tok.sequences_to_matrix([[1]], mode="tfidf")
    tok.fit_on_sequences([[1, 2], [2, 2]])
    assert tok.document_count == 2 and dict(tok.index_docs) == {1: 1, 2: 2}
    x = tok.sequences_to_matrix([[2, 2]], mode="tfidf")
    assert x[0, 2] == pytest.approx((1 + math.log(2)) * math.log(1 + 2 / 3))


def test_matrix_errors():
    with pytest.raises(ValueError, match="num_words"):
        Tokenizer().sequences_to_matrix([[1]])
    with pytest.raises(ValueError, match="Unknown vectorization mode 'tf-idf'"):
        fitted().texts_to_matrix(["a"], mode="tf-idf")


def test_bad_arguments():
    with pytest.raises(TypeError, match=r"wrap it in a list: fit_on_texts\(\[text\]\)"):
        Tokenizer().fit_on_texts("the cat")
    with pytest.raises(TypeError, match="must be a str or a list of tokens"):
        Tokenizer().fit_on_texts([1, 2])
    with pytest.raises(ValueError, match="num_words must be a positive int"):
        Tokenizer(num_words=-3)
    assert Tokenizer(num_words=np.int64(5)).num_words == 5


def test_json_round_trip():
    tok = fitted(num_words=6, oov_token="<unk>")
    again = tokenizer_from_json(tok.to_json())
    for attr in (
        "word_index",
        "index_word",
        "word_counts",
        "word_docs",
        "num_words",
        "oov_token",
        "document_count",
        "filters",
    ):
        assert getattr(again, attr) == getattr(tok, attr), attr
    assert dict(again.index_docs) == dict(tok.index_docs)
    assert list(again.word_counts) == list(tok.word_counts)
    texts = ["the dog ate the fish", "cat"]
    assert again.texts_to_sequences(texts) == tok.texts_to_sequences(texts)
    np.testing.assert_array_equal(
        again.texts_to_matrix(texts, "tfidf"), tok.texts_to_matrix(texts, "tfidf")
    )
    assert json.loads(tok.to_json(indent=2))["class_name"] == "Tokenizer"


def test_reads_keras_written_json():
    config = {
        "num_words": None,
        "filters": "!",
        "lower": True,
        "split": " ",
        "char_level": False,
        "oov_token": None,
        "document_count": 2,
        "word_counts": json.dumps({"b": 1, "a": 2}),
        "word_docs": json.dumps({"a": 2, "b": 1}),
        "index_docs": json.dumps({"1": 2, "2": 1}),
        "index_word": json.dumps({"1": "a", "2": "b"}),
        "word_index": json.dumps({"a": 1, "b": 2}),
    }
    tok = tokenizer_from_json(json.dumps({"class_name": "Tokenizer", "config": config}))
    assert tok.texts_to_sequences(["b a!"]) == [[2, 1]]
    assert tok.index_word[1] == "a" and tok.index_docs[1] == 2


def test_bad_json_and_unsavable_tokenizer():
    with pytest.raises(ValueError, match="not a Tokenizer JSON string"):
        tokenizer_from_json('{"class_name": "Tokenizer", "config": {}}')
    with pytest.raises(ValueError, match="callable split or analyzer"):
        Tokenizer(analyzer=str.split).to_json()
