"""Built-in engine adapters; each imports its library lazily, inside create_engine."""
