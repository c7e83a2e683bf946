"""Reading the store for people: status, reports, what changed, and retrieving copies."""
