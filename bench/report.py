"""Benchmark results: one record per run, written as JSON (for comparing commits) and as
docs/benchmarks.md (for people). Pure: no servers, so it is unit-tested on fake results."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class Measure:
    key: str
    label: str
    value: float
    unit: str
    stage: str                      # "raw" ceilings or "sedulur"
    seconds: float = 0.0            # wall time of the measurement itself
    load: float | None = None       # 1-minute load average when it finished
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ratio:
    """`numerator` measured against the raw `denominator` from the same run."""

    label: str
    numerator: str
    denominator: str
    goal: float | None = None


@dataclass(frozen=True)
class Goal:
    label: str
    measure: str
    op: str                          # ">=" or "<="  or "<"
    target: float
    unit: str


# What the issue asks for (issue 11); ratios and goals are reported, never asserted.
RATIOS = (
    Ratio("event appends (1 event/command) / raw INSERT+COMMIT", "append_single", "pg_commit", 0.5),
    Ratio("event appends (1 event/command) / raw INSERT+COMMIT with LOCK TABLE",
          "append_single", "pg_commit_lock"),
    Ratio("batched appends (events/s) / raw INSERT+COMMIT", "append_batched", "pg_commit"),
    Ratio("relay publish / raw windowed-confirm publish", "relay_publish", "rmq_publish", 0.5),
    Ratio("relay publish / raw publish to the same exchange and queues", "relay_publish",
          "rmq_publish_fanout"),
    Ratio("DTKS import / raw binary COPY", "dtks_import", "pg_copy_binary"),
    Ratio("end-to-end complaints/s / raw INSERT+COMMIT", "e2e_sustained", "pg_commit"),
)

GOALS = (
    Goal("end-to-end sustained", "e2e_sustained", ">=", 200, "complaints/s"),
    Goal("p99 register→referred at 50/s", "e2e_p99", "<=", 250, "ms"),
    Goal("DTKS import", "dtks_import", ">=", 500_000, "rows/s"),
    Goal("projection rebuild", "rebuild", ">=", 20_000, "events/s"),
    Goal("NIK lookup p99 (replica, direct)", "lookup_direct_p99", "<", 2, "ms"),
    Goal("NIK lookup p99 (RPC)", "lookup_rpc_p99", "<", 2, "ms"),
)


@dataclass
class RunResult:
    meta: dict[str, Any]
    measures: list[Measure] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def add(self, measure: Measure) -> Measure:
        self.measures.append(measure)
        return measure

    def get(self, key: str) -> Measure | None:
        return next((m for m in self.measures if m.key == key), None)

    def ratios(self) -> list[dict[str, Any]]:
        out = []
        for r in RATIOS:
            num, den = self.get(r.numerator), self.get(r.denominator)
            value = num.value / den.value if num and den and den.value else None
            out.append({"label": r.label, "numerator": r.numerator, "denominator": r.denominator,
                        "value": value, "goal": r.goal,
                        "met": None if value is None or r.goal is None else value >= r.goal})
        return out

    def goals(self) -> list[dict[str, Any]]:
        out = []
        for g in GOALS:
            m = self.get(g.measure)
            actual = m.value if m else None
            met = None if actual is None else _meets(actual, g.op, g.target)
            out.append({"label": g.label, "measure": g.measure, "op": g.op, "target": g.target,
                        "unit": g.unit, "actual": actual, "met": met,
                        "miss": None if met in (None, True) else _miss(actual, g)})
        for r in self.ratios():
            if r["goal"] is not None:
                out.append({"label": r["label"], "measure": f"{r['numerator']}/{r['denominator']}",
                            "op": ">=", "target": r["goal"], "unit": "ratio",
                            "actual": r["value"], "met": r["met"],
                            "miss": None if r["met"] in (None, True)
                            else f"{(1 - r['value'] / r['goal']) * 100:.0f}% below the goal"})
        return out

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, "meta": self.meta,
                "measures": [asdict(m) for m in self.measures],
                "ratios": self.ratios(), "goals": self.goals(), "errors": self.errors}


def _meets(actual: float, op: str, target: float) -> bool:
    return {">=": actual >= target, "<=": actual <= target, "<": actual < target}[op]


def _miss(actual: float, g: Goal) -> str:
    if g.op == ">=":
        return f"{(1 - actual / g.target) * 100:.0f}% below ({actual:,.0f} of {g.target:,.0f})"
    return f"{(actual / g.target - 1) * 100:.0f}% above ({actual:,.1f} vs {g.target:,.1f})"


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value:.2f}×"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(result: RunResult, analysis: str = "") -> str:
    meta = result.meta
    lines = [
        "# Benchmarks",
        "",
        "Written by `sedulur bench"
        + (" --quick" if meta.get("quick") else "")
        + "` — do not edit by hand; the prose at the end comes from `bench/analysis.md`.",
        "Every Sedulur number stands beside the raw PostgreSQL / RabbitMQ ceiling measured in",
        "the same run on the same machine (design.md §12). Goals are reported, never asserted.",
        "",
        "## Run",
        "",
        "| | |",
        "|---|---|",
    ]
    for key in ("date", "commit", "mode", "machine", "cpus", "memory"):
        if key in meta:
            lines.append(f"| {key} | {_cell(meta[key])} |")
    load = meta.get("load", {})
    if load:
        lines.append(f"| load average (1/5/15 min) before | {_cell(load.get('before'))} |")
        lines.append(f"| load average (1/5/15 min) after | {_cell(load.get('after'))} |")
        if load.get("note"):
            lines.append(f"| load note | {_cell(load['note'])} |")
    for name, version in sorted((meta.get("versions") or {}).items()):
        lines.append(f"| {name} | {_cell(version)} |")
    lines += ["", "## Measures", "",
              "| stage | measure | value | unit | seconds | load (1 min) |",
              "|---|---|---:|---|---:|---:|"]
    for m in result.measures:
        lines.append(f"| {m.stage} | {_cell(m.label)} | {_fmt(m.value)} | {m.unit} | "
                     f"{m.seconds:.1f} | {'' if m.load is None else f'{m.load:.2f}'} |")
    lines += ["", "## Against the ceilings", "", "| ratio | value | goal |", "|---|---:|---:|"]
    for r in result.ratios():
        goal = "" if r["goal"] is None else f"≥ {r['goal']:.2f}×"
        lines.append(f"| {_cell(r['label'])} | {_fmt(r['value'], 'ratio')} | {goal} |")
    lines += ["", "## Goals", "", "| goal | target | actual | met | missed by |",
              "|---|---:|---:|---|---|"]
    for g in result.goals():
        met = {True: "yes", False: "**no**", None: "not measured"}[g["met"]]
        unit = "" if g["unit"] == "ratio" else g["unit"]
        target = f"{g['op']} {_fmt(g['target'], g['unit'])} {unit}"
        lines.append(f"| {_cell(g['label'])} | {target.strip()} | {_fmt(g['actual'], g['unit'])} | "
                     f"{met} | {_cell(g['miss'] or '')} |")
    if result.errors:
        lines += ["", "## Stages that did not run", ""]
        for stage, message in result.errors.items():
            lines.append(f"- **{stage}**: {_cell(message)}")
    details = [m for m in result.measures if m.detail]
    if details:
        lines += ["", "## Details", ""]
        for m in details:
            lines.append(f"- `{m.key}`: " + ", ".join(
                f"{k}={_cell(v)}" for k, v in m.detail.items()))
    if analysis.strip():
        lines += ["", analysis.strip()]
    return "\n".join(lines) + "\n"


def write(result: RunResult, *, json_dir: Path, markdown_path: Path,
          analysis_path: Path | None = None) -> tuple[Path, Path]:
    """Write bench/results/<date>-<commit>.json and the markdown page; returns both paths."""
    json_dir.mkdir(parents=True, exist_ok=True)
    stamp = str(result.meta.get("date", "undated"))[:10]
    commit = str(result.meta.get("commit", "nocommit"))[:10]
    suffix = "-quick" if result.meta.get("quick") else ""
    json_path = json_dir / f"{stamp}-{commit}{suffix}.json"
    tmp = json_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n")
    os.replace(tmp, json_path)
    analysis = analysis_path.read_text() if analysis_path and analysis_path.exists() else ""
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(render_markdown(result, analysis))
    return json_path, markdown_path


def load(path: Path) -> RunResult:
    """A run back from its JSON file (to re-render the page after editing the analysis)."""
    doc = json.loads(Path(path).read_text())
    result = RunResult(doc["meta"], errors=doc.get("errors") or {})
    for m in doc["measures"]:
        result.add(Measure(**m))
    return result


if __name__ == "__main__":  # python -m bench.report bench/results/<run>.json
    import sys

    root = Path(__file__).resolve().parent.parent
    run = load(Path(sys.argv[1]))
    (root / "docs" / "benchmarks.md").write_text(
        render_markdown(run, (root / "bench" / "analysis.md").read_text()))
