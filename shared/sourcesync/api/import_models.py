"""The Import API's request models (docs/api.md#import-api-custom-sources): the domain's import models
(`sourcesync.domain.imports`) under the names the OpenAPI document gives them."""

from __future__ import annotations

from sourcesync.domain.imports import MAX_RECORDS, CustomersImport, InvoicesImport, PlansImport

__all__ = ["MAX_RECORDS", "ImportCustomersRequest", "ImportInvoicesRequest", "ImportPlansRequest"]


class ImportCustomersRequest(CustomersImport):
    pass


class ImportPlansRequest(PlansImport):
    pass


class ImportInvoicesRequest(InvoicesImport):
    pass
