"""Load test: concurrent 1:N searches through the HTTP API of a facesearch server on 127.0.0.1.

    .venv/bin/python benchmarks/load.py                      # own server, 50 workers, 60 s
    .venv/bin/python benchmarks/load.py --duration 20 --max-requests 500
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:8000 --token fs_...

Without --url it builds a throwaway home (LFW photos of --people people, --per-person each,
ingested with the CLI), adds one investigator per worker (each with its own API token, so the
per-user rate limit applies as in real use), starts ``facesearch serve`` on a free port and
stops it at the end. Each worker searches held-out LFW photos (never in the gallery) in a loop
until --duration seconds or --max-requests requests in all. Only 127.0.0.1 is ever targeted.

Prints a table and writes benchmarks/results/load.json: requests, errors (any answer but 201),
requests/s, searches/s (answered 201), latency p50/p90/p99/max of the searches answered, and
the CPU model and flags.

Big images among the small (issue 11: the big-image case in the mix):

    .venv/bin/python benchmarks/load.py --duration 30 --big-mix 2   # 2 of the 50 send the PNG

An upload ingest on the server beside the searches (``load_ingest``):

    .venv/bin/python benchmarks/load.py --duration 30 --ingest-during 3000

Big images (issue 7, item 8):

    .venv/bin/python benchmarks/load.py --big                # 16 concurrent 8,944 x 8,944 PNGs
    .venv/bin/python benchmarks/load.py --big --src /tmp/old/src --label before

--big sends --concurrency (default 16) searches at once, one per investigator, each with an
8,944 x 8,944 PNG (a grey frame around one LFW face, some 230 KB: far under the byte limit,
under the pixel limit). A client honours 503/429 answers with Retry-After and tries again, as
a well-behaved one would; the table shows the wall time until every search had its answer,
the latency of each, how often it was told to come back, and the server's peak memory
(VmHWM) and its memory before the burst. --src runs the server (and the ingest) from another
source tree, e.g. an older commit checked out with ``git worktree add /tmp/old <commit>``, to
measure before and after on one machine. Writes benchmarks/results/load-big[-LABEL].json,
with the CPU model and flags.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

import load_client
from load_ingest import admin_token, ingest_during, upload_zip

REPO = Path(__file__).resolve().parent.parent
LFW = Path(os.environ.get("FACESEARCH_LFW_DIR", REPO.parent / "shared" / "data" / "lfw"))
RESULTS = REPO / "benchmarks" / "results" / "load.json"
PASSWORD = "Quartz-lantern-orbit-7291"


def people(n: int, per_person: int) -> list[str]:
    """The n people with the most LFW photos (enough for the gallery and held-out probes)."""
    root = LFW / "lfw-deepfunneled"
    counts = sorted(
        ((len(list(d.iterdir())), d.name) for d in root.iterdir() if d.is_dir()), reverse=True
    )
    return [name for count, name in counts if count >= per_person + 3][:n]


def photo(person: str, number: int) -> Path:
    return LFW / "lfw-deepfunneled" / person / f"{person}_{number:04d}.jpg"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


BIG = 1000  # added to the status of a --big-mix search in the results (told apart from LFW's)
SANDBOX: dict[str, str] = {}  # XDG folders of this run (audit key and anchor files)


def server_env(src: str | None) -> dict[str, str]:
    """The environment of facesearch processes: this run's XDG folders, and ``src`` (another
    source tree) first on the path if given."""
    env = {**os.environ, **SANDBOX}
    if src:
        env["PYTHONPATH"] = str(Path(src).resolve())
    return env


def cli(home: Path, *args: str, stdin: str | None = None, src: str | None = None) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "facesearch", "--home", str(home), *args],
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
        env=server_env(src),
    )
    if r.returncode != 0:
        raise SystemExit(f"facesearch {' '.join(args)} failed: {r.stderr}")
    return r.stdout


USERS_SCRIPT = """
import json, sys
from pathlib import Path
from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.settings import Settings
try:  # trained staff, where the code has the training (older trees of --src do not)
    from facesearch.app.training import submit_quiz
    from facesearch.app.training_course import QUIZ
except ImportError:
    submit_quiz = None
home, n, password = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
me, tokens = local_actor("load-test"), {}
with AccountabilityStore.open(home) as store:
    for i in range(n):
        name = f"load{i:02d}"
        store.accounts.add_user(name, "investigator", password, by=me)
        tokens[name] = store.accounts.issue_token(name, by=me)
        if submit_quiz is not None:
            user = store.accounts.get_user(name)
            submit_quiz(store, Settings.from_env(home=home), user, [q.answer for q in QUIZ])
