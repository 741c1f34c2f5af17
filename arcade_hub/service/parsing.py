"""Creates are parsed where they cannot hold up the service.

`parse_create` of the largest request the limits allow splits and checks a megabyte of shell
words: tens of milliseconds of Python. In a thread of the service it would still compete with
the event loop for the interpreter (the GIL), so every other user's request would wait; so a
request with more than `PARSE_INLINE_LIMIT` characters in its fields is parsed in a worker
process (one, started at the first such request, stopped with the service), and the others,
which take microseconds, at once.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

from arcade_hub.config.cache import platform_config
from arcade_hub.service.limits import PARSE_INLINE_LIMIT
from arcade_hub.service.skaha_params import Interactive, Job, Params, parse_create

WORKER_NICENESS = 10
PR_SET_PDEATHSIG = 1
"""prctl(2): the signal the worker gets when the service's process ends."""


class CreateParser:
    def __init__(self, config_file: str) -> None:
        self.config_file = config_file
        self._worker: ProcessPoolExecutor | None = None

    async def parse(self, params: Params) -> Interactive | Job:
        """`parse_create` of `params` under the platform document; raises LaunchRefused."""
        size = sum(len(k) + sum(map(len, values)) for k, values in params.items())
        if size <= PARSE_INLINE_LIMIT:
            return parse_create(params, platform_config(self.config_file))
        if self._worker is None:
            self._worker = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_start
            )
        return await asyncio.wrap_future(
            self._worker.submit(_parse, params, self.config_file)
        )

    def close(self) -> None:
        """Stop the worker (after the parse it is doing, if any)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None


def _worker_start() -> None:
    # a terminal's Ctrl-C reaches the whole process group: the service decides
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a service killed outright (SIGKILL, then restarted by the hub) leaves no worker behind
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the service was gone before the line above
        os._exit(0)
    # when the CPU is short, the service's event loop (everyone's requests) comes first
    os.nice(WORKER_NICENESS)


def _parse(params: Params, config_file: str) -> Interactive | Job:
    return parse_create(params, platform_config(config_file))
