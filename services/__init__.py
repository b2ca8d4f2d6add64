"""Read models that combine queries, domain rules and views (results, stats, recount)."""
