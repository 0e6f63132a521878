"""Progress of long CLI runs on stderr: a tqdm bar on a terminal, plain lines elsewhere.

    with Progress("ingest", unit="img") as bar:
        for n, item in enumerate(items, 1):
            ...
            bar.update(n, faces=faces, failed=failed)

On a terminal this is a tqdm bar. When stderr is a file or a pipe (a log, CI, ``nohup``), a
bar would print nothing useful, so a line like ``ingest: 1,200 img, faces 1,180, failed 3
(12 s, 100 img/s)`` is written every ``every`` seconds, and once more at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO, TypeVar

from facesearch.types import Closing

T = TypeVar("T")

EVERY_S = 5.0  # seconds between two progress lines when stderr is not a terminal


class Progress(Closing):
    """Report a growing count on ``stream`` (default stderr); see the module docstring."""

    def __init__(
        self,
        desc: str,
        *,
        total: int | None = None,
        unit: str = "img",
        stream: TextIO | None = None,
        every: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.every, self.clock = every, clock
        self.started = self.last = clock()
        self.n = 0
        self.extra: dict[str, Any] = {}
        self._closed = False
        self._bar: Any = None
        if _is_terminal(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=unit, desc=desc, file=self.stream, leave=False)

    def update(self, n: int, **extra: Any) -> None:
        """The count is now ``n``; ``extra`` (e.g. faces=12) is shown beside it."""
        self.n, self.extra = n, extra
        if self._bar is not None:
            self._bar.n = n
            self._bar.set_postfix(refresh=False, **extra)
            self._bar.refresh()
            return
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self._line()

    def close(self) -> None:
        """The final count (a last line when not on a terminal); idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
        else:
            self._line()

    def _line(self) -> None:
        elapsed = max(self.clock() - self.started, 0.0)
        done = f"{self.n:,}" if self.total is None else f"{self.n:,} of {self.total:,}"
        extra = "".join(f", {k.replace('_', ' ')} {_fmt(v)}" for k, v in self.extra.items())
        rate = f", {self.n / elapsed:.0f} {self.unit}/s" if elapsed >= 1 else ""
        self.stream.write(f"{self.desc}: {done} {self.unit}{extra} ({elapsed:.0f} s{rate})\n")
        self.stream.flush()


def track(
    items: Iterable[T], desc: str, *, total: int | None = None, unit: str = "img"
) -> Iterator[T]:
    """Yield ``items``, reporting how many have gone by (see ``Progress``)."""
    with Progress(desc, total=total, unit=unit) as bar:
        for n, item in enumerate(items, start=1):
            yield item
            bar.update(n)


def _fmt(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
