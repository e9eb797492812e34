"""The Reflex app: the API mounted on its backend, and every page registered by `template`."""

import reflex as rx

import paybridge.pages.auth
import paybridge.pages.overview
import paybridge.pages.settings  # noqa: F401  (each page module registers itself)
from paybridge.api.app import api
from paybridge.components.layout import PAGES

app = rx.App(api_transformer=api)
for spec in PAGES:
    app.add_page(spec.component, route=spec.route, title=spec.title, on_load=spec.on_load)
