"""The one FastAPI app of the backend, which Reflex mounts itself inside
(`rx.App(api_transformer=...)`), so these routes answer on the same port as the UI in
production: the public API under /api/v1 (`paybridge.api.v1`) and the pages' HTTP helpers
(login completion, CSV export)."""

from __future__ import annotations

from fastapi import FastAPI

from paybridge.api import exports, web_auth
from paybridge.api.v1 import PREFIX, add_v1, operation_id, v1_openapi


def build_api() -> FastAPI:
    api = FastAPI(
        title="PayBridge API",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        generate_unique_id_function=operation_id,
    )
    add_v1(api)
    api.include_router(web_auth.router)
    api.include_router(exports.router)
    api.openapi = lambda: v1_openapi(api)  # type: ignore[method-assign]
    return api


api = build_api()
