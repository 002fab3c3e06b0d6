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
        # extractions: model runs, of which previews by onnxruntime (mkdocs serve, extract.preview)
        self.counts = {"figures": 0, "hits": 0, "renders": 0, "extractions": 0, "errors": 0, "previews": 0}
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

    def rejected(self) -> None:
        """A block that failed before it was built (its header or options could not be read)."""
        self.counts["figures"] += 1
        self.counts["errors"] += 1

    def summary(self) -> str:
        s = self.counts
        seconds = time.perf_counter() - self.started
        previewed = (f"; {_count(s['previews'], 'sentence')} run by this machine's quick preview (onnxruntime): "
                     "a build without previews (`mkdocs build`, `sphinx-build`) runs PyTorch" if s["previews"] else "")
        return (f"attnviz: {_count(s['figures'], 'figure')} ({s['hits']} from cache, {s['renders']} rendered, "
                f"{_count(s['extractions'], 'model run')}, {_count(s['errors'], 'error')}) in {seconds:.1f} s"
                f"{previewed}")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
