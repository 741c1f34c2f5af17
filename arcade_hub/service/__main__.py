"""`python -m arcade_hub.service`: started by the hub as a managed service."""

import asyncio
import logging

from arcade_hub.auth import log_scrub
from arcade_hub.service.app import serve
from arcade_hub.service.settings import ServiceSettings

logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s %(name)s] %(message)s")
log_scrub.install()  # no OAuth codes or tokens from request URLs in the log
asyncio.run(serve(ServiceSettings.from_env()))
