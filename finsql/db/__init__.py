"""The database layer: schemas, opening databases and CSV folders, the read-only sandbox, results."""
