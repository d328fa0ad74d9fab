"""The one config for the scripts and the hooks: `[tool.autoresearch]` in pyproject.toml.

Stdlib only (the hooks import it on every tool call). Every default lives here, so a
missing key or a missing pyproject section still gives a working, documented config.
"""

from __future__ import annotations

import os
from pathlib import Path

try:  # Python >= 3.11
    import tomllib
except ImportError:  # pragma: no cover - older interpreters run the hooks on defaults
    tomllib = None

TIME_BUDGET_ENV = "AUTORESEARCH_TIME_BUDGET"  # test-only override of prepare.TIME_BUDGET
SUPERVISED_ENV = "AUTORESEARCH_SUPERVISED"  # the runner's train.py and scorer: prepare.py's same literal
DEVICE_ENV = "AUTORESEARCH_DEVICE"
CACHE_ENV = "AUTORESEARCH_CACHE"
ROOT_ENV = "CLAUDE_PROJECT_DIR"

RULE_IDS = (
    "log-flood",
    "protected-files",
    "results-untracked",
    "no-installs",
    "redirect-training",
    "guard-integrity",
    "keep-untracked-data",
)


class ConfigError(Exception):
    """A config problem, worded as one line that names the key and the fix."""


class _Frozen:
    """A tiny frozen record: class-level defaults, keyword construction, no mutation.

    Not a dataclass on purpose: importing dataclasses (and inspect) costs ~13 ms on every hook call.
    """

    FIELDS: tuple[str, ...] = ()

    def __init__(self, **values):
        unknown = set(values) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        for name in self.FIELDS:
            object.__setattr__(self, name, values.get(name, getattr(type(self), name, None)))

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other):
        return type(other) is type(self) and all(getattr(self, f) == getattr(other, f) for f in self.FIELDS)

    def __hash__(self):
        return hash(tuple(getattr(self, f) for f in self.FIELDS))

    def __repr__(self):
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.FIELDS)
        return f"{type(self).__name__}({inner})"


class NoiseConfig(_Frozen):
    FIELDS = ("baseline_repeats", "min_delta", "sigma_multiplier", "fallback_sigma")
    baseline_repeats: int = 2
    min_delta: float = 0.001
    sigma_multiplier: float = 2.0
    fallback_sigma: float = 0.001


class StopConfig(_Frozen):
    FIELDS = ("max_experiments", "max_hours", "target_metric")
    max_experiments: int = 0
    max_hours: float = 0.0
    target_metric: float = 0.0


class JobsConfig(_Frozen):
    FIELDS = ("workers", "backend", "address", "gpus", "cpus")
    workers: int = 1  # or "auto" in pyproject.toml: one per visible GPU (jobs.worker_count resolves it)
    backend: str = "local"  # "local" | "ray" (raybackend.py)
    address: str = ""  # the Ray dashboard; "" = $RAY_ADDRESS, else http://127.0.0.1:8265
    gpus: float = 1.0  # per Ray job
    cpus: float = 1.0  # per Ray job


WORKERS_AUTO = "auto"
BACKENDS = ("local", "ray")


class Config(_Frozen):
    FIELDS = (
        "root",
        "editable_files",
        "protected_files",
        "guard_paths",
        "environment_paths",
        "log_file",
        "results_file",
        "state_dir",
        "memory_dir",
        "train_script",
        "metric",
        "metric_direction",
        "hard_timeout_seconds",
        "kill_grace_seconds",
        "tail_lines",
        "disabled_rules",
        "attest",
        "noise",
        "stop",
        "jobs",
    )
    root: Path
    editable_files: tuple[str, ...] = ("train.py",)
    protected_files: tuple[str, ...] = ("prepare.py",)
    guard_paths: tuple[str, ...] = (
        ".claude/settings.json",
        ".claude/settings.local.json",
        ".claude/hooks",
        ".claude/lib",
        ".claude/skills",
        "pyproject.toml",
        "uv.lock",
        "scripts",  # the CLI that runs, attests and records: agent code there could forge a row
    )
    # Read-only to the agent like the guards, but not hashed (uv.lock pins them): the project environment.
    # The hooks run its interpreter outside the sandbox (a Ray night's supervisors, dispatch.py), and a
    # writable one would turn an agent's edit of site-packages into code run there. Installs fail here too.
    environment_paths: tuple[str, ...] = (".venv",)
    log_file: str = "run.log"
    results_file: str = "results.tsv"
    state_dir: str = ".autoresearch"
    memory_dir: str = ".claude/context/memory"
    train_script: str = "train.py"
    metric: str = "val_bpb"
    metric_direction: str = "lower"
    hard_timeout_seconds: float = 570.0  # + kill grace + verdict stays inside the Bash tool's 600 s
    kill_grace_seconds: float = 10.0
    tail_lines: int = 50
    disabled_rules: tuple[str, ...] = ()
    attest: bool = True  # the runner scores every run itself; only a human turns this off (tests of fakes)
    noise: NoiseConfig = NoiseConfig()
    stop: StopConfig = StopConfig()
    jobs: JobsConfig = JobsConfig()

    def __init__(self, root, **values):
        super().__init__(root=Path(root), **values)

    @property
    def jobs_backend(self) -> str:
        return self.jobs.backend

    # Derived paths: one place that says where each untracked artefact lives.
    @property
    def log_path(self) -> Path:
        return self.root / self.log_file

    @property
    def results_path(self) -> Path:
        return self.root / self.results_file

    @property
    def state_path(self) -> Path:
        return self.root / self.state_dir

    @property
    def state_file(self) -> Path:
        return self.state_path / "state.json"

    @property
    def sidecar_path(self) -> Path:
        return self.state_path / "runs.jsonl"

    @property
    def jobs_dir(self) -> Path:
        """One record per job (`<id>.json`), its cancel request and the supervisor's log."""
        return self.state_path / "jobs"

    @property
    def worktree_dir(self) -> Path:
        """A job that runs beside others gets its own git worktree here, at its commit, for its life."""
        return self.state_path / "worktrees"

    @property
    def record_intent_path(self) -> Path:
        """A `record` journals its intent here first; the next command completes one that was interrupted."""
        return self.state_path / "record.intent.json"

    @property
    def stop_sentinel(self) -> Path:
        return self.state_path / "STOP"

    @property
    def snapshot_dir(self) -> Path:
        return self.state_path / "snapshots"

    @property
    def harness_dir(self) -> Path:
        """The pristine harness, extracted from the baseline commit and checked against setup's hash."""
        return self.state_path / "harness"

    @property
    def full_log_dir(self) -> Path:
        """Each run's complete output; run.log itself only gets the summary and the last lines."""
        return self.state_path / "logs"

    def full_log_path(self, commit: str, started_at: str, job: str | None = None) -> Path:
        """A run's complete output: by job id for a job beside the checkout, else by commit and start time."""
        if job:
            return self.full_log_dir / f"{job}.log"
        return self.full_log_dir / f"{commit[:7]}-{started_at.replace(':', '').replace('-', '')}.log"

    @property
    def artifact_dir(self) -> Path:
        """Exported models: the run in flight, the baseline and every keep (the rest are deleted)."""
        return self.state_path / "artifacts"

    @property
    def memory_path(self) -> Path:
        return self.root / self.memory_dir

    def untracked_data(self) -> tuple[str, ...]:
        """Repo-relative paths that hold the night's data and must never be staged or deleted."""
        return (self.results_file, self.log_file, self.state_dir, self.memory_dir)

    def rule_enabled(self, rule_id: str) -> bool:
        return rule_id not in self.disabled_rules


