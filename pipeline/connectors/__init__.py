"""Source connectors: fetch new editions from official publishers into immutable raw/ snapshots with sidecars."""

from pipeline.connectors.fetch import FetchReport, fetch_all

__all__ = ["FetchReport", "fetch_all"]
