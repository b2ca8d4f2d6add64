"""Thin FastAPI routers, one per resource: parse, call a query or service, return."""
