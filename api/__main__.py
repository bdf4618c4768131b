"""``python -m api``: serve the REST API with uvicorn."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from infra.logging import configure_logging
from infra.settings import get_settings


def main() -> None:
    settings = get_settings()
    configure_logging(settings, "api")
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
