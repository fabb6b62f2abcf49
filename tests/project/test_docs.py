"""README.md and docs/*.md stay true: links resolve, commands compose and parse, documented keys exist.

Cheap on purpose: nothing trains. `python train.py ...` lines are composed with engine.config.compose.compose_config
(Hydra only); `scripts/*.py` lines are parsed by the script's own argparse parser, stopped before the script
does any work; config keys are looked up in composed configs.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import re
import shlex
import sys
from pathlib import Path
from typing import Iterator

import pytest
from omegaconf import DictConfig, OmegaConf

from engine.config.compose import CONF, compose_config

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
# results/*/README.md print the exact commands that made the committed results: they must keep running.
PAGES = [ROOT / "README.md", *DOCS, *sorted((ROOT / "results").rglob("README.md"))]
# Pages other helpers are writing; README and docs link them already. A link to one of these may dangle
# only while the page is absent; once it is merged, test_pending_pages_are_still_missing fails until its
# name is removed here, so the allowance cannot outlive its reason.
PENDING_PAGES: set[str] = set()
# <run dir>, $s, ellipses and usage synopses ([--json]) are templates, not commands runnable as written.
PLACEHOLDER = re.compile(r"<[^>]*>|\$|…|\.\.\.|\[--")


def _page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _without_code(text: str) -> str:
    text = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"`[^`\n]*`", "", text)


def _links(page: Path) -> Iterator[str]:
    for match in re.finditer(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", _without_code(page.read_text())):
        target = match.group(1)
        if not re.match(r"^[a-z]+:", target):  # http:, https:, mailto: are not checked offline
            yield target


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading (github-slugger): lower case, punctuation but - and _ dropped, spaces to hyphens."""
    heading = heading.strip().lower()
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.DOTALL | re.MULTILINE)
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _links(page):
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        if not path.exists():
            if path.relative_to(ROOT).as_posix() not in PENDING_PAGES:
                broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{_page_id(page)} has broken links: {broken}"


def test_pending_pages_are_still_missing() -> None:
    merged = sorted(name for name in PENDING_PAGES if (ROOT / name).exists())
    assert not merged, f"{merged} exist now: remove them from PENDING_PAGES so their links are checked strictly"


def test_what_a_page_says_is_above_is_above() -> None:
    """docs/sweeps.md said "(`experiment=smoke` above)" of a command that had no experiment=smoke."""
    problems = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        for match in re.finditer(r"`([^`\n]+)` above", text):
            if match.group(1) not in text[:match.start()]:
                problems.append(f"{page.name}: `{match.group(1)}` above")
    assert not problems, problems


def test_the_readme_quick_start_table_is_what_the_code_computes_from_the_committed_results() -> None:
    """The README showed constant's interval as [72.37, 110.04] while analysis.stats clamps it to 100."""
    from analysis.quickstart import readme_table, run_accuracies
    table = readme_table(run_accuracies())
    assert table in (ROOT / "README.md").read_text(), table
    assert all(len(seeds) == 3 for seeds in run_accuracies().values())  # every run of the sweep was read


def test_readme_is_a_landing_page_under_15000_characters() -> None:
    """The README grew to 15,130 characters of reference; reference belongs in docs/ (issue 31)."""
    size = len((ROOT / "README.md").read_text())
    assert size < 15_000, f"README.md has {size} characters: move reference material to docs/"


def test_readme_links_every_docs_page() -> None:
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in _links(ROOT / "README.md")}
    unlinked = [_page_id(p) for p in DOCS if p.resolve() not in linked]
    assert not unlinked, f"README.md does not link {unlinked}"


# ---- commands ------------------------------------------------------------------------------------------

def _command_lines(page: Path) -> Iterator[str]:
    """Shell lines in fenced blocks (continuations joined), and inline code spans that are commands
    (they start with python or bash; a span naming a file, like `scripts/bench.py`, is not one)."""
    text = page.read_text()
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE):
        for loop_variable, first_value in re.findall(r"^\s*for (\w+) in (\S+)", block, flags=re.MULTILINE):
            block = block.replace(f"${loop_variable}", first_value)  # a shell loop's body, for its first value
        for line in block.replace("\\\n", " ").splitlines():
            assignment = re.match(r"^\s*\w+=([\"'])(.*)\1\s*$", line)  # B=".venv/bin/python scripts/x.py --flag"
            yield assignment.group(2) if assignment else line.strip()
    for prose in re.split(r"^```.*?^```", text, flags=re.DOTALL | re.MULTILINE):
        yield from (span for span in re.findall(r"`([^`\n]+)`", prose)
                    if re.match(r"^(\.venv/bin/)?(python|bash)\b", span))


