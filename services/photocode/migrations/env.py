"""Alembic environment of the photocode service: its models, its version table."""

from services.common.migrations import run_env
from services.photocode.storage import Base

run_env(Base.metadata, "photocode")
