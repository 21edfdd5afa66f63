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


class Placement(TypedDict, total=False):
    """Where a Keras 3 backend's training ran (``checks.probes.backend_child``): no op census outside TensorFlow."""

    weights: list[str]  # the devices the model's and the optimizer's variables live on
    output: str  # the device of the model's output
    census: str  # why there is no op census


class Fallback(TypedDict, total=False):
    """Ops PyTorch ran on the CPU instead of MPS (PYTORCH_ENABLE_MPS_FALLBACK=1), counted from its warnings."""

    ops: dict[str, int]
    warnings: int  # every warning the training raised


class TrainingRun(TypedDict, total=False):
    """One device's training (``checks.probes.training._train``): losses, step times, the first step's census (or,
    on Keras 3's other backends, the placement of the weights and the ops that fell back to the CPU)."""

    requested: str
    losses: list[float]
    step_s: list[float]
    first_step_s: float
    median_step_ms: float
    census: Census
    placement: Placement
    fallback: Fallback
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
    backend: str  # keras.backend.backend() where the backend child trained
    error: str


class TensorFlowInfo(TypedDict, total=False):
    version: str
    import_s: float
    built_with_cuda: bool
    gpus: list[str]
    cpus: list[str]
    gpu_details: list[dict[str, str]]


class ChildFacts(TypedDict, total=False):
    """What every probe child writes (``tf_child``, ``backend_child``), with its ``process`` (a Completed as JSON)."""

    stage: str
    config: dict[str, Any]
    matmul: Matmul
    training: Training
    process: dict[str, Any]
    timeout_s: float  # --timeout: the child's time limit
    not_recorded: bool


class TensorFlowFacts(ChildFacts, total=False):
    """The TensorFlow child's JSON (``checks.probes.tf_child``)."""

    plugins: list[str]  # the PluggableDevice libraries `import tensorflow` loads (tensorflow-plugins/, the env var)
    tensorflow: TensorFlowInfo
    trace: dict[str, Any]
    project_imports: dict[str, Any]  # checks.probes.imports.collect: the project's modules beside TensorFlow
    not_known: dict[str, str]  # a bundle's values that no real output gave: fact -> why (shown by the checks)


class FrameworkInfo(TypedDict, total=False):
    name: str  # torch, jax
    version: str
    import_s: float
    keras_backend: str  # the KERAS_BACKEND the child set


class Devices(TypedDict, total=False):
    """The framework's devices (``backend_child``): its accelerator, or none and why; the rest is per framework
    (torch: ``mps`` and ``cuda`` each with built, available, why_not; JAX: ``devices``, ``default_backend``)."""

    framework: str
    cpu: str  # the CPU as Keras names it for this backend (cpu, cpu:0)
    accelerator: str | None  # cuda, mps, gpu (JAX's CUDA platform): None when there is none
    accelerator_device: str | None  # as Keras names it: cuda:0, mps, gpu:0
    accelerator_name: str | None
    mps: dict[str, Any]
    cuda: dict[str, Any]
    devices: list[str]
    default_backend: str
    why_not: str
    env: dict[str, str]  # PYTORCH_ENABLE_MPS_FALLBACK, KERAS_TORCH_DEVICE, PYTORCH_MPS_HIGH_WATERMARK_RATIO as set


class FrameworkFacts(ChildFacts, total=False):
    """The Keras 3 backend child's JSON (``checks.probes.backend_child``): PyTorch or JAX instead of TensorFlow."""

    backend: str
    framework: FrameworkInfo
    devices: Devices
    precision: dict[str, Any]  # TF32 off (the probe's fp32) or on, as the child set it


class BackendFacts(TypedDict, total=False):
    """Which framework this environment's Keras runs on (decided once per run: ``checks.probes.framework.decide``)
    and what the matrix says of it on this platform."""

    name: str  # tensorflow, torch, jax
    keras_backend: str
    decided_by: str  # "setup's marker" or "installed distributions"
    accelerator: str | None  # the GPU path the matrix gives this backend on this platform (mps); None: CPU only
    macos: str | None  # the macOS range of this backend's target for this platform (">=14.0"), where it has one
    why: str


class _Facts(TypedDict):
    """Everything one run knows about the machine and the environment: every part is there (a part a replayed
    bundle did not record says ``not_recorded``)."""

    raw: dict[str, Raw]
    system: SystemFacts
    packages: PackagesFacts
    tensorflow: TensorFlowFacts  # ``not_recorded`` where Keras runs on another framework (``framework`` instead)
    profile: str


class Facts(_Facts, total=False):
    """The parts every run has, and the backend it decided (absent from facts made before backends existed)."""

    backend: BackendFacts
    framework: FrameworkFacts  # the Keras 3 backend child's facts, where the backend is not TensorFlow
