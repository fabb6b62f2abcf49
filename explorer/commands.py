"""The explorer's commands, one per curve and the sweep of them all: a Streamlit component with no build step
(explorer/command_lines/index.html + commands.js), like the chart beside it (explorer/chart.py).

Why not st.code: the commands are re-sent with every edit, and as seven code blocks (with a label each) they were
most of what the browser re-rendered per edit (docs/explorer.md, "Exactness and speed"). Streamlit keeps a
component's iframe while its key stays, so an edit posts a few hundred bytes of text that the page puts in place.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import streamlit.components.v1 as components

COMPONENT = components.declare_component("command_lines", path=str(Path(__file__).with_name("command_lines")))


def command_lines(key: str, commands: list, sweep: Optional[str] = None, sweep_note: Optional[str] = None) -> None:
    """Show `commands` ([{"label", "color", "line"}], one per curve, in tab order), then the one-sweep `sweep` line
    (or, when no sweep can express the curves, `sweep_note`), each with a copy button."""
    COMPONENT(key=key, default=None, commands=commands, sweep=sweep, sweepNote=sweep_note)
