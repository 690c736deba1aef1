"""Command line: `python -m pipeline.connectors fetch [--config connectors.yaml] [--raw-dir raw] [--source KEY…]`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pipeline.connectors.config import load_connectors_config
from pipeline.connectors.fetch import fetch_all
from pipeline.core.errors import InputError
from pipeline.core.paths import folders_from_environment


def main(argv: list[str] | None = None) -> int:
    """Fetch the enabled sources; print one line per source; exit 1 on WARN only with --strict."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.connectors", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help="fetch new editions of the enabled sources into raw/")
    fetch.add_argument("--config", type=Path, default=None, help="configuration file (default: connectors.yaml)")
    fetch.add_argument("--raw-dir", type=Path, default=None, help="raw folder (default: PIPELINE_RAW_DIR or raw/)")
    fetch.add_argument("--source", action="append", default=None, help="fetch only this source (repeatable)")
    fetch.add_argument("--force", action="store_true", help="fetch even when a source is not due yet")
    fetch.add_argument("--strict", action="store_true", help="exit with status 1 when any source gives a WARN")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    try:
        config = load_connectors_config(arguments.config)
    except InputError as error:
        print(f"connectors configuration is invalid:\n{error}", file=sys.stderr)
        return 2
    raw_dir = arguments.raw_dir or folders_from_environment().raw_path
    if not config.enabled_sources:
        print(f"no connectors enabled in {config.path}; nothing fetched (see docs/source_connectors.md)")
        return 0
    unknown = sorted(set(arguments.source or []) - {source.key for source in config.enabled_sources})
    if unknown:
        print(f"not an enabled source in {config.path}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    reports = fetch_all(config, raw_dir, only=arguments.source, force=arguments.force)
    for report in reports:
        print(f"{report.status.upper():12} {report.source}: {report.message}")
    warned = [report for report in reports if report.status == "warn"]
    return 1 if warned and arguments.strict else 0


if __name__ == "__main__":
    sys.exit(main())
