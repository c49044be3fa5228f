"""Run the edge on uvicorn (uvloop + httptools)."""

from __future__ import annotations

import logging

import uvicorn

from cloudlet.config import Settings
from cloudlet.edge.app import Edge


def serve(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM; the lifespan stops every provider and worker."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = uvicorn.Config(
        Edge(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()
