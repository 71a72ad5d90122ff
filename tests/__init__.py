"""SourceSync's tests. A regular package: a dependency of paypal-server-sdk (apimatic-core) installs a
top-level `tests` package into site-packages, which would otherwise shadow this one."""
