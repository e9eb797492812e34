"""Operations tests reuse the API fixtures: a TestClient on `build_api()`, merchants with keys.

`instances`: two app instances (two Granian workers each) behind nginx on the test PostgreSQL
and Redis, connected directly (no cuttable proxies), shared by a module: the deployed topology
for tests that race many HTTP clients against each other."""

from tests.api.conftest import alice, api_app, api_settings, client  # noqa: F401
from tests.ops.topology import instances  # noqa: F401
