"""Alembic environment of the production service: its models, its version table."""

from services.common.migrations import run_env
from services.production.storage import Base

run_env(Base.metadata, "production")
