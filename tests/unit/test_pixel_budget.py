"""PixelBudget: the threads sharing a pipeline hold at most max_pixels decoded pixels at once
(issue 7, item 8: bounded memory under concurrent big images)."""

from __future__ import annotations

import threading

from facesearch.pipeline import PixelBudget


def test_a_decode_past_the_budget_waits_for_the_others() -> None:
    budget = PixelBudget(100)
    holding, release, entered = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with budget.admit(80):
            holding.set()
            release.wait(10)

    def second() -> None:
        with budget.admit(50):
            entered.set()

    a = threading.Thread(target=first)
    a.start()
    assert holding.wait(10)
    b = threading.Thread(target=second)
    b.start()
    b.join(0.3)
    assert b.is_alive() and not entered.is_set() and budget.held == 80  # 80 + 50 > 100
    with budget.admit(20):  # fits beside the first
        assert budget.held == 100
    release.set()
    a.join(10)
    b.join(10)
    assert entered.is_set() and budget.held == 0


def test_one_image_larger_than_the_budget_still_runs_alone() -> None:
    budget = PixelBudget(100)
    with budget.admit(500):
        assert budget.held == 500
    assert budget.held == 0
