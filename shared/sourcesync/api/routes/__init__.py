"""Routers, grouped by resource; each function behind the API includes the ones it serves."""
