"""IAM enforcement in the embedded AWS: every request is authenticated and authorized.

moto's "IAM-like access control" (`INITIAL_NO_AUTH_ACTION_COUNT`, moto/core/authorization.py
and moto/iam/access_control.py) authenticates a request's signature against an IAM user's
access key or an assumed role's session credentials, then asks the caller's policies about the
action alone. Kept: the authentication (unknown key -> InvalidClientTokenId, bad signature ->
SignatureDoesNotMatch). Replaced: the decision, which here is IAM's (`policy.evaluate`) on the
resources and condition keys of the request (`actions.requests_of`), with each service's
AccessDenied error and AWS's message naming the principal, action and resource.

The local operator (the CLI, the tests, the stack's own provisioning) is an IAM user with
every right whose access key is the documented `testing` / `testing`, so clients keep working.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.messaging import LOCAL_ACCOUNT_ID
from shoppulse.local.iam.actions import Call, TaskDefinitionRoles, parse_params, requests_of
from shoppulse.local.iam.policy import Decision, PolicyDocument, Request, evaluate

OPERATOR_USER = "shoppulse-local-operator"
OPERATOR_KEY = ("testing", "testing")
_EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
# The JSON-protocol services' denial (`__type`); query-protocol SNS has its own code.
_JSON_DENIAL = "AccessDeniedException"
_QUERY_DENIALS = {"sns": "AuthorizationError"}

_LOCK = threading.Lock()
_state: dict[str, Callable[..., Any]] = {}
_encryption: dict[str, str] = {}  # resource ARN -> KMS key ARN (see shoppulse.local.iam.encryption)


def enforcing() -> bool:
    return "original" in _state


def enable(encrypted: Mapping[str, str] | None = None) -> None:
    """Authenticate and authorize every request from now on (process-wide, like moto's backends).

    `encrypted`: the resources whose use also needs their KMS key's (resource ARN -> key ARN)."""
    from moto.core.authorization import ActionAuthenticatorMixin

    _create_operator()
    _encryption.clear()
    _encryption.update(encrypted or {})
    with _LOCK:
        if enforcing():
            return
        _state["original"] = ActionAuthenticatorMixin._authenticate_and_authorize_action
        ActionAuthenticatorMixin._authenticate_and_authorize_action = _authorize  # type: ignore[method-assign,assignment]  # moto's hook, replaced while enforcing


def disable() -> None:
    from moto.core.authorization import ActionAuthenticatorMixin

    with _LOCK:
        original = _state.pop("original", None)
        _encryption.clear()
        if original is not None:
            ActionAuthenticatorMixin._authenticate_and_authorize_action = original  # type: ignore[method-assign]  # moto's own hook back


def _create_operator() -> None:
    """The operator's user and its `testing` key, straight in moto's IAM (no request to authorize)."""
    from moto.iam.models import iam_backends

    iam = iam_backends[LOCAL_ACCOUNT_ID]["aws"]
    if OPERATOR_USER in iam.users:
        return
    iam.create_user(region_name="us-east-1", user_name=OPERATOR_USER, path="/", tags=[])
    iam.put_user_policy(OPERATOR_USER, "everything", json.dumps(_EVERYTHING))
    key = iam.create_access_key(OPERATOR_USER)
    iam.access_keys.pop(key.access_key_id, None)
    key.access_key_id, key.secret_access_key = OPERATOR_KEY
    iam.access_keys[key.access_key_id] = key


def _authorize(response: Any, iam_request_cls: type, resource: str = "*") -> None:
    """Replaces `ActionAuthenticatorMixin._authenticate_and_authorize_action` (same arguments)."""
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.iam.access_control import IAMPolicy

    if response.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    path = response.raw_path + (f"?{response.uri.split('?', 1)[1]}" if "?" in response.uri else "")
    iam_request = iam_request_cls(
        account_id=response.current_account,
        method=response.method,
        path=path,
        data=response.data,
        body=response.raw_body,
        headers=response.headers,
        action=response._get_action(),
    )
    iam_request.check_signature()
    principal = iam_request._access_key.arn
    policies: list[PolicyDocument] = [IAMPolicy(p)._policy_json for p in iam_request._access_key.collect_policies()]
    call = _call(response, iam_request._action.split(":", 1)[1], resource)
    for request in requests_of(call):
        decision = evaluate(policies, request)
        if decision is not Decision.ALLOWED:
            raise _denied(call.service, principal, request, decision)


def _call(response: Any, action: str, resource: str) -> Call:
    query = dict(response.querystring or {})
    return Call(
        service=response.service_name,
        action=action,
        region=response.region,
        account=response.current_account,
        params=_s3_params(response.body, query)
        if response.service_name == "s3"
        else parse_params(response.body, query),
        resource=resource,
        query=query,
        headers=dict(response.headers),
        task_definition=lambda reference: _task_definition(response.current_account, response.region, reference),
        encryption_key=_encryption.get,
    )


def _s3_params(body: Any, query: Mapping[str, Any]) -> dict[str, Any]:
    """DeleteObjects (`POST /?delete`) names its objects in the body: the keys it deletes."""
    if "delete" not in query or not body:
        return {}
    from xml.etree import ElementTree

    text = body.decode() if isinstance(body, bytes) else str(body)
    root = ElementTree.fromstring(text)  # the caller's own request; moto parses it again
    return {"Keys": [e.text or "" for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Key"]}


def _task_definition(account: str, region: str, reference: str) -> TaskDefinitionRoles | None:
    from moto.ecs.exceptions import ECSException
    from moto.ecs.models import ecs_backends

    try:
        definition = ecs_backends[account][region].describe_task_definition(reference)
    except ECSException:  # an unknown definition: RunTask itself answers that
        return None
    return TaskDefinitionRoles(
        definition.arn, definition.task_role_arn, definition.execution_role_arn, tagged=bool(definition.tags)
    )


def denial_message(principal: str, request: Request, decision: Decision) -> str:
    """AWS's wording of a denied request."""
    why = (
        "with an explicit deny in an identity-based policy"
        if decision is Decision.EXPLICIT_DENY
        else f"because no identity-based policy allows the {request.action} action"
    )
    return f"User: {principal} is not authorized to perform: {request.action} on resource: {request.resource} {why}"


def _denied(service: str, principal: str, request: Request, decision: Decision) -> Exception:
    from moto.core.exceptions import JsonRESTError, _RESTError
    from moto.s3.exceptions import S3ClientError

    message = denial_message(principal, request, decision)
    if service == "s3":
        return S3ClientError("AccessDenied", message)
    if service in _QUERY_DENIALS:
        error = _RESTError(_QUERY_DENIALS[service], message)
    else:
        error = JsonRESTError(_JSON_DENIAL, message)
    error.code = 403
    return error


class AccessDenied(Exception):
    """A call the local runtime makes on behalf of a service (a pipe invoking its target)."""

    code = "AccessDeniedException"


def authorize_role(role_arn: str, request: Request) -> None:
    """IAM's decision for a role on a call no moto endpoint serves (Lambda Invoke by a pipe)."""
    from moto.iam.models import iam_backends

    iam = iam_backends[LOCAL_ACCOUNT_ID]["aws"]
    role = iam.get_role_by_arn(role_arn)
    policies = [json.loads(document) if isinstance(document, str) else document for document in role.policies.values()]
    decision = evaluate(policies, request)
    if decision is not Decision.ALLOWED:
        raise AccessDenied(denial_message(f"{role_arn} (assumed by the service)", request, decision))


def authorize_invocation(role_arn: str, function_arn: str) -> None:
    """Raise `AccessDenied` unless the caller's role may invoke the function (`lambda:InvokeFunction`)."""
    if enforcing():
        authorize_role(role_arn, Request("lambda:InvokeFunction", function_arn))


def invoked_by_role(role_arn: str, function_arn: str, invoke: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A target invocation that its caller's role must allow (`authorize_invocation`)."""

    def invoke_checked(event: Any) -> Any:
        authorize_invocation(role_arn, function_arn)
        return invoke(event)

    return invoke_checked
