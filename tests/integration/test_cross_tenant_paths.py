"""The cross-tenant matrix, continued: paths the route-by-route matrix (test_cross_tenant.py,
test_cross_tenant_forms.py) does not reach, each found leaking once: what an erasure says of
the gallery it searched. The two organisations: cross_tenant_world.py (a world of its own for
this module: these tests change it).
"""

from __future__ import annotations

import time

from tests.fakes import person_name
from tests.integration.cross_tenant_world import Tenant, World, png, world

__all__ = ["world"]  # the fixture


def _ingested(world: World, tenant: Tenant, person: int, shot: int) -> None:
    """A photo of ``person`` added to ``tenant``'s collection by its admin (an ingest job)."""
    client = world.client
    started = client.post(
        "/api/v1/ingest-jobs",
        headers=tenant.auth("admin"),
        files={"files": png(person, shot)},
        data={"collection": tenant.collection, "subject": person_name(person)},
    )
    assert started.status_code == 202, started.text
    job = f"/api/v1/ingest-jobs/{started.json()['id']}"
    deadline = time.monotonic() + 30
    while (done := client.get(job, headers=tenant.auth("admin")).json())["finished"] is None:
        assert time.monotonic() < deadline, "the ingest job did not finish"
        time.sleep(0.05)
    assert done["error"] is None, done


def test_an_erasure_like_a_photo_counts_only_its_own_gallery(world: World) -> None:
    """An erasure like a photo says how many faces it searched and how many strangers a
    gallery of that size holds at its threshold: for B's admin, B's own faces (those it
    searches), never a count that holds A's (nor the ``default`` organisation's)."""
    b, client = world.b, world.client
    _ingested(world, b, 8, 1)  # person 8: in no collection until now; erased below
    own = client.get(f"/api/v1/collections/{b.collection}", headers=b.auth("admin")).json()
    erased = client.post(
        "/api/v1/erasures",
        headers=b.auth("admin"),
        data={"reason": "cross-tenant count", "case": b.case},
        files={"like": png(8, 9)},
    )
    assert erased.status_code == 201, erased.text
    body = erased.json()
    assert body["faces_removed"] == 1, body
    assert body["like"]["gallery_faces"] == own["faces"], (body["like"], own)
    entry = client.get(f"/api/v1/audit/{body['id']}", headers=b.auth("aud")).json()
    assert entry["payload"]["like"]["gallery_faces"] == own["faces"], entry["payload"]["like"]
