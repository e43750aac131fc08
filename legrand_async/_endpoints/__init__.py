"""Endpoint classes generated from the route table (``scripts/generate_endpoints.py``)."""
