"""The direct path: the group-commit writer, and the writer process that runs it for a SQLite
database, with its client (the API workers' sink) and the wire between them."""
