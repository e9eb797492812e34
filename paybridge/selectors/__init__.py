"""Reads. The same functions feed the dashboard states, REST and GraphQL; each takes a session
and the merchant id from the caller's authenticated identity."""
