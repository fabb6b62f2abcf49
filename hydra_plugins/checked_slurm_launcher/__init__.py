"""`hydra/launcher=slurm`: hydra-submitit-launcher's SlurmLauncher with preflight, requeue at a step boundary,
finish-only re-runs and Ctrl-C handling (see checked_slurm_launcher.py and docs/slurm.md)."""
