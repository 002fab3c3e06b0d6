# Sphinx test root: the attnviz directive in reStructuredText (models and cache_dir come from the tests).
project = "attnviz-basic"
extensions = ["mkdocs_attnviz.sphinx"]
attnviz_defaults = {"model": "sentence-transformers/all-MiniLM-L6-v2"}
exclude_patterns = ["_build"]
