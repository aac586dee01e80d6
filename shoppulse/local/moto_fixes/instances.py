"""Every service: fix 22 (moto does not keep a reference to every model instance it made).

22. moto's `BaseModel.__new__` appends every instance of every model to its class's
   `instances_tracked` list (moto/core/common_models.py), for the moto server's dashboard
   (`moto.core.model_instances`): every S3 object version, every DynamoDB item written, replaced
   or deleted, every execution, kept alive for the life of the process. The embedded AWS and the
   local stack never serve that dashboard, and they run for a feed of hundreds of files or a
   `shoppulse up` of weeks: the list grew them by about 3 MiB per feed file (2.3 GiB after 400
   files, docs/benchmark-notes.md). The fix makes new instances untracked; what the backends
   store is unchanged, since they hold their own references. No upstream issue found.
"""

from __future__ import annotations

from typing import Any

from shoppulse.local.moto_fixes.patching import replace


def _untracked(cls: type, *args: Any, **kwargs: Any) -> Any:
    """`BaseModel.__new__` without the dashboard's reference to the new instance."""
    return object.__new__(cls)


def apply() -> None:
    """Idempotent: the embedded AWS (`shoppulse.embedded`) and the local stack both apply it."""
    from moto.core.common_models import BaseModel
    from moto.core.model_instances import reset_model_data

    replace(BaseModel, "__new__", staticmethod(_untracked))
    reset_model_data()  # what was tracked before the fix applied
