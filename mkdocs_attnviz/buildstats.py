"""What one build did: figures, cache hits, renders, model runs, errors; progress lines and the summary line."""

from __future__ import annotations

import time

from . import logs

__all__ = ["BuildStats"]


class BuildStats:
    """The counts of one build (``counts``), and how far it is."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.counts = {"figures": 0, "hits": 0, "renders": 0, "extractions": 0, "errors": 0}
        self.started = time.perf_counter()
        self.expected = 0  # blocks the host expects to build (0: unknown): "12 of 50" in the progress lines
        self.last_progress = time.perf_counter()

    def expect(self, blocks: int) -> None:
        """The number of blocks this build will ask for: progress lines say how many figures are left."""
        self.expected = max(0, int(blocks))

    def progress(self, every: float) -> None:
        """An INFO line at most every ``every`` seconds while figures are being rendered (a cold build can take
        minutes)."""
        now = time.perf_counter()
        if now - self.last_progress < every:
            return
        self.last_progress = now
        s = self.counts
        left = f", {max(0, self.expected - s['figures'])} left" if self.expected else ""
        logs.logger.info("attnviz: %d figures so far (%d rendered, %d model runs)%s", s["figures"], s["renders"],
                         s["extractions"], left)

    def summary(self) -> str:
        s = self.counts
        seconds = time.perf_counter() - self.started
        return (f"attnviz: {s['figures']} figures ({s['hits']} from cache, {s['renders']} rendered, "
                f"{s['extractions']} model runs, {s['errors']} errors) in {seconds:.1f} s")
