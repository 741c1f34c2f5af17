"""Storage service throughput: 1 GB up and down through `vcp` (the released `vos` client)
against a plain streaming HTTP PUT/GET of the same bytes to the same service (the same
proxy, https and token) and a local copy of the file, in one run; the ratios, and the
service's peak resident memory growth.

A real embedded platform serving https with a test CA (as the tests run it); the file is
sparse with random blocks (its MD5 checks each transfer).

    python benchmarks/storage.py [--gib 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hub import hub_with_document
from tests.storage.bigfile import make_big_file, md5_of, peak_rss
from tests.storage.conftest import VosPlatform
from tests.storage.tls import make_tls

CHUNK = 1 << 20


def timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def vcp(p: VosPlatform, *args: str) -> None:
    done = p.vos("alice", "vcp", *args, timeout=1800)
    if done.returncode:
        raise SystemExit(f"vcp {' '.join(args)} failed: {done.stderr}")


def plain_put(p: VosPlatform, source: Path, url: str) -> None:
    def chunks() -> Iterator[bytes]:
        with open(source, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    headers = {
        "Authorization": f"Bearer {p.token('alice')}",
        "Content-Length": str(source.stat().st_size),
    }
    r = httpx.put(url, content=chunks(), headers=headers, verify=p.hub.verify, timeout=1800)
    r.raise_for_status()


def plain_get(p: VosPlatform, url: str, dest: Path) -> None:
    headers = {"Authorization": f"Bearer {p.token('alice')}"}
    with httpx.stream("GET", url, headers=headers, verify=p.hub.verify, timeout=1800) as r:
        r.raise_for_status()
        with open(dest, "wb") as f:
            for chunk in r.iter_bytes(CHUNK):
                f.write(chunk)


def measure(p: VosPlatform, size: int) -> dict[str, object]:
    work = p.work
    source = work / "bench.bin"
    digest = make_big_file(source, size)
    url = f"{p.hub.url}/services/vospace/files/home/alice/bench-plain.bin"
    service = p.service()
    seconds: dict[str, float] = {}
    with peak_rss(service) as rss:
        seconds["vcp_upload"] = timed(lambda: vcp(p, "bench.bin", "arcade:home/alice/bench.bin"))
        seconds["http_put"] = timed(lambda: plain_put(p, source, url))
        seconds["vcp_download"] = timed(
            lambda: vcp(p, "arcade:home/alice/bench.bin", "bench-vcp.bin")
        )
        seconds["http_get"] = timed(lambda: plain_get(p, url, work / "bench-http.bin"))
    seconds["local_copy"] = timed(lambda: shutil.copyfile(source, work / "bench-local.bin"))
    for copy in ("bench-vcp.bin", "bench-http.bin", "bench-local.bin"):
        if md5_of(work / copy) != digest:
            raise SystemExit(f"{copy} differs from what was sent")
    mb = size / 1e6
    rate = {k: round(mb / v, 1) for k, v in seconds.items()}
    return {
        "bytes": size,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "mb_per_s": rate,
        "ratio_vcp_to_http": {
            "upload": round(rate["vcp_upload"] / rate["http_put"], 2),
            "download": round(rate["vcp_download"] / rate["http_get"], 2),
        },
        "ratio_vcp_to_local_copy": {
            "upload": round(rate["vcp_upload"] / rate["local_copy"], 2),
            "download": round(rate["vcp_download"] / rate["local_copy"], 2),
        },
        "service_rss_mib": {
            "before": round(rss["before"] / 2**20, 1),
            "peak": round(rss["peak"] / 2**20, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arcade-bench-storage-", dir="/tmp"))
    work.chmod(0o711)
    try:
        tls = make_tls(work / "tls")
        document = {"web": {"tls_cert_file": str(tls.cert), "tls_key_file": str(tls.key)}}
        with hub_with_document(document, tls_ca=tls.ca) as hub:
            result = measure(VosPlatform(hub, tls, work), int(opts.gib * 2**30))
        result["machine"] = {"cpus": os.cpu_count()}
        print(json.dumps(result, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
