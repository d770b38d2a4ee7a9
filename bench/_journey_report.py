"""bench/journey.py's tables: one row per workload (answered/s, sheds/s, errors, p50/p99, the same-run
ceiling and the ratio, CPU per journey by process group), the issue's targets met or not, the audit."""

from __future__ import annotations

import argparse
import re
from typing import Any

from _common import latency_summary, table

SHED = "http_503"
CPU_GROUPS = ("server", "postgres", "simulator", "redis-server", "load generator")
# A window that lost more than this to the hypervisor (% of one core) measured a smaller box than the
# windows it is compared with: its ratio is flagged, and the run is worth repeating.
STEAL_FLAG_PCT = 10.0


def _peer_steal(line: str | None) -> float | None:
    """% of one core stolen in a peer window, from its cpu line ("window=15.0s ... steal=8.8 ...")."""
    if not line:
        return None
    f = dict(re.findall(r"(\w+)=([\d.]+)", line))
    try:
        return 100.0 * float(f["steal"]) / float(f["window"])
    except (KeyError, ValueError, ZeroDivisionError):
        return None


def _steal_flag(windows: dict[str, float | None]) -> str:
    """Nothing if no window lost more than STEAL_FLAG_PCT to steal, else which did (the ratio is then
    no measurement of the code: repeat the run)."""
    stolen = {k: v for k, v in windows.items() if v is not None and v > STEAL_FLAG_PCT}
    if not stolen:
        return ""
    return " (steal: " + ", ".join(f"{k} {v:.0f}%" for k, v in stolen.items()) + " of a core; repeat the run)"


def _count(o: dict[str, int], kind: str, *outcomes: str) -> int:
    return sum(o.get(f"{kind}:{x}", 0) for x in outcomes)


def _kind_total(o: dict[str, int], kind: str) -> int:
    return sum(v for k, v in o.items() if k.startswith(kind + ":"))


def _sheds(o: dict[str, int]) -> int:
    return sum(v for k, v in o.items() if k.endswith(":" + SHED))


def _errors(o: dict[str, int], kinds: tuple[str, ...], fine: tuple[str, ...]) -> int:
    """Requests that neither got an answer the journey expects nor were shed (timeouts, HTTP errors,
    GraphQL errors, lost connections, unexpected rejections)."""
    return sum(v for k, v in o.items() if k.split(":")[0] in kinds and k.split(":", 1)[1] not in (*fine, SHED))


def _cpu_ms(run: dict[str, Any], per: float) -> dict[str, float]:
    """CPU ms of each process group per unit of work (the meter gives % of one core over the window)."""
    out = {}
    for g in CPU_GROUPS:
        if g in run["cpu"]:
            out[g] = run["cpu"][g] / 100 * run["window_s"] * 1000 / per if per else float("nan")
    return out


def _in_loadgen_units(cpu: dict[str, float]) -> str:
    """CPU per journey as multiples of the load generator's: its work per journey is fixed, so these
    follow the code and not the box's speed, which on a shared VM moves every absolute figure by a
    tenth or more between runs, and by half within an hour."""
    unit = cpu.get("load generator") or 0.0
    if not unit:
        return "n/a"
    return " / ".join(f"{g} {cpu[g] / unit:.1f}" for g in ("server", "postgres", "simulator") if g in cpu)


def _cpu_text(cpu: dict[str, float]) -> str:
    return " / ".join(f"{cpu[g]:.2f}" if g in cpu else "-" for g in ("server", "postgres", "simulator", "load generator"))


