"""Checks that a TensorFlow environment really uses the GPU it claims (Metal on Apple Silicon).

Run as ``python -m checks`` with the interpreter of the environment under test.
The package needs only the standard library, ``packaging`` and ``psutil``; it never
imports TensorFlow itself: one child interpreter does (``checks.probes.tf_child``).
"""

__version__ = "0.1.0"
