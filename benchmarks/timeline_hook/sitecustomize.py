"""Benchmark-only: put on PYTHONPATH by ``benchmarks.setup_timeline``, never by the suite. In the one process
started with ``SETUP_TIMELINE_LOG`` set (the variable is taken out, so no child of it logs), each subprocess's
argv, start and reaping (wall clock) is appended to that file as a JSON line. A fork without exec (setup's
completeness probe shares its work with a forked copy) is not a subprocess and is not logged, nor slowed as
under a tracer."""

import os

_LOG = os.environ.pop("SETUP_TIMELINE_LOG", None)
if _LOG:
    import json
    import subprocess
    import time

    _init = subprocess.Popen.__init__
    _reaped = subprocess.Popen._handle_exitstatus  # type: ignore[attr-defined]

    def _timed_init(self, args, *rest, **kw):  # type: ignore[no-untyped-def]
        start = time.time()
        _init(self, args, *rest, **kw)
        self._timeline = ([args] if isinstance(args, (str, bytes)) else [str(a) for a in args], start)

    def _timed_reaped(self, *rest, **kw):  # type: ignore[no-untyped-def]
        _reaped(self, *rest, **kw)
        argv, start = getattr(self, "_timeline", (None, 0.0))
        if argv is not None:
            with open(_LOG, "a") as log:
                log.write(json.dumps({"argv": argv, "start": start, "end": time.time()}) + "\n")

    subprocess.Popen.__init__ = _timed_init  # type: ignore[method-assign]
    subprocess.Popen._handle_exitstatus = _timed_reaped  # type: ignore[attr-defined]
