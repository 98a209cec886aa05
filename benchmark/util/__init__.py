"""Utilities that train nothing: atomic writes, a lock that names its holder, log files on a full disk, the
allocator, provenance."""
