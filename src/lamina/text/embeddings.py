"""Pretrained word vectors: GloVe and word2vec readers, and an embedding matrix for a word index.

Formats:

* **GloVe text**: one vector a line, ``word v1 v2 ... vd`` separated by spaces, no header.
* **word2vec text**: a header line ``count dim``, then ``count`` lines as GloVe.
* **word2vec binary**: a header line ``count dim\\n``, then per word the UTF-8 word, one space,
  ``dim`` little-endian float32 values (``4 * dim`` bytes), optionally a ``\\n``.

A malformed file (a line with the wrong number of values, a header that lies about the count or
the dimension, truncated data) raises a ``ValueError`` naming the file, the line or record, and
what was wrong.

Example:
    >>> import numpy as np
    >>> vectors = {"cat": np.array([1.0, 2.0]), "dog": np.array([3.0, 4.0])}
    >>> result = embedding_matrix({"cat": 1, "fish": 2}, vectors)
    >>> result.matrix
    array([[0., 0.],
           [1., 2.],
           [0., 0.]], dtype=float32)
    >>> result.found_count, result.missing
    (1, ['fish'])
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["load_glove", "load_word2vec", "load_vectors", "embedding_matrix", "EmbeddingMatrix"]

PathLike = str | os.PathLike
_MAX_WORD_BYTES = 4096


def _fail(path: PathLike, where: str, what: str) -> ValueError:
    return ValueError(f"{os.fspath(path)}: {where}: {what}")


def _split(line: str) -> list[str]:
    return [p for p in line.rstrip().split(" ") if p]


def _parse_vector(path: PathLike, lineno: int, parts: list[str], dim: int) -> np.ndarray:
    if len(parts) - 1 != dim:
        raise _fail(
            path,
            f"line {lineno}",
            f"expected a word and {dim} values, found {len(parts) - 1} values"
            + (f" for {parts[0]!r}" if parts else "")
            + ". Every vector must have the same dimension (a word containing a space is not "
            "supported).",
        )
    try:
        return np.asarray(parts[1:], dtype=np.float32)
    except ValueError as e:
        raise _fail(
            path, f"line {lineno}", f"the values of {parts[0]!r} are not numbers ({e})."
        ) from None


def _is_int(s: str) -> bool:
    return s.isascii() and s.isdigit()


def load_glove(
    path: PathLike,
    dim: int | None = None,
    words: Container[str] | None = None,
    limit: int | None = None,
    encoding: str = "utf-8",
) -> dict[str, np.ndarray]:
    """Read a GloVe text file into ``{word: float32 vector}``.

    Args:
        path: The file (for example ``glove.6B.100d.txt``).
        dim: Expected dimension; by default taken from the first line.
        words: Keep only these words (saves memory); the whole file is still checked.
        limit: Read only the first ``limit`` vectors.
        encoding: Text encoding of the file.

    Returns:
        A dict from word to vector (a later duplicate replaces an earlier one).

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.txt")
        >>> _ = open(path, "w").write("the 0.1 0.2\\ncat 0.3 0.4\\n")
        >>> load_glove(path)["cat"]
        array([0.3, 0.4], dtype=float32)
    """
    out: dict[str, np.ndarray] = {}
    read = 0
    with open(path, encoding=encoding) as f:
        for lineno, line in enumerate(f, start=1):
            if limit is not None and read >= limit:
                break
            parts = _split(line)
            if not parts:
                continue
            if dim is None:
                if len(parts) == 2 and _is_int(parts[0]) and _is_int(parts[1]):
                    raise _fail(
                        path,
                        f"line {lineno}",
                        f"{line.strip()!r} looks like a word2vec header (count dim), not a GloVe "
                        f"vector. Read this file with load_word2vec (or load_vectors).",
                    )
                if len(parts) < 2:
                    raise _fail(
                        path,
                        f"line {lineno}",
                        f"expected a word and its values, got {line.strip()!r}.",
                    )
                dim = len(parts) - 1
            vec = _parse_vector(path, lineno, parts, dim)
            read += 1
            if words is None or parts[0] in words:
                out[parts[0]] = vec
    return out


def _read_header(path: PathLike, line: bytes | str) -> tuple[int, int]:
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    parts = text.split()
    if len(parts) != 2 or not all(_is_int(p) for p in parts) or int(parts[1]) < 1:
        raise _fail(
            path,
            "line 1",
            f"expected a word2vec header 'count dim' (two integers, dim >= 1), got "
            f"{text.strip()[:80]!r}. A file without a header is GloVe format: use load_glove.",
        )
    return int(parts[0]), int(parts[1])


def _looks_binary(path: PathLike) -> bool:
    # Text if the line after the header is a word and numbers (whatever their count: a wrong
    # count is then reported as such); raw float32 bytes essentially never read that way.
    with open(path, "rb") as f:
        f.readline()
        second = f.readline(1 << 16)
    if not second:
        return False
    try:
        parts = _split(second.decode("utf-8"))
        np.asarray(parts[1:], dtype=np.float32)
    except (UnicodeDecodeError, ValueError):
        return True
    return len(parts) < 2


def _load_w2v_text(path, words, limit, encoding) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with open(path, encoding=encoding) as f:
        count, dim = _read_header(path, f.readline())
        want = count if limit is None else min(limit, count)
        read = 0
        lineno = 1
        for lineno, line in enumerate(f, start=2):
            parts = _split(line)
            if not parts:
                continue
            if read == want:
                if limit is not None:  # asked for no more: the rest is not checked
                    break
                raise _fail(
                    path,
                    f"line {lineno}",
                    f"the header says {count} vectors but more "
                    f"follow: the header's count is wrong.",
                )
            vec = _parse_vector(path, lineno, parts, dim)
            read += 1
            if words is None or parts[0] in words:
                out[parts[0]] = vec
    if read < want:
        raise _fail(
            path,
            f"line {lineno}",
            f"the header says {count} vectors but the file ends "
            f"after {read}: the file is truncated or the header's count is wrong.",
        )
    return out


def _load_w2v_binary(path, words, limit, encoding, unicode_errors) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise _fail(path, "line 1", "the file is empty.")
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        nl = buf.find(b"\n", 0, 256)
        if nl < 0:
            raise _fail(path, "line 1", "no header line 'count dim' in the first 256 bytes.")
        count, dim = _read_header(path, buf[:nl])
        want = count if limit is None else min(limit, count)
        size, pos, nbytes = len(buf), nl + 1, 4 * dim
        lies = f"the file is truncated or its header (count={count}, dim={dim}) is wrong"
        for r in range(1, want + 1):
            while pos < size and buf[pos] in b"\n\r":
                pos += 1
            if pos >= size:
                raise _fail(
                    path, f"record {r}", f"the file ends after {r - 1} of {count} vectors: {lies}."
                )
            space = buf.find(b" ", pos, pos + _MAX_WORD_BYTES)
            if space < 0 or space == pos:
                raise _fail(
                    path,
                    f"record {r} (byte {pos})",
                    f"no word followed by a space: {lies}, or this is not a word2vec binary file.",
                )
            raw = buf[pos:space]
            try:
                word = raw.decode(encoding, unicode_errors)
            except UnicodeDecodeError as e:
                raise _fail(
                    path,
                    f"record {r} (byte {pos})",
                    f"the word is not valid {encoding} "
                    f"({e}): {lies}. Pass unicode_errors='replace' if only the words are "
                    f"damaged.",
                ) from None
            if space + 1 + nbytes > size:
                have = size - space - 1
                raise _fail(
                    path,
                    f"record {r} ({word!r})",
                    f"the file ends after {have} of the {nbytes} bytes of this vector: {lies}.",
                )
            vec = np.frombuffer(buf, dtype="<f4", count=dim, offset=space + 1).astype(np.float32)
            pos = space + 1 + nbytes
            if words is None or word in words:
                out[word] = vec
        if limit is None and buf[pos : pos + 64].strip(b"\n\r\t "):
            raise _fail(
                path,
                f"byte {pos}",
                f"data follows the last of the {count} vectors the "
                f"header announces: the header's count or dim (dim={dim}) is wrong.",
            )
    finally:
        buf.close()
    return out


def load_word2vec(
    path: PathLike,
    binary: bool | None = None,
    words: Container[str] | None = None,
    limit: int | None = None,
    encoding: str = "utf-8",
    unicode_errors: str = "strict",
) -> dict[str, np.ndarray]:
    """Read a word2vec file (text or binary) into ``{word: float32 vector}``.

    Args:
        path: The file (for example ``GoogleNews-vectors-negative300.bin``).
        binary: ``True`` / ``False`` for the binary / text format; ``None`` detects it from
            the line after the header.
        words: Keep only these words; the whole file is still checked.
        limit: Read only the first ``limit`` vectors (like gensim's ``limit``).
        encoding: Encoding of the words.
        unicode_errors: For binary files, how undecodable words are handled (``'strict'``
            raises; ``'replace'`` / ``'ignore'`` as in ``bytes.decode``).

    Returns:
        A dict from word to vector.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.vec")
        >>> _ = open(path, "w").write("2 2\\nthe 0.1 0.2\\ncat 0.3 0.4\\n")
        >>> sorted(load_word2vec(path))
        ['cat', 'the']
    """
    if binary is None:
        with open(path, "rb") as f:
            _read_header(path, f.readline(256))  # a bad header fails here
        binary = _looks_binary(path)
    if binary:
        return _load_w2v_binary(path, words, limit, encoding, unicode_errors)
    return _load_w2v_text(path, words, limit, encoding)


def load_vectors(
    path: PathLike, words: Container[str] | None = None, limit: int | None = None
) -> dict[str, np.ndarray]:
    """Read GloVe, word2vec text or word2vec binary, whichever ``path`` holds.

    A first line of two integers (``count dim``) means word2vec; otherwise GloVe.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "tiny.txt")
        >>> _ = open(path, "w").write("1 3\\nsea 1 2 3\\n")
        >>> load_vectors(path)["sea"]
        array([1., 2., 3.], dtype=float32)
    """
    with open(path, "rb") as f:
        first = f.readline(256).split()
    if len(first) == 2 and all(p.isdigit() for p in first):
        return load_word2vec(path, words=words, limit=limit)
    return load_glove(path, words=words, limit=limit)


@dataclass
class EmbeddingMatrix:
    """The result of :func:`embedding_matrix`.

    Attributes:
        matrix: ``(num_words, dim)`` float32; row ``i`` is the vector of the word with index ``i``.
        found_count: How many words of the index (below ``num_words``) had a vector.
        missing: The words without a vector, in index order.

    Example:
        >>> r = EmbeddingMatrix(np.zeros((3, 2), np.float32), 1, ["fish"])
        >>> r.coverage
        0.5
    """

    matrix: np.ndarray
    found_count: int
    missing: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        """Fraction of the indexed words that were found."""
        total = self.found_count + len(self.missing)
        return self.found_count / total if total else 0.0

    def __repr__(self) -> str:
        return (
            f"EmbeddingMatrix(shape={self.matrix.shape}, found={self.found_count} of "
            f"{self.found_count + len(self.missing)} words)"
        )


def embedding_matrix(
    word_index: Mapping[str, int] | Sequence[str],
    vectors_or_path: Mapping[str, np.ndarray] | PathLike,
    dim: int | None = None,
    num_words: int | None = None,
    unknown: str = "zero",
    seed: int | None = None,
) -> EmbeddingMatrix:
    """Build the weight matrix of an ``Embedding`` layer from pretrained vectors.

    Args:
        word_index: ``{word: index}`` (e.g. ``Tokenizer.word_index``), or a vocabulary list
            whose positions are the indices (e.g. ``TextVectorization.get_vocabulary()``).
        vectors_or_path: A ``{word: vector}`` dict, or a GloVe / word2vec file (format detected;
            only the words of the index are kept in memory).
        dim: Vector size; by default that of the vectors.
        num_words: Number of rows; words with index ``>= num_words`` are left out (as
            ``Tokenizer(num_words=...)``). Default: largest index + 1.
        unknown: Rows of words without a vector: ``'zero'``, or ``'random'`` (normal with mean 0
            and the standard deviation of the found vectors' values). Rows of indices without a
            word (0, the padding index) are always zero.
        seed: Seed for ``unknown='random'``.

    Returns:
        An :class:`EmbeddingMatrix` with ``matrix``, ``found_count`` and ``missing``. Use it as
        ``Embedding(num_words, dim, weights=[result.matrix], trainable=False)``.

    Example:
        >>> vecs = {"a": np.ones(2), "b": np.full(2, 2.0)}
        >>> r = embedding_matrix(["", "a", "c"], vecs, unknown="random", seed=0)
        >>> r.matrix.shape, r.found_count, r.missing, bool(r.matrix[2].any())
        ((3, 2), 1, ['c'], True)
    """
    if unknown not in ("zero", "random"):
        raise ValueError(f"embedding_matrix: unknown must be 'zero' or 'random', got {unknown!r}.")
    if isinstance(word_index, Mapping):
        index = dict(word_index)
    elif isinstance(word_index, Sequence) and not isinstance(word_index, str):
        index = {w: i for i, w in enumerate(word_index) if w}
    else:
        raise TypeError(
            "embedding_matrix: word_index must be a {word: index} dict or a vocabulary list, "
            f"got {type(word_index).__name__}."
        )
    for w, i in index.items():
        if isinstance(i, bool) or not isinstance(i, int | np.integer) or i < 0:
            raise ValueError(
                f"embedding_matrix: the index of {w!r} is {i!r}; indices must be integers >= 0."
            )
    rows = num_words if num_words is not None else max(index.values(), default=0) + 1
    if rows < 1:
        raise ValueError(f"embedding_matrix: num_words must be >= 1, got {num_words!r}.")
    wanted = {w: int(i) for w, i in index.items() if i < rows}
    if isinstance(vectors_or_path, Mapping):
        vectors = vectors_or_path
    else:
        vectors = load_vectors(vectors_or_path, words=set(wanted))
    if dim is None:
        first = next(iter(vectors.values()), None)
        if first is None:
            raise ValueError(
                "embedding_matrix: no vectors were given (or the file is empty), so "
                "the dimension is unknown; pass dim=."
            )
        dim = int(np.asarray(first).shape[-1])
    matrix = np.zeros((rows, dim), dtype=np.float32)
    found, missing = [], []
    for w, i in sorted(wanted.items(), key=lambda item: item[1]):
        vec = vectors.get(w)
        if vec is None:
            missing.append(w)
            continue
        vec = np.asarray(vec, dtype=np.float32)
        if vec.shape != (dim,):
            raise ValueError(
                f"embedding_matrix: the vector of {w!r} has shape {vec.shape}, expected ({dim},)."
            )
        matrix[i] = vec
        found.append(i)
    if unknown == "random" and missing:
        if found:
            scale = float(np.std(matrix[found]))
        else:  # nothing matched: use the scale of whatever vectors there are, else 1
            scale = float(np.std([np.asarray(v) for v in vectors.values()])) if vectors else 1.0
        scale = scale or 1.0
        rng = np.random.default_rng(seed)
        for w in missing:
            matrix[wanted[w]] = rng.normal(0.0, scale, dim)
    return EmbeddingMatrix(matrix, len(found), missing)
