import numpy as np
import pytest

from lamina.text import (
    EmbeddingMatrix,
    embedding_matrix,
    load_glove,
    load_vectors,
    load_word2vec,
)

VECS = {"the": [1.0, 2.0, 3.0, 4.0], "cat": [0.5, -1.0, 2.25, 0.0], "café": [9.0, 8.0, 7.0, -6.5]}


def write_text(path, lines, header=None):
    body = "".join(f"{w} {' '.join(repr(float(x)) for x in v)}\n" for w, v in lines.items())
    path.write_text((f"{header}\n" if header else "") + body, encoding="utf-8")
    return path


def write_binary(path, header, vectors=VECS, sep=b"\n", cut=None):
    data = header.encode() + b"\n"
    for w, v in vectors.items():
        data += w.encode("utf-8") + b" " + np.asarray(v, dtype="<f4").tobytes() + sep
    path.write_bytes(data[:cut] if cut else data)
    return path


def assert_vectors(result, expected=VECS):
    assert list(result) == list(expected)
    for w, v in expected.items():
        assert result[w].dtype == np.float32
        np.testing.assert_array_equal(result[w], np.asarray(v, dtype=np.float32))


# -- well-formed files ---------------------------------------------------------------------


def test_glove_text(tmp_path):
    path = write_text(tmp_path / "glove.4d.txt", VECS)
    assert_vectors(load_glove(path))
    assert_vectors(load_glove(str(path), words={"cat"}), {"cat": VECS["cat"]})
    assert_vectors(load_glove(path, limit=2), {"the": VECS["the"], "cat": VECS["cat"]})
    assert_vectors(load_vectors(path))


def test_glove_tolerates_blank_lines_and_crlf(tmp_path):
    path = tmp_path / "g.txt"
    path.write_bytes(b"the 1 2\r\n\r\ncat 3 4\r\n\n")
    out = load_glove(path)
    np.testing.assert_array_equal(out["cat"], [3, 4])


def test_word2vec_text(tmp_path):
    path = write_text(tmp_path / "w.vec", VECS, header="3 4")
    assert_vectors(load_word2vec(path))
    assert_vectors(load_word2vec(path, binary=False))
    assert_vectors(load_vectors(path))
    assert_vectors(load_word2vec(path, limit=1), {"the": VECS["the"]})


@pytest.mark.parametrize("sep", [b"\n", b""], ids=["newline-after-vector", "no-separator"])
def test_word2vec_binary(tmp_path, sep):
    path = write_binary(tmp_path / "w.bin", "3 4", sep=sep)
    assert_vectors(load_word2vec(path))  # detected
    assert_vectors(load_word2vec(path, binary=True))
    assert_vectors(load_vectors(path))
    assert_vectors(load_word2vec(path, words={"café"}), {"café": VECS["café"]})
    assert_vectors(load_word2vec(path, limit=2), {"the": VECS["the"], "cat": VECS["cat"]})


def test_word2vec_binary_unicode_errors(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"1 2\n\xffab " + np.array([1, 2], "<f4").tobytes())
    with pytest.raises(ValueError, match="record 1.*not valid utf-8"):
        load_word2vec(path, binary=True)
    out = load_word2vec(path, binary=True, unicode_errors="replace")
    assert list(out) == ["\ufffdab"]


# -- malformed files: each names the file, the line or record, and what is wrong -------------


