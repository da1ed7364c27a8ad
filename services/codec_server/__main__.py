"""``python -m services.codec_server``: the codec server on codec_server_host:port."""

from __future__ import annotations

import sys

import uvicorn

from services.codec_server.app import create_app
from services.common.settings import DEV_CODEC_SERVER_TOKEN, Settings


def main() -> None:
    settings = Settings()
    if settings.environment == "production" and (
        settings.codec_server_token == DEV_CODEC_SERVER_TOKEN
        or len(settings.codec_server_token) < 32
    ):
        print("PERMIS_CODEC_SERVER_TOKEN must be a secret of 32+ characters", file=sys.stderr)
        sys.exit(2)
    uvicorn.run(
        create_app(settings),
        host=settings.codec_server_host,
        port=settings.codec_server_port,
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    main()
