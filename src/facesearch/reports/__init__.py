"""Reports of searches for people to read (HTML)."""
