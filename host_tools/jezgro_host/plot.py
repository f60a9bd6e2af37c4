"""The picture of a run: `jezgro sim` writes OUT/timeline.png from the STATUS records of the run
(live.LiveView.timeline) and its events.

Four panels over simulated time: grid frequency and voltage; P measured with the setpoint and the import
and export limits in force (export as negative power, the sign convention of the firmware) and Q; the
gateway state as coloured bands; the ISO 15118 session phase as bands. Restarts, faults, quarantines and
injections are red lines across all panels, session starts/ends and OCPP events grey ones.
"""
from __future__ import annotations

import math
from pathlib import Path

MARK_RED = ("restarted", "fault injected", "QUARANTINED", "HELD", "LOST LOCK", "DISCONNECTED", "crashed")


def _bands(ax, t: list[float], labels: list[str | None], title: str) -> None:
    import matplotlib.pyplot as plt
    palette = plt.get_cmap("tab20").colors
    colours: dict[str, tuple] = {}
    start = 0
    for i in range(1, len(t) + 1):
        if i == len(t) or labels[i] != labels[start]:
            lab = labels[start]
            if lab:
                c = colours.setdefault(lab, palette[len(colours) % len(palette)])
                end = t[i] if i < len(t) else t[-1]
                ax.axvspan(t[start], end, color=c, alpha=0.6, lw=0)
                if end > t[start]:
                    ax.text((t[start] + end) / 2, 0.5, lab, ha="center", va="center", fontsize=7, clip_on=True)
            start = i
    ax.set_yticks([])
    ax.set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)


def write(timeline: list[dict], events: list[dict], path: Path, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def col(get) -> list[float]:
        out = []
        for r in timeline:
            try:
                v = get(r)
            except (KeyError, TypeError):
                v = None
            out.append(math.nan if v is None else float(v))
        return out

    t = [r.get("t_ms", 0) / 1000 for r in timeline]
    fig, axes = plt.subplots(4, 1, sharex=True, figsize=(11, 7.5),
                             gridspec_kw={"height_ratios": [2, 3, 0.6, 0.6]})
    ax_f, ax_p, ax_gw, ax_s = axes
    f = col(lambda r: r["grid"]["f_mhz"] / 1000 if r["grid"]["locked"] else None)  # unlocked: no estimate
    ax_f.plot(t, f, color="tab:blue", label="f (while locked)")
    ax_f.set_ylabel("f (Hz)")
    ax_f.ticklabel_format(axis="y", useOffset=False)
    known = [x for x in f if not math.isnan(x)]
    if known:  # at least +-0.1 Hz around what happened: a clean grid is a flat line, not noise blown up
        mid = (max(known) + min(known)) / 2
        half = max(0.1, (max(known) - min(known)) / 2 * 1.2)
        ax_f.set_ylim(mid - half, mid + half)
    ax_v = ax_f.twinx()
    ax_v.plot(t, col(lambda r: r["grid"]["v_peak"] / math.sqrt(2)), color="tab:orange", label="V rms")
    ax_v.set_ylabel("V rms")
    ax_f.legend(handles=ax_f.lines + ax_v.lines, loc="lower right", fontsize=7)
    ax_p.plot(t, col(lambda r: r["power"]["meas_p_w"] / 1000), label="P measured", color="tab:blue")
    ax_p.step(t, col(lambda r: r["limits"]["p_set_w"] / 1000), where="post", label="P setpoint", color="k", lw=0.8)
    ax_p.step(t, col(lambda r: r["limits"]["import_w"] / 1000 if r["limits"]["import_src"] else None), where="post",
              label="import limit", color="tab:red", ls="--")
    ax_p.step(t, col(lambda r: -r["limits"]["export_w"] / 1000 if r["limits"]["export_src"] else None), where="post",
              label="export limit (as -P)", color="tab:purple", ls="--")
    ax_p.plot(t, col(lambda r: r["power"]["meas_q_var"] / 1000), label="Q measured (kvar)", color="tab:green")
    ax_p.set_ylabel("kW / kvar (+ import)")
    ax_p.axhline(0, color="grey", lw=0.5)
    ax_p.legend(loc="upper left", fontsize=7, ncol=3)
    _bands(ax_gw, t, [r.get("gateway") or None for r in timeline], "gateway")
    _bands(ax_s, t, [(r.get("power") or {}).get("iso_state") for r in timeline], "session")
    ax_s.set_xlabel("simulated time (s)")
    for e in events:
        x = e["t_ms"] / 1000
        red = any(k in e["text"] for k in MARK_RED)
        for ax in axes:
            ax.axvline(x, color="red" if red else "grey", lw=1 if red else 0.6, ls="-" if red else ":")
        if red:
            ax_f.annotate(e["text"][:40], (x, 1), xycoords=("data", "axes fraction"), rotation=90, fontsize=6,
                          va="top", ha="right", color="red")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
