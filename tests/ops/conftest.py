"""Operations tests reuse the API fixtures: a TestClient on `build_api()`, merchants with keys.

`instances`: two app instances (two Granian workers each) behind nginx on the test PostgreSQL
and Redis, connected directly (no cuttable proxies), shared by a module: the deployed topology
for tests that race many HTTP clients against each other."""

from collections.abc import Iterator

import pytest

from tests.api.conftest import alice, api_app, api_settings, client  # noqa: F401
from tests.conftest import TestDatabase
from tests.ops.topology import Topology


@pytest.fixture(scope="module")
def instances(
    backend: TestDatabase, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    if backend.is_sqlite:
        pytest.skip("several instances need PostgreSQL")
    topology = Topology(
        database_url=backend.url,
        redis_url=redis_url,
        workdir=tmp_path_factory.mktemp("instances"),
        proxied=False,
    )
    try:
        yield topology
    finally:
        topology.stop()
