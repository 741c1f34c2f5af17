"""UWS as one user sees it, over plain HTTP: every XML answer is checked against the UWS or
VOSI schema, and every job document and list is read with pyvo's UWS parser."""

from __future__ import annotations

from typing import Any

import httpx

from tests.hub import RunningHub, wait_for
from tests.ivoa import uws_job, uws_jobs, validate

FINAL_PHASES = ("COMPLETED", "ERROR", "ABORTED")


class Uws:
    def __init__(self, hub: RunningHub, user: str, token: str | None = None) -> None:
        self.hub = hub
        self.user = user
        self.token = token or hub.user_token(user)
        self.service = f"{hub.url}/services/arcade"
        self.base = f"{self.service}/uws"
        self.jobs_url = f"{self.base}/jobs"
        self.client = httpx.Client(
            headers={"Authorization": f"Bearer {self.token}"}, timeout=90
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if not url.startswith("http"):
            url = f"{self.jobs_url}/{url}" if url else self.jobs_url
        r = self.client.request(method, url, **kwargs)
        if r.headers.get("Content-Type", "").startswith("application/xml"):
            validate(r.content)
        return r

    def create(self, **params: Any) -> str:
        """A new job's id (held unless PHASE=RUN is given)."""
        r = self.request("POST", "", data=params)
        assert r.status_code == 303, r.text
        location = r.headers["Location"]
        assert location.startswith(f"{self.jobs_url}/"), location
        return location.rsplit("/", 1)[1]

    def job(self, job_id: str, **params: Any) -> Any:
        r = self.request("GET", job_id, params=params)
        assert r.status_code == 200, r.text
        return uws_job(r.content)

    def jobs(self, **params: Any) -> list[Any]:
        r = self.request("GET", "", params=params)
        assert r.status_code == 200, r.text
        return uws_jobs(r.content)

    def phase(self, job_id: str, phase: str) -> httpx.Response:
        return self.request("POST", f"{job_id}/phase", data={"PHASE": phase})

    def wait_phase(self, job_id: str, phases: tuple[str, ...], timeout: float = 60) -> Any:
        return wait_for(
            lambda: j if (j := self.job(job_id)).phase in phases else None,
            timeout,
            f"UWS job {job_id} to be {'/'.join(phases)}",
        )

    def wait_gone(self, job_id: str, timeout: float = 30) -> None:
        wait_for(lambda: self.request("GET", job_id).status_code == 404, timeout,
                 f"UWS job {job_id} to be gone")
