"""The runner's side of attestation: the pristine harness, integrity watching, and the scorer process.

The number recorded for a run is never the one train.py prints. train.py runs under bootstrap.py, which
exports the trained model as a torch.export graph; evaluator.py scores that graph in a separate process with
the harness as it was hashed at setup. See docs/attestation.md for the design and its limits.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

LIB_DIR = Path(__file__).resolve().parent
BOOTSTRAP = LIB_DIR / "bootstrap.py"
EVALUATOR = LIB_DIR / "evaluator.py"
HARNESS_MODULE = "prepare.py"
EXPORT_BATCH = 32  # rows per call of the exported graph (the evaluator pads the last chunk)
# |attested - printed| above this is `mismatch`. Measured on CPU: the two agree to 6 decimals (same fp32
# maths, another batch size); bf16 on CUDA is expected to differ by ~1e-4 (unmeasured). Equals min_delta.
MISMATCH_TOLERANCE = 1e-3
EVALUATOR_MIN_SECONDS = 60  # the scorer always gets at least this long, whatever the run used
SKIP_DIRS = ("__pycache__",)  # bytecode Python rewrites on import; the sandbox walls it, not these hashes


class AttestError(Exception):
    """One line: why the runner could not attest the run."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str | None:
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError:
        return None


# --- what is watched ---


def watched_files(cfg) -> list[str]:
    """Every protected file and every file under the guard paths, repo-relative, sorted (no bytecode)."""
    out = set(cfg.protected_files)
    for rel in cfg.guard_paths:
        path = cfg.root / rel
        if path.is_file():
            out.add(rel)
        elif path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                for name in files:
                    if not name.endswith(".pyc"):
                        out.add(os.path.relpath(os.path.join(folder, name), cfg.root))
    return sorted(out)


def hash_files(cfg) -> dict[str, str | None]:
    """{relpath: sha256} of the watched files that exist (setup records this; every run compares)."""
    hashes = {}
    for rel in watched_files(cfg):
        digest = sha256_file(cfg.root / rel)
        if digest is not None:
            hashes[rel] = digest
    return hashes


