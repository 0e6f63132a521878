"""The distributed deployment on one machine (``scripts/distributed-demo.sh`` runs this).

PostgreSQL (a throwaway cluster), the Milvus standalone server, LFW ingested with Ray
(``--ray auto``; the plain ingest when Ray is missing), two ``facesearch serve`` replicas
over them, and Debian's nginx balancing on one port. Then one search on replica A and its
confirmation by a second person on replica B, and where to log in. Ctrl-C stops it all.

    python -m facesearch.devcluster.demo [--lfw DIR] [--limit N] [--port 8000] [--base DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.app.training_course import QUIZ
from facesearch.devcluster.milvus import milvus_server
from facesearch.devcluster.nginx import free_port, nginx_in_front, serve_replica
from facesearch.devcluster.postgres import PgCluster, fresh_base
from facesearch.settings import Settings

PROBE = ("Colin_Powell", 1)


def _cli(env: dict[str, str], home: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "facesearch", "--home", str(home), *args]
    print("$ facesearch", " ".join(args), flush=True)
    subprocess.run(cmd, env={**os.environ, **env}, check=True)


def _photos(lfw: Path, limit: int, base: Path) -> Path:
    """The LFW folder, or a list file of its first ``limit`` photos (by person, then number),
    by absolute path (ingest reads a list's relative paths from the list's own folder)."""
    folder = lfw.resolve() / "lfw-deepfunneled"
    if not limit:
        return folder
    listed = sorted(folder.glob("*/*.jpg"))[:limit]
    probe_dir = folder / PROBE[0]
    listed += [p for p in sorted(probe_dir.glob("*.jpg"))[1:] if p not in listed]
    out = base / "photos.txt"
    out.write_text("".join(f"{p}\n" for p in listed))
    return out


def _accounts(settings: Settings) -> dict[str, tuple[str, str]]:
    """Three demo accounts: name -> (password, API token)."""
    made = {}
    me = local_actor()
    with AccountabilityStore.from_settings(settings) as store:
        for name, role in (("admin", "admin"), ("alice", "investigator"), ("bob", "investigator")):
            password = secrets.token_urlsafe(12)
            store.accounts.add_user(name, role, password, by=me)
            made[name] = (password, store.accounts.issue_token(name, by=me))
    return made


def _train(url: str, tokens: dict[str, dict[str, str]], *names: str) -> None:
    """The demo's investigators answer the training's quiz through the API (the right answers:
    a user reads the course on /training first)."""
    right = {f"q{n}": str(q.answer) for n, q in enumerate(QUIZ, 1)}
    for name in names:
        r = httpx.post(f"{url}/api/v1/training/quiz", headers=tokens[name], data=right)
        r.raise_for_status()
        print(f"{name} passed the training quiz (valid until {r.json()['status']['valid_until']})")


def _search_and_confirm(a: str, b: str, lfw: Path, tokens: dict[str, dict[str, str]]) -> None:
    _train(a, tokens, "alice", "bob")
    photo = lfw / "lfw-deepfunneled" / PROBE[0] / f"{PROBE[0]}_{PROBE[1]:04d}.jpg"
    files = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
    form = {"case": "DEMO-1", "purpose": "distributed demo"}
    r = httpx.post(f"{a}/api/v1/searches", headers=tokens["alice"], files=files, data=form,
                   timeout=300)  # fmt: skip
    r.raise_for_status()
    body = r.json()
    hits = [h for f in body["faces"] for h in f["hits"] if not h["same_file"]]
    if not hits:
        print("the search found no candidate other than the probe itself")
        return
    top = hits[0]
    print(
        f"replica A: search {body['id']} by alice: best candidate face {top['face_id']} "
        f"({top['subject']}), similarity {top['similarity']:.3f}, {top['fmr_words']}"
    )
    decide = f"/api/v1/searches/{body['id']}/candidates/{top['face_id']}/decisions"
    first = httpx.post(a + decide, headers=tokens["alice"], data={"verdict": "possible_match"})
    first.raise_for_status()
    second = httpx.post(b + decide, headers=tokens["bob"],
                        data={"verdict": "possible_match", "note": "demo"})  # fmt: skip
    second.raise_for_status()
    state = second.json()
    print(
        f"replica B: bob confirmed it: status {state['status']}, verified by "
        f"{', '.join(state['verified_by'])} (a lead for a person to check, not an identification)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facesearch.devcluster.demo")
    parser.add_argument("--lfw", type=Path, default=Path(os.environ.get(
        "FACESEARCH_LFW_DIR", "../shared/data/lfw")))  # fmt: skip
    parser.add_argument(
        "--limit",
        type=int,
        default=0,
        help="ingest LFW's first N photos, plus Colin Powell's others (the probe's mates; 0: all)",
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--base", type=Path, default=Path("demo-distributed"))
    parser.add_argument("--no-wait", action="store_true", help="stop after the search")
    args = parser.parse_args(argv)
    if not (args.lfw / "lfw-deepfunneled").is_dir():
        print(f"LFW not found at {args.lfw}: set FACESEARCH_LFW_DIR", file=sys.stderr)
        return 2
    base = args.base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        print("starting PostgreSQL ...", flush=True)
        cluster = PgCluster(fresh_base())
        cluster.start()
        stack.callback(cluster.stop)
        print("starting the Milvus standalone server (takes 10-40 s) ...", flush=True)
        vectors = stack.enter_context(milvus_server(base / "milvus"))
        env = {"FACESEARCH_DATABASE_URL": cluster.database(), "FACESEARCH_VECTORS_URL": vectors}
        settings = Settings.from_env(env={**os.environ, **env}).replace(home=base / "ingest-home")
        accounts = _accounts(settings)
        ray = ["--ray", "auto"] if importlib.util.find_spec("ray") else []
        if not ray:
            print("Ray is not installed (pip install 'facesearch[distributed]'): plain ingest")
        photos = _photos(args.lfw, args.limit, base)
        started = time.monotonic()
        _cli(env, base / "ingest-home", "ingest", str(photos), "--label-from-dir", *ray)
        print(f"ingest took {time.monotonic() - started:.0f} s", flush=True)
        trusted = {**env, "FACESEARCH_TRUSTED_PROXIES": "127.0.0.1/32"}
        a = stack.enter_context(serve_replica(base / "replica-a", trusted, base / "a.log",
                                              free_port()))  # fmt: skip
        b = stack.enter_context(serve_replica(base / "replica-b", trusted, base / "b.log",
                                              free_port()))  # fmt: skip
        lb = stack.enter_context(nginx_in_front([a, b], base / "nginx", args.port))
        tokens = {n: {"Authorization": f"Bearer {t}"} for n, (_, t) in accounts.items()}
        _search_and_confirm(a, b, args.lfw, tokens)
        print(f"\nreplicas: {a} and {b}; nginx balances them on {lb}")
        print(f"log in at {lb}/login with (passwords also in {base / 'demo-passwords.txt'}):")
        lines = [f"  {n:6} {pw}" for n, (pw, _) in accounts.items()]
        (base / "demo-passwords.txt").write_text("\n".join(lines) + "\n")
        os.chmod(base / "demo-passwords.txt", 0o600)
        print("\n".join(lines))
        if args.no_wait:
            return 0
        print("Ctrl-C stops nginx, the replicas, Milvus and PostgreSQL.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping ...")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
