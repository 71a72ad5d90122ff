"""Field types for everything a caller sends: strict shapes that a request model (HTTP body, query
string, Import API record) is built from, so that one rule holds everywhere.

* Strings hold no control characters (C0, DEL, C1): they would break logs, CSV exports and terminals.
* Currencies are ISO 4217 codes in force (the list below, ISO 4217 amendment 179).
* Amounts in cents stay within `MAX_CENTS` in absolute value, so that MRR arithmetic over a customer's
  lines (sums of thousands of amounts times quantities) stays exact in 64-bit integers and in the
  float64 the JSON clients of the API parse numbers into.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

#: |amount| ≤ 10^13 cents (100 billion in the currency's major unit).
MAX_CENTS = 10**13
MAX_QUANTITY = 1_000_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

#: ISO 4217 alphabetic codes of currencies in force (funds and precious metals included, since
#: billing systems pass them through; XXX and XTS, "no currency" and "testing", excluded).
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
    BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB
    EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR
    MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB
    RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
    TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG
    XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL
    """.split()  # noqa: SIM905 (a table reads better than 180 quoted strings)
)


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _currency_code(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _iso_4217(value: str) -> str:
    if value not in ISO_4217:
        raise ValueError("must be an ISO 4217 currency code, such as USD or EUR")
    return value


def text(min_length: int = 0, max_length: int = 500) -> Any:
    """A string of `min_length`..`max_length` characters without control characters."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length), AfterValidator(_no_control_characters)]


#: A name shown to people (data sources, customers, plans).
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_control_characters)]
#: An id that a provider or an Import API caller chose.
ExternalId = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_no_control_characters)]
#: A three-letter ISO 4217 code; lower case is accepted and upper-cased.
Currency = Annotated[
    str,
    BeforeValidator(_currency_code),
    Field(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$"),
    AfterValidator(_iso_4217),
]
#: An amount in cents (negative for credits and refunds).
Cents = Annotated[int, Field(ge=-MAX_CENTS, le=MAX_CENTS)]
#: An amount in cents that cannot be negative (MRR, discounts).
NonNegativeCents = Annotated[int, Field(ge=0, le=MAX_CENTS)]
Quantity = Annotated[int, Field(ge=0, le=MAX_QUANTITY)]
#: Free text of a record a caller imports (an email, a company), at most 500 characters.
Text = Annotated[str, Field(max_length=500), AfterValidator(_no_control_characters)]
#: The name of an imported record (a customer, a plan): 1 to 500 characters.
RecordName = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_no_control_characters)]
