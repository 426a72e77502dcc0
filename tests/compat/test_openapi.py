"""schemathesis against ``/openapi.json`` of a live server: every operation, a few hundred cases.

Every operation is in, connect, sync status and the change stream included (their 4xx answers are
documented in the schema).

Checks: no 5xx, documented status codes and content types, bodies that match the documented schemas.
Most cases are aimed at the seeded grant (a random grant id only ever yields 404s); deleting that grant
keeps its random id so that the other operations keep a grant to work on.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from inboxsync.store.migrate import upgrade
from tests.compat.harness import AUTH, make_runtime
from tests.compat.live import live_server
from tests.compat.seed import Seeded, seed_grant

pytestmark = pytest.mark.slow


def no_server_error(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """``not_a_server_error``, but for the documented 504 of connect: the mail server the body names
    could not be reached (the schema's example names imap.example.com), an ``api.provider_error``."""
    if (
        case.path == "/v3/connect/custom"
        and response.status_code == 504
        and response.json()["error"]["type"] == "api.provider_error"
    ):
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
_pick = random.Random(6)


def _prepare(data_dir: Path) -> Seeded:
    async def run() -> Seeded:
        runtime = make_runtime(data_dir)
        try:
            await upgrade(runtime.db)
            return await seed_grant(runtime, count=40)
        finally:
            await runtime.close()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Seeded]]:
    data_dir = tmp_path_factory.mktemp("openapi")
    seeded = _prepare(data_dir)
    with live_server(data_dir) as url:
        yield url, seeded


@pytest.fixture(scope="module")
def api_schema(server: tuple[str, Seeded]) -> schemathesis.schemas.BaseSchema:
    url, _ = server
    return schemathesis.openapi.from_url(f"{url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_openapi_conformance(case: schemathesis.Case, server: tuple[str, Seeded]) -> None:
    url, seeded = server
    params = case.path_parameters or {}
    is_grant_delete = case.method == "DELETE" and case.path == "/v3/grants/{grant_id}"
    if "grant_id" in params and not is_grant_delete and _pick.random() < 0.8:
        params["grant_id"] = seeded.grant_id
    if "folder_id" in params and _pick.random() < 0.5:
        params["folder_id"] = _pick.choice(sorted(seeded.folder_ids.values()))
    headers = dict(AUTH) if _pick.random() < 0.95 else {}
    case.call_and_validate(base_url=url, headers=headers, checks=CHECKS)
