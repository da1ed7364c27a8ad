"""``python -m services.gateway``: serve the HTTP gateway with uvicorn."""

from __future__ import annotations

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from services.common.observability import setup_process
from services.common.settings import Settings
from services.common.startup_heap import freeze_startup_heap
from services.gateway.app import create_app


def main() -> None:
    settings = Settings()
    setup_process(settings, "gateway")
    app = create_app(settings)
    freeze_startup_heap()  # later full collections skip start-up objects (status reads' p99)
    uvicorn.run(
        app,
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level=settings.log_level.lower(),
        # JSON logs: uvicorn's loggers go through our root handler instead of its own.
        log_config=None if settings.log_format == "json" else LOGGING_CONFIG,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
