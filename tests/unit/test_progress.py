"""Progress on stderr when it is not a terminal: a line every few seconds and one at the end."""

from __future__ import annotations

import io

from facesearch.progress import Progress, track


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_every_few_seconds_and_at_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    bar = Progress("ingest", unit="img", stream=out, every=5.0, clock=clock)
    for n in range(1, 11):
        clock.now += 1.0  # one image a second
        bar.update(n, faces=n * 2, failed=0)
    bar.close()
    bar.close()  # idempotent
    lines = out.getvalue().splitlines()
    assert lines == [
        "ingest: 5 img, faces 10, failed 0 (5 s, 1 img/s)",
        "ingest: 10 img, faces 20, failed 0 (10 s, 1 img/s)",
        "ingest: 10 img, faces 20, failed 0 (10 s, 1 img/s)",
    ]


def test_total_and_thousands() -> None:
    out, clock = io.StringIO(), Clock()
    with Progress("embedding LFW", total=13_233, stream=out, clock=clock) as bar:
        clock.now += 2.0
        bar.update(1_200)
    assert out.getvalue() == "embedding LFW: 1,200 of 13,233 img (2 s, 600 img/s)\n"


def test_track_yields_everything(capsys) -> None:  # type: ignore[no-untyped-def]
    assert list(track(range(3), "eval", total=3)) == [0, 1, 2]
    assert capsys.readouterr().err == "eval: 3 of 3 img (0 s)\n"  # stderr is not a terminal
