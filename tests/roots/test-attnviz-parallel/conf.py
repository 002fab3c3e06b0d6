# Sphinx test root: enough documents for parallel reading and writing (-j 2).
project = "attnviz-parallel"
extensions = ["mkdocs_attnviz.sphinx"]
attnviz_defaults = {"model": "sentence-transformers/all-MiniLM-L6-v2"}
exclude_patterns = ["_build"]
