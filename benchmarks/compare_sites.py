"""The demo site before and after a change, figure by figure, as a reader sees them: every figure of every page of two
built sites (the same docs built by two checkouts), each scrolled to in headless Chromium from ``file://`` until it
says it is drawn, its frame screenshotted, and the two screenshots compared pixel by pixel.

Run: ``python -m benchmarks.compare_sites BEFORE_SITE AFTER_SITE [--out FOLDER] [--width 1100]``

Build the two sites first, e.g. the previous landing in a scratch folder::

    git archive a5e86fd | tar -x -C /tmp/before && cd /tmp/before && PYTHONPATH=$PWD mkdocs build -d /tmp/before-site
    PYTHONPATH=$PWD mkdocs build -d /tmp/after-site       # in this checkout

For each page (the HTML files of the before site that hold figures) and each figure on it, in order: the frame's
size (CSS px) in both sites, the share of pixels that differ by more than 8 (of 255) in any channel, and the largest
difference. A figure whose screenshots differ is written to ``--out`` as ``<page>-<index>.png``: before, after and
their difference (amplified) side by side, to be looked at. The frame is screenshotted as the host page shows it
(its height included: a frame that clips its figure, or leaves an empty band, differs).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .browser import available, make_driver
from .frame_memory import wait_drawn

FRAMES = "return Array.from(document.querySelectorAll('iframe.attnviz-frame'))"


def pages_with_figures(site: Path) -> list[str]:
    """The HTML pages of ``site`` (relative paths) that embed at least one figure."""
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if "/assets/" not in "/" + p.relative_to(site).as_posix()
                  and 'class="attnviz-frame"' in p.read_text(encoding="utf-8", errors="replace"))


def shots(driver, page: Path) -> list[Any]:
    """An RGB array per figure of ``page``: its frame, scrolled into view and drawn."""
    import numpy as np
    from matplotlib.image import imread

    driver.get(page.as_uri())
    out = []
    for index in range(len(driver.execute_script(FRAMES))):
        frame = driver.execute_script(FRAMES)[index]
        if not driver.execute_script("return arguments[0].getBoundingClientRect().width", frame):
            out.append(None)  # not shown (a tab not chosen)
            continue
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", frame)
        wait_drawn(driver, frame, f"{page}, figure {index}")
        time.sleep(0.5)  # the height message and the last paint
        png = frame.screenshot_as_png
        out.append((np.asarray(imread(io.BytesIO(png), format="png"))[..., :3] * 255).round().astype("uint8"))
    return out


def compare(before, after) -> dict[str, Any]:
    import numpy as np

    row: dict[str, Any] = {"before": before.shape[:2], "after": after.shape[:2]}
    if before.shape != after.shape:
        row.update(differ=1.0, largest=255)
        return row
    diff = np.abs(before.astype(int) - after.astype(int)).max(axis=2)
    row.update(differ=float((diff > 8).mean()), largest=int(diff.max()))
    return row


def side_by_side(before, after, path: Path) -> None:
    import numpy as np
    from matplotlib.image import imsave

    h = max(before.shape[0], after.shape[0])
    w = max(before.shape[1], after.shape[1])

    def pad(a):
        out = np.full((h, w, 3), 255, dtype="uint8")
        out[:a.shape[0], :a.shape[1]] = a
        return out

    b, a = pad(before), pad(after)
    diff = np.clip(np.abs(b.astype(int) - a.astype(int)) * 4, 0, 255).astype("uint8")
    gap = np.full((h, 8, 3), 128, dtype="uint8")
    imsave(path, np.concatenate([b, gap, a, gap, 255 - diff], axis=1))


def run(before: Path, after: Path, out: Path, width: int = 1100) -> list[dict[str, Any]]:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="attnviz-compare-") as tmp:
        driver = make_driver(Path(tmp) / "profile", width=width)
        try:
            driver.set_window_size(width, 900)  # below 500 px, --window-size gives a wider viewport than asked
            driver.get("about:blank")
            assert driver.execute_script("return innerWidth") == width, "the browser would not take that width"
            for page in pages_with_figures(before):
                if not (after / page).exists():
                    rows.append({"page": page, "index": None, "missing": True})
                    continue
                old, new = shots(driver, before / page), shots(driver, after / page)
                for index in range(max(len(old), len(new))):
                    if index >= len(old) or index >= len(new):
                        rows.append({"page": page, "index": index, "missing": True})
                        continue
                    if old[index] is None or new[index] is None:
                        rows.append({"page": page, "index": index, "hidden": (old[index] is None, new[index] is None)})
                        continue
                    row = {"page": page, "index": index, **compare(old[index], new[index])}
                    if row["differ"]:
                        name = page.replace("/", "_").removesuffix(".html") + f"-{index}.png"
                        side_by_side(old[index], new[index], out / name)
                        row["picture"] = str(out / name)
                    rows.append(row)
        finally:
            driver.quit()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare_sites", description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--out", type=Path, default=Path("compare-sites"), help="where differing figures are drawn")
    parser.add_argument("--width", type=int, default=1100, help="the browser window's width (px)")
    args = parser.parse_args(argv)
    if not available():
        print("Chromium or chromedriver is missing", file=sys.stderr)
        return 1
    rows = run(args.before, args.after, args.out, args.width)
    same = 0
    for row in rows:
        if row.get("missing"):
            print(f"{row['page']} #{row['index']}: missing on one side")
        elif "hidden" in row:
            print(f"{row['page']} #{row['index']}: not shown (before, after): {row['hidden']}")
            same += row["hidden"] == (True, True)
        elif row["differ"]:
            print(f"{row['page']} #{row['index']}: {row['before']} → {row['after']}, {row['differ']:.2%} of pixels "
                  f"differ (largest {row['largest']}): {row['picture']}")
        else:
            same += 1
    print(f"{same} of {len(rows)} figures look the same (no pixel differs by more than 8 of 255; a figure shown on "
          "neither side, in a tab not chosen, counted as the same)")
    return 0 if same == len(rows) else 2


if __name__ == "__main__":
    raise SystemExit(main())
