"""The local runtime: the whole pipeline on an embedded AWS (see docs/local-runtime.md).

`shoppulse up` builds a `stack.LocalStack`; every adaptation of moto is in `moto_fixes`.
"""

from pathlib import Path

# Where `shoppulse up` keeps task logs and the saved tables and buckets (relative to the
# directory it runs in; `make run` runs at the repository root, where .gitignore covers it).
DEFAULT_DATA_DIR = Path(".local-data")
