"""Utilities that train nothing: atomic writes, the allocator, provenance."""
