"""Urban–rural convergence indicators for Guangzhou and Guangdong: raw tables → DuckDB warehouse → Parquet releases."""
