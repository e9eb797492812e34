"""The Reflex app: pages and nothing else."""

import reflex as rx

from paybridge.pages.overview import overview_page
from paybridge.state.overview import OverviewState

app = rx.App()
app.add_page(overview_page, route="/", title="PayBridge", on_load=OverviewState.load)
