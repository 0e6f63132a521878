"""What the gallery holds: sources, the catalog (source of truth), the vector indexes derived
from it, and ingest (``ingest``; ``run_lease``: which process holds a run, and whether it is
gone)."""
