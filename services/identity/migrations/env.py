"""Alembic environment of the identity service: its models, its version table."""

from services.common.migrations import run_env
from services.identity.storage import Base

run_env(Base.metadata, "identity")
