"""`python -m gateway`: serve the gateway with uvicorn on GATEWAY_HOST:GATEWAY_PORT (or PORT)."""

import uvicorn

from gateway.settings import settings

if __name__ == "__main__":
    uvicorn.run("gateway.main:app", host=settings.gateway_host, port=settings.gateway_port)
