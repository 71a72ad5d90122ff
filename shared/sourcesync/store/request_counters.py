"""Per-account request counters of the API's rate limit, in the idempotency table's key space.

One item per account and window: ``id=RATE#<account_id>#<window start, epoch seconds>``, ``n`` (requests
counted) and ``expiration`` (the table's TTL attribute, so DynamoDB removes old windows by itself). The
idempotency table fits: it already holds short-lived per-request bookkeeping with a TTL, and every function
behind the HTTP API may already write to it. Its other items are Powertools' (``id=<function>#<hash>``), so
the ``RATE#`` prefix cannot collide with them, and the purge's filtered scan (on ``data``) never matches a
counter.
"""

from __future__ import annotations

from sourcesync.config import get_settings
from sourcesync.store.dynamo import ddb, is_condition_failure, to_item

#: How long a window's item outlives its window (TTL deletion is lazy: this only bounds what is kept).
EXPIRY_SLACK_SECONDS = 60


class RequestCounterStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    def count(self, account_id: str, window_start: int, window_seconds: int, limit: int) -> bool:
        """Count one request in the account's window unless it already holds `limit`; True if counted.

        One UpdateItem, counted or refused (a refused one is a failed condition, which DynamoDB bills as
        one write too): at most one small write per request.
        """
        try:
            ddb().update_item(
                TableName=self.table,
                Key=to_item({"id": f"RATE#{account_id}#{window_start}"}),
                UpdateExpression="ADD #n :one SET #expiration = if_not_exists(#expiration, :expiration)",
                ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
                ExpressionAttributeNames={"#n": "n", "#expiration": "expiration"},
                ExpressionAttributeValues=to_item(
                    {
                        ":one": 1,
                        ":limit": limit,
                        ":expiration": window_start + window_seconds + EXPIRY_SLACK_SECONDS,
                    }
                ),
            )
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        return True


def get_request_counter_store() -> RequestCounterStore:
    return RequestCounterStore(get_settings().idempotency_table)
