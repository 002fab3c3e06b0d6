"""Benchmark 8: what a writer feels in ``mkdocs serve`` — the first edit of a sentence, and a later one.

A MkDocs site of :data:`FIGURES` figures whose cache an earlier ``mkdocs build`` filled (as a writer's is), then a
real ``mkdocs serve`` process. Times from its log lines, read as they come:

* **first build**: from starting the server to its ``Serving on`` line (every figure from the cache: torch is not
  imported by the build itself);
* **ready for edits**: to the line that says the site's models were loaded in the background (the plugin starts
  that after the first build, so it does not slow it);
* **first edit** and **second edit**: from writing a page with one sentence changed to the summary line of the
  rebuild (one model run each) — the file watcher's delay included, as the writer feels it.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .common import MINILM, MKDOCS, SUMMARY, log, plugin_summary, table

FIGURES = 6
SENTENCES = ("The cat sat on the mat because it was tired.", "She gave him the book he wanted.",
             "The river bank was muddy after the rain.", "Time flies like an arrow.",
             "He saw the bank manager yesterday.", "Attention is all you need.")


def make_site(root: Path, model_path: str) -> Path:
    docs = root / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    (root / "mkdocs.yml").write_text(
        "site_name: Serve benchmark\nsite_dir: site\nplugins:\n  - attnviz:\n      models:\n"
        f"        {MINILM}: {model_path}\n      defaults:\n        model: {MINILM}\n", encoding="utf-8")
    write_page(root, list(SENTENCES[:FIGURES]))
    return root


def write_page(root: Path, sentences: list[str]) -> None:
    body = ["# Serve benchmark", ""]
    for i, sentence in enumerate(sentences):
        body += [f"## Figure {i + 1}", "", f'```attnviz layer="{i % 6}"', sentence, "```", ""]
    (root / "docs" / "index.md").write_text("\n".join(body), encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Lines:
    """The server's log lines, each with the time it arrived."""

    def __init__(self, stream) -> None:
        self.q: queue.Queue[tuple[float, str]] = queue.Queue()
        self.all: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.q.put((time.perf_counter(), line.rstrip()))

    def wait(self, pattern: str | re.Pattern, timeout: float = 300.0) -> tuple[float, str]:
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no line matching {pattern!r}; last lines: {self.all[-10:]}")
            try:
                at, line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            self.all.append(line)
            if re.search(pattern, line):
                return at, line


def measure(model_path: str, *, work: Path | None = None) -> dict[str, Any]:
    work = Path(work or tempfile.mkdtemp(prefix="attnviz-bench-serve-"))
    root = make_site(work / "site-project", model_path)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    subprocess.run([MKDOCS, "build"], cwd=root, check=True, capture_output=True, text=True, env=env)  # warm cache
    port = _free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([MKDOCS, "serve", "-a", f"127.0.0.1:{port}"], cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = _Lines(proc.stdout)
    out: dict[str, Any] = {"figures": FIGURES}
    try:
        at, _ = lines.wait(r"Serving on")
        out["first_build_s"] = at - started
        at, line = lines.wait(r"loaded in the background")
        out["ready_s"] = at - started
        out["preload_line"] = line.split("attnviz: ", 1)[-1]
        time.sleep(1.0)  # the watcher settles
        edits = []
        sentences = list(SENTENCES[:FIGURES])
        for i, new in enumerate(("The cat sat on the mat because it was sleepy.",
                                 "She gave him the book he needed.")):
            sentences[i] = new
            t0 = time.perf_counter()
            write_page(root, sentences)
            at, line = lines.wait(SUMMARY)
            counts = plugin_summary(line)
            edits.append({"s": at - t0, "rendered": counts["renders"], "model_runs": counts["extractions"]})
            time.sleep(1.0)
        out["edits"] = edits
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    out["command"] = "mkdocs serve (after mkdocs build filled the cache)"
    log(f"serve: {out}")
    return out


def targets(result: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    first = result["edits"][0]
    return [("mkdocs serve: first edit of a sentence ≤ 2 s after the server started [issue 14]",
             f"{first['s']:.2f} s ({first['model_runs']} model run; models ready {result['ready_s']:.1f} s after "
             "the start)", first["s"] <= 2.0)]


def report(result: dict[str, Any]) -> str:
    rows = [["first build (every figure from the cache)", f"{result['first_build_s']:.1f} s"],
            ["models loaded in the background, after the start", f"{result['ready_s']:.1f} s"]]
    for i, e in enumerate(result["edits"]):
        rows.append([f"{'first' if i == 0 else 'second'} edit of a sentence → rebuilt",
                     f"{e['s']:.2f} s ({e['rendered']} figure rendered, {e['model_runs']} model run)"])
    return table(["mkdocs serve", "measured"], rows)


if __name__ == "__main__":  # python -m benchmarks.serve
    from .common import minilm_path

    print(report(measure(minilm_path())))