def find_root(start: str | os.PathLike | None = None) -> Path:
    """The project root: $CLAUDE_PROJECT_DIR when set, else the nearest folder with pyproject.toml or .git."""
    env_root = os.environ.get(ROOT_ENV)
    if start is None and env_root:
        return Path(env_root).resolve()
    here = Path(start if start is not None else os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() or (folder / ".git").exists():
            return folder
    return here


def _coerce(name: str, value, default, prefix: str = ""):
    """Check one value against its default's type; the error names the key and the expected type."""
    key = f"[tool.autoresearch{prefix}] {name}"
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, tuple):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        wanted = type(default).__name__.replace("tuple", "list of strings")
        raise ConfigError(f"{key} = {value!r} is not a {wanted}; fix it in pyproject.toml")
    return value


def _build(cls, table: dict, prefix: str, **extra):
    settable = [name for name in cls.FIELDS if name not in extra]
    kwargs = dict(extra)
    for name, value in table.items():
        if name in ("noise", "stop", "jobs") and cls is Config:
            continue
        if name not in settable:
            raise ConfigError(
                f"[tool.autoresearch{prefix}] has an unknown key {name!r}; "
                f"known keys: {', '.join(sorted(settable))}"
            )
        kwargs[name] = _coerce(name, value, getattr(cls, name), prefix)
    return cls(**kwargs)


def from_table(root: Path, table: dict) -> Config:
    """Build a Config from an already-parsed `[tool.autoresearch]` table (tests use this directly)."""
    noise = _build(NoiseConfig, table.get("noise", {}), ".noise")
    stop = _build(StopConfig, table.get("stop", {}), ".stop")
    jobs_table = dict(table.get("jobs", {}))
    auto = jobs_table.get("workers") == WORKERS_AUTO
    if auto:
        jobs_table.pop("workers")
    jobs = _build(JobsConfig, jobs_table, ".jobs")
    if auto:
        jobs = JobsConfig(**{**{f: getattr(jobs, f) for f in JobsConfig.FIELDS}, "workers": WORKERS_AUTO})
    elif jobs.workers < 1:
        raise ConfigError('[tool.autoresearch.jobs] workers must be 1 or more, or "auto" (one per GPU)')
    if jobs.backend not in BACKENDS:
        choices = ", ".join(BACKENDS)
        raise ConfigError(f"[tool.autoresearch.jobs] backend = {jobs.backend!r}: use one of {choices}")
    cfg = _build(Config, table, "", root=root, noise=noise, stop=stop, jobs=jobs)
    unknown_rules = [r for r in cfg.disabled_rules if r not in RULE_IDS]
    if unknown_rules:
        raise ConfigError(
            f"[tool.autoresearch] disabled_rules names unknown rule(s) {unknown_rules}; "
            f"valid ids: {', '.join(RULE_IDS)}"
        )
    if cfg.metric_direction not in ("lower", "higher"):
        raise ConfigError("[tool.autoresearch] metric_direction must be 'lower' or 'higher'")
    return cfg


def load(root: str | os.PathLike | None = None) -> Config:
    """Read the config of the project at `root` (found from the cwd when None).

    A project without the section, or an interpreter without tomllib, gets the defaults.
    A malformed pyproject.toml raises ConfigError with the parser's line and column.
    """
    root_path = Path(root).resolve() if root is not None else find_root()
    pyproject = root_path / "pyproject.toml"
    if tomllib is None or not pyproject.is_file():
        return Config(root=root_path)
    try:
        with pyproject.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject} is not valid TOML ({exc}); fix the file by hand") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {pyproject}: {exc.strerror}") from None
    table = data.get("tool", {}).get("autoresearch", {})
    if not isinstance(table, dict):
        raise ConfigError("[tool.autoresearch] in pyproject.toml must be a table")
    return from_table(root_path, table)
