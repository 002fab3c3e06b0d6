"""PNG fallbacks drawn beside the build, in worker processes.

A cold build of many figures spends most of its time in matplotlib, drawing each figure's PNG after its page, while
the model waits. :class:`PictureWorkers` draws them in other processes instead: started as soon as a build first
misses a figure whose model is not loaded yet (they import matplotlib while the model loads), they draw a figure's
PNG while the build computes the next figure's attention and page. The first of them also makes what the first
figure's view shares between pages (the heatmap: its Bokeh document's template, :meth:`View.ahead`), which the build
takes when it renders its first page instead of importing Bokeh then. A host whose files are published once its pages
are done (MkDocs: ``on_post_build``) asks for them (``FigureBuilder(..., pictures_aside=True)``); the others draw in
place, as before.

Nothing is half-written: a figure whose PNG is drawn aside has no render entry until its PNG is back — then its page,
PNG and metadata are stored in one go (:func:`mkdocs_attnviz.rendering.store`), before anything is published
(:meth:`mkdocs_attnviz.pipeline.FigureBuilder.finish`, where the build, its own work done, draws the PNGs no worker
has begun, from the last one back, while the workers finish theirs). A worker that fails, or dies, is an
:class:`~mkdocs_attnviz.errors.AttnvizError` naming the figure's page and line: never a figure without its PNG.

On Linux, in a process that runs no other thread and has not imported torch (``mkdocs build``: the workers start before
the model loads), the workers are forked: a copy of the build, nothing imported twice, nothing run again. Elsewhere
(``mkdocs serve`` runs threads; macOS and Windows never fork) they are fresh interpreters (``spawn``), which import
the main script as Python's ``multiprocessing`` does: a script that builds a site must keep its work under
``if __name__ == "__main__":``. Either way they draw exactly what the build would (the same record, the same spec,
prepared the same way), so the bytes are the same.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from .attention import Attention
    from .spec import FigureSpec
    from .views.base import Frame

__all__ = ["PictureWorkers", "draw", "ahead", "worker_count", "start_method", "MAX_WORKERS", "NICENESS"]

#: at most this many worker processes (the build itself keeps one core busy)
MAX_WORKERS = 4


def worker_count() -> int:
    """Worker processes for this machine: one core is the build's, the others draw (at least one worker)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores - 1))


def start_method() -> str:
    """``fork`` where a copy of this process is safe (see the module's text), else ``spawn``."""
    import sys
    import threading

    if sys.platform.startswith("linux") and threading.active_count() == 1 and "torch" not in sys.modules:
        return "fork"
    return "spawn"


#: the workers' niceness: they take the cores the build leaves idle, never the model's (torch's threads wait for
#: each other at every operation: a worker that took a core from one of them would slow every forward pass)
NICENESS = 10


def _bind_to(parent: int) -> None:
    """A worker's first act: on Linux it asks the kernel to kill it when the build dies (``PR_SET_PDEATHSIG``), so a
    build killed mid-way (a CI time-out, ``kill -9``) leaves no worker behind holding its output pipes; and it ends at
    once if the build died before it got there."""
    import sys

    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


def _warm_up() -> int:
    """What every picture needs, imported (and the machine's fonts found) before the first one is asked for; the
    worker's process id. The worker lowers its priority first (:data:`NICENESS`)."""
    if hasattr(os, "nice"):
        try:
            os.nice(NICENESS)
        except OSError:
            pass
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401

    from . import views
    from .prepare import prepare  # noqa: F401
    from .toolkit import fonts

    views.get("heatmap")
    fonts.discover()
    return os.getpid()


def ahead(view: str, spec: FigureSpec) -> Any:
    """What ``view``'s pages share for ``spec`` (:meth:`mkdocs_attnviz.views.base.View.ahead`), made in a worker while
    the build loads the model: run in a worker."""
    from . import views

    return views.get(view).ahead(spec)


def draw(att: Attention, other: Attention | None, spec: FigureSpec, view: str, frame: Frame
         ) -> tuple[bytes, list[str]]:
    """The PNG of ``spec``'s figure of ``att`` (``other``: a comparison's second record) and the characters no
    installed font has (what :func:`mkdocs_attnviz.rendering.render` collects): run in a worker."""
    from . import rendering, views
    from .prepare import prepare

    return rendering.picture(prepare(att, spec, views.get(view), other=other), frame)


class PictureWorkers:
    """Worker processes drawing PNGs; started on first use (:meth:`start`), closed with :meth:`close`."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self.started = 0  # how many times workers were started
        self.warm: list[Future] = []  # each worker's warm-up: its process id once done

    @property
    def running(self) -> bool:
        return self._pool is not None

    def start(self) -> None:
        """Start the workers (they import matplotlib and find the fonts at once); nothing if they run."""
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=worker_count(),
                                             mp_context=multiprocessing.get_context(start_method()),
                                             initializer=_bind_to, initargs=(os.getpid(),))
            self.started += 1
            self.warm = [self._pool.submit(_warm_up) for _ in range(worker_count())]

    def submit(self, *args: Any) -> Future:
        """Draw :func:`draw` ``(*args)`` in a worker."""
        self.start()
        return self._pool.submit(draw, *args)  # type: ignore[union-attr]

    def submit_ahead(self, view: str, spec: FigureSpec) -> Future:
        """Make :func:`ahead` ``(view, spec)`` in a worker."""
        self.start()
        return self._pool.submit(ahead, view, spec)  # type: ignore[union-attr]

    def close(self) -> None:
        """Stop the workers: what they have not begun is dropped, a PNG being drawn is waited for (a pool left
        running makes Python's own exit handler fail on its closed pipe)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=True, cancel_futures=True)
