"""The Reflex app: the API mounted on its backend, and every page registered by `template`."""

import logging
import os

import reflex as rx
from starlette.types import ASGIApp

import paybridge.pages.auth
import paybridge.pages.dashboard
import paybridge.pages.developers
import paybridge.pages.payment
import paybridge.pages.settings
import paybridge.pages.settlements
import paybridge.pages.team
import paybridge.pages.transactions
import paybridge.pages.webhooks  # noqa: F401  (each page module registers itself)
from paybridge.api.app import api, api_first
from paybridge.api.security import secure
from paybridge.components.layout import PAGES
from paybridge.events.relay import relay_outbox
from paybridge.heap import tune_collector
from paybridge.logs import configure_logging
from paybridge.state.live import serve_app

configure_logging()  # every Granian worker: text or JSON lines (PAYBRIDGE_LOG_FORMAT)


def announce_start() -> None:
    """One line per backend (re)start: in development mode, each is a hot reload, and a
    developer (or a test) can see and count them."""
    logging.getLogger("paybridge.app").info("backend serving (pid %d)", os.getpid())


class PayBridgeApp(rx.App):
    """Reflex's app, served with the public API in front of Reflex's own layers."""

    def __call__(self) -> ASGIApp:
        return api_first(super().__call__())


app = PayBridgeApp(api_transformer=[api, secure])
app.register_lifespan_task(relay_outbox)
serve_app(app)
app.register_lifespan_task(announce_start)
app.register_lifespan_task(tune_collector)
for spec in PAGES:
    app.add_page(spec.component, route=spec.route, title=spec.title, on_load=spec.on_load)
