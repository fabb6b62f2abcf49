"""Which runs are seeds of one setting, and how to name each setting by what sets it apart.

A setting is a run's resolved config (.hydra/config.yaml) minus its seed, minus the keys that change
nothing about the result (engine.config.keys.HARMLESS_KEYS) and minus keys the user declares
irrelevant (--ignore). Runs with equal settings are seeds of one row; anything else is another row.
A row's label starts with its schedule's name and adds every key whose value tells the rows apart
(`cosine, optimizer.lr=0.02`); a config group chosen differently (`data=digits`) stands for all the
keys under it that follow from that choice.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Sequence

from engine.config.keys import flatten, is_harmless, is_under

NOT_A_SETTING = ("seed",)  # what varies between the members of one row


def setting_of(config: Mapping[str, Any], ignore: Iterable[str] = ()) -> dict[str, Any]:
    """The flat config that defines a run's setting (seed, harmless and ignored keys removed)."""
    ignore = tuple(ignore)
    return {key: value for key, value in flatten(dict(config)).items()
            if not is_under(key, NOT_A_SETTING) and not is_harmless(key) and not is_under(key, ignore)}


def setting_key(setting: Mapping[str, Any]) -> str:
    """A hashable, order-independent identity of a setting."""
    return json.dumps(sorted(setting.items()), default=str)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))


def _differing(dicts: Sequence[Mapping[str, Any]]) -> list[str]:
    keys = sorted(set().union(*dicts)) if dicts else []
    return [k for k in keys if len({_shown(d[k]) if k in d else "<absent>" for d in dicts}) > 1]


def labels(settings: Sequence[Mapping[str, Any]], choices: Sequence[Mapping[str, str]], schedules: Sequence[str]) -> list[str]:
    """One label per setting: its schedule, the config-group choices that differ, then every other differing key.

    `choices` are the Hydra group choices of each setting (hydra.runtime.choices; may be empty). A key
    under a differing group (`data.train_size` under `data`) is left out when it follows from that
    group's choice, i.e. settings with the same choice agree on it."""
    groups = {g for c in choices for g in c if any(k.startswith(g + ".") for s in settings for k in s)}
    groups = {g for g in groups if all(g in c for c in choices)}
    choice_differs = [g for g in sorted(groups) if len({c[g] for c in choices}) > 1]
    if len(set(schedules)) > 1 and "scheduler" not in choice_differs:
        choice_differs.append("scheduler")  # runs without hydra.yaml: the schedule's name is its choice
    chosen = [{g: (schedule if g == "scheduler" else c.get(g)) for g in choice_differs}
              for c, schedule in zip(choices, schedules)]

    def follows_from_choice(key: str) -> bool:
        owner = next((g for g in choice_differs if key.startswith(g + ".")), None)
        if owner is None:
            return False
        by_choice: dict[str, set] = {}
        for setting, chosen_here in zip(settings, chosen):
            by_choice.setdefault(chosen_here[owner], set()).add(_shown(setting.get(key, "<absent>")))
        return all(len(values) == 1 for values in by_choice.values())

    shown_keys = [k for k in _differing(settings) if k != "scheduler.name" and not follows_from_choice(k)]
    result = []
    for setting, chosen_here, schedule in zip(settings, chosen, schedules):
        parts = [schedule] + [f"{g}={chosen_here[g]}" for g in choice_differs if g != "scheduler"]
        parts += [f"{key}={_shown(setting[key])}" if key in setting else f"{key} unset" for key in shown_keys]
        result.append(", ".join(parts))
    return result


def shared_choices(choices: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The config-group choices every setting shares (said once above the table)."""
    if not choices or not all(choices):
        return {}
    first = choices[0]
    return {g: v for g, v in sorted(first.items()) if all(c.get(g) == v for c in choices)}
