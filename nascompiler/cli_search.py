"""Search commands (filled in by the search runtime)."""
