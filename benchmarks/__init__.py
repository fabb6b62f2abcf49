"""Benchmarks of the project's own code: the training step (step), the input pipeline (data), the schedule
explorer (explorer) and a run's start-up (startup). A layer above engine/ and explorer/; scripts/bench*.py call them."""
