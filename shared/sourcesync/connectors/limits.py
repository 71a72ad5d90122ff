"""Providers' request limits as data, and the safe defaults SourceSync uses for them.

A re-sync shares the provider's quota with the customer's own live traffic, so the defaults sit below
the published limits (about 80% of the lowest published tier). A source's `requests_per_second` option
overrides the rate; the burst is then capped so that a full bucket plus one second of refill stays
within roughly one second's worth of the chosen rate.

Figures are the providers' published limits (the `published` text of each row); add a row when a provider
gets a connector.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """A token-bucket budget: `requests_per_second` refill, at most `burst` requests at once."""

    requests_per_second: float
    burst: float
    published: str = ""

    def __post_init__(self) -> None:
        if self.requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")

    def with_rate(self, requests_per_second: float | None) -> RateLimit:
        """This limit with another rate (a source's override); the burst never exceeds the rate."""
        if requests_per_second is None:
            return self
        burst = max(1.0, min(self.burst, requests_per_second))
        return RateLimit(requests_per_second, burst, self.published)


#: Default budgets per system id (`systems.System`). Systems absent here have no connector yet.
PROVIDER_RATE_LIMITS: dict[str, RateLimit] = {
    # 25 req/s in test mode, 100 in live mode, 25/s per endpoint by default. 20/s with a burst of 5
    # never exceeds 25 in any one second, in either mode, and leaves most of a live quota to the
    # customer's own traffic.
    "stripe": RateLimit(20.0, 5.0, "100/s live, 25/s test mode, 25/s per endpoint"),
    # 150 to 3,500 requests per minute depending on the plan: assume the lowest.
    # chargebee.com/docs/2.0/site-configuration/articles-and-faq/what-are-the-chargebee-api-limits.html
    "chargebee": RateLimit(2.0, 2.0, "150-3,500/min by plan"),
    "chargebee_v1": RateLimit(2.0, 2.0, "150-3,500/min by plan"),
    # recurly.com/developers/api/v2021-02-25 ("Rate limits"): 1,000 GET requests a minute.
    "recurly": RateLimit(13.0, 5.0, "1,000 GET/min"),
    # Braintree publishes no figure, only 429 TooManyRequestsError (developer docs: "Exceptions", Python SDK).
    "braintree": RateLimit(5.0, 3.0, "none published; 429 when too many"),
    # PayPal publishes no figure either: 429 RATE_LIMIT_REACHED (developer docs: "Rate limiting guidelines").
    "paypal": RateLimit(5.0, 3.0, "none published; 429 RATE_LIMIT_REACHED"),
    "paddle": RateLimit(3.0, 2.0, "240/min per IP"),
    "hubspot": RateLimit(8.0, 4.0, "100-190 per 10 s"),
    "intercom": RateLimit(130.0, 10.0, "10,000/min"),
    # developer.gocardless.com/api-reference ("Making requests: Rate limiting"): 1,000 requests a minute.
    "gocardless": RateLimit(13.0, 5.0, "1,000/min"),
    # Also at most 5 concurrent requests per organisation: give Xero sources at most 5 workers.
    "xero": RateLimit(0.8, 1.0, "60/min, 5 concurrent per organisation"),
}
