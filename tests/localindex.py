"""A local package index of small wheels that the tests build themselves, with a matrix and hashed locks.

Setup is pointed at it with TFM_MATRIX (the matrix, its locks beside it) and the installers' own
offline settings (UV_NO_INDEX + UV_FIND_LINKS, PIP_NO_INDEX + PIP_FIND_LINKS), so fault tests run
offline and fast. The fake tensorflow-cpu carries many modules so that the install step (0.3-0.5 s
here, uv's start included) is long enough to be interrupted.
A stand-in for tensorflow-metal-plugin (an sdist whose build imports the TensorFlow of the environment,
as that plugin's setup.py does) makes the two-step install real.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Callable

PADDING_MODULES = 4000


def make_wheel(out_dir: Path, name: str, version: str, files: dict[str, str], requires: tuple[str, ...] = ()) -> Path:
    """A pure-Python wheel with METADATA (``Requires-Dist`` for each of ``requires``), WHEEL and RECORD."""
    dist = name.replace("-", "_")
    info = "%s-%s.dist-info" % (dist, version)
    files = dict(files)
    files[info + "/METADATA"] = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s" % (
        name, version, "".join("Requires-Dist: %s\n" % r for r in requires))
    files[info + "/WHEEL"] = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (path, digest, len(data)))
    record.append("%s/RECORD,," % info)
    files[info + "/RECORD"] = "\n".join(record) + "\n"
    wheel = out_dir / ("%s-%s-py3-none-any.whl" % (dist, version))
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


STANDIN = ("standin-metal-plugin", "0.1.0")
# An in-tree PEP 517 backend with no build requirements (the index is offline, so no setuptools), which, like
# tensorflow-metal-plugin 0.4.1's setup.py, needs the TensorFlow already installed to build anything.
STANDIN_BACKEND = '''"""Builds only against an installed TensorFlow, as tensorflow-metal-plugin does."""
import base64, hashlib, os, zipfile

NAME, VERSION, DIST = "standin-metal-plugin", "0.1.0", "standin_metal_plugin"
INFO = "%s-%s.dist-info" % (DIST, VERSION)


def _tensorflow():
    try:
        import tensorflow
    except ImportError:
        raise SystemExit("TensorFlow was not found. Install it before this plugin: a PluggableDevice is "
                         "compiled against the TensorFlow it will be loaded into, so there is nothing to "
                         "build against until it is there.")
    return tensorflow


def _meta():
    return {INFO + "/METADATA": "Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n"
                                "Requires-Dist: tensorflow-cpu\\n" % (NAME, VERSION),
            INFO + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: standin\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _tensorflow()
    os.makedirs(os.path.join(metadata_directory, INFO), exist_ok=True)
    for path, text in _meta().items():
        with open(os.path.join(metadata_directory, path), "w") as fh:
            fh.write(text)
    return INFO


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    import sys
    print("standin: compiling against TensorFlow %s" % _tensorflow().__version__, file=sys.stderr, flush=True)
    if os.environ.get("STANDIN_BUILD_FAILS"):  # a compiler error no signature knows
        raise SystemExit("standin: error: the compiler stopped")
    files = dict(_meta(), **{"tensorflow-plugins/standin_built_against.txt": _tensorflow().__version__ + "\\n"})
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (path, digest, len(text.encode())))
    files[INFO + "/RECORD"] = "\\n".join(record + [INFO + "/RECORD,,"]) + "\\n"
    name = "%s-%s-py3-none-any.whl" % (DIST, VERSION)
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return name
'''


# The stand-in as a matrix plugin record: built from its sdist, two steps, the community plugin's install flags.
STANDIN_PLUGIN = {"name": STANDIN[0], "artifact": "sdist", "library": "standin_built_against.txt",
                  "python": ">=3.9", "macos": ">=15.0",
                  "build": {"requires": [], "tools": ["make"], "sdk": ">=15.0"},  # probed on a Mac only
                  "install_flags": ["--no-build-isolation", "--no-deps"], "source": "tests/localindex.py"}


def make_standin_sdist(out_dir: Path) -> Path:
    """The stand-in plugin sdist: builds only where ``import tensorflow`` works (no build isolation)."""
    name, version = STANDIN
    base = "%s-%s" % (name.replace("-", "_"), version)
    files = {
        "PKG-INFO": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % STANDIN,
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "standin_backend"\nbackend-path = ["."]\n',
        "standin_backend.py": STANDIN_BACKEND,
    }
    sdist = out_dir / ("%s.tar.gz" % base)
    with tarfile.open(sdist, "w:gz") as tf:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo("%s/%s" % (base, path))
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return sdist


# A team's project, offline: plain libraries, one that needs TensorFlow 2.21 from 2.0 on (1.x fits 2.19), one
# that depends on `tensorflow` (not `tensorflow-cpu`), and the TensorFlows they would pull in.
PROJECT_WHEELS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("plainlib", "1.0.0", ()),
    ("plainlib", "1.1.0", ()),
    ("extralib", "0.5.0", ("plainlib>=1.0",)),
    ("needs-new-tf", "1.4.0", ("tensorflow-cpu>=2.19,<2.20",)),
    ("needs-new-tf", "2.0.0", ("tensorflow-cpu>=2.21",)),
    ("wants-tensorflow", "1.0.0", ("tensorflow>=2.19,<2.20",)),
    ("tensorflow", "2.19.1", ()),  # (tensorflow-cpu 2.21.0 is the stand-in plugin's TensorFlow, built in build())
)


def build(root: Path) -> dict[str, str]:
    """Write wheels, matrix.json and locks under ``root``; return the environment that uses them offline."""
    wheels = root / "wheels"
    locks = root / "locks"
    wheels.mkdir(parents=True)
    locks.mkdir()
    files = {"tensorflow/__init__.py": "__version__ = '2.19.1'\n"}
    files.update({"tensorflow/padding/m%04d.py" % i: "VALUE = %d\n" % i for i in range(PADDING_MODULES)})
    wheel = make_wheel(wheels, "tensorflow-cpu", "2.19.1", files)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    sdist = make_standin_sdist(wheels)
    newer = make_wheel(wheels, "tensorflow-cpu", "2.21.0", {"tensorflow/__init__.py": "__version__ = '2.21.0'\n"})
    for name, version, requires in PROJECT_WHEELS:
        make_wheel(wheels, name, version, {"%s/__init__.py" % name.replace("-", "_"): "VERSION = %r\n" % version},
                   requires)
    matrix = {"schema_version": 1, "about": "test index", "common": [], "pairs": [],
              "targets": [{"profile": "cpu", "platform": "linux-x86_64", "requirements": ["tensorflow-cpu==2.19.1"],
                           "python": ">=3.9,<3.14", "why": "test", "source": "tests/localindex.py"},
                          {"profile": "cpu", "platform": "linux-x86_64", "name": "standin", "locks": "standin",
                           "requirements": ["tensorflow-cpu==2.21.0", "%s==%s" % STANDIN],
                           "python": ">=3.9,<3.14", "why": "a plugin built at install time",
                           "source": "tests/localindex.py"}],
              "plugins": [STANDIN_PLUGIN]}
    (root / "matrix.json").write_text(json.dumps(matrix))
    (locks / "standin").mkdir()
    for minor in ("3.9", "3.10", "3.11", "3.12", "3.13"):
        (locks / ("cpu-linux-x86_64-py%s.txt" % minor)).write_text(
            "tensorflow-cpu==2.19.1 \\\n    --hash=sha256:%s\n" % digest)
        (locks / "standin" / ("standin-linux-x86_64-py%s.txt" % minor)).write_text(
            "tensorflow-cpu==2.21.0 \\\n    --hash=sha256:%s\n" % hashlib.sha256(newer.read_bytes()).hexdigest())
        (locks / "standin" / ("standin-plugin-linux-x86_64-py%s.txt" % minor)).write_text(
            "%s==%s \\\n    --hash=sha256:%s\n" % (STANDIN + (hashlib.sha256(sdist.read_bytes()).hexdigest(),)))
    return dict(os.environ, TFM_MATRIX=str(root / "matrix.json"), UV_NO_INDEX="1", UV_FIND_LINKS=str(wheels),
                UV_CACHE_DIR=str(root / "uv-cache"), PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels))


def offline_resolver(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` (from ``build``) for resolving too: ``uv pip compile`` does not read UV_NO_INDEX, so a uv
    config file says no index, only the local wheels."""
    wheels = Path(environ["UV_FIND_LINKS"])
    config = wheels.parent / "uv.toml"
    config.write_text('[pip]\nno-index = true\nfind-links = [%s]\n' % json.dumps(str(wheels)), encoding="utf-8")
    return dict(environ, UV_CONFIG_FILE=str(config))


