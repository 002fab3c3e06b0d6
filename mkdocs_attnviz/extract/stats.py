"""The process-wide counters of the extraction: models loaded and forward passes run.

:data:`STATS` is one dict, shared by every module of the package (each updates it in place) and
read by the tests and the host's statistics.
"""

from __future__ import annotations

__all__ = ["STATS"]

#: counters the tests (and the host's statistics) read: models loaded, forward passes run
STATS: dict[str, int] = {"loads": 0, "forwards": 0}