def report(args: argparse.Namespace, runs: dict[str, dict[str, Any]], ceilings: dict[str, dict[str, Any]],
           busy: dict[str, float], peer: dict[str, Any] | None, audit_rc: int, audit_out: str) -> int:
    rows: list[list[Any]] = []
    targets: list[tuple[str, bool | None, str]] = []
    notes: list[str] = []
    d = args.seconds
    if "a" in runs:
        r, o = runs["a"], runs["a"]["outcomes"]
        answered = _count(o, "hold", "ok", "unavailable")
        lat = latency_summary(r["latency"].get("hold", []))
        rel = latency_summary(r["latency"].get("release", []))
        errors = _errors(o, ("hold", "release"), ("ok", "unavailable"))
        ceiling = ceilings["a"]["rate"]
        ratio = answered / d / ceiling
        cpu = _cpu_ms(r, answered)
        rows.append(["a hold 2 + release when held", r["clients"], answered / d, _sheds(o) / d, errors,
                     lat["p50"], lat["p99"], ceiling, f"{ratio:.3f}", _cpu_text(cpu)])
        if peer and peer.get("ok"):
            rows.append(["a, PostGraphile 5 peer (same sitting)", args.clients, peer["holds_per_s"], 0.0,
                         peer.get("errors", 0), peer.get("p50_ms", float("nan")), peer["p99_ms"],
                         peer["ceiling_per_s"], f"{peer['ratio']:.3f}", "see the peer's cpu line"])
        notes.append(f"a: releaseHold p50 / p99 {rel['p50']:.1f} / {rel['p99']:.1f} ms over {rel['n']:,}; "
                     f"holds held {_count(o, 'hold', 'ok'):,}, SeatsUnavailable {_count(o, 'hold', 'unavailable'):,}")
        notes.append(f"a: CPU per answered hold in load-generator units: {_in_loadgen_units(cpu)}")
        peer_ratio = peer["ratio"] if peer and peer.get("ok") else None
        ours = {"a": r["cpu"].get("steal"), "a's ceiling": ceilings["a"].get("steal")}
        theirs = {"the peer's run": _peer_steal((peer or {}).get("cpu_graphql")),
                  "the peer's ceiling": _peer_steal((peer or {}).get("cpu_ceiling"))}
        targets += [
            ("a: >= 0.35 of the bare ceiling", ratio >= 0.35, f"{ratio:.3f}{_steal_flag(ours)}"),
            ("a: above PostGraphile's ratio (same sitting)", None if peer_ratio is None else ratio > peer_ratio,
             "peer not run (--peer)" if peer_ratio is None
             else f"{ratio:.3f} vs {peer_ratio:.3f}{_steal_flag({**ours, **theirs})}"),
            ("a: hold p99 < 250 ms", lat["p99"] < 250, f"{lat['p99']:.0f} ms"),
            ("a: zero errors", errors == 0, str(errors)),
        ]
    if "b" in runs:
        r, o = runs["b"], runs["b"]["outcomes"]
        entered = _count(o, "enter", "ok")
        polls = _count(o, "poll", "ok")
        enter_rate = entered / max(1e-9, r["enter_s"])
        poll_rate = polls / max(1e-9, r["poll_s"])
        el = latency_summary(r["latency"].get("enter", []))
        pl = latency_summary(r["latency"].get("poll", []))
        e_sheds, p_sheds = _count(o, "enter", SHED), _count(o, "poll", SHED)
        e_err = _errors(o, ("enter",), ("ok",))
        p_err = _errors(o, ("poll",), ("ok",))
        zadd, zrank = ceilings["b_zadd"], ceilings["b_zrank"]
        requests = _kind_total(o, "enter") + _kind_total(o, "poll")
        cpu = _cpu_ms(r, requests)
        rows.append([f"b {args.room_fans} fans enterWaitingRoom at once", args.room_clients, enter_rate,
                     e_sheds / max(1e-9, r["enter_s"]), e_err, el["p50"], el["p99"], zadd["rate"],
                     f"{enter_rate / zadd['rate']:.3f}", _cpu_text(cpu)])
        rows.append([f"b then {args.poll_seconds:g} s of waitingRoomTicket polls", args.room_clients, poll_rate,
                     p_sheds / r["poll_s"], p_err, pl["p50"], pl["p99"], zrank["rate"],
                     f"{poll_rate / zrank['rate']:.3f}", _cpu_text(cpu)])
        notes.append(f"b: {entered:,} of {args.room_fans:,} fans entered in {r['enter_s']:.2f} s "
                     f"({e_sheds} sheds retried after 1 s); {polls:,} polls; redis-server "
                     f"{r['cpu'].get('redis-server', 0):.0f}% of a core")
        enter_ms = 1000 * r.get("server_cpu_enter_s", 0.0) / max(1, _kind_total(o, "enter"))
        poll_ms = 1000 * r.get("server_cpu_poll_s", 0.0) / max(1, _kind_total(o, "poll"))
        cheapest = [("poll", poll_ms)]
        if "a" in runs:
            ra = runs["a"]
            cheapest.append(("hold or release (a)", ra["cpu"]["server"] / 100 * ra["window_s"] * 1000
                             / max(1, _kind_total(ra["outcomes"], "hold") + _kind_total(ra["outcomes"], "release"))))
        targets.append(("b: entering is the cheapest request (server CPU per request)",
                        all(enter_ms <= v for _, v in cheapest),
                        f"enter {enter_ms:.2f} ms; " + "; ".join(f"{k} {v:.2f} ms" for k, v in cheapest)))
        targets += [
            ("b: no 503 at all", e_sheds + p_sheds == 0, f"{e_sheds} on enter, {p_sheds} on polls"),
            ("b: enter and poll p99 < 250 ms", max(el["p99"], pl["p99"]) < 250,
             f"{el['p99']:.0f} / {pl['p99']:.0f} ms"),
            ("b: entries/s >= 0.1 of redis-py ZADD", enter_rate >= 0.1 * zadd["rate"],
             f"{enter_rate / zadd['rate']:.3f}"
             + _steal_flag({"b": r["cpu"].get("steal"), "the ZADD loop": zadd.get("steal")})),
            ("b: polls/s >= 0.1 of redis-py ZRANK", poll_rate >= 0.1 * zrank["rate"],
             f"{poll_rate / zrank['rate']:.3f}"
             + _steal_flag({"b": r["cpu"].get("steal"), "the ZRANK loop": zrank.get("steal")})),
        ]
    c_rates: dict[int, float] = {}
    for ms in args.latency_list:
        key = f"c{ms}"
        if key not in runs:
            continue
        r, o = runs[key], runs[key]["outcomes"]
        done = _count(o, "journey", "confirmed_with_tickets")
        c_rates[ms] = done / d
        jl = latency_summary(r["latency"].get("journey", []))
        # a failed later step ends its journey (counted once, as that journey); a failed hold starts none
        errors = (_errors(o, ("hold",), ("ok", "unavailable"))
                  + sum(v for k, v in o.items() if k.startswith("journey:") and not k.endswith("confirmed_with_tickets")))
        ceiling = ceilings["c"]["rate"]
        cpu = _cpu_ms(r, done)
        rows.append([f"c purchase -> CONFIRMED + tickets, PSP +{ms} ms", r["clients"], done / d, _sheds(o) / d,
                     errors, jl["p50"], jl["p99"], ceiling, f"{done / d / ceiling:.3f}", _cpu_text(cpu)])
        steps = []
        for kind in ("hold", "create_order", "confirm_payment", "order_read"):
            s = latency_summary(r["latency"].get(kind, []))
            steps.append(f"{kind} p50/p99 {s['p50']:.0f}/{s['p99']:.0f} ms x{s['n']:,}")
        notes.append(f"c (+{ms} ms): " + "; ".join(steps))
        w = latency_summary(r["latency"].get("warmup_journey", []))
        if w["n"]:
            notes.append(f"c (+{ms} ms): journeys that ended in the warm-up (the start: a cold server, every buyer "
                         f"at once), not in the window: p50/p99 {w['p50']:.0f}/{w['p99']:.0f} ms x{w['n']:,}")
        notes.append(f"c (+{ms} ms): CPU per purchase in load-generator units: {_in_loadgen_units(cpu)}")
        if ms == args.latency_list[0]:
            targets += [
                (f"c (+{ms} ms): >= 0.2 of the bare-SQL ceiling", done / d >= 0.2 * ceiling,
                 f"{done / d / ceiling:.3f}"
                 + _steal_flag({f"c{ms}": r["cpu"].get("steal"), "c's ceiling": ceilings["c"].get("steal")})),
                (f"c (+{ms} ms): journey p99 < 1 s at 200 buyers", jl["p99"] < 1000 if r["clients"] >= 200 else None,
                 f"{jl['p99']:.0f} ms at {r['clients']} buyers"),
            ]
    if 0 in c_rates and 300 in c_rates:
        targets.append(("c: +300 ms PSP costs <= 1/3 of journeys/s", c_rates[300] >= c_rates[0] * 2 / 3,
                        f"{c_rates[300]:.1f} vs {c_rates[0]:.1f}/s"))
    targets.append(("boxoffice audit clean", audit_rc == 0, f"exit {audit_rc}"))

    print(table(["workload", "clients", "answered/s", "sheds/s", "errors", "p50 ms", "p99 ms", "ceiling/s",
                 "ratio", "CPU ms per journey (b: per request): server / postgres / simulator / loadgen"], rows,
                title=f"Journeys ({args.workers} workers{'' if args.no_redis else ' + Redis'}, {d:g} s measured, "
                      f"simulator {args.sim}; machine busy {busy.get('runs', 0):.0f}% before, outside load; "
                      f"{getattr(args, 'free_conns', '?')} free PostgreSQL slots at worst)"))
    crow = []
    for k, c in ceilings.items():
        rates = c.get("rates")
        steals = c.get("steals") or (c.get("steal", 0.0),)
        crow.append([k, c["rate"], " / ".join(f"{r:,.0f}" for r in rates) if rates else "-",
                     c["latency"]["p50"], c["latency"]["p99"], " / ".join(f"{v:.0f}%" for v in steals),
                     ", ".join(f"{o}: {n:,}" for o, n in sorted(c["outcomes"].items()))])
    print(table(["ceiling (bare asyncpg 64 tasks / 16 conns; redis-py)", "per s", "before / after the runs",
                 "p50 ms", "p99 ms", "steal", "outcomes"], crow,
                title=f"Same-run ceilings (machine busy {busy.get('ceilings', 0):.0f}% before; a's and c's are the "
                      "mean of one measured before the server's runs and one after)"))
    cpu_pct = []
    for name, r in runs.items():
        if name.startswith("_"):
            continue
        cpu_pct.append([name, *[f"{r['cpu'].get(g, 0):.0f}%" if g in r["cpu"] else "-" for g in CPU_GROUPS],
                        f"{r['cpu'].get('machine', 0):.0f}%", f"{r['cpu'].get('steal', 0):.0f}%"])
    print(table(["run", *CPU_GROUPS, "machine", "of it stolen"], cpu_pct,
                title="CPU in % of one core (200% = this box; what the hypervisor gave other guests counts as busy)"))
    print(table(["issue target", "met", "measured"],
                [(n, "n/a" if ok is None else ("yes" if ok else "NOT MET"), v) for n, ok, v in targets],
                title="Issue #16 targets"))
    for n in notes:
        print(f"- {n}")
    if peer is not None:
        print(f"\nPostGraphile peer: {peer.get('argv', '')}")
        for k in ("machine", "cpu_graphql", "cpu_ceiling", "error"):
            if peer.get(k):
                print(f"  {peer[k]}")
    outcome_rows = []
    for name, r in runs.items():
        if name.startswith("_"):
            continue
        outcome_rows.append([name, ", ".join(f"{k}={v:,}" for k, v in sorted(r["outcomes"].items())),
                             r["fan_waits"], r["reconnects"]])
    print(table(["run", "outcomes in the window", "fan rests waited", "reconnects"], outcome_rows,
                title="Outcomes"))
    load_notes = [n for name, r in runs.items() if not name.startswith("_") for n in r["notes"]]
    if load_notes:
        print("\nnotes from the load generators:")
        for n in load_notes[:15]:
            print(f"  - {n}")
    server_lines = runs.get("_server_errors", {}).get("lines", [])
    if server_lines:
        print("\nserver log, distinct error lines:\n" + "\n".join(server_lines[:12]))
    print(f"\n$ boxoffice audit\n{audit_out}  (exit {audit_rc})")
    return 0 if audit_rc == 0 else 1
