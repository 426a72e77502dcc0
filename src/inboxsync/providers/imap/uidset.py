"""Sets of UIDs (or sequence numbers) as IMAP writes them: ``1:3,5,7:9``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["UidSet"]


class UidSet:
    """An immutable set of positive integers kept as sorted, disjoint, non-adjacent ranges.

    ``VANISHED (EARLIER) 1:4000000`` stays four bytes of ranges instead of four million ints.
    """

    __slots__ = ("_ranges",)

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted((min(a, b), max(a, b)) for a, b in ranges):
            if merged and lo <= merged[-1][1] + 1:
                if hi > merged[-1][1]:
                    merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        self._ranges: tuple[tuple[int, int], ...] = tuple(merged)

    @classmethod
    def parse(cls, text: str | bytes) -> UidSet:
        """Parse ``1:3,5``; :class:`ValueError` on anything else (``*`` has no meaning in a response)."""
        if isinstance(text, bytes):
            text = text.decode("ascii")
        ranges = []
        for part in text.split(","):
            lo, sep, hi = part.partition(":")
            a = int(lo)
            b = int(hi) if sep else a
            if a <= 0 or b <= 0:
                raise ValueError(f"invalid sequence set {text!r}")
            ranges.append((a, b))
        return cls(ranges)

    @classmethod
    def of(cls, numbers: Iterable[int]) -> UidSet:
        return cls((n, n) for n in numbers)

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        return self._ranges

    def union(self, other: UidSet) -> UidSet:
        return UidSet(self._ranges + other._ranges)

    def __iter__(self) -> Iterator[int]:
        for lo, hi in self._ranges:
            yield from range(lo, hi + 1)

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self._ranges)

    def __bool__(self) -> bool:
        return bool(self._ranges)

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, int):
            return False
        return any(lo <= number <= hi for lo, hi in self._ranges)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UidSet) and other._ranges == self._ranges

    def __hash__(self) -> int:
        return hash(self._ranges)

    def __str__(self) -> str:
        return ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in self._ranges)

    def __repr__(self) -> str:
        return f"UidSet({str(self)!r})"
