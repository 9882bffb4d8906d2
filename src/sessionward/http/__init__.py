"""The HTTPS edge: maps requests to services and domain errors to responses."""