def _stat_key(path: Path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class IntegrityWatch:
    """Notices any change to a watched file while a run is in flight, even one undone before the end.

    `quick()` compares inode, size, mtime and ctime (a few dozen stat calls, cheap enough for every poll);
    ctime cannot be set back by a process, so restoring the bytes and the mtime still shows. `full()` also
    re-walks the guard folders for new files and re-hashes. Both return one line per problem.
    """

    def __init__(self, cfg, recorded: dict[str, str]):
        self.cfg = cfg
        self.recorded = dict(recorded)
        self.files = sorted(set(watched_files(cfg)) | set(recorded))
        self.stats = {rel: _stat_key(cfg.root / rel) for rel in self.files}
        self.first_problem: str | None = None

    def _note(self, problems: list[str]) -> list[str]:
        if problems and self.first_problem is None:
            self.first_problem = problems[0]
        return problems

    def quick(self) -> list[str]:
        changed = [rel for rel in self.files if _stat_key(self.cfg.root / rel) != self.stats[rel]]
        return self._note([f"{rel} was written during the run" for rel in changed])

    def full(self) -> list[str]:
        problems = self.quick()
        for rel in watched_files(self.cfg):
            if rel not in self.stats:
                problems.append(f"{rel} appeared during the run")
        for rel, recorded in sorted(self.recorded.items()):
            current = sha256_file(self.cfg.root / rel)
            if current is None:
                problems.append(f"{rel} is missing")
            elif current != recorded:
                problems.append(f"{rel} differs from setup (sha256 {current[:12]}, recorded {recorded[:12]})")
        return self._note(sorted(set(problems)))


# --- the pristine harness ---


def pristine_harness(cfg, st: dict) -> tuple[Path, str]:
    """(folder holding the setup-time prepare.py, its sha256), extracted from the baseline commit.

    The bytes come from git's object store at the baseline commit and must match the hash setup recorded,
    so nothing in the working tree (where the agent works) can change what the scorer imports.
    """
    recorded = (st.get("protected_hashes") or {}).get(HARNESS_MODULE)
    baseline = st.get("baseline_commit")
    if not recorded or not baseline:
        raise AttestError(f"setup recorded no hash for {HARNESS_MODULE}: run setup again")
    folder = cfg.harness_dir
    target = folder / HARNESS_MODULE
    if sha256_file(target) == recorded:
        return folder, recorded
    proc = subprocess.run(
        ["git", "cat-file", "blob", f"{baseline}:{HARNESS_MODULE}"],
        cwd=cfg.root,
        capture_output=True,
        timeout=30,
    )
    if proc.returncode != 0 or sha256_bytes(proc.stdout) != recorded:
        raise AttestError(
            f"the baseline commit {baseline[:7]} has no {HARNESS_MODULE} matching setup's hash: "
            "run setup again"
        )
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (HARNESS_MODULE + ".tmp")
    tmp.write_bytes(proc.stdout)
    os.replace(tmp, target)
    return folder, recorded


# --- the two processes ---


def train_command(python: str, train_script: str, artifact: Path) -> list[str]:
    """train.py under the bootstrap (same __main__, argv and exit code; exports `model` afterwards)."""
    return [python, str(BOOTSTRAP), str(artifact), str(EXPORT_BATCH), train_script]


def export_record(artifact: Path) -> dict:
    """What the bootstrap wrote beside the artifact: {"ok": True, ...} or {"ok": False, "error": ...}."""
    try:
        return json.loads((artifact.parent / (artifact.name + ".json")).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {
            "ok": False,
            "error": "train.py ended before its model could be exported (did it call os._exit?)",
        }


def _scorer_command(harness: Path, harness_sha: str, artifact: Path, split: str, probe: bool, python):
    cmd = [
        python or sys.executable,
        "-I",  # no user site, no PYTHON* variables, and not the script's own folder on sys.path
        str(EVALUATOR),
        "--harness",
        str(harness),
        "--sha256",
        harness_sha,
        "--artifact",
        str(artifact),
        "--split",
        split,
    ]
    return cmd + (["--probe"] if probe else [])


def _parse_result(stdout: str, stderr: str, returncode) -> dict:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        err = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        if err:
            raise AttestError(f"the scorer failed: {err[-1][:200]}")
        ended = f"exit code {returncode}"
        if isinstance(returncode, int) and returncode < 0:
            try:
                ended = f"killed by {signal.Signals(-returncode).name}"
            except ValueError:
                ended = f"killed by signal {-returncode}"
        raise AttestError(f"the scorer failed: {ended}")
    if not result.get("ok"):
        raise AttestError(str(result.get("error") or "the scorer failed"))
    return result


class Scorer:
    """The scorer process, started with train.py: it imports torch and the harness while train.py starts up
    (one core each), waits without using the CPU, and scores once `result()` says the artifact is there.
    `abort()` ends it unscored."""

    def __init__(self, harness: Path, harness_sha: str, artifact: Path, python: str | None = None):
        self.proc = subprocess.Popen(
            [*_scorer_command(harness, harness_sha, artifact, "val", True, python), "--wait"],
            cwd=harness,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def result(self, timeout: float) -> dict:
        limit = max(EVALUATOR_MIN_SECONDS, timeout)
        try:
            out, err = self.proc.communicate("go\n", timeout=limit)
        except subprocess.TimeoutExpired:
            self.abort()
            raise AttestError(f"the scorer took more than {limit:.0f}s") from None
        except BrokenPipeError:  # it died before reading `go`
            out, err = self.proc.communicate()
        return _parse_result(out, err, self.proc.returncode)

    def abort(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def score(
    cfg,
    harness: Path,
    harness_sha: str,
    artifact: Path,
    split: str = "val",
    probe: bool = True,
    timeout: float = 300.0,
    python: str | None = None,
) -> dict:
    """Run evaluator.py on an artifact; its JSON result, or AttestError with one line."""
    limit = max(EVALUATOR_MIN_SECONDS, timeout)
    try:
        proc = subprocess.run(
            _scorer_command(harness, harness_sha, artifact, split, probe, python),
            cwd=harness,
            capture_output=True,
            text=True,
            timeout=limit,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise AttestError(f"the scorer took more than {limit:.0f}s") from None
    return _parse_result(proc.stdout, proc.stderr, proc.returncode)


# --- artifacts ---


def artifact_path(cfg, commit: str) -> Path:
    return cfg.artifact_dir / f"{commit}.pt2"


def remove_artifact(path: Path) -> None:
    for p in (path, path.parent / (path.name + ".json")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def prune_artifacts(cfg, keep_commits: set[str]) -> list[str]:
    """Delete every artifact but those of `keep_commits` (the baseline, the keeps, the pending run)."""
    removed = []
    if not cfg.artifact_dir.is_dir():
        return removed
    for path in cfg.artifact_dir.glob("*.pt2"):
        if path.stem not in keep_commits:
            remove_artifact(path)
            removed.append(path.name)
    return removed
