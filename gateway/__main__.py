"""`python -m gateway`: serve the gateway with uvicorn on GATEWAY_HOST:GATEWAY_PORT (or PORT)."""

import gc
import logging

import uvicorn

from gateway.settings import settings

if __name__ == "__main__":
    # The gateway's own loggers (the background scorer above all) next to uvicorn's.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    # httpx logs every model call at INFO; failures reach the log through the scorer anyway.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Load the app here rather than in uvicorn, then freeze: what it keeps for its whole life
    # (modules, routes, the ORM's mappings) leaves the garbage collector's scans, which stall the
    # event loop under load and so lengthen the slowest requests.
    import gateway.main  # noqa: F401

    gc.freeze()
    uvicorn.run(
        "gateway.main:app",
        host=settings.gateway_host,
        port=settings.gateway_port,
        proxy_headers=True,
        forwarded_allow_ips=settings.gateway_trusted_proxies,
        access_log=settings.gateway_access_log,
    )
