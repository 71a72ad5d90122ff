"""`fetch_customer`: a customer re-sync's one fetch (no partitions, no Map)."""

from __future__ import annotations

from typing import Any

from sourcesync.clock import now_iso
from sourcesync.pipeline.context import CUSTOMER_KINDS, JobContext, ensure_live
from sourcesync.pipeline.steps.fetching import PartitionRun, version_for
from sourcesync.records import RECORD_MODEL, RecordKind
from sourcesync.services import connections
from sourcesync.store import work_items
from sourcesync.store.manifests import Manifest, get_manifest_store
from sourcesync.store.records import Version, get_record_store

KIND_OF_MODEL = {model: kind for kind, model in RECORD_MODEL.items()}


def fetch_customer(job: JobContext) -> dict[str, Any]:
    """Re-sync one customer (docs/architecture.md#concepts): fetch its records, write what changed and
    tombstones for what vanished into the new generation, whose manifests are the committed ones with this
    customer's entries overridden. Every other record stays valid as it is, so the commit switches this
    customer atomically."""
    assert job.generation is not None and job.previous_generation is not None and job.customer_uuid
    source = ensure_live(job)
    records = connections.connector_for(source).fetch_customer(job.customer_external_id or "")
    manifests, store = get_manifest_store(), get_record_store()
    if work_items.read(job.job_id, "COPIED") is None:
        manifests.copy_generation(job.account_id, job.data_source_uuid, job.previous_generation, job.generation)
        work_items.write(job.job_id, "COPIED", {"at": now_iso()})
    counts = {k: int(v) for k, v in (source.get("counts") or {}).items()}
    written = removed_total = 0
    for kind in CUSTOMER_KINDS:
        old = manifests.load(job.account_id, job.data_source_uuid, job.previous_generation, kind.value)
        mine = {
            u
            for u, e in old.items()
            if (u == job.customer_uuid if kind is RecordKind.CUSTOMERS else e.customer_uuid == job.customer_uuid)
        }
        run = PartitionRun(job=job, partition={"kind": kind.value, "key": kind.value}, old=old, checkpoint={})
        fresh: Manifest = {}
        versions: list[Version] = []
        for record in (r for r in records if KIND_OF_MODEL[type(r)] is kind):
            uuid, entry, version = version_for(run, record, job.generation)
            fresh[uuid] = entry
            if version is not None:
                versions.append(version)
        gone = mine - set(fresh)
        versions += [
            Version(
                kind=kind,
                uuid=uuid,
                customer_uuid=old[uuid].customer_uuid,
                external_id="",
                generation=job.generation,
                record=None,
            )
            for uuid in gone
        ]
        written += store.write(job.data_source_uuid, versions)
        manifests.put_override(
            job.account_id, job.data_source_uuid, job.generation, kind.value, f"customer-{job.job_id}", fresh, gone
        )
        if kind is RecordKind.SUBSCRIPTIONS:
            owners: dict[str, str | None] = {uuid: entry.customer_uuid for uuid, entry in fresh.items()}
            owners.update(dict.fromkeys(gone))
            manifests.put_owners(job.account_id, job.data_source_uuid, job.generation, owners)
        counts[kind.value] = counts.get(kind.value, 0) - len(gone) + len(set(fresh) - set(old))
        removed_total += len(gone)
    work_items.write(job.job_id, "COUNTS", {"counts": counts, "vanished": removed_total})
    return {"written": written, "vanished": removed_total}
