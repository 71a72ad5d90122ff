"""The domain's own models: what a data source's settings and options are, what an import carries, what a
manual-data change asks for. Neutral ground: the services take these; `api/` declares its request models
on top of them (docs/architecture.md#layers); connectors read a source's options through the option
types declared here, once."""
