"""`reprocess` (docs/api.md#the-support-role): rebuild derived data from the records already stored, without
asking the provider: subscriptions derived from invoices (custom sources) and the source's counts."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sourcesync.derived import derive_subscription
from sourcesync.pipeline.context import JobContext, ensure_live
from sourcesync.records import InvoiceRecord, RecordKind, SubscriptionRecord
from sourcesync.services.customers import view_of
from sourcesync.store import work_items
from sourcesync.store.records import Version, encode, get_record_store, uuid_for
from sourcesync.store.sources import get_source_store


def reprocess(job: JobContext) -> dict[str, Any]:
    source = ensure_live(job)
    view = view_of(source)
    if view is None:
        work_items.write(job.job_id, "COUNTS", {"counts": {}, "rebuilt": 0})
        return {"rebuilt": 0}
    store = get_record_store()
    records = store.all_visible(job.data_source_uuid, view)
    rebuilt = 0
    if source["system"] == "custom":
        rebuilt = _rebuild_subscriptions(job, records, view.generation)
        records = store.all_visible(job.data_source_uuid, view)
    counts = Counter(r.kind.value for r in records)
    full = {kind.value: counts.get(kind.value, 0) for kind in RecordKind}
    get_source_store().update(job.account_id, job.data_source_uuid, {"counts": full})
    work_items.write(job.job_id, "COUNTS", {"counts": full, "rebuilt": rebuilt})
    return {"rebuilt": rebuilt}


def _rebuild_subscriptions(job: JobContext, records: list[Any], generation: int) -> int:
    lines: dict[tuple[str, str], list[tuple[Any, str, Any]]] = {}
    for stored in records:
        if isinstance(stored.record, InvoiceRecord):
            invoice = stored.record
            for line in invoice.line_items:
                if (
                    line.type == "subscription"
                    and line.subscription_external_id
                    and line.service_period_start
                    and line.service_period_end
                ):
                    lines.setdefault((invoice.customer_external_id, line.subscription_external_id), []).append(
                        (invoice.date, invoice.currency, line)
                    )
    current = {s.uuid: s.record for s in records if isinstance(s.record, SubscriptionRecord)}
    versions = []
    for (customer, subscription), entries in lines.items():
        record = derive_subscription(customer, subscription, entries)
        uuid = uuid_for(job.account_id, job.data_source_uuid, RecordKind.SUBSCRIPTIONS, subscription)
        existing = current.get(uuid)
        if existing is not None and encode(existing)[1] == encode(record)[1]:
            continue
        owner = uuid_for(job.account_id, job.data_source_uuid, RecordKind.CUSTOMERS, customer)
        versions.append(
            Version(
                kind=RecordKind.SUBSCRIPTIONS,
                uuid=uuid,
                customer_uuid=owner,
                external_id=subscription,
                generation=generation,
                record=record,
            )
        )
    return get_record_store().write(job.data_source_uuid, versions)
