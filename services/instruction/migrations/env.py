"""Alembic environment of the instruction service: its models, its version table."""

from services.common.migrations import run_env
from services.instruction.storage import Base

run_env(Base.metadata, "instruction")
