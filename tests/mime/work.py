"""Count work in function calls (Python and C), a measure that does not depend on the machine's load."""

from __future__ import annotations

import sys
from types import FrameType, TracebackType
from typing import Any


class CallCounter:
    """``with CallCounter() as c: ...`` then ``c.calls``."""

    def __init__(self) -> None:
        self.calls = 0

    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event in ("call", "c_call"):
            self.calls += 1

    def __enter__(self) -> CallCounter:
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        sys.setprofile(self._previous)