def test_glove_wrong_number_of_values(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("the 1 2 3\ncat 1 2 3\ndog 1 2\n")
    with pytest.raises(
        ValueError,
        match=r"bad\.txt: line 3: expected a word and 3 values, "
        r"found 2 values for 'dog'",
    ):
        load_glove(path)
    with pytest.raises(ValueError, match="line 1: expected a word and 2 values, found 3"):
        load_glove(path, dim=2)


def test_glove_non_numeric_value(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("the 1 2\ncat 1 x\n")
    with pytest.raises(ValueError, match=r"bad\.txt: line 2: the values of 'cat' are not numbers"):
        load_glove(path)


def test_glove_given_a_word2vec_file(tmp_path):
    path = write_text(tmp_path / "w.vec", VECS, header="3 4")
    with pytest.raises(
        ValueError, match="line 1: '3 4' looks like a word2vec header.*load_word2vec"
    ):
        load_glove(path)


def test_glove_word_without_values(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("lonely\n")
    with pytest.raises(ValueError, match="line 1: expected a word and its values"):
        load_glove(path)


@pytest.mark.parametrize("header", ["3", "three 4", "3 0", "3 4 5", "-1 4"])
def test_word2vec_bad_header(tmp_path, header):
    path = write_text(tmp_path / "w.vec", VECS, header=header)
    with pytest.raises(ValueError, match=r"w\.vec: line 1: expected a word2vec header 'count dim'"):
        load_word2vec(path, binary=False)
    with pytest.raises(ValueError, match="line 1: expected a word2vec header"):
        load_word2vec(path)


def test_word2vec_text_count_too_high(tmp_path):
    path = write_text(tmp_path / "w.vec", VECS, header="5 4")
    with pytest.raises(
        ValueError,
        match=r"w\.vec: line 4: the header says 5 vectors but the "
        r"file ends after 3",
    ):
        load_word2vec(path)


def test_word2vec_text_count_too_low(tmp_path):
    path = write_text(tmp_path / "w.vec", VECS, header="2 4")
    with pytest.raises(ValueError, match=r"line 4: the header says 2 vectors but more follow"):
        load_word2vec(path)
    assert len(load_word2vec(path, limit=2)) == 2  # reading only what was asked is fine


def test_word2vec_text_dim_lies(tmp_path):
    path = write_text(tmp_path / "w.vec", VECS, header="3 5")
    with pytest.raises(ValueError, match="line 2: expected a word and 5 values, found 4"):
        load_word2vec(path, binary=False)
    # detection does not take such a file for binary either: the values are text
    with pytest.raises(ValueError, match="line 2: expected a word and 5 values"):
        load_word2vec(path)


def test_word2vec_text_wrong_values_on_one_line(tmp_path):
    path = tmp_path / "w.vec"
    path.write_text("3 2\na 1 2\nb 1 2 3\nc 1 2\n")
    with pytest.raises(
        ValueError, match="line 3: expected a word and 2 values, found 3 values for 'b'"
    ):
        load_word2vec(path, binary=False)


def test_word2vec_binary_count_too_high(tmp_path):
    path = write_binary(tmp_path / "w.bin", "5 4")
    with pytest.raises(
        ValueError,
        match=r"w\.bin: record 4: the file ends after 3 of 5 vectors: "
        r"the file is truncated or its header",
    ):
        load_word2vec(path, binary=True)


def test_word2vec_binary_count_too_low(tmp_path):
    path = write_binary(tmp_path / "w.bin", "2 4")
    with pytest.raises(
        ValueError,
        match=r"data follows the last of the 2 vectors the header "
        r"announces",
    ):
        load_word2vec(path, binary=True)


@pytest.mark.parametrize("header", ["3 5", "3 3"])
@pytest.mark.parametrize("sep", [b"\n", b""])
def test_word2vec_binary_dim_lies(tmp_path, header, sep):
    path = write_binary(tmp_path / "w.bin", header, sep=sep)
    with pytest.raises(
        ValueError,
        match=rf"w\.bin: record 2.*header \(count=3, dim={header[2]}\) "
        r"is wrong",
    ):
        load_word2vec(path, binary=True)


def test_word2vec_binary_truncated_inside_a_vector(tmp_path):
    path = write_binary(tmp_path / "w.bin", "3 4", cut=-6)  # 16 - 5 = 11 bytes left of 'café'
    with pytest.raises(
        ValueError,
        match=r"record 3 \('café'\): the file ends after 11 of the 16 "
        r"bytes of this vector",
    ):
        load_word2vec(path)


def test_word2vec_binary_truncated_inside_a_word(tmp_path):
    path = write_binary(tmp_path / "w.bin", "3 4", cut=-19)  # cuts into 'café'
    with pytest.raises(ValueError, match="record 3 .*no word followed by a space"):
        load_word2vec(path, binary=True)


def test_word2vec_binary_empty_or_headerless(tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.bin: line 1: .*header"):
        load_word2vec(empty)
    with pytest.raises(ValueError, match=r"empty\.bin: line 1: the file is empty"):
        load_word2vec(empty, binary=True)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x01" * 300)
    with pytest.raises(ValueError, match="line 1: no header line"):
        load_word2vec(junk, binary=True)


# -- embedding_matrix ------------------------------------------------------------------------


def test_embedding_matrix_from_dict_rows_follow_word_index():
    word_index = {"cat": 1, "fish": 2, "the": 3}
    result = embedding_matrix(word_index, VECS)
    assert isinstance(result, EmbeddingMatrix)
    assert result.matrix.shape == (4, 4) and result.matrix.dtype == np.float32
    np.testing.assert_array_equal(result.matrix[0], 0)  # padding row
    np.testing.assert_array_equal(result.matrix[1], VECS["cat"])
    np.testing.assert_array_equal(result.matrix[2], 0)  # unknown word
    np.testing.assert_array_equal(result.matrix[3], VECS["the"])
    assert result.found_count == 2 and result.missing == ["fish"]
    assert result.coverage == pytest.approx(2 / 3)
    assert "found=2 of 3 words" in repr(result)


def test_embedding_matrix_num_words_cut_like_tokenizer(tmp_path):
    path = write_binary(tmp_path / "w.bin", "3 4")
    result = embedding_matrix({"the": 1, "cat": 2, "café": 3, "fish": 4}, path, num_words=3)
    assert result.matrix.shape == (3, 4)
    np.testing.assert_array_equal(result.matrix[1:], [VECS["the"], VECS["cat"]])
    assert result.found_count == 2 and result.missing == []  # café and fish are past the cut


def test_embedding_matrix_from_glove_and_word2vec_paths_agree(tmp_path):
    index = {"the": 1, "café": 2, "dog": 3}
    a = embedding_matrix(index, write_text(tmp_path / "g.txt", VECS))
    b = embedding_matrix(index, write_text(tmp_path / "w.vec", VECS, header="3 4"))
    c = embedding_matrix(index, write_binary(tmp_path / "w.bin", "3 4"))
    for r in (b, c):
        np.testing.assert_array_equal(r.matrix, a.matrix)
        assert r.found_count == 2 and r.missing == ["dog"]


def test_embedding_matrix_random_unknown_rows():
    vecs = {w: np.asarray(v) for w, v in VECS.items()}
    index = ["", "the", "dog", "cat", "bird"]  # a vocabulary list: position = index
    r1 = embedding_matrix(index, vecs, unknown="random", seed=3)
    r2 = embedding_matrix(index, vecs, unknown="random", seed=3)
    np.testing.assert_array_equal(r1.matrix, r2.matrix)
    np.testing.assert_array_equal(r1.matrix[0], 0)  # padding stays zero
    np.testing.assert_array_equal(r1.matrix[1], VECS["the"])
    assert r1.missing == ["dog", "bird"]
    # rows drawn from N(0, std of the found vectors), reproduced from the same generator
    scale = np.std([VECS["the"], VECS["cat"]])
    rng = np.random.default_rng(3)
    np.testing.assert_allclose(r1.matrix[2], rng.normal(0, scale, 4).astype(np.float32))
    np.testing.assert_allclose(r1.matrix[4], rng.normal(0, scale, 4).astype(np.float32))


def test_embedding_matrix_errors():
    with pytest.raises(ValueError, match="unknown must be 'zero' or 'random'"):
        embedding_matrix({"a": 1}, VECS, unknown="mean")
    with pytest.raises(ValueError, match=r"the vector of 'the' has shape \(4,\), expected \(3,\)"):
        embedding_matrix({"the": 1}, VECS, dim=3)
    with pytest.raises(ValueError, match="dimension is unknown; pass dim="):
        embedding_matrix({"the": 1}, {})
    with pytest.raises(ValueError, match="indices must be integers >= 0"):
        embedding_matrix({"the": -1}, VECS)
    with pytest.raises(TypeError, match="word_index must be"):
        embedding_matrix("the cat", VECS)
    assert embedding_matrix({"x": 1}, {}, dim=2).matrix.shape == (2, 2)
