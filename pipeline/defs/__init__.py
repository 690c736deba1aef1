"""Every Dagster object of the pipeline, one module per asset group; assembled by pipeline.definitions."""
