"""Config keys that change nothing about what a run trains or measures, and the flat view of a config.

One list, shared by everything that asks "is this the same experiment?": resuming a run (these
keys may change between the start and the continuation) and comparing runs (runs that differ only
in these keys and the seed are seeds of one setting). Oneflow-free, so scripts import it cheaply.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

# Logging, progress display, checkpoint cadence, where the data lives and which device runs it:
# none of them alters the trained model or its measured accuracy.
# The ones a refused resume names (besides the data paths), in this order:
RESUME_MAY_CHANGE = (
    "device", "trainer.progress", "trainer.log_every_n_steps", "trainer.checkpoint_every_n_steps",
    "trainer.keep_last", "trainer.strict_resume",
)
DATA_PATH_KEYS = ("data.dataset.root", "data.dataset.url", "data.dataset.download", "data.dataset.md5")
HARMLESS_KEYS = (
    "resume", *RESUME_MAY_CHANGE, "trainer.acc1_thresholds", "data.eval_batch_size", *DATA_PATH_KEYS,
    "optimized_metric",
)
# Keys added to the config after runs were made with it, and the value that means what those runs did: a run saved
# without the key is the same experiment as one with this value (resume, fork and finished-run checks).
ADDED_LATER = {"backend": "oneflow", "trainer.val_every_n_steps": 0}
# The harmless keys left out of sweep job directory names (conf/config.yaml reads them through the
# `${job_name_excluded_keys:}` resolver, engine/config/resolvers.py): how the run is watched, where it runs.
JOB_NAME_EXCLUDED_KEYS = ("trainer.progress", "trainer.log_every_n_steps", "device", "data.dataset.root")


def is_under(key: str, prefixes: Iterable[str]) -> bool:
    """True when `key` is one of `prefixes` or a key inside one of them (`data.dataset.root` is under `data.dataset`)."""
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def is_harmless(key: str) -> bool:
    return is_under(key, HARMLESS_KEYS)


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """{dotted key: leaf value} of a nested dict (lists are leaves; an empty dict is a leaf `{}`)."""
    if isinstance(node, dict):
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat or {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def hydra_quote(value: str) -> str:
    """`value` as a quoted Hydra override value that parses back to exactly the string `value` (`=`, `,`, quotes, ...)."""
    # In a quoted value only backslashes right before a quote (or the closing one) need doubling.
    escaped = re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), value)
    return "'" + escaped.replace("${", "\\${") + "'"
