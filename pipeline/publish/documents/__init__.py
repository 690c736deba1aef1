"""Documents built from the data and the models: warehouse comments, dictionary, card, coverage, charts, report."""
