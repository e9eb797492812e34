"""The FastAPI app Reflex mounts itself inside (`rx.App(api_transformer=...)`), so these routes
answer on the same port as the UI in production."""

from __future__ import annotations

from fastapi import FastAPI

from paybridge.api import errors, exports, web_auth
from paybridge.api.v1 import PREFIX, build_v1


def build_api() -> FastAPI:
    api = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    for unavailable in errors.unavailable_errors():
        api.add_exception_handler(unavailable, errors.unavailable_error_handler)
    api.include_router(web_auth.router)
    api.include_router(exports.router)
    api.mount(PREFIX, build_v1())
    return api


api = build_api()
