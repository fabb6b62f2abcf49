"""Wrong keys and choices on train.py's command line, named with what was probably meant ("did you mean").

Hydra's own message for `scheduler.lr=0.05` advises `+scheduler.lr=0.05`, which the schema then refuses (nothing
reads scheduler.lr), and a typo such as `scheduler=cosin` gets the list of options but no nearest one.
`check_overrides(argv)` runs before Hydra parses the command line: a choice that is no file of its config
group, or a key the composed config lacks, is one ConfigError naming the closest valid names (difflib), and
a key that lives in another group (`lr` is `optimizer.lr`) is named as that key.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Iterable, Optional

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError
from engine.config.compose import CONF, compose_config, is_override


def config_groups(conf: Path = CONF) -> dict[str, list[str]]:
    """{group: its choices} of conf/ (hydra's own groups left out: Hydra names those)."""
    return {folder.name: sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("_"))
            for folder in sorted(conf.iterdir()) if folder.is_dir() and folder.name != "hydra"}


def all_keys(cfg: DictConfig) -> list[str]:
    """Every dotted key of `cfg`, inner nodes included (`trainer`, `trainer.max_epochs`), hydra's left out."""
    keys: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, DictConfig):
            for key in node.keys():
                keys.append(f"{prefix}{key}")
                walk(node._get_node(key), f"{prefix}{key}.")

    walk(cfg, "")
    return [k for k in keys if not k.startswith("hydra.")]


def did_you_mean(key: str, known: Iterable[str]) -> Optional[str]:
    """The valid key(s) closest to `key`: the same last name elsewhere (`scheduler.lr` -> optimizer.lr), else difflib."""
    known = [k for k in known if k != key]
    last = key.rsplit(".", 1)[-1]
    same_name = [k for k in known if k.rsplit(".", 1)[-1] == last]
    close = same_name or difflib.get_close_matches(key, known, n=3, cutoff=0.6) or [
        k for k in known if k.rsplit(".", 1)[-1] in difflib.get_close_matches(last, [x.rsplit(".", 1)[-1] for x in known],
                                                                                n=3, cutoff=0.75)][:3]
    return " or ".join(close) if close else None


def _values(override: Override) -> list[str]:
    """The values an override gives (each of a sweep's), as strings; [] for a sweep Hydra expands itself (a range)."""
    if override.is_sweep_override():
        try:
            return [str(v) for v in override.sweep_string_iterator()]
        except (HydraException, TypeError, ValueError):
            return []
    return [str(override.value())]


def choice_problems(overrides: list[Override], groups: dict[str, list[str]]) -> list[str]:
    """`group=<choice>` overrides whose choice is no file of the group, with the nearest choices."""
    problems = []
    for override in overrides:
        group = override.key_or_group
        if group not in groups or override.type == OverrideType.DEL or override.package:
            continue
        for value in _values(override):
            if value in groups[group] or value in ("null", "None"):
                continue
            close = difflib.get_close_matches(value, groups[group], n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(f'{group}={c}' for c in close)}? " if close else ""
            problems.append(f"{group}={value} is not a choice of {group} (no conf/{group}/{value}.yaml); {hint}"
                            f"the choices: {', '.join(groups[group])}")
    return problems


def key_problems(overrides: list[Override], groups: dict[str, list[str]]) -> list[str]:
    """`a.b=value` overrides of keys the composed config lacks (Hydra would advise `+a.b`), with the key meant."""
    plain = [o for o in overrides if o.type == OverrideType.CHANGE and o.key_or_group not in groups
             and not o.key_or_group.startswith("hydra") and o.package is None]
    if not plain:
        return []
    # The config without the key overrides (each sweep at its first value): what the keys must exist in.
    shape = [o.input_line for o in overrides if o not in plain and not o.is_sweep_override()]
    shape += [f"{o.key_or_group}={_values(o)[0]}" for o in overrides if o not in plain and o.is_sweep_override()
              and _values(o)]
    try:
        cfg = compose_config(*shape)
    except ConfigError:  # Hydra names the problem itself
        return []
    known = all_keys(cfg)
    problems = []
    for override in plain:
        key = override.key_or_group
        if OmegaConf.select(cfg, key, default=_MISSING) is not _MISSING:
            continue
        meant = did_you_mean(key, known)
        hint = f"did you mean {meant}? " if meant else ""
        problems.append(f"{override.input_line} sets {key}, which is not a key of the config (adding it with "
                        f"+{key} would not help: nothing reads it); {hint}`train.py --cfg job` prints every key")
    return problems


_MISSING = object()


def check_overrides(argv: list[str]) -> None:
    """Raise one ConfigError for every wrong choice or key among `argv`'s overrides, with what was meant."""
    lines = [arg for arg in argv[1:] if is_override(arg)]
    try:
        overrides = OverridesParser.create().parse_overrides(lines)
    except HydraException:  # a syntax error: Hydra's own message says where
        return
    groups = config_groups()
    problems = choice_problems(overrides, groups)
    problems = problems or key_problems(overrides, groups)
    if problems:
        raise ConfigError("; ".join(problems) + ".")
