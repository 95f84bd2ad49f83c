"""Voice prints grouped by speaker: average-linkage grouping stopped where two groups sound like different
people, the groups big enough to be a speaker kept, and every print given to the nearest of them."""

from __future__ import annotations

import itertools
import math

import numpy as np

SAME_SPEAKER = 0.63
"""Mean cosine of two groups' prints above which they are one speaker. A GE2E print of 1.6 s of someone's
speech averages 0.7-0.95 against their other prints, and 0.37-0.63 against another person's, the most alike
being two people in one AMI meeting room (the recordings of scripts/bench/diarization.py). The margin is
narrow: from 0.62 to 0.64 the speakers counted were right on 31-33 of 35 recordings, at 0.60 or 0.66 on 26
and 21, as the prints of one person start to part or two people's to join."""
SPEAKER_SHARE = 0.07
"""A group with this share of the prints is a speaker, however few they are (see `cluster`'s `enough`): in a
minute's conversation, someone who says two short things. Spurious groups (laughs, two voices at once) held
5 % of the prints or less on the AMI excerpts, but for the one where two people talk at once 40 % of the time."""
MOST_CLUSTERED = 800
"""Prints grouped one by one (the grouping costs the cube of their number); past it, an even sample of them
is grouped and the rest go to the nearest speaker."""
REASSIGNMENTS = 10
EXHAUSTIVE_LIMIT = 50_000
"""Pairings `match` tries one by one; past it, it pairs the most alike first."""


def cluster(
    prints: np.ndarray,
    count: int | None = None,
    least: int = 1,
    most: int = 8,
    enough: int = 15,
) -> np.ndarray:
    """A speaker number for each of `prints` (rows L2-normalised), numbered in order of first appearance:
    `count` speakers when given, else between `least` and `most`. A group of prints is a speaker when it
    holds `enough` of them or `SPEAKER_SHARE` of all; smaller ones (a cough, a laugh, two voices at once)
    go to the speaker they sound most like."""
    n = len(prints)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    most = max(1, min(most, n))
    least = max(1, min(least, most))
    if count is not None:
        least = most = max(1, min(count, n))
    if most == 1:
        return np.zeros(n, dtype=np.int64)
    sample = np.unique(np.linspace(0, n - 1, min(n, MOST_CLUSTERED)).round().astype(np.int64))
    chosen = prints[sample]
    need = max(2.0, min(SPEAKER_SHARE * len(sample), enough * len(sample) / n))
    merges = _linkage(np.clip(chosen @ chosen.T, -1.0, 1.0))
    groups = _groups(len(sample), merges, _level(merges, need, least, most))
    sizes = np.bincount(groups)
    speakers = max(least, min(most, int((sizes >= need).sum()), len(sizes)))
    kept = np.argsort(-sizes, kind="stable")[:speakers]
    labels = np.argmax(prints @ centroids(chosen, groups)[kept].T, axis=1)
    # A kept group's own prints start with it, so that none starts empty.
    for number, group in enumerate(kept.tolist()):
        labels[sample[groups == group]] = number
    return _reassigned(prints, labels)


def centroids(prints: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each speaker's mean voice print, L2-normalised, by speaker number."""
    means = np.stack([prints[labels == k].mean(axis=0) for k in range(int(labels.max()) + 1)])
    result: np.ndarray = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-9)
    return result


def match(known: np.ndarray, found: np.ndarray, threshold: float) -> dict[int, int]:
    """found speaker -> known speaker, one to one, maximising the summed cosine of the pairs kept
    (each at least `threshold`); brute force, as there are at most a handful of either."""
    if not len(known) or not len(found):
        return {}
    scores = found @ known.T
    best: dict[int, int] = {}
    best_total = 0.0
    # Rows are the smaller side, so that each row can go to a different column.
    flipped = len(found) > len(known)
    if flipped:
        scores = scores.T
    rows, cols = scores.shape
    if math.perm(cols, rows) > EXHAUSTIVE_LIMIT:
        pairs = _greedy(scores, threshold)
        return {c: r for r, c in pairs.items()} if flipped else pairs
    # Each row goes to a different column, or to none where too unlike.
    for columns in itertools.permutations(range(cols), rows):
        pairs = {r: c for r, c in enumerate(columns) if scores[r, c] >= threshold}
        total = sum(float(scores[r, c]) for r, c in pairs.items())
        if total > best_total:
            best, best_total = pairs, total
    return {c: r for r, c in best.items()} if flipped else best


