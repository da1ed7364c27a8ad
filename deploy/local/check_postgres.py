"""Fail early and clearly when the PostgreSQL the tests need is not usable.

Every database test runs on SQLite and on PostgreSQL (127.0.0.1:5432, user postgres,
or PERMIS_TEST_POSTGRES_URL), each in a fresh database, so the role must create them.
"""

from __future__ import annotations

import os
import sys

import psycopg

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def problem(url: str) -> str | None:
    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            row = connection.execute(
                "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
    except psycopg.Error as error:
        return str(error).strip()
    if not (row and row[0]):
        return "this role may not create databases (each test gets a fresh one)"
    return None


def main() -> int:
    url = os.environ.get("PERMIS_TEST_POSTGRES_URL", DEFAULT_URL)
    found = problem(url)
    if found is None:
        return 0
    print(
        f"PostgreSQL is not usable at {url}\n  {found}\n"
        "  The suite runs every database test on SQLite and on PostgreSQL: start one\n"
        "  (user postgres, trust auth), or set PERMIS_TEST_POSTGRES_URL.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
