"""The production service's Alembic migrations (run by ``services.common.migrations``)."""
