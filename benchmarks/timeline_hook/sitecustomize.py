"""Benchmark-only: put on PYTHONPATH by ``benchmarks.setup_timeline``, never by the suite. In the one process
started with ``SETUP_TIMELINE_LOG`` set, each subprocess's argv, start and reaping by that process (wall clock;
the reaping follows the exit by no more than setup's own wait) is appended to that file as a JSON line. The
variable and this folder are taken out of the environment, so no child logs or imports this file. A fork without
exec (setup's completeness probe shares its work with a forked copy) is not a subprocess: not logged, nor slowed
as under a tracer."""

import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_LOG = os.environ.pop("SETUP_TIMELINE_LOG", None)
_rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.abspath(p) != _HERE]
if _rest:
    os.environ["PYTHONPATH"] = os.pathsep.join(_rest)
else:
    os.environ.pop("PYTHONPATH", None)

if _LOG:
    import json
    import subprocess
    import time

    _init = subprocess.Popen.__init__
    _reaped = subprocess.Popen._handle_exitstatus  # type: ignore[attr-defined]

    def _timed_init(self, args, *rest, **kw):  # type: ignore[no-untyped-def]
        start = time.time()
        _init(self, args, *rest, **kw)
        try:
            self._timeline = ([os.fsdecode(args)] if isinstance(args, (str, bytes, os.PathLike))
                              else [os.fsdecode(a) for a in args], start)
        except (TypeError, ValueError):  # the benchmark's bookkeeping never breaks the run it measures
            pass

    def _timed_reaped(self, *rest, **kw):  # type: ignore[no-untyped-def]
        _reaped(self, *rest, **kw)
        try:
            argv, start = getattr(self, "_timeline", (None, 0.0))
            if argv is not None:
                with open(_LOG, "a") as log:
                    log.write(json.dumps({"argv": argv, "start": start, "end": time.time()}) + "\n")
        except (OSError, TypeError, ValueError):
            pass

    subprocess.Popen.__init__ = _timed_init  # type: ignore[method-assign]
    subprocess.Popen._handle_exitstatus = _timed_reaped  # type: ignore[attr-defined]
