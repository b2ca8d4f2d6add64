"""What the outside sees: request/response schemas, templates and static files."""
