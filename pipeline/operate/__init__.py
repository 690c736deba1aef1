"""The processes a person or cron starts: the command line, the in-process run and the nightly run."""
