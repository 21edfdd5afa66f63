"""Names of the files that ``invoke setup`` leaves in an environment it owns.

``OWNER`` is written first, when setup creates the directory: only a directory that carries it
(or ``MARKER``) may ever be deleted. ``MARKER`` is written last, atomically, once everything is
installed: an environment without it is incomplete.
"""

OWNER = ".tfmetal-owner"
MARKER = ".tfmetal-setup.json"
