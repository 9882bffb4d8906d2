"""Store protocols and their backends."""
