"""SQLModel tables and the pure rules of the domain (no I/O here)."""