def _greedy(scores: np.ndarray, threshold: float) -> dict[int, int]:
    pairs: dict[int, int] = {}
    for flat in np.argsort(-scores, axis=None):
        r, c = np.unravel_index(int(flat), scores.shape)
        if scores[r, c] < threshold:
            break
        if r not in pairs and c not in pairs.values():
            pairs[int(r)] = int(c)
    return pairs


def _linkage(similarity: np.ndarray) -> list[tuple[int, int, float]]:
    """Average-linkage grouping to the end: each merge as (kept group, merged group, their mean cosine),
    groups named by their first print; the cosines fall as it goes (average linkage has no inversions)."""
    n = len(similarity)
    between = similarity.astype(np.float64)
    np.fill_diagonal(between, -np.inf)
    size = np.ones(n)
    merges: list[tuple[int, int, float]] = []
    for _ in range(n - 1):
        a, b = sorted(divmod(int(np.argmax(between)), n))
        merges.append((a, b, float(between[a, b])))
        row = (between[a] * size[a] + between[b] * size[b]) / (size[a] + size[b])
        size[a] += size[b]
        row[a] = -np.inf
        between[a], between[:, a] = row, row
        between[b], between[:, b] = -np.inf, -np.inf
    return merges


def _level(merges: list[tuple[int, int, float]], need: float, least: int, most: int) -> int:
    """How many merges to make: those of groups alike enough, or fewer or more so that between `least` and
    `most` groups of `need` prints or more remain, where some number of merges gives that."""
    n = len(merges) + 1
    parent, size = list(range(n)), [1] * n
    big = [0 if need > 1 else n]
    for a, b, _ in merges:
        ra, rb = _root(parent, a), _root(parent, b)
        before = (size[ra] >= need) + (size[rb] >= need)
        parent[rb] = ra
        size[ra] += size[rb]
        big.append(big[-1] + (size[ra] >= need) - before)
    at = next((i for i, (_, _, score) in enumerate(merges) if score < SAME_SPEAKER), len(merges))
    if big[at] > most:
        return next(i for i in range(at, n) if big[i] <= most)
    if big[at] < least:
        fewer = [i for i in range(at) if big[i] >= least]
        return fewer[-1] if fewer else min(at, n - least)
    return at


def _groups(n: int, merges: list[tuple[int, int, float]], level: int) -> np.ndarray:
    parent = list(range(n))
    for a, b, _ in merges[:level]:
        parent[_root(parent, b)] = _root(parent, a)
    return _in_order(np.array([_root(parent, i) for i in range(n)]))


def _root(parent: list[int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _reassigned(prints: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each print to the nearest speaker's mean, until none moves (k-means on the sphere) or a speaker
    would be left with none."""
    labels = _in_order(labels)
    for _ in range(REASSIGNMENTS):
        moved = np.argmax(prints @ centroids(prints, labels).T, axis=1)
        if np.array_equal(moved, labels) or len(np.unique(moved)) < len(np.unique(labels)):
            break
        labels = _in_order(moved)
    return labels


def _in_order(labels: np.ndarray) -> np.ndarray:
    """Renumbered 0, 1, … in order of first appearance."""
    order: dict[int, int] = {}
    for label in labels.tolist():
        order.setdefault(label, len(order))
    return np.array([order[label] for label in labels.tolist()], dtype=np.int64)
