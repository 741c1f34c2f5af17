"""`python -m arcade_hub.service`: started by the hub as a managed service."""

import asyncio
import logging
import sys

from arcade_hub.auth import log_scrub
from arcade_hub.config import ConfigError
from arcade_hub.service.app import serve
from arcade_hub.service.settings import ServiceSettings

logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s %(name)s] %(message)s")
log_scrub.install()  # no OAuth codes or tokens from request URLs in the log
try:
    asyncio.run(serve(ServiceSettings.from_env()))
except ConfigError as e:  # the document, read at start: its problems, as check-config says them
    logging.getLogger("arcade_hub.service").error("arcade service cannot start: %s", e)
    sys.exit(2)
