"""Analysis of an experiment run: statistics against the random seeds, selection cost, plots, report."""
