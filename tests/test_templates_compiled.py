"""Page templates compiled once per machine (Jinja's bytecode cache in this machine's state folder): a later
process loads them without compiling; an edited template, a damaged entry or a folder that cannot be made still
render what the template says."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

RENDER = textwrap.dedent("""
    import sys, jinja2
    from mkdocs_attnviz.toolkit import page
    if sys.argv[2] == "no-compiling":
        def refuse(*a, **k):
            raise AssertionError("compiled a template")
        jinja2.Environment.compile = refuse
    env = page._environment(sys.argv[1])
    print(env.get_template("t.jinja").render(name="<b>"), end="")
""")


def render(folder: Path, state: Path, mode: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, ATTNVIZ_STATE_DIR=str(state))
    return subprocess.run([sys.executable, "-c", RENDER, str(folder), mode], capture_output=True, text=True, env=env)


def test_templates_are_compiled_once_per_machine_and_follow_their_source(tmp_path):
    folder, state = tmp_path / "templates", tmp_path / "state"
    folder.mkdir()
    (folder / "t.jinja").write_text("Hello {{ name }}!", encoding="utf-8")
    first = render(folder, state)
    assert first.returncode == 0 and first.stdout == "Hello &lt;b&gt;!", first.stderr
    entries = list((state / "templates").glob("__jinja2_*.cache"))
    assert len(entries) == 1 and not list((state / "templates").glob("*.tmp"))

    # a later process: loaded from this machine's entry, nothing compiled
    later = render(folder, state, "no-compiling")
    assert later.returncode == 0 and later.stdout == first.stdout, later.stderr
    # the refusal does refuse: without the entry the same process fails
    assert render(folder, tmp_path / "other-machine", "no-compiling").returncode != 0

    # an edited template: its new text, never the compiled old one
    (folder / "t.jinja").write_text("Bye {{ name }}.", encoding="utf-8")
    assert render(folder, state).stdout == "Bye &lt;b&gt;."

    # a damaged entry is compiled again
    for entry in (state / "templates").glob("__jinja2_*.cache"):
        entry.write_bytes(entry.read_bytes()[:20])
    again = render(folder, state)
    assert again.returncode == 0 and again.stdout == "Bye &lt;b&gt;.", again.stderr

    # a state folder that cannot be made (a file in its place): compiled in memory, as before
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder", encoding="utf-8")
    none = render(folder, blocked)
    assert none.returncode == 0 and none.stdout == "Bye &lt;b&gt;.", none.stderr
