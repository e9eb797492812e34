"""REST routes of /api/v1, one module per resource family."""