def _commands(pattern: str) -> list:
    found = []
    for page in PAGES:
        for line in _command_lines(page):
            match = re.search(pattern + r"(.*)$", line)
            if match and not PLACEHOLDER.search(match.group(0)):
                found.append(pytest.param(match.group(1), id=f"{_page_id(page)}: {match.group(0)[:90]}"))
    return found


def _first_sweep_value(value: str) -> str:
    """`a,b,c` -> `a`: the first member of a Hydra sweep (commas inside [], () or quotes belong to one value)."""
    depth, quote = 0, None
    for i, char in enumerate(value):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "," and depth == 0:
            return value[:i]
    return value


def _sweep_functions_to_first_value(value: str) -> str:
    """Hydra's sweep functions `glob(*)`, `range(a,b)`, `choice(a,b)` -> a value one job would get."""
    if value.startswith("glob("):
        return "cosine"  # conf/scheduler is the only group this project globs
    if value.startswith(("range(", "choice(")):
        return value[value.index("(") + 1:].split(",")[0].rstrip(")")
    return value


def train_overrides(args: str) -> list:
    """The overrides one job of `python train.py <args>` composes (sweeps reduced to their first value)."""
    tokens, overrides = iter(shlex.split(args, comments=True)), []
    for token in tokens:
        if token in ("-m", "--multirun", "--resolve", "--info"):  # Hydra's flags, not overrides
            continue
        if token in ("--cfg", "-c", "--package", "-p"):  # flags with a value: `--cfg job` prints the config
            next(tokens, None)
            continue
        key, sep, value = token.partition("=")
        overrides.append(f"{key}{sep}{_sweep_functions_to_first_value(_first_sweep_value(value))}" if sep else token)
    return overrides


def test_train_overrides_reduce_sweeps_to_one_job() -> None:
    assert train_overrides("-m scheduler=cosine,step seed=0,1 hydra.launcher.gpus=[0,2] --cfg job  # 4 runs") == \
        ["scheduler=cosine", "seed=0", "hydra.launcher.gpus=[0,2]"]


@pytest.mark.parametrize("args", _commands(r"\btrain\.py\b"))
def test_train_commands_compose(args: str) -> None:
    cfg = compose_config(*train_overrides(args), hydra_config=True)
    run_config = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    OmegaConf.to_container(run_config, resolve=True)  # every interpolation of the run's config resolves


class _Parsed(Exception):
    """Raised in place of running a script once its argparse parser accepted the command line."""


def _script_commands() -> list:
    found = []
    for page in PAGES:
        for line in _command_lines(page):
            match = re.search(r"\bscripts/(\w+)\.(py|sh)\b(.*)$", line)
            if match and not PLACEHOLDER.search(match.group(0)):
                found.append(pytest.param(match.group(1), match.group(2), match.group(3),
                                          id=f"{_page_id(page)}: {match.group(0)[:90]}"))
    return found


