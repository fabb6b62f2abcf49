"""What several test modules share: small runs of train.py, readers of what they leave, fixture writers.

Plain modules, never test modules: a test module imports from here (or takes a conftest fixture), never from
another test module."""
