"""Start-up of a fresh ``facesearch embed`` on 3 LFW images (issue 11: at most 0.7 s).

    .venv/bin/python benchmarks/startup.py [--runs 9] [--base /tmp/startup-base/src]

Each run is a new ``python -m facesearch embed IMG IMG IMG`` process, timed from launch to
exit. ``cold``: the first run on an empty compiled-model cache (a fresh cache dir whose
``models/`` links to the real one, so the derived models are not rebuilt: only OpenVINO's
compile is cold); ``warm``: the runs after it. ``imports``: the interpreter's own account of
its imports (``-X importtime``, top-level modules summed, the runtime's lazy import included;
that flag slows imports a little) in a warm run; ``warm CPU``: user + system time of a warm
run, all threads (less sensitive to other jobs on a busy machine than wall time).

Python's bytecode is cached as an installed wheel's is (under a private PYTHONPYCACHEPREFIX,
primed by one discarded run), even where PYTHONDONTWRITEBYTECODE is set.

``--base SRC`` measures another checkout's ``src`` (e.g. a git worktree of the commit before a
change) side by side: its runs alternate with this checkout's, under the same load.

Prints a table and writes benchmarks/results/startup.json with the CPU and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from facesearch.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import RESULTS, cpu_record

IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)")


@dataclass
class Variant:
    """One checkout measured: its label, the ``src`` put first on the path (None: this one)."""

    label: str
    src: Path | None
    cold_s: list[float] = field(default_factory=list)
    warm_s: list[float] = field(default_factory=list)
    warm_cpu_s: list[float] = field(default_factory=list)
    imports_s: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Summary:
    label: str
    src: str
    cold_median_s: float
    warm_median_s: float
    warm_min_s: float
    warm_cpu_median_s: float
    imports_median_s: float
    cold_s: list[float]
    warm_s: list[float]
    warm_cpu_s: list[float]
    imports_s: list[float]


def sample_images(lfw: Path) -> list[Path]:
    files = sorted((lfw / "lfw-deepfunneled").glob("*/*_0001.jpg"))[:3]
    if len(files) < 3:
        sys.exit(f"no LFW images under {lfw} (set FACESEARCH_LFW_DIR)")
    return [f.resolve() for f in files]


def fresh_cache(root: Path, settings: Settings) -> Path:
    """An empty cache dir sharing the real one's derived models."""
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=root))
    models = settings.cache_dir / "models"
    if models.is_dir():
        (cache / "models").symlink_to(models.resolve())
    return cache


def env_for(variant: Variant, cache: Path, pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["FACESEARCH_CACHE_DIR"] = str(cache)
    env["PYTHONPYCACHEPREFIX"] = str(pycache / variant.label)
    if variant.src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(variant.src), env.get("PYTHONPATH", "")])
    return env


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float  # user + system time of the process, all its threads
    stderr: str


def run_embed(images: list[Path], env: dict[str, str], *flags: str) -> Run:
    """One fresh ``facesearch embed``."""
    args = [sys.executable, *flags, "-m", "facesearch", "embed", *map(str, images)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or done.stdout.count("\n") < len(images):
        sys.exit(f"facesearch embed failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Run(seconds, cpu, done.stderr)


def import_seconds(stderr: str) -> float:
    """The top-level imports' cumulative time in a ``-X importtime`` report."""
    total = 0
    for line in stderr.splitlines():
        m = IMPORT_LINE.match(line)
        if m and not m.group(2):
            total += int(m.group(1))
    return total / 1e6


def measure(
    variants: list[Variant], images: list[Path], runs: int, cold_runs: int, settings: Settings
) -> None:
    with tempfile.TemporaryDirectory(prefix="facesearch-startup-") as tmp:
        root = Path(tmp)
        pycache = root / "pycache"
        for v in variants:  # prime the bytecode cache, on a cache dir thrown away
            run_embed(images, env_for(v, fresh_cache(root, settings), pycache))
        caches: dict[str, Path] = {}
        for _ in range(cold_runs):  # each on an empty cache; the warm runs use the last one
            for v in variants:
                caches[v.label] = fresh_cache(root, settings)
                v.cold_s.append(run_embed(images, env_for(v, caches[v.label], pycache)).wall_s)
        for _ in range(runs):
            for v in variants:
                env = env_for(v, caches[v.label], pycache)
                warm = run_embed(images, env)
                v.warm_s.append(warm.wall_s)
                v.warm_cpu_s.append(warm.cpu_s)
                traced = run_embed(images, env, "-X", "importtime")
                v.imports_s.append(import_seconds(traced.stderr))


def summary(v: Variant) -> Summary:
    return Summary(
        label=v.label,
        src=str(v.src or Path(__file__).resolve().parents[1] / "src"),
        cold_median_s=statistics.median(v.cold_s),
        warm_median_s=statistics.median(v.warm_s),
        warm_min_s=min(v.warm_s),
        warm_cpu_median_s=statistics.median(v.warm_cpu_s),
        imports_median_s=statistics.median(v.imports_s),
        cold_s=v.cold_s,
        warm_s=v.warm_s,
        warm_cpu_s=v.warm_cpu_s,
        imports_s=v.imports_s,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="warm runs per checkout")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold runs per checkout")
    parser.add_argument("--base", type=Path, help="src folder of a checkout to compare with")
    parser.add_argument("--out", type=Path, default=RESULTS / "startup.json")
    args = parser.parse_args()
    settings = Settings.from_env()
    images = sample_images(settings.lfw_dir)
    variants = [Variant("this", None)]
    if args.base is not None:
        variants.insert(0, Variant("base", args.base.resolve()))
    load_before = os.getloadavg()
    measure(variants, images, args.runs, args.cold_runs, settings)
    load_after = os.getloadavg()
    rows = [summary(v) for v in variants]
    print(
        f"fresh `facesearch embed` on 3 LFW images, {args.cold_runs} cold and {args.runs} warm "
        "runs each (medians)"
    )
    print(
        f"{'checkout':<8} {'cold':>7} {'warm median':>12} {'warm min':>9} {'warm CPU':>9} "
        f"{'imports':>8}"
    )
    for r in rows:
        print(
            f"{r.label:<8} {r.cold_median_s:>6.3f}s {r.warm_median_s:>11.3f}s "
            f"{r.warm_min_s:>8.3f}s {r.warm_cpu_median_s:>8.3f}s {r.imports_median_s:>7.3f}s"
        )
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    record = {
        "benchmark": "startup",
        "images": [str(p) for p in images],
        "runs": args.runs,
        "cold_runs": args.cold_runs,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "python": sys.version.split()[0],
        **cpu_record(settings),
        "results": [asdict(r) for r in rows],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