@pytest.mark.parametrize("script, suffix, args", _script_commands())
def test_script_exists_and_accepts_its_flags(script: str, suffix: str, args: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ROOT / "scripts" / f"{script}.{suffix}"
    assert path.is_file(), f"{path.relative_to(ROOT)} does not exist"
    if suffix != "py":
        return
    argv = shlex.split(args, comments=True)
    parse = argparse.ArgumentParser.parse_args

    def parse_then_stop(parser: argparse.ArgumentParser, args=None, namespace=None):
        raise _Parsed(parse(parser, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.setattr(sys, "argv", [str(path), *argv])
    with pytest.raises(_Parsed) as parsed:  # argparse exits 2 (SystemExit) on an unknown flag or bad value
        importlib.import_module(f"scripts.{script}").main()
    namespace = parsed.value.args[0]
    if script == "plot_schedules":  # its positional arguments are train.py overrides
        compose_config(*namespace.overrides)
    if script == "bench":  # --model and --scheduler are config choices, --override KEY=VALUE (repeatable) overrides
        compose_config(f"model={namespace.model}", f"scheduler={namespace.scheduler}", *namespace.override)


# ---- configuration reference ---------------------------------------------------------------------------

GROUPS = ("data", "model", "optimizer", "scheduler", "trainer", "experiment", "hparams_search", "hydra/launcher",
          "experiment_scheduler")


def _choices(group: str) -> list:
    """The choices of a group; files named `_*.yaml` are bases the choices inherit, not choices."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


def _key_paths(node, prefix: str = "") -> Iterator[str]:
    """Every dotted key path in `node`, containers (`data.augment`) and their keys (`data.augment.cutout`)."""
    if isinstance(node, DictConfig):
        for key in node:
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            yield from _key_paths(node._get_node(key), path)


@functools.lru_cache(maxsize=None)
def _documented_configs() -> tuple:
    """Configs that together hold every key: the default, and one per data/model/optimizer/launcher choice and preset."""
    overrides = [()] + [(f"{group}={choice}",) for group in ("data", "model", "optimizer", "hydra/launcher")
                        for choice in _choices(group)] + [("hparams_search=lr",)]
    return tuple(compose_config(*o, hydra_config=True) for o in overrides)


@functools.lru_cache(maxsize=None)
def _all_keys() -> frozenset:
    return frozenset(key for cfg in _documented_configs() for key in _key_paths(cfg))


CONFIG_PAGE = ROOT / "docs" / "configuration.md"
KEY_SPAN = re.compile(r"^((?:seed|backend|device|resume|fork|optimized_metric|data|model|optimizer|scheduler|trainer|hydra)"
                      r"(?:\.[A-Za-z_]\w*)+|seed|backend|device|resume|fork|optimized_metric)(?:=\S*)?$")


def _named_keys(page: Path) -> set:
    return {m.group(1) for span in re.findall(r"`([^`\n]+)`", page.read_text()) if (m := KEY_SPAN.match(span))}


def test_configuration_page_names_only_real_keys() -> None:
    named = _named_keys(CONFIG_PAGE)
    assert len(named) > 50, f"expected the reference to name the config keys, found {sorted(named)}"
    missing = sorted(key for key in named if key not in _all_keys())
    assert not missing, f"docs/configuration.md names keys no composed config has: {missing}"


def test_configuration_page_names_every_key_of_the_run_groups() -> None:
    """Every key of the top level and of each data/model/optimizer/trainer choice is documented (schedules: below)."""
    groups = ("data", "model", "optimizer", "trainer")
    wanted = {key for cfg in _documented_configs()[:-1] for key in _key_paths(OmegaConf.masked_copy(cfg, list(groups)))
              if "." in key and not key.rsplit(".", 1)[-1].startswith("_")}
    wanted = {key for key in wanted if not any(other.startswith(key + ".") for other in wanted)}  # leaves only
    wanted |= {key for key in _documented_configs()[0] if key not in ("hydra", *groups, "scheduler", "experiment", "hparams_search")}
    wanted |= {"optimized_metric"}  # only hparams_search=lr sets it, but train.py reads it in every run
    undocumented = sorted(wanted - _named_keys(CONFIG_PAGE))
    assert not undocumented, f"docs/configuration.md does not name {undocumented}"


@pytest.mark.parametrize("group", GROUPS)
def test_configuration_page_names_every_choice(group: str) -> None:
    text = CONFIG_PAGE.read_text()
    undocumented = [c for c in _choices(group) if f"`{c}`" not in text and f"`{group}={c}`" not in text]
    assert not undocumented, f"docs/configuration.md does not name {group} choices {undocumented}"


@pytest.mark.parametrize("group", ("data", "model", "optimizer", "scheduler", "trainer", "hparams_search",
                                   "experiment_scheduler"))
def test_the_choice_table_lists_exactly_the_choices_of_conf(group: str) -> None:
    """The table's row, not just the page, names every choice (it lacked wsd and both Schedule-Free optimizers while the
    page named them elsewhere), and nothing that is not one."""
    row = next(line for line in CONFIG_PAGE.read_text().splitlines() if line.startswith(f"| `{group}` |"))
    listed = re.findall(r"`([\w/]+)`", row.split("|")[2])
    assert sorted(listed) == _choices(group), row


def test_configuration_page_names_every_base_file() -> None:
    bases = sorted(p.relative_to(CONF.parent).as_posix() for p in CONF.rglob("_*.yaml"))
    undocumented = [b for b in bases if f"`{b}`" not in CONFIG_PAGE.read_text()]
    assert not undocumented, f"docs/configuration.md does not name the shared config files {undocumented}"


def _schedule_rows() -> dict:
    rows = {}
    for line in (ROOT / "docs" / "schedules.md").read_text().splitlines():
        match = re.match(r"^\| `(\w+)` \|", line)
        if match:
            rows[match.group(1)] = line
    return rows


def test_schedules_page_has_a_row_naming_every_parameter_of_every_schedule() -> None:
    rows = _schedule_rows()
    assert sorted(rows) == _choices("scheduler"), "docs/schedules.md: one table row per conf/scheduler/*.yaml"
    problems = []
    for name in _choices("scheduler"):
        node = OmegaConf.load(CONF / "scheduler" / f"{name}.yaml").lr_scheduler
        keys = {key.rsplit(".", 1)[-1] for key in _key_paths(node)} - {"_target_", "_partial_", "schedulers"}
        problems += [f"{name}: {key}" for key in sorted(keys) if f"`{key}`" not in rows[name]]
    assert not problems, f"docs/schedules.md rows do not name these lr_scheduler parameters: {problems}"