def add_packaging(environ: dict[str, str]) -> None:
    """The real ``packaging`` of the tools environment, repacked into the local index, so that
    ``python -m checks`` (which needs it) runs in an environment set up from it."""
    from importlib import metadata

    dist = metadata.distribution("packaging")
    files = {str(f): f.read_text() for f in dist.files or [] if str(f).startswith("packaging/") and f.suffix == ".py"}
    make_wheel(Path(environ["UV_FIND_LINKS"]), "packaging", dist.version, files)


def serve_index(pages: dict[str, dict[str, Any]], files: dict[str, Path]) -> tuple[str, Callable[[], None]]:
    """A PEP 691 JSON index on 127.0.0.1: ``/simple/NAME/`` answers ``pages[NAME]`` (404 for a name not there),
    ``/files/FILE`` the bytes of ``files[FILE]``. Returns (the index URL, a function that stops the server)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "simple" and parts[1] in pages:
                body, kind = json.dumps(pages[parts[1]]).encode(), "application/vnd.pypi.simple.v1+json"
            elif len(parts) == 2 and parts[0] == "files" and parts[1] in files:
                body, kind = files[parts[1]].read_bytes(), "application/octet-stream"
            else:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return "http://127.0.0.1:%d/simple/" % server.server_address[1], stop


def index_file(url: str, path: Path) -> dict[str, Any]:
    """A file as a PEP 691 page lists it (URL, sha256, size)."""
    data = path.read_bytes()
    return {"filename": path.name, "url": url.replace("/simple/", "/files/") + path.name,
            "hashes": {"sha256": hashlib.sha256(data).hexdigest()}, "size": len(data), "requires-python": ">=3.10"}


def make_plugin_sdist(out_dir: Path, name: str, version: str, pkg_info: str, extra: dict[str, str]) -> Path:
    """An sdist holding PKG-INFO and ``extra`` files (pyproject.toml, TF_SUPPORTED_VERSION, ...)."""
    base = "%s-%s" % (name.replace("-", "_"), version)
    sdist = out_dir / ("%s.tar.gz" % base)
    with tarfile.open(sdist, "w:gz") as tf:
        for path, text in dict(extra, **{"PKG-INFO": pkg_info}).items():
            data = text.encode()
            info = tarfile.TarInfo("%s/%s" % (base, path))
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return sdist


# The test GPU (tests/gpu_plugin) as a plugin built at install time, for real: an sdist whose in-tree backend compiles
# test_gpu.cc with g++ against the TensorFlow already in the environment (headers and libtensorflow_framework from
# its wheel) into a wheel that puts the library where tensorflow-metal puts its own, tensorflow-plugins/.
TEST_GPU = ("tfm-suite-test-gpu", "0.1.0")
TEST_GPU_BACKEND = '''"""Compiles the test GPU against the installed TensorFlow (no build isolation), as
tensorflow-metal-plugin does."""
import base64, hashlib, importlib.metadata, importlib.util, os, sys, sysconfig, tempfile, zipfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfm_gpu_build as gpu  # tests/gpu_plugin/build.py, shipped in this sdist

NAME, VERSION, DIST = "%(name)s", "%(version)s", "%(dist)s"
INFO = "%%s-%%s.dist-info" %% (DIST, VERSION)


def _tensorflow():
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("TensorFlow was not found. Install it before this plugin: a PluggableDevice is "
                         "compiled against the TensorFlow it will be loaded into, so there is nothing to "
                         "build against until it is there.")
    version = next((v for v in (_version(n) for n in ("tensorflow", "tensorflow-cpu")) if v), "?")
    return Path(spec.submodule_search_locations[0]), version


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    tf_dir, version = _tensorflow()
    print("tfm-test-gpu: compiling against TensorFlow %%s at %%s" %% (version, tf_dir), file=sys.stderr, flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            library = gpu.build(tf_dir, Path(tmp), Path(__file__).with_name("test_gpu.cc")).read_bytes()
    except gpu.Missing as exc:
        raise SystemExit("tfm-test-gpu: cannot build: %%s" %% exc)
    tag = "py3-none-" + sysconfig.get_platform().replace("-", "_").replace(".", "_")
    files = {INFO + "/METADATA": ("Metadata-Version: 2.1\\nName: %%s\\nVersion: %%s\\nRequires-Dist: tensorflow-cpu\\n"
                                  %% (NAME, VERSION)).encode(),
             INFO + "/WHEEL": ("Wheel-Version: 1.0\\nGenerator: tfm-test-gpu\\nRoot-Is-Purelib: false\\nTag: %%s\\n"
                               %% tag).encode(),
             "tensorflow-plugins/" + gpu.LIBRARY: library}
    record = ["%%s,sha256=%%s,%%d" %% (path, base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                                    .decode(), len(data)) for path, data in files.items()]
    files[INFO + "/RECORD"] = ("\\n".join(record + [INFO + "/RECORD,,"]) + "\\n").encode()
    name = "%%s-%%s-%%s.whl" %% (DIST, VERSION, tag)
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return name
''' % {"name": TEST_GPU[0], "version": TEST_GPU[1], "dist": TEST_GPU[0].replace("-", "_")}

TEST_GPU_PLUGIN = {"name": TEST_GPU[0], "artifact": "sdist", "library": "libtfm_test_gpu.so", "python": ">=3.9",
                   "macos": ">=15.0", "build": {"requires": [], "tools": ["make"], "sdk": ">=15.0"},
                   "install_flags": ["--no-build-isolation", "--no-deps"], "source": "tests/gpu_plugin"}


def make_test_gpu_sdist(out_dir: Path) -> Path:
    """The test GPU's sdist: its C++ source, tests/gpu_plugin/build.py and a backend that compiles at install time."""
    from tests.gpu_plugin import build as gpu

    name, version = TEST_GPU
    base = "%s-%s" % (name.replace("-", "_"), version)
    files = {
        "PKG-INFO": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % TEST_GPU,
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "tfm_gpu_backend"\nbackend-path = ["."]\n',
        "tfm_gpu_backend.py": TEST_GPU_BACKEND,
        "tfm_gpu_build.py": Path(gpu.__file__).read_text(encoding="utf-8"),
        "test_gpu.cc": gpu.SOURCE.read_text(encoding="utf-8"),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    sdist = out_dir / ("%s.tar.gz" % base)
    with tarfile.open(sdist, "w:gz") as tf:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo("%s/%s" % (base, path))
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return sdist


def build_test_gpu(root: Path) -> dict[str, str]:
    """A matrix whose cpu/linux-x86_64 target is this platform's real TensorFlow (the committed cpu locks, from the
    package index) plus the test GPU built at install time, its sdist pinned by sha256 and served from ``root/wheels``;
    the environment that points setup at it (uv and pip look there besides the index)."""
    from checks.matrix import LOCK_DIR

    wheels, locks = root / "wheels", root / "locks" / "testgpu"
    locks.mkdir(parents=True)
    sdist = make_test_gpu_sdist(wheels)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    matrix = {"schema_version": 1, "about": "the test GPU, built at install time", "common": [], "pairs": [],
              "targets": [{"profile": "cpu", "platform": "linux-x86_64", "name": "testgpu", "locks": "testgpu",
                           "requirements": ["tensorflow-cpu==2.19.1", "%s==%s" % TEST_GPU],
                           "python": ">=3.9,<3.13", "why": "a GPU plugin built at install time",
                           "source": "tests/localindex.py"}],
              "plugins": [TEST_GPU_PLUGIN]}
    (root / "matrix.json").write_text(json.dumps(matrix))
    for committed in LOCK_DIR.glob("cpu-linux-x86_64-py3.*.txt"):  # the Pythons TensorFlow 2.19.1 has wheels for
        minor = committed.name[len("cpu-linux-x86_64-py"):-len(".txt")]
        (locks / ("testgpu-linux-x86_64-py%s.txt" % minor)).write_text(committed.read_text(encoding="utf-8"))
        (locks / ("testgpu-plugin-linux-x86_64-py%s.txt" % minor)).write_text(
            "%s==%s \\\n    --hash=sha256:%s\n" % (TEST_GPU + (digest,)))
    return dict(os.environ, TFM_MATRIX=str(root / "matrix.json"), UV_FIND_LINKS=str(wheels),
                PIP_FIND_LINKS=str(wheels))
