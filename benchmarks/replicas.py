"""Two replicas against one, and both against the embedded server, under benchmarks/load.py's
load, side by side in one run on this machine (issue 9, "Measured").

    .venv/bin/python benchmarks/replicas.py [--duration 30] [--concurrency 50]

Builds load.py's gallery (LFW photos, one investigator per worker) in a throwaway home, moves
it into a throwaway PostgreSQL cluster with ``migrate`` (facesearch.devcluster), then drives
the same search load at:

- ``embedded``: one ``facesearch serve`` on the home (SQLite + FAISS files);
- ``pg x1``: one replica on PostgreSQL (its own home: FAISS files derived from the catalog);
- ``pg x2 nginx``: two replicas on PostgreSQL behind Debian's nginx.

On one machine the replicas share its cores, so this measures the cost of the distributed
path and that a second replica adds no errors, not the scaling of more machines. Prints a
table and writes benchmarks/results/replicas.json with the CPU model and flags.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load
from facesearch.app.migrate import migrate
from facesearch.devcluster.nginx import nginx_in_front, serve_replica
from facesearch.devcluster.postgres import PgCluster, fresh_base
from facesearch.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "replicas.json"


def summary(results: list[tuple[float, int]], seconds: float) -> dict[str, Any]:
    ok = sorted(t for t, status in results if status == 201)
    by_status: dict[str, int] = {}
    for _, status in results:
        if status != 201:
            by_status[str(status)] = by_status.get(str(status), 0) + 1
    return {
        "requests": len(results),
        "errors": len(results) - len(ok),
        "errors_by_status": by_status,
        "searches_per_s": round(len(ok) / seconds, 2) if seconds else 0.0,
        "p50_s": round(load.percentile(ok, 50), 3) if ok else None,
        "p99_s": round(load.percentile(ok, 99), 3) if ok else None,
    }


def run(url: str, tokens: list[str], probes: list[bytes], args: argparse.Namespace) -> Any:
    print(f"  {args.concurrency} concurrent searches for {args.duration:g} s at {url} ...")
    results, seconds = asyncio.run(load.drive(url, tokens, probes, args))
    return summary(results, seconds)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--max-requests", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--people", type=int, default=40)
    ap.add_argument("--per-person", type=int, default=5)
    ap.add_argument("--logs", type=Path, default=Path("/tmp/facesearch-replicas-logs"))
    args = ap.parse_args()
    args.src = None
    who = load.people(args.people, args.per_person)
    probes = [load.photo(p, args.per_person + k).read_bytes() for p in who for k in (1, 2, 3)]
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="facesearch-replicas-") as tmp, ExitStack() as stack:
        base = Path(tmp)
        for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
            load.SANDBOX[var] = str(base / var.lower())
        os.environ.update(load.SANDBOX)
        home = base / "home"
        tokens = list(load.prepare(home, args, who).values())
        cluster = PgCluster(fresh_base())
        cluster.start()
        stack.callback(cluster.stop)
        url = cluster.database()
        report = migrate(Settings.from_env().replace(home=home), url, "")
        print(f"migrated into PostgreSQL: audit trail verifies: {report.audit_ok}")
        env = {"FACESEARCH_DATABASE_URL": url, "FACESEARCH_TRUSTED_PROXIES": "127.0.0.1/32"}
        logs = args.logs
        logs.mkdir(parents=True, exist_ok=True)
        with serve_replica(home, {}, logs / "embedded.log") as embedded:
            rows["embedded"] = run(embedded, tokens, probes, args)
        with serve_replica(base / "r1", env, logs / "r1.log") as one:
            rows["pg x1"] = run(one, tokens, probes, args)
        with (
            serve_replica(base / "r1", env, logs / "r1b.log") as a,
            serve_replica(base / "r2", env, logs / "r2.log") as b,
            nginx_in_front([a, b], base / "nginx") as lb,
        ):
            rows["pg x2 nginx"] = run(lb, tokens, probes, args)
    print(f"\n{'deployment':<14} {'searches/s':>10} {'p50 s':>7} {'p99 s':>7} {'errors':>7}")
    for name, r in rows.items():
        print(
            f"{name:<14} {r['searches_per_s']:>10} {r['p50_s']!s:>7} {r['p99_s']!s:>7} "
            f"{r['errors']:>7} {r['errors_by_status'] or ''}"
        )
    kept = {k: str(v) for k, v in vars(args).items() if k != "src"}
    out = {"runs": rows, "args": kept,
           "machine": load.cpu()}  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
