"""Versioned Parquet releases: versions, writing, verification and the changes since the previous release."""
