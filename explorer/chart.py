"""The explorer's LR chart: a Streamlit component with no build step (explorer/lr_chart/index.html + chart.js) that
draws the curves on a canvas in the browser.

Why not st.vega_lite_chart: every edit made Chromium parse a new Vega spec, re-run Vega's dataflow through its
expression interpreter and redraw, ~2 s of CPU per edit at six curves (docs/explorer.md, "Exactness and speed").
Streamlit keeps a component's iframe while its key stays, so an edit only posts new args: `meta` (JSON: labels,
colours, counts, the run's shape) and `data` (bytes: the float64 steps and LRs of every series), drawn in a few ms.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import streamlit.components.v1 as components

MARKED_STEPS = 200  # runs up to this many steps get a marker per step
# Okabe-Ito colours, told apart with colour-blindness too (Streamlit's theme gave two curves near-identical blues).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000", "#F0E442")
COMPONENT = components.declare_component("lr_chart", path=str(Path(__file__).with_name("lr_chart")))


@dataclass
class Series:
    """One series as sent: the steps and LRs drawn as its line, the (step, LR) of its logged rings."""

    label: str
    steps: np.ndarray
    lrs: np.ndarray
    logged_steps: Optional[np.ndarray] = None
    logged_lrs: Optional[np.ndarray] = None

    def values(self, log_scale: bool) -> tuple:
        """(line steps, line LRs, ring steps, ring LRs), as float64; a log scale has no 0, so LRs <= 0 are left out."""
        empty = np.zeros(0)
        parts = [(self.steps, self.lrs), (empty if self.logged_steps is None else self.logged_steps,
                                          empty if self.logged_lrs is None else self.logged_lrs)]
        out = []
        for steps, lrs in parts:
            keep = lrs > 0 if log_scale else slice(None)
            out += [np.asarray(steps, dtype=np.float64)[keep], np.asarray(lrs, dtype=np.float64)[keep]]
        return tuple(out)


def colour(label: str, labels: list) -> str:
    """The colour of `label` among every label in colour order (the chart's lines and the commands' swatches)."""
    return PALETTE[labels.index(label) % len(PALETTE)]


def chart_args(series: list, steps_per_epoch: int, total_steps: int, log_scale: bool,
               labels: Optional[list] = None) -> dict:
    """The component's args: `meta` (JSON) and `data` (bytes, every series' values in order). `labels`: every label
    in colour order (tabs whose curve errored too, so each tab keeps its colour); by default the series' own."""
    labels = labels or [s.label for s in series]
    meta, chunks = [], []
    for s in series:
        steps, lrs, logged_steps, logged_lrs = s.values(log_scale)
        chunks += [steps, lrs, logged_steps, logged_lrs]
        meta.append({"label": s.label, "color": colour(s.label, labels), "points": len(steps),
                     "logged": len(logged_steps)})
    data = np.concatenate(chunks).astype("<f8").tobytes() if chunks else b""
    return {"meta": {"series": meta, "stepsPerEpoch": int(steps_per_epoch), "totalSteps": int(total_steps),
                     "log": bool(log_scale), "marked": total_steps <= MARKED_STEPS,
                     # a digest of the values: the args always differ when a value does
                     "version": hashlib.blake2b(data, digest_size=8).hexdigest()},
            "data": data}


def lr_chart(key: str, **args: object) -> None:
    """Draw the chart of chart_args(...) under a fixed `key`: the key keeps the component's identity (and its
    iframe, with any zoom) across reruns, so new args redraw it in place."""
    COMPONENT(key=key, default=None, **args)
