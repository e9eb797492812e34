"""Reflex states: thin — validate input, call a selector or service, assign display strings."""
