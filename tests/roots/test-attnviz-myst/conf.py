# Sphinx test root: the attnviz directive in MyST Markdown.
project = "attnviz-myst"
extensions = ["myst_parser", "mkdocs_attnviz.sphinx"]
attnviz_defaults = {"model": "sentence-transformers/all-MiniLM-L6-v2"}
exclude_patterns = ["_build"]
