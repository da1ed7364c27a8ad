"""Alembic environment of the ctn service: its models, its version table."""

from services.common.migrations import run_env
from services.ctn.storage import Base

run_env(Base.metadata, "ctn")
