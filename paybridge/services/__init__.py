"""Writes. Each service is keyword-only, owns its DB transaction (`db.write_session`), raises
`DomainError` with a machine-readable code, and writes nothing when it refuses."""
