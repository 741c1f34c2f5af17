"""`python -m arcade_hub.storage`: started by the hub as the managed service `vospace`."""

import asyncio
import logging

from arcade_hub.storage.app import serve
from arcade_hub.storage.state import StorageSettings

logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s %(name)s] %(message)s")
asyncio.run(serve(StorageSettings.from_env()))
