"""Alembic environment of the support service: its models, its version table."""

from services.common.migrations import run_env
from services.support.storage import Base

run_env(Base.metadata, "support")
