"""Prometheus text exposition for ``/metrics`` (no client library: a few counters suffice).

facesearch_http_requests_total{method,status}      every answer, by method and status class
                                                   (2xx..5xx), counted by HttpMetricsMiddleware
facesearch_searches_total{outcome="ok|error"}      1:N searches
facesearch_search_seconds (histogram)              search latency, engine queue included
facesearch_verifications_total{outcome=...}        1:1 verifications
facesearch_decisions_total{verdict=...}            verdicts on candidates
facesearch_erasures_total / _faces_erased_total    erasures and the faces they removed
facesearch_ingest_jobs_total{status=...}           finished ingest jobs
facesearch_ingest_images_total / _faces_total      images and faces added by ingest
facesearch_gallery_faces                           faces in the catalog now (gauge)
facesearch_alerts_total{rule=...}                  oversight alerts raised, counted from the
                                                   audit trail at each reading (catch_up)
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facesearch.server.asgi import HttpMiddleware

BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HELP = {
    "facesearch_http_requests_total": (
        "counter",
        "HTTP answers by method and status class (2xx, 3xx, 4xx, 5xx).",
    ),
    "facesearch_searches_total": ("counter", "1:N searches by outcome."),
    "facesearch_verifications_total": ("counter", "1:1 verifications by outcome."),
    "facesearch_decisions_total": ("counter", "Verdicts recorded on candidates."),
    "facesearch_erasures_total": ("counter", "Erasures (forget) carried out."),
    "facesearch_faces_erased_total": ("counter", "Faces removed by erasures."),
    "facesearch_ingest_jobs_total": ("counter", "Finished ingest jobs by status."),
    "facesearch_ingest_images_total": ("counter", "Images added by ingest jobs."),
    "facesearch_ingest_faces_total": ("counter", "Faces added by ingest jobs."),
    "facesearch_alerts_total": ("counter", "Oversight alerts raised (audit entries) by rule."),
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self._buckets = [0] * (len(BUCKETS) + 1)
        self._sum = 0.0
        self._count = 0
        self._seen: dict[str, int] = defaultdict(int)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] += amount

    def catch_up(self, name: str, label: str, read: Callable[[int], list[str]]) -> None:
        """Count, by ``label``, what ``read(n)`` gives after the ``n`` values counted before:
        a counter kept in the audit trail, read on from where the last reading stopped."""
        with self._lock:
            seen = self._seen[name]
        new = read(seen)
        with self._lock:
            if self._seen[name] != seen:
                return  # another reading counted them meanwhile
            self._seen[name] = seen + len(new)
            for value in new:
                self._counters[(name, ((label, value),))] += 1

    def observe_search(self, seconds: float) -> None:
        with self._lock:
            self._sum += seconds
            self._count += 1
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self._buckets[i] += 1
                    break
            else:
                self._buckets[-1] += 1

    def render(self, gallery_faces: int | None) -> str:
        lines: list[str] = []
        with self._lock:
            counters = dict(self._counters)
            buckets, total, count = list(self._buckets), self._sum, self._count
        for name, (kind, text) in HELP.items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            rows = [(labels, v) for (n, labels), v in sorted(counters.items()) if n == name]
            if not rows:
                lines.append(f"{name} 0")
            for labels, value in rows:
                lines.append(f"{name}{_labels(labels)} {_num(value)}")
        lines += [
            "# HELP facesearch_search_seconds Search latency in seconds, engine queue included.",
            "# TYPE facesearch_search_seconds histogram",
        ]
        running = 0
        for bound, n in zip(BUCKETS, buckets, strict=False):
            running += n
            lines.append(f'facesearch_search_seconds_bucket{{le="{bound:g}"}} {running}')
        lines.append(f'facesearch_search_seconds_bucket{{le="+Inf"}} {count}')
        lines.append(f"facesearch_search_seconds_sum {_num(total)}")
        lines.append(f"facesearch_search_seconds_count {count}")
        lines += [
            "# HELP facesearch_gallery_faces Faces in the gallery catalog.",
            "# TYPE facesearch_gallery_faces gauge",
        ]
        if gallery_faces is not None:
            lines.append(f"facesearch_gallery_faces {gallery_faces}")
        return "\n".join(lines) + "\n"


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetricsMiddleware(HttpMiddleware):
    """Counts every HTTP answer in ``facesearch_http_requests_total`` by method and status
    class. Placed outermost but for Starlette's error guard: an exception that escapes the
    app (answered 500 by the guard) is counted as 5xx."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope.get("method", "")).upper()
        method = method if method in METHODS else "other"
        status: int | None = None

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counted)
        except Exception:
            if status is None:
                status = 500
            raise
        finally:
            if status is not None:
                self.metrics.inc(
                    "facesearch_http_requests_total", method=method, status=f"{status // 100}xx"
                )


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
