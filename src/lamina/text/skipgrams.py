"""Skip-gram pairs for word2vec-style training (classic Keras ``preprocessing.sequence``).

Example:
    >>> from lamina.text import skipgrams
    >>> pairs, labels = skipgrams([1, 2, 3], vocabulary_size=4, window_size=1,
    ...                           negative_samples=0.0, shuffle=False)
    >>> pairs, labels
    ([[1, 2], [2, 1], [2, 3], [3, 2]], [1, 1, 1, 1])
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

__all__ = ["skipgrams", "make_sampling_table"]


def make_sampling_table(size: int, sampling_factor: float = 1e-5) -> np.ndarray:
    """Probability of keeping the word of each frequency rank (Keras's formula).

    Word frequencies are approximated by Zipf's law; ``p[i]`` is the chance of sampling the
    ``i``-th most common word, ``min(1, sqrt(sampling_factor * r_i))`` with
    ``r_i = i * (ln i + gamma) + 1/2 - 1/(12 i)`` (rank 0 treated as rank 1).

    Example:
        >>> make_sampling_table(4).round(5)
        array([0.00315, 0.00315, 0.00548, 0.00742])
    """
    if size < 1:
        raise ValueError(f"make_sampling_table: size must be >= 1, got {size}.")
    gamma = 0.577
    rank = np.arange(size, dtype=np.float64)
    rank[0] = 1
    inv_fq = rank * (np.log(rank) + gamma) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inv_fq
    return np.minimum(1.0, f / np.sqrt(f))


def skipgrams(
    sequence: Sequence[int],
    vocabulary_size: int,
    window_size: int = 4,
    negative_samples: float = 1.0,
    shuffle: bool = True,
    categorical: bool = False,
    sampling_table: np.ndarray | None = None,
    seed: int | None = None,
) -> tuple[list[list[int]], list]:
    """Pairs ``[word, context]`` labelled 1 (within ``window_size``) and random negatives (0).

    Index 0 is skipped (padding). Random choices use a private generator seeded by ``seed``
    (Python's global ``random`` state is left alone).

    Args:
        sequence: Word indices of one text.
        vocabulary_size: Negative context words are drawn from ``1 .. vocabulary_size - 1``.
        window_size: Context distance on each side.
        negative_samples: Negatives per positive (0 for none).
        shuffle: Shuffle pairs and labels together.
        categorical: Labels ``[0, 1]`` / ``[1, 0]`` instead of ``1`` / ``0``.
        sampling_table: Keep word ``w`` with probability ``sampling_table[w]``.
        seed: Seed for sampling, negatives and shuffling.

    Returns:
        ``(couples, labels)``.

    Example:
        >>> couples, labels = skipgrams([1, 2], 5, window_size=1, seed=0)
        >>> len(couples), sorted(labels)
        (4, [0, 0, 1, 1])
    """
    rng = random.Random(seed)
    couples: list[list[int]] = []
    labels: list = []
    for i, wi in enumerate(sequence):
        if not wi:
            continue
        if sampling_table is not None and sampling_table[wi] < rng.random():
            continue
        for j in range(max(0, i - window_size), min(len(sequence), i + window_size + 1)):
            if j != i and sequence[j]:
                couples.append([wi, sequence[j]])
                labels.append([0, 1] if categorical else 1)
    if negative_samples > 0 and couples:
        num_negative = int(len(labels) * negative_samples)
        words = [c[0] for c in couples]
        rng.shuffle(words)
        couples += [
            [words[k % len(words)], rng.randint(1, vocabulary_size - 1)]
            for k in range(num_negative)
        ]
        labels += [[1, 0] if categorical else 0 for _ in range(num_negative)]
    if shuffle:
        order = list(range(len(couples)))
        rng.shuffle(order)
        couples = [couples[k] for k in order]
        labels = [labels[k] for k in order]
    return couples, labels
