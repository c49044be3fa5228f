"""One package per AWS service: a provider (one method per operation) and its store."""
