"""Orchestration: one class per use-case family; core/ decides, stores/ remember."""
