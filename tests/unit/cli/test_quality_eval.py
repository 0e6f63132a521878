"""`eval fmr-check` and `eval quality` join the `eval` command beside `eval lfw`."""

from __future__ import annotations

from facesearch.cli import build_parser
from facesearch.cli.quality_eval import cmd_fmr_check, cmd_quality


def test_the_checks_are_eval_protocols() -> None:
    parser = build_parser()
    args = parser.parse_args(["eval", "fmr-check", "--people", "5"])
    assert args.handler is cmd_fmr_check and args.people == 5
    assert not args.fused and parser.parse_args(["eval", "fmr-check", "--fused"]).fused
    args = parser.parse_args(["eval", "quality", "--max-fmr", "1e-4"])
    assert args.handler is cmd_quality and args.max_fmr == 1e-4
    assert parser.parse_args(["eval", "lfw"]).handler.__name__ == "cmd_eval_lfw"
