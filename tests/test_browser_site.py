"""A built MkDocs site in real headless Chromium, served under a GitHub-Pages-like sub-path."""

import numpy as np
import pytest

from browser import chromium, console_errors, requested_urls, screenshot_array, wait_for  # noqa: F401
from serving import serve_folder

pytestmark = pytest.mark.browser


@pytest.fixture
def served_site(site):
    site.page("index.md", "# Home\n\nSee [the guide](guide/deep/page.md).\n")
    site.page("guide/deep/page.md", '''
        # Deep page

        ```attnviz layer="last" head="0" caption="Head 0 of the last layer"
        The cat sat on the mat because it was tired.
        ```
        ''')
    # Material without Google Fonts: then any request that leaves the site would be ours
    site.config(site_url="http://127.0.0.1/project/sub/", extra="theme:\n  name: material\n  font: false")
    site.build(strict=True)
    # Serve the parent of a "project/sub" folder, so the site lives under a sub-path as on GitHub Pages.
    root = site.root / "www"
    (root / "project").mkdir(parents=True)
    (root / "project" / "sub").symlink_to(site.site, target_is_directory=True)
    server = serve_folder(root)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/project/sub/"
    finally:
        server.shutdown()


def _frame_pixels(driver):
    box = driver.execute_script(
        "const r = document.querySelector('iframe.attnviz-frame').getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height];")
    x, y, w, h = (int(v) for v in box)
    return screenshot_array(driver)[y:y + h, x:x + w]


def test_figure_draws_switches_and_stays_on_site(chromium, served_site):
    driver = chromium
    requested_urls(driver), console_errors(driver)  # clear the logs
    driver.get(served_site + "guide/deep/page/")
    driver.execute_script("document.querySelector('iframe.attnviz-frame').scrollIntoView()")
    frame = wait_for(driver, "document.querySelector('iframe.attnviz-frame')")
    driver.switch_to.frame(frame)
    wait_for(driver, "window.Attnviz?.ready === true")
    # the heatmap canvas is drawn: many distinct colours in the plot area
    wait_for(driver, "document.querySelector('#attnviz-plot') !== null")
    driver.switch_to.default_content()
    before = _frame_pixels(driver)
    assert before.size and len(np.unique(before.reshape(-1, 3), axis=0)) > 50

    driver.switch_to.frame(frame)
    driver.execute_script("const s = document.getElementById('attnviz-head'); s.value = 'mean';"
                          "s.dispatchEvent(new Event('change', {bubbles: true}));")
    driver.switch_to.default_content()
    import time

    time.sleep(0.5)
    after = _frame_pixels(driver)
    assert after.shape == before.shape
    assert np.abs(after.astype(int) - before.astype(int)).sum(axis=2).astype(bool).mean() > 0.02

    assert console_errors(driver) == []
    urls = [u for u in requested_urls(driver) if not u.startswith(("data:", "blob:", "about:"))]
    assert urls and all(u.startswith(served_site) for u in urls), urls
