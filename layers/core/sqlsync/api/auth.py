"""The caller's account, as the HTTP API's Lambda authorizer vouched for it (functions/authorizer)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.exceptions import UnauthorizedError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2


def caller_account(event: APIGatewayProxyEventV2) -> int:
    """The account of the API key the request was authorized with. Without the authorizer's context (a
    route deployed without the authorizer) nobody is trusted: 401, never a default account."""
    context = event.request_context.authorizer.get_lambda or {}
    account = context.get("account_id")
    if isinstance(account, bool) or not isinstance(account, int | str) or not str(account).isdigit():
        raise UnauthorizedError("no account: call with Authorization: Bearer <API key>")
    return int(account)
