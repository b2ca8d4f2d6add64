"""Engine, sessions, queries and Alembic migrations: all SQL lives here."""
