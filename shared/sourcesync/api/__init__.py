"""The HTTP API: request and response models, the resolver with its error mapping, the routes."""
