"""Reading many runs as one experiment: which runs are seeds of one setting, and what their numbers support."""
