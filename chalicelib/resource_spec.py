"""What every named AWS resource of ours has: a CloudFormation id, a local name, and the
environment variable that carries its deployed (stage-suffixed) name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.settings import setting


@dataclass(frozen=True)
class ResourceSpec:
    logical_id: str
    default_name: str
    env_var: str

    def name(self, environ: Mapping[str, str] | None = None) -> str:
        """The deployed name: from the environment in the cloud (required there), the default locally."""
        return setting(self.env_var, self.default_name, environ)
