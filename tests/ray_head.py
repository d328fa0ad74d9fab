"""A real local Ray cluster on 127.0.0.1 for the tests that run jobs on Ray (tests/ray, and the Ray wave in
tests/e2e): one head per test session, started by tests/conftest.py's `ray_cluster` on first use."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

CPUS, GPUS = 2, 2  # declared GPUs: Ray schedules them on a CPU-only machine and sets CUDA_VISIBLE_DEVICES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, address: str):
        self.address = address

    def processes(self, marker: str) -> list[str]:
        """`ps` lines whose command line holds `marker` (the worker side is this machine)."""
        out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
        return [line for line in out.splitlines()[1:] if marker in line and "ps -eo" not in line]


@contextmanager
def local_head():
    from autoresearch import raybackend

    if not (Path(sys.executable).parent / "ray").exists():
        raise RuntimeError("Ray is not installed in this environment: `uv sync` installs it (dev group)")
    temp = Path(tempfile.mkdtemp(prefix="ar-ray-", dir="/tmp"))  # short: Ray's socket paths fit 107 bytes
    try:
        yield Cluster(raybackend.start_local_head(temp, CPUS, GPUS))
    finally:
        raybackend.stop_local_head()
        shutil.rmtree(temp, ignore_errors=True)
