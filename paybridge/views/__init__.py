"""Display shaping without Reflex: what the pages show, built from selector results and domain
constants. States and pages import from here; nothing here imports a state, component or page.
"""
