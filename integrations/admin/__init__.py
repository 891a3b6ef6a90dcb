"""The admin of the integrations app, one module per area (each owns its registrations)."""

from integrations.admin import audit, connections, key_mappings, projects  # noqa: F401
