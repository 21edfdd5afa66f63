"""The shapes of the facts the probes gather and the rules read (TypedDicts: plain dicts at run time).

A key missing from a recorded bundle is missing here too (``total=False``); ``not_recorded`` marks a
part a bundle did not record. The keys every run sets, live or replayed, are required (the ``_...Always`` bases:
``checks.cli`` builds the record, ``checks.probes.system.derive`` and ``checks.probes.packages.collect`` fill
them, and a replay without packages says ``not_recorded`` with the same keys), so a strict type checker holds a
rule that reads any other key to ``.get``. Raw probe outputs stay untyped JSON (``Raw``).
"""

from __future__ import annotations

from typing import Any, TypedDict

Raw = dict[str, Any]


class Gpu(TypedDict, total=False):
    name: str | None
    cores: int | None
    metal: str | None
    vendor: str | None
    paravirtual: bool
    source: str  # "system_profiler (json)" or "system_profiler (text)"
    not_collected: list[str]  # Metal limits no probe gives (memory size, recommended working set, max buffer)


class _SystemAlways(TypedDict):
    os: str
    interpreter_arch: str
    platform: str
    python_version: str
    python_executable: str
    memory_bytes: int | None
    memory_available_bytes: int | None


class SystemFacts(_SystemAlways, total=False):
    """Derived by ``checks.probes.system.derive`` from raw outputs (pure)."""

    hardware_arch: str
    translated: bool
    vm: bool | None
    model: str | None
    cpu_brand: str | None
    macos_version: str | None
    macos_compat_mode: bool
    gpu: Gpu | None
    timeouts: dict[str, str]  # system commands killed at their timeout: name -> the command and its limit


class _EnvironmentAlways(TypedDict):
    prefix: str
    owned: bool


class EnvironmentFacts(_EnvironmentAlways, total=False):
    marker: dict[str, Any] | None
    marker_error: str | None
    is_venv: bool
    answers_as: str  # the interpreter's sys.prefix: another than prefix means the environment is no longer a venv
    setup_running: int | None  # the pid of an `invoke setup` working on it now (tasks.py verify)


class _LockAlways(TypedDict):
    path: str


class LockFacts(_LockAlways, total=False):
    """The environment against the lock its marker names (``checks.probes.packages.lock_state``)."""

    sha256: str  # of the lock file now: another than the marker's means the lock changed since setup
    pinned: int
    drift: list[str]
    damaged: dict[str, list[str]]  # locked distributions with files missing or of another size than RECORD
    extra_tensorflows: list[str]  # TensorFlow distributions beside the locked one
    complete: bool  # completeness.judge: the one meaning of complete
    damaged_count: dict[str, int]  # how many files each has damaged (``damaged`` names the first few)
    error: str


class _PackagesAlways(TypedDict):
    versions: dict[str, str | None]
    environment: EnvironmentFacts


class PackagesFacts(_PackagesAlways, total=False):
    """From ``checks.probes.packages.collect``."""

    metal_plugin: str | None
    lock: LockFacts | None
    unmet: list[str]
    binaries: dict[str, list[str]]
    env: dict[str, str]  # TF_DISABLE_METAL, TF_METAL_*, TF_USE_LEGACY_KERAS, PYTHONPATH, ... as set
    distributions: dict[str, str]  # every installed distribution: name -> version
    not_recorded: bool


class MatmulSide(TypedDict, total=False):
    """One device's matmul: where it ran, its error against float64, and its timing."""

    requested: str
    placed: str
    error: str
    error_rel: float
    gflops: float
    reps: int
    median_s: float
    min_s: float
    cv: float
    samples_s: list[float]


class Matmul(TypedDict, total=False):
    n: int
    dtype: str
    budget_s: float
    tolerance: float
    reference_rows: int
    cpu: MatmulSide
    gpu: MatmulSide


class Census(TypedDict, total=False):
    """Op types of one step's largest function graph, counted by device (plumbing left out)."""

    by_device: dict[str, int]
    ops: dict[str, dict[str, int]]
    other_functions: int
    error: str


class TrainingRun(TypedDict, total=False):
    """One device's training (``checks.probes.training._train``): losses, step times, the first step's census."""

    requested: str
    losses: list[float]
    step_s: list[float]
    first_step_s: float
    median_step_ms: float
    census: Census
    jit_compile: bool
    error: str


class FusedDense(TypedDict, total=False):
    """relu(x @ w + b) in graph mode and eagerly on the target, each against float64."""

    requested: str
    placed: str
    shape: list[int]
    graph_error: float
    eager_error: float
    graph_vs_eager: float
    graph_ops: list[str]
    fused_op: str | None
    census: Census
    error: str


class TrainingModel(TypedDict, total=False):
    layers: str
    input: list[int]
    params: int
    optimizer: str
    loss: str
    keras: str


class Training(TypedDict, total=False):
    """From ``checks.probes.training.run``; only ``error`` when the probe failed as a whole."""

    model: TrainingModel
    steps: int
    seed: int
    soft_placement: bool
    cpu: TrainingRun
    gpu: TrainingRun
    fused: FusedDense
    spent_s: float
    error: str


class TensorFlowInfo(TypedDict, total=False):
    version: str
    import_s: float
    built_with_cuda: bool
    gpus: list[str]
    cpus: list[str]
    gpu_details: list[dict[str, str]]


class TensorFlowFacts(TypedDict, total=False):
    """The TensorFlow child's JSON (``checks.probes.tf_child``) with its ``process`` (a Completed as JSON)."""

    stage: str
    config: dict[str, Any]
    plugins: list[str]  # the PluggableDevice libraries `import tensorflow` loads (tensorflow-plugins/, the env var)
    tensorflow: TensorFlowInfo
    matmul: Matmul
    training: Training
    trace: dict[str, Any]
    process: dict[str, Any]
    timeout_s: float  # --timeout: the child's time limit
    not_recorded: bool
    project_imports: dict[str, Any]  # checks.probes.imports.collect: the project's modules beside TensorFlow
    not_known: dict[str, str]  # a bundle's values that no real output gave: fact -> why (shown by the checks)


class Facts(TypedDict):
    """Everything one run knows about the machine and the environment: every part is there (a part a replayed
    bundle did not record says ``not_recorded``)."""

    raw: dict[str, Raw]
    system: SystemFacts
    packages: PackagesFacts
    tensorflow: TensorFlowFacts
    profile: str
