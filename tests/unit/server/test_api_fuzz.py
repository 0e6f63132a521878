"""The whole API fuzzed from its own OpenAPI document (schemathesis), against a real server on
127.0.0.1, as an admin: no answer is a 500, and every error is in the one JSON error shape.
Ids past int64 (SQLite's integers) are 404, query numbers out of range 422 (issue 7, item 13).

Bounded: a few examples per operation (FUZZ_EXAMPLES), so that it runs in well under a minute
on two cores. Excluded: revoking the admin's own tokens (it would end the run's login).
On the fake pipeline (tests/fakes.py): the answers' shapes do not depend on real faces."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from facesearch.cli import main

FUZZ_EXAMPLES = 12
BIG = [2**63, 2**64, 10**30]


def assert_error_shape(status: int, body: Any, where: str) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}, (where, status, body)
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, (where, body)
    assert isinstance(error["code"], str) and error["code"], (where, body)
    assert isinstance(error["message"], str) and error["message"], (where, body)
    assert "Traceback" not in error["message"], (where, body)
    assert "object at 0x" not in error["message"], (where, body)


@pytest.fixture(scope="module")
def fuzz_home(fake_homes: Any) -> Any:
    return fake_homes(
        "fuzz", server_rate_limit=0, server_read_rate_limit=0, server_request_timeout=120.0
    )


@pytest.fixture(scope="module")
def fuzz_url(fuzz_home: Any, fake_server: Any) -> Iterator[str]:
    with fake_server(fuzz_home.settings) as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(fuzz_url: str, fuzz_home: Any) -> Any:
    document = httpx.get(
        fuzz_url + "/openapi.json", headers=fuzz_home.auth("admin1"), timeout=30
    ).json()
    schema = schemathesis.openapi.from_dict(document)
    return schema.exclude(method="DELETE", path="/api/v1/me/tokens")


def test_ids_past_int64_are_not_found(fuzz_url: str, fuzz_home: Any) -> None:
    auth = fuzz_home.auth("admin1")
    with httpx.Client(base_url=fuzz_url, headers=auth, timeout=30) as api:
        for n in BIG:
            for path in [
                f"/api/v1/faces/{n}",
                f"/api/v1/faces/{n}/crop",
                f"/api/v1/images/{n}",
                f"/api/v1/images/{n}/file",
                f"/api/v1/searches/{n}",
                f"/api/v1/searches/{n}/probe",
                f"/api/v1/searches/{n}/probe/faces/0/crop",
                f"/api/v1/searches/1/probe/faces/{n}/crop",
                f"/api/v1/searches/{n}/candidates/1",
                f"/api/v1/searches/1/candidates/{n}",
                f"/api/v1/audit/{n}",
            ]:
                r = api.get(path)
                assert r.status_code == 404, (path, r.status_code, r.text)
                assert_error_shape(r.status_code, r.json(), path)
                assert r.json()["error"]["code"] == "not_found"
            r = api.post(
                f"/api/v1/searches/{n}/candidates/{n}/decisions",
                data={"verdict": "rejected"},
            )
            assert r.status_code == 404, (n, r.text)
            for params in ({"offset": n}, {"limit": n}):
                r = api.get("/api/v1/audit", params=params)
                assert r.status_code == 422, (params, r.status_code, r.text)
                assert_error_shape(r.status_code, r.json(), str(params))
        # the largest id SQLite holds is a plain "no such" answer, not an error
        r = api.get(f"/api/v1/faces/{2**63 - 1}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_numbers_and_dates_out_of_range_in_forms_and_filters(fuzz_url: str, fuzz_home: Any) -> None:
    """Second attack pass: form fields and filters (not path ids) past int64 or year 9999
    gave 500 and dropped the connection."""
    auth = fuzz_home.auth("admin1")
    with httpx.Client(base_url=fuzz_url, headers=auth, timeout=30) as api:
        tries: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", "/api/v1/erasures", {"data": {"face_id": str(2**63), "reason": "x"}}),
            ("POST", "/api/v1/erasures", {"data": {"face_id": str(-(2**63) - 1), "reason": "x"}}),
            ("POST", "/api/v1/erasures", {"data": {"image_id": str(2**63), "reason": "x"}}),
            ("GET", "/api/v1/audit/verify", {"params": {"head": f"{2**63}:{'a' * 64}"}}),
            ("GET", "/api/v1/audit", {"params": {"until": "9999-12-31T23:59:59-23:59"}}),
            ("GET", "/api/v1/audit", {"params": {"since": "0001-01-01T00:00:00+23:59"}}),
            ("GET", "/api/v1/audit/export", {"params": {"until": "9999-12-31T23:59:59-23:59"}}),
        ]
        for method, path, kw in tries:
            r = api.request(method, path, **kw)
            where = f"{method} {path} {kw}"
            assert 400 <= r.status_code < 500, (where, r.status_code, r.text)
            assert_error_shape(r.status_code, r.json(), where)
        assert api.get("/api/v1/me").status_code == 200  # the connection is still good


def test_cli_numbers_out_of_range_are_one_line_errors(
    fuzz_home: Any, fake_models: None, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (
        ["forget", "--face", str(2**63), "--reason", "x"],
        ["audit", "verify", "--head", f"{2**63}:{'a' * 64}"],
    ):
        code = main(["--home", str(fuzz_home.home), *args])
        err = capsys.readouterr().err
        assert code in (1, 2), (args, err)
        assert "Traceback" not in err and "facesearch: error" in err, err


def fuzz(operation: Any, url: str, auth: dict[str, str]) -> list[int]:
    """Call ``operation`` with FUZZ_EXAMPLES generated requests; the statuses it answered."""
    statuses: list[int] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report, do not minimise
    )
    def call(case: Any) -> None:
        response = case.call(base_url=url, headers=auth, timeout=60)
        statuses.append(response.status_code)
        where = f"{case.method} {case.formatted_path} -> {response.status_code}"
        assert response.status_code < 500, (where, response.content[:300])
        if response.status_code >= 400:
            assert_error_shape(response.status_code, response.json(), where)

    call()
    return statuses


def test_no_500_and_one_error_shape(api_schema: Any, fuzz_url: str, fuzz_home: Any) -> None:
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        name = f"{operation.method.upper()} {operation.path}"
        try:
            statuses = fuzz(operation, fuzz_url, fuzz_home.auth("admin1"))
            if statuses and set(statuses) == {403}:  # an investigator's use: fuzz it as one
                fuzz(operation, fuzz_url, fuzz_home.auth("inv1"))
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert operations > 20
    assert not failures, "\n".join(failures)
    # the run kept its logins (a lost token would have made every later operation a 401)
    for user in ("admin1", "inv1"):
        me = httpx.get(f"{fuzz_url}/api/v1/me", headers=fuzz_home.auth(user), timeout=60)
        assert me.status_code == 200, (user, me.text)


def test_erasing_id_zero_or_below_is_an_input_error(fuzz_url: str, fuzz_home: Any) -> None:
    """Second attack pass: face_id -1 or 0 answered 201 with an audit entry for 0 faces."""
    auth = fuzz_home.auth("admin1")
    with httpx.Client(base_url=fuzz_url, headers=auth, timeout=30) as api:
        for field, value in (("face_id", "0"), ("face_id", "-1"), ("image_id", "0")):
            r = api.post("/api/v1/erasures", data={field: value, "reason": "x"})
            assert r.status_code == 422, (field, value, r.text)
            assert_error_shape(r.status_code, r.json(), f"{field}={value}")
