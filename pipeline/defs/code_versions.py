"""Code versions of assets: the sha256 of their module and every pipeline module it imports, transitively."""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import dagster as dg

from pipeline.core.paths import PACKAGE_DIR

PACKAGE = "pipeline"


def with_code_versions(assets: list) -> list:
    """Give every computing asset a code version: the sha256 of its module's source and the pipeline modules it imports."""
    return [
        versioned(assets_def, module_code_version(compute_module(assets_def)))
        if isinstance(assets_def, dg.AssetsDefinition) and assets_def.is_materializable
        else assets_def
        for assets_def in assets
    ]


def versioned(assets_def: dg.AssetsDefinition, code_version: str) -> dg.AssetsDefinition:
    """The same asset definition with the given code version on every asset it computes."""
    return assets_def.map_asset_specs(lambda spec: spec.replace_attributes(code_version=code_version))


def compute_module(assets_def: dg.AssetsDefinition) -> str:
    """The module that defines an asset's compute function."""
    return assets_def.op.compute_fn.decorated_fn.__module__


@cache
def module_code_version(module_name: str) -> str:
    """A short sha256 over the source of a pipeline module and every pipeline module it imports, transitively."""
    digest = hashlib.sha256()
    for name in sorted(pipeline_imports(module_name)):
        digest.update(f"{name}\n".encode())
        digest.update(module_path(name).read_bytes())
    return digest.hexdigest()[:16]


def pipeline_imports(module_name: str, seen: set[str] | None = None) -> set[str]:
    """A pipeline module, the packages it sits in and the pipeline modules it imports, transitively (read, not run).

    Importing `pipeline.a.b` runs `pipeline/__init__.py` and `pipeline/a/__init__.py` first, and a package import
    (`from pipeline.a import b`) runs `pipeline/a/__init__.py`, whose own imports (its re-exports) are followed too.
    Only absolute imports are seen: relative ones are banned by the linter (ruff TID252).
    """
    seen = set() if seen is None else seen
    if module_name in seen or not module_path(module_name).is_file():
        return seen
    seen.add(module_name)
    parts = module_name.split(".")
    for depth in range(1, len(parts)):
        pipeline_imports(".".join(parts[:depth]), seen)
    for name in direct_imports(module_name):
        pipeline_imports(name, seen)
    return seen


def direct_imports(module_name: str) -> list[str]:
    """The pipeline modules a module's source imports, anywhere in it."""
    names = imported_names(module_path(module_name).read_text(encoding="utf-8"))
    return [name for name in names if name.split(".")[0] == PACKAGE and module_path(name).is_file()]


@cache
def imported_names(source: str) -> tuple[str, ...]:
    """The names a module's source imports (`a.b` and, for `from a.b import c`, `a.b.c`), parsed once per source."""
    names: list[str] = []
    for node in import_statements(ast.parse(source).body):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif node.module and node.level == 0:
            names.extend([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
    return tuple(dict.fromkeys(names))


def import_statements(statements: list) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements among these and in their bodies, at any depth (functions, classes, if, try, with…).

    Imports are statements: only statement bodies are visited, not the expressions (most of a module's nodes).
    """
    for statement in statements:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            yield statement
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(statement, field, None)
            if isinstance(children, list):
                yield from import_statements(children)


def module_path(module_name: str) -> Path:
    """The source file of a pipeline module: `<path>.py`, or `<path>/__init__.py` for a package."""
    folder = PACKAGE_DIR.joinpath(*module_name.split(".")[1:])
    return folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")
