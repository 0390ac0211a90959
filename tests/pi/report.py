"""Summarises ``make test-pi``: parity with x86 and the emulated cost, per system.

``python report.py OUT NAME...`` reads ``OUT/parity-x86.json``,
``OUT/bench-x86.json`` and each system's ``parity-NAME.json`` and
``bench-NAME.json`` (``tests/pi/run.sh``), checks parity (``parity.compare``),
prints a Markdown table and writes ``OUT/summary.json``. Times under qemu are
not a Pi's, so cold start and latency are given as ratios to x86 too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from parity import compare  # noqa: E402


def _score_p50(bench: dict) -> float:
    """p50 of scoring 100 candidates: ``score`` from a kept state (a history bundle) or the API call (an id one)."""
    return bench["score"]["p50_us"] if bench.get("kind") == "history" else bench["api"]["p50_us"]


def main(out: Path, names: list[str]) -> None:
    x86_scores = json.loads((out / "parity-x86.json").read_text())
    x86 = json.loads((out / "bench-x86.json").read_text())
    rows, summary = [], {"x86": {"backend": x86["backend"], "cold_start_s": x86["cold_start"]["wall_s_p50"],
                                 "peak_rss_mb": x86["cold_start"]["peak_rss_mb_max"], "p50_us": _score_p50(x86)}}
    for name in names:
        worst = compare(x86_scores, json.loads((out / f"parity-{name}.json").read_text()))
        bench = json.loads((out / f"bench-{name}.json").read_text())
        cold, peak, p50 = bench["cold_start"]["wall_s_p50"], bench["cold_start"]["peak_rss_mb_max"], _score_p50(bench)
        summary[name] = {"backend": f"{bench['backend']['name']} {bench['backend']['version']}",
                         "python": bench["machine"]["python"], "max_abs_diff": worst,
                         "cold_start_s": cold, "cold_start_vs_x86": round(cold / summary["x86"]["cold_start_s"], 1),
                         "peak_rss_mb": peak, "peak_rss_vs_x86": round(peak / summary["x86"]["peak_rss_mb"], 2),
                         "p50_us": p50, "p50_vs_x86": round(p50 / summary["x86"]["p50_us"], 1)}
        row = summary[name]
        rows.append(f"| {name} | {row['python']} | {row['backend']} | {worst['float32']:.1e} | "
                    f"{max(worst.values()):.1e} | {cold:.2f} s ({row['cold_start_vs_x86']}×) | "
                    f"{peak:.0f} MB ({row['peak_rss_vs_x86']}×) | {p50:.0f} µs ({row['p50_vs_x86']}×) |")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("| system (emulated) | Python | runtime | float32 max \\|diff\\| vs x86 | any bundle | cold start "
          "(× x86) | peak memory (× x86) | score p50, N=100 (× x86) |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nx86 ({summary['x86']['backend']['name']}): cold start {summary['x86']['cold_start_s']:.2f} s, "
          f"peak {summary['x86']['peak_rss_mb']:.0f} MB, p50 {summary['x86']['p50_us']:.0f} µs; every known/unknown "
          "flag identical on every system.")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
