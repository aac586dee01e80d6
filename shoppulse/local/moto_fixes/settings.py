"""Settings, no patches: fixes 1, 2 and 11.

1. botocore >= 1.38 sends DynamoDB (Streams) calls to an account-based endpoint moto does not
   serve: in-process clients run with `AWS_ACCOUNT_ID_ENDPOINT_MODE=disabled`.
2. Step Functions only *stores* state machines unless moto's `execute_state_machine` option is
   on (it must be on before the state machine is created); its interpreter calls the other
   services at `localhost:$MOTO_PORT`, so MOTO_PORT must name the embedded server.
11. S3 uploads: botocore (>= 1.36) sends bodies aws-chunked with a trailing checksum, and moto
   decodes them by repeated bytes concatenation (`S3Response._handle_encoded_body`), which is
   quadratic: a 90 MiB PutObject took 5.5 s, 16 MiB 0.25 s. Clients of the embedded AWS compute
   checksums only where an API requires one (`AWS_REQUEST_CHECKSUM_CALCULATION=when_required`),
   so bodies go plain.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from moto.core.config import default_user_config

CLIENT_ENVIRONMENT: Mapping[str, str] = {
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
}


def configure_server_process(port: int) -> None:
    """Settings the in-process moto server needs; call before creating any state machine."""
    default_user_config["stepfunctions"]["execute_state_machine"] = True
    os.environ["MOTO_PORT"] = str(port)
    os.environ.update(CLIENT_ENVIRONMENT)
