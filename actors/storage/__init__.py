"""Storage actors: the source of truth for task state (memory or Redis)."""
