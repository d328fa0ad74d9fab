"""The entrypoint of a Ray job (see raybackend.py): run the job's train.py under the runner, on this worker.

It runs from the job's working directory (the commit's tree plus `.autoresearch-remote/`), imports only the
trusted library shipped beside it, streams train.py's output to its own stdout (the Ray job's log) and ends
with the run as a marked line, and the model when the run is scorable and small enough.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the shipped library, never the commit's

from autoresearch import attest, config, raybackend, runner, state  # noqa: E402


def _stream(path: Path, stop: threading.Event) -> None:
    """Copy the runner's full log to stdout as it grows, until told to stop and the file is drained."""
    while not path.exists() and not stop.is_set():
        time.sleep(0.2)
    if not path.exists():
        return
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(65536)
            if chunk:
                sys.stdout.write(chunk.decode("utf-8", "replace"))
                sys.stdout.flush()
            elif stop.is_set():
                return
            else:
                time.sleep(0.2)


def device_type() -> str:
    """What this job trains on, as a tag runs are grouped by: the GPU's model name, or "cpu"."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if not visible or visible == "-1":
        return "cpu"
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", visible],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "cpu"
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else "cpu"


def main() -> int:
    tree = Path.cwd()
    plan = json.loads((tree / raybackend.REMOTE_DIR / "plan.json").read_text(encoding="utf-8"))
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in plan["config"].items()}
    cfg = config.Config(tree, state_dir=f"{raybackend.REMOTE_DIR}/state", **values)
    st = state.new_state("remote", "", plan["baseline_commit"], plan["hashes"], 1, 0.0)
    state.save(cfg, st)
    stop = threading.Event()
    log = cfg.full_log_path(plan["head"], "", plan["job"])
    streamer = threading.Thread(target=_stream, args=(log, stop), daemon=True)
    streamer.start()
    try:
        _verdict, last = runner.run(cfg, workdir=tree, commit=plan["head"], plan=plan, job_id=plan["job"])
    except runner.RunnerError as exc:
        stop.set()
        streamer.join(timeout=5)
        print(f"autoresearch worker: {exc}", flush=True)
        return 1
    stop.set()
    streamer.join(timeout=5)
    last["device_type"] = device_type()
    model = attest.artifact_path(cfg, plan["head"]) if last.get("outcome") == "ok" else None
    raybackend.print_result(cfg, last, model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
