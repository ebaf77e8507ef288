"""The merge queue (DESIGN 8): batches with bisection, conflicts back to their author, and the
conflict matrix that orders the landings."""
