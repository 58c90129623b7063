"""The HTTP API's Lambda authorizer: `Authorization: Bearer <API key>` -> the key's account, or refused.

Simple responses (payload 2.0): API Gateway answers 403 itself when isAuthorized is false, and hands the
context ({"account_id", "key_id"}) to the function as requestContext.authorizer.lambda. It caches each
answer per Authorization header for ReauthorizeEvery seconds (template.yaml), so a revoked key stops
working within that time plus this function's own cache.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerEventV2,
    APIGatewayAuthorizerResponseV2,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from sqlsync.accounts import ApiKeys, bearer_token
from sqlsync.models.accounts import ApiKey
from sqlsync.settings import Settings
from sqlsync.store.dynamodb import DynamoDBConfigStore
from sqlsync.sync.cache import TtlCache

logger = Logger()
_keys: ApiKeys | None = None
_cache: TtlCache[str, ApiKey | None] | None = None


def lookup(key: str) -> ApiKey | None:
    global _keys, _cache
    if _keys is None or _cache is None:
        settings = Settings.from_env()
        _keys = ApiKeys(DynamoDBConfigStore(settings.config_table))
        _cache = TtlCache(settings.config_cache_seconds)
    return _cache.get(key, _keys.lookup)


@logger.inject_lambda_context
@event_source(data_class=APIGatewayAuthorizerEventV2)
def lambda_handler(event: APIGatewayAuthorizerEventV2, context: LambdaContext) -> dict[str, Any]:
    key = bearer_token(event.headers.get("authorization"))
    found = lookup(key) if key else None
    if found is None:
        logger.info("refused", extra={"route": event.route_key, "reason": "no such key" if key else "not a bearer key"})
        return APIGatewayAuthorizerResponseV2(authorize=False).asdict()
    return APIGatewayAuthorizerResponseV2(
        authorize=True, context={"account_id": found.account_id, "key_id": found.id}
    ).asdict()
