"""What the gallery holds: sources, the catalog (source of truth), the vector indexes derived
from it, and ingest."""
