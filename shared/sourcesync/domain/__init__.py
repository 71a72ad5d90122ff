"""The domain's own models: what a data source's settings and options are, what an import carries, what a
manual-data change asks for. Neutral ground: the services take these; `api/` declares its request models
on top of them (docs/architecture.md#layers); the connectors' options model is to take its option types
from `domain/sources.py` too, so that each option is declared once."""
