"""Operations tests reuse the API fixtures: a TestClient on `build_api()`, merchants with keys."""

from tests.api.conftest import alice, api_app, api_settings, client  # noqa: F401
