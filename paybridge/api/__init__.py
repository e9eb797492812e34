"""HTTP on the Reflex backend: the web login routes and the public API (`/api/v1`)."""
