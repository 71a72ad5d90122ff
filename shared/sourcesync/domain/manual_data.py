"""Manual data's changes (merges, connected subscriptions, MRR edits) as the services take them; the
API's request models reuse these (docs/api.md#manual-data)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sourcesync import fields

UuidField = Annotated[fields.ExternalId, Field(max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CustomerRef(_Strict):
    """A customer by `customer_uuid`, or by its source's natural keys (`data_source_uuid`, `external_id`)."""

    customer_uuid: UuidField | None = None
    data_source_uuid: UuidField | None = None
    external_id: fields.ExternalId | None = None

    @model_validator(mode="after")
    def _one_way(self) -> CustomerRef:
        keys = (self.data_source_uuid, self.external_id)
        if self.customer_uuid is not None and keys != (None, None):
            raise ValueError("give either customer_uuid, or data_source_uuid and external_id, not both")
        if self.customer_uuid is None and None in keys:
            raise ValueError("give customer_uuid, or both data_source_uuid and external_id")
        return self


class Merge(_Strict):
    """Merge the customer `from` into the customer `into`."""

    from_: CustomerRef = Field(alias="from")
    into: CustomerRef


class SubscriptionRef(_Strict):
    """A subscription by (`data_source_uuid`, `uuid`) or (`data_source_uuid`, `external_id`)."""

    data_source_uuid: UuidField
    uuid: UuidField | None = None
    external_id: fields.ExternalId | None = None

    @model_validator(mode="after")
    def _one_way(self) -> SubscriptionRef:
        if (self.uuid is None) == (self.external_id is None):
            raise ValueError("give either uuid or external_id")
        return self


class SubscriptionSet(_Strict):
    """The subscriptions to connect to (or disconnect from) a customer."""

    subscriptions: list[SubscriptionRef] = Field(min_length=1, max_length=50)


class MrrEdit(_Strict):
    """An MRR (integer cents) for a subscription from `from` to `to` (inclusive; null: from then on)."""

    mrr: fields.NonNegativeCents
    from_: date = Field(alias="from")
    to: date | None = None
