"""The documentation states every option and every setting the code accepts."""

from pathlib import Path

from mkdocs_attnviz.plugin import AttnvizConfig
from mkdocs_attnviz.spec import OPTIONS

ROOT = Path(__file__).resolve().parent.parent


def test_every_option_and_setting_is_documented():
    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for option in OPTIONS:
        assert f"| `{option}` |" in reference, option
        assert f"| `{option}` |" in readme, option
    for key, _ in AttnvizConfig._schema:
        assert f"| `{key}` |" in reference, key
        assert f"| `{key}` |" in readme, key


def test_every_render_flag_is_named_in_the_cli_docs():
    cli = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name, option in OPTIONS.items():
        assert f"`{option.flag(name)}`" in cli, name