print(json.dumps(tokens))
"""


def prepare(home: Path, args: argparse.Namespace, who: list[str]) -> dict[str, str]:
    """Ingest the gallery and add one investigator (with a token) per worker, with the code
    the server will run (``--src``)."""
    listing = home.parent / "gallery.txt"
    listing.write_text(
        "\n".join(str(photo(p, n)) for p in who for n in range(1, args.per_person + 1)) + "\n"
    )
    print(f"ingesting {len(who) * args.per_person} LFW photos of {len(who)} people ...")
    print("  " + cli(home, "ingest", str(listing), "--label-from-dir", src=args.src).strip())
    r = subprocess.run(
        [sys.executable, "-c", USERS_SCRIPT, str(home), str(args.users), PASSWORD],
        capture_output=True,
        text=True,
        check=False,
        env=server_env(args.src),
    )
    if r.returncode != 0:
        raise SystemExit(f"adding the users failed: {r.stderr}")
    tokens: dict[str, str] = json.loads(r.stdout)
    return tokens


async def worker(
    client: httpx.AsyncClient,
    token: str,
    probes: list[bytes],
    offset: int,
    deadline: float,
    budget: list[int],
    out: list[tuple[float, int]],
    big: bytes | None = None,
) -> None:
    """Search in a loop until the deadline or the budget; ``big``: search that huge PNG
    instead, again and again (the mix of --big-mix), waiting Retry-After when told to."""
    i = offset
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        data = probes[i % len(probes)] if big is None else big
        i += 1
        started = time.perf_counter()
        while True:
            try:
                r = await client.post(
                    "/api/v1/searches",
                    headers={"Authorization": f"Bearer {token}"},
                    files={"image": ("probe.jpg" if big is None else "big.png", data)},
                    data={"case": "LOAD-1", "purpose": "load test", "top": "10"},
                )
                status = r.status_code
            except httpx.HTTPError:
                status = 0
            if big is not None and status in (429, 503) and time.monotonic() < deadline:
                await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                continue
            break
        out.append((time.perf_counter() - started, status if big is None else BIG + status))


async def drive(
    url: str,
    tokens: list[str],
    probes: list[bytes],
    args: argparse.Namespace,
    upload: tuple[str, bytes] | None = None,
    big: bytes | None = None,
    server_pid: int | None = None,
) -> tuple[list[tuple[float, int]], float, dict[str, Any] | None, dict[str, float]]:
    """The searches; with ``upload`` (an admin's token, a zip), that ingest job beside them
    (``load_ingest``); ``big``: the huge PNG that ``--big-mix`` clients send, made by the
    caller before the clock starts (making it takes seconds of the client's CPU). Also returns
    the CPU seconds this client and (given ``server_pid``) the server with its analysis
    processes used in the timed window: both share the machine's cores."""
    if args.big_mix and big is None:
        raise ValueError("--big-mix needs the big PNG (big_png())")
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        # warm the server up (models, index) and keep the probes it can search (some LFW
        # photos hold no face the quality gate accepts); not counted
        usable = []
        for data in probes:
            r = await client.post(
                "/api/v1/searches",
                headers={"Authorization": f"Bearer {tokens[0]}"},
                files={"image": ("p.jpg", data, "image/jpeg")},
                data={"case": "LOAD-0", "purpose": "warm-up"},
            )
            if r.status_code == 201:
                usable.append(data)
        print(f"{len(usable)} of {len(probes)} probe photos are searchable")
        probes = usable
        out: list[tuple[float, int]] = []
        budget = [args.max_requests]
        requests = load_client.bodies(probes, "probe.jpg")  # encoded before the clock starts
        big_requests = load_client.bodies([big], "big.png") if big else []
        started = time.monotonic()
        deadline = started + args.duration
        client0 = time.process_time()
        server0 = cpu_seconds(server_pid) if server_pid else {}
        ingest = None
        if upload is not None:
            side = httpx.AsyncClient(base_url=url, timeout=600)
            ingest = asyncio.create_task(ingest_during(side, *upload))
        if args.client == "raw":
            searches = [
                load_client.worker(
                    url,
                    tokens[i % len(tokens)],
                    big_requests if i < args.big_mix else requests,
                    i,
                    deadline,
                    budget,
                    out,
                    big=i < args.big_mix,
                )
                for i in range(args.concurrency)
            ]
        else:
            searches = [
                worker(
                    client,
                    tokens[i % len(tokens)],
                    probes,
                    i,
                    deadline,
                    budget,
                    out,
                    big if i < args.big_mix else None,
                )
                for i in range(args.concurrency)
            ]
        await asyncio.gather(*searches)
        seconds = time.monotonic() - started
        cpu_used = {"client": round(time.process_time() - client0, 2)}
        if server_pid:
            server1 = cpu_seconds(server_pid)
            parts = {k: round(server1[k] - server0.get(k, 0.0), 2) for k in server1}
            cpu_used["server"] = round(sum(parts.values()), 2)
            cpu_used.update({f"server: {k}": v for k, v in parts.items()})
        job = None
        if ingest is not None:
            job = await ingest
            await side.aclose()
        return out, seconds, job, cpu_used


def big_png(side: int = 8944) -> bytes:
    """A side x side PNG: a grey frame around one LFW photo (enlarged to 1,000 px, so that its
    face is found), well under a megabyte."""
    import io

    from PIL import Image

    canvas = Image.new("RGB", (side, side), (128, 128, 128))
    face = Image.open(photo("Colin_Powell", 10)).convert("RGB").resize((1000, 1000))
    canvas.paste(face, (side // 2, side // 3))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


async def big_search(
    client: httpx.AsyncClient, token: str, data: bytes, out: list[dict[str, Any]]
) -> None:
    """One search, tried again after Retry-After when the server says 503 or 429."""
    started = time.perf_counter()
    told_to_wait = 0
    while True:
        try:
            r = await client.post(
                "/api/v1/searches",
                headers={"Authorization": f"Bearer {token}"},
                files={"image": ("big.png", data, "image/png")},
                data={"case": "LOAD-BIG", "purpose": "big image load test"},
            )
            status = r.status_code
        except httpx.HTTPError:
            status = 0
        if status in (429, 503) and "retry-after" in r.headers and told_to_wait < 100:
            told_to_wait += 1
            await asyncio.sleep(float(r.headers["retry-after"]))
            continue
        break
    out.append(
        {"seconds": time.perf_counter() - started, "status": status, "retries": told_to_wait}
    )


async def drive_big(
    url: str, tokens: list[str], data: bytes, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], float]:
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        # warm up: models and index loaded, one small search (not counted)
        r = await client.post(
            "/api/v1/searches",
            headers={"Authorization": f"Bearer {tokens[0]}"},
            files={"image": ("p.jpg", photo("Colin_Powell", 10).read_bytes(), "image/jpeg")},
            data={"case": "LOAD-0", "purpose": "warm-up"},
        )
        print(f"warm-up search: {r.status_code}")
        out: list[dict[str, Any]] = []
        started = time.monotonic()
        await asyncio.gather(
            *(
                big_search(client, tokens[i % len(tokens)], data, out)
                for i in range(args.concurrency)
            )
        )
        return out, time.monotonic() - started


def family(pid: int) -> list[int]:
    """A process and its children (the server's analysis processes)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):  # started by any of its threads
        try:
            pids.extend(int(c) for c in task.read_text().split())
        except OSError:
            continue
    return pids


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process and its children (the server's analysis
    processes) together, in KiB: the sum of peaks bounds the peak of the sum."""
    out = {"VmRSS": 0, "VmHWM": 0}
    for one in family(pid):
        try:
            lines = Path(f"/proc/{one}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition(":")
            if key in out:
                out[key] += int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> dict[str, float]:
    """User and system CPU seconds so far of a process ("server") and of its live children:
    "analysis" (the analysis processes at the server's priority), "heavy" (those at a lower
    priority: the big photos' process)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"server": 0.0, "analysis": 0.0, "heavy": 0.0}
    for one in family(pid):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        kind = "server" if one == pid else "heavy" if int(fields[16]) > 0 else "analysis"
        out[kind] += used  # fields[16]: nice
    return out


def cpu() -> dict[str, Any]:
    """The CPU model and flags (from /proc/cpuinfo), for the record."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model.startswith(value.strip()):
                model = value.strip()
            if key.strip() == "flags":
                flags = value.strip()
                break
    except OSError:
        pass
    return {"model": model, "flags": flags, "cpus": os.cpu_count()}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", help="a running server on 127.0.0.1 (default: start one)")
    ap.add_argument("--token", help="with --url: an investigator's API token")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    ap.add_argument("--max-requests", type=int, default=3000)
    ap.add_argument("--users", type=int, default=50, help="investigators (own server only)")
    ap.add_argument("--people", type=int, default=40)
    ap.add_argument("--per-person", type=int, default=5)
    ap.add_argument("--big", action="store_true", help="concurrent searches of a huge PNG")
    ap.add_argument(
        "--big-mix",
        type=int,
        default=0,
        help="this many of the clients search the huge PNG of --big in a loop, the others "
        "LFW photos (the table counts the LFW searches)",
    )
    ap.add_argument(
        "--ingest-during",
        type=int,
        default=0,
        metavar="N",
        help="an admin uploads a zip of N LFW photos to ingest as the searches start",
    )
    ap.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="raw (default): load_client.py, one keep-alive connection per worker and each "
        "request encoded once; httpx: the AsyncClient of earlier runs (about 4 ms of CPU a "
        "search more, on the cores the server runs on)",
    )
    ap.add_argument("--src", help="run the server from this source tree (before/after runs)")
    ap.add_argument("--label", default="", help="--big: a name for this run (before, after)")
    args = ap.parse_args()
    if args.big and "--concurrency" not in sys.argv:
        args.concurrency = 16
    if args.big and "--users" not in sys.argv:
        args.users = args.concurrency
    if args.big and args.url:
        raise SystemExit("--big starts its own server (to read its memory); drop --url")

    who = people(args.people, args.per_person)
    probes = [photo(p, args.per_person + k).read_bytes() for p in who for k in (1, 2, 3)]
    server: subprocess.Popen[str] | None = None
    tmp = tempfile.TemporaryDirectory(prefix="facesearch-load-")
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        SANDBOX[var] = str(Path(tmp.name) / var.lower())
    try:
        if args.url:
            host = urlparse(args.url).hostname
            if host not in ("127.0.0.1", "localhost"):
                raise SystemExit("load.py only ever targets 127.0.0.1")
            if not args.token:
                raise SystemExit("--url needs --token (an investigator's API token)")
            url, tokens, gallery = args.url.rstrip("/"), [args.token], None
        else:
            home = Path(tmp.name) / "home"
            tokens = list(prepare(home, args, who).values())
            gallery = len(who) * args.per_person
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "facesearch",
                    "--home",
                    str(home),
                    "serve",
                    "--port",
                    str(port),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
                env=server_env(args.src),
            )
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(url + "/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start")
                time.sleep(0.2)
        if args.big:
            assert server is not None
            return report_big(server.pid, url, tokens, args)
        print(
            f"{args.concurrency} concurrent searches against {url} for up to {args.duration:g} s "
            f"or {args.max_requests} requests ..."
        )
        upload = None
        if args.ingest_during:
            if args.url:
                raise SystemExit("--ingest-during needs its own server; drop --url")
            token = admin_token(home, PASSWORD, server_env(args.src))
            upload = (token, upload_zip(LFW, args.ingest_during, set(who)))
            print(f"an ingest job of {args.ingest_during} photos starts with the searches")
        big = big_png() if args.big_mix else None
        results, seconds, job, cpu_used = asyncio.run(
            drive(url, tokens, probes, args, upload, big, server.pid if server else None)
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        tmp.cleanup()

    bigs = [(t, status - BIG) for t, status in results if status >= BIG]  # --big-mix's
    results = [(t, status) for t, status in results if status < BIG]
    latencies = [t for t, status in results if status == 201]
    errors = {}
    for _, status in results:
        if status != 201:
            errors[str(status)] = errors.get(str(status), 0) + 1
    big_ok = [t for t, status in bigs if status == 201]
    report: dict[str, Any] = {
        "requests": len(results),
        "errors": sum(errors.values()),
        "errors_by_status": errors,
        "seconds": round(seconds, 2),
        "throughput_per_s": round(len(results) / seconds, 2) if seconds else 0.0,
        "searches_per_s": round(len(latencies) / seconds, 2) if seconds else 0.0,
        "concurrency": args.concurrency,
        "client": args.client,
        "users": len(tokens),
        "gallery_images": gallery,
        "latency_s": {
            "p50": round(percentile(latencies, 50), 4) if latencies else None,
            "p90": round(percentile(latencies, 90), 4) if latencies else None,
            "p99": round(percentile(latencies, 99), 4) if latencies else None,
            "max": round(max(latencies), 4) if latencies else None,
            "mean": round(statistics.fmean(latencies), 4) if latencies else None,
        },
        "ingest_during": job,
        "cpu_seconds": cpu_used,
        "big_mix": {
            "workers": args.big_mix,
            "searches": len(bigs),
            "answered_201": len(big_ok),
            "p50_s": round(percentile(big_ok, 50), 3) if big_ok else None,
            "max_s": round(max(big_ok), 3) if big_ok else None,
        },
        "machine": {
            **cpu(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    lat = report["latency_s"]
    print()
    print(
        "| requests | errors | seconds | requests/s | searches/s (201) "
        "| p50 s | p90 s | p99 s | max s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {report['requests']} | {report['errors']} | {report['seconds']} | "
        f"{report['throughput_per_s']} | {report['searches_per_s']} | {lat['p50']} | "
        f"{lat['p90']} | {lat['p99']} | {lat['max']} |"
    )
    if args.big_mix:
        b = report["big_mix"]
        print(
            f"\nmixed in: {args.big_mix} of the {args.concurrency} clients searched an 8,944 x "
            f"8,944 PNG again and again: {b['answered_201']} of {b['searches']} answered 201, "
            f"p50 {b['p50_s']} s, max {b['max_s']} s (not in the table above)"
        )
    every = len(results) + len(bigs)
    if every:
        share = ", ".join(
            f"{who} {used:.1f} s ({used / every * 1000:.1f} ms a search)"
            for who, used in cpu_used.items()
        )
        print(f"\nCPU time in the timed window, shared by both on this machine: {share}")
    if job is not None:
        print(
            f"\nbeside them: an ingest job of {args.ingest_during} photos: {job['status']}, "
            f"{job.get('images_added')} images and {job.get('faces_added')} faces added in "
            f"{job['seconds']} s (the searches ran {report['seconds']} s)"
        )
    print(
        f"\nclient: {args.client}; CPU: {report['machine']['model']}, "
        f"{report['machine']['cpus']} cores; latency: "
        "searches answered 201; errors: any other answer (503/429 when the server is full)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwritten {RESULTS}")
    return 0 if report["errors"] == 0 and report["requests"] > 0 else 1


def report_big(pid: int, url: str, tokens: list[str], args: argparse.Namespace) -> int:
    data = big_png()
    print(
        f"{args.concurrency} concurrent searches of an 8944 x 8944 PNG ({len(data):,} bytes) "
        f"against {url} (server from {args.src or 'this tree'}) ..."
    )
    before = memory_kib(pid)
    results, seconds = asyncio.run(drive_big(url, tokens, data, args))
    after = memory_kib(pid)
    latencies = [r["seconds"] for r in results if r["status"] == 201]
    statuses: dict[str, int] = {}
    for r in results:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    report: dict[str, Any] = {
        "label": args.label,
        "src": args.src or str(REPO / "src"),
        "image": {"width": 8944, "height": 8944, "format": "PNG", "bytes": len(data)},
        "concurrency": args.concurrency,
        "answers_by_status": statuses,
        "retries_after_503_or_429": sum(r["retries"] for r in results),
        "wall_seconds": round(seconds, 2),
        "latency_s": {
            "p50": round(percentile(latencies, 50), 2) if latencies else None,
            "max": round(max(latencies), 2) if latencies else None,
        },
        "server_memory_mib": {
            "rss_before_burst": round(before["VmRSS"] / 1024),
            "peak": round(after["VmHWM"] / 1024),
            "rss_after_burst": round(after["VmRSS"] / 1024),
        },
        "machine": {**cpu(), "python": platform.python_version()},
    }
    mem, lat = report["server_memory_mib"], report["latency_s"]
    print()
    print("| run | searches | answers | retries | wall s | p50 s | max s | RSS before MiB "
          "| peak MiB | RSS after MiB |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {args.label or '-'} | {args.concurrency} | {statuses} | "
        f"{report['retries_after_503_or_429']} | {report['wall_seconds']} | {lat['p50']} | "
        f"{lat['max']} | {mem['rss_before_burst']} | {mem['peak']} | {mem['rss_after_burst']} |"
    )
    print(f"\nCPU: {report['machine']['model']}, {report['machine']['cpus']} cores")
    name = f"load-big-{args.label}.json" if args.label else "load-big.json"
    out = RESULTS.parent / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written {out}")
    return 0 if statuses == {"201": args.concurrency} else 1


if __name__ == "__main__":
    raise SystemExit(main())
