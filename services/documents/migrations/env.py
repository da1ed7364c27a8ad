"""Alembic environment of the documents service: its models, its version table."""

from services.common.migrations import run_env
from services.documents.storage import Base

run_env(Base.metadata, "documents")
