"""Exact order statistics of a scene from value counts, so no strip holds the whole scene.

The whole-picture fill takes a percentile of the shown bands (the display stretch) and each
band's median over the whole raster. A scene is scanned in strips instead: each strip counts
its values (:class:`ValueCounts`, by the top 16 bits of an order-preserving key), the counts
add up, and the order statistics are read from them, to the last bit of ``np.percentile`` and
``np.median``. Data wider than 16 bits take a second pass over the few values of the bins the
statistics fall in.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ValueCounts", "percentile_ranks", "median_ranks", "sum_counts", "gather"]


def _keys(values: np.ndarray) -> np.ndarray:
    """Unsigned keys in the order of ``values`` (any integer or float dtype)."""
    bits = values.dtype.itemsize * 8
    unsigned = np.dtype(f"uint{bits}")
    raw = values.view(unsigned)
    top = unsigned.type(1) << unsigned.type(bits - 1)
    if np.issubdtype(values.dtype, np.floating):
        return np.where(raw & top, ~raw, raw | top)
    if np.issubdtype(values.dtype, np.signedinteger):
        return raw ^ top
    return raw


class ValueCounts:
    """How often each value occurs, by the top 16 bits of its key: exact for 8- and 16-bit data;
    wider data take a second pass (:meth:`wanted`, :meth:`settle`) over the few values of the bins
    that the order statistics fall in."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        bits = self.dtype.itemsize * 8
        self.shift = max(0, bits - 16)
        self.counts = np.zeros(1 << min(bits, 16), np.int64)
        self.exact: dict[int, np.ndarray] = {}  # bin -> its values, sorted (second pass)

    def add(self, values: np.ndarray) -> None:
        if values.size:
            self.counts += np.bincount((_keys(values) >> self.shift).astype(np.intp), minlength=len(self.counts))

    def merge(self, other: "ValueCounts") -> None:
        self.counts += other.counts

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def _bin(self, k: int) -> tuple[int, int]:
        cum = np.cumsum(self.counts)
        b = int(np.searchsorted(cum, k, side="right"))
        return b, k - (int(cum[b - 1]) if b else 0)

    def wanted(self, ranks) -> set[int]:
        """The bins whose values a second pass must bring for ``ranks`` (none for 8/16-bit data)."""
        return set() if self.shift == 0 else {self._bin(k)[0] for k in ranks}

    def settle(self, values: np.ndarray, wanted: set[int]) -> None:
        keys = _keys(values) >> self.shift
        for b in wanted:
            self.exact[b] = np.sort(values[keys == b])

    def kth(self, k: int):
        """The ``k``-th smallest value (0-based), in the data's dtype."""
        b, r = self._bin(k)
        if self.shift == 0:  # a bin is one value: invert the key
            every = np.arange(len(self.counts), dtype=np.dtype(f"uint{self.dtype.itemsize * 8}")).view(self.dtype)
            return every[np.argsort(_keys(every))][b]
        return self.exact[b][r]

    def percentile(self, q: float) -> float:
        """``np.percentile(values, q)`` (its default, linear method), float64, to the last bit."""
        n = self.n
        virtual = (n - 1) * (q / 100)
        if virtual >= n - 1:
            return float(self.kth(n - 1))
        prev = int(np.floor(virtual))
        a, b, t = float(self.kth(prev)), float(self.kth(prev + 1)), virtual - prev
        diff = b - a
        return b - diff * (1 - t) if t >= 0.5 else a + diff * t

    def median(self) -> float:
        """``np.median(values)`` (the mean of the middle two in the data's dtype when n is even)."""
        n = self.n
        middle = [self.kth(n // 2)] if n % 2 else [self.kth(n // 2 - 1), self.kth(n // 2)]
        return float(np.median(np.array(middle, self.dtype)))


def percentile_ranks(n: int) -> list[int]:
    """The ranks ``np.percentile(values, 99)`` reads among ``n`` sorted values."""
    if n == 0:
        return []
    virtual = (n - 1) * (99 / 100)
    prev = int(np.floor(virtual))
    return [n - 1] if virtual >= n - 1 else [prev, prev + 1]


def median_ranks(n: int) -> list[int]:
    """The ranks ``np.median`` reads among ``n`` sorted values."""
    return [] if n == 0 else [n // 2] if n % 2 else [n // 2 - 1, n // 2]


def sum_counts(parts) -> "ValueCounts | None":
    """The counts of ``parts`` (None ones left out) added up; None when there are none."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    total = ValueCounts(parts[0].dtype)
    for p in parts:
        total.merge(p)
    return total


def gather(total: ValueCounts, part: ValueCounts) -> None:
    """Add ``part``'s second-pass values to ``total``'s, bin by bin."""
    for b, values in part.exact.items():
        total.exact[b] = np.sort(np.concatenate([total.exact.get(b, values[:0]), values]))
