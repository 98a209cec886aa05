"""Utilities that train nothing: atomic writes, a lock that names its holder, the allocator, provenance."""
