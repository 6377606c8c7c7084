#!/usr/bin/env python3
"""
Reference values for policy-gate's metrics (src/core/metrics.ts) and a cross-check of its
simulator (src/core/simulate.ts), written to test/fixtures/empyrical/.

empyrical itself is not installable in the environment this was produced in (no PyPI access), so the
functions below are a faithful numpy transcription -- read, then re-typed, not copied -- of

    empyrical/stats.py and empyrical/utils.py
    stefan-jansen/empyrical-reloaded @ f14713c99ca6e46cf85b75a63e9265747b9f110e
        (the fork's import of quantopian/empyrical master, i.e. the 0.5.x code line)
    cross-checked, function by function, against the fork's later
    src/empyrical/stats.py @ 2df4789ed37c4099bd812bdbc6fa35253ced631e (same arithmetic; only
    np.errstate guards were added) and against the older quantopian/empyrical
    empyrical/stats.py @ 05eb8bfd5ca2652d886b1b72ae21f8aa1f4c1150 (pre-0.5: its max_drawdown does
    NOT prepend the starting value 100, so a first-bar loss is not a drawdown there -- SPEC 5 wants
    E_0 counted as a peak, which is the 0.5.x behaviour transcribed here).

Functions transcribed (names as in empyrical): cum_returns, cum_returns_final, max_drawdown,
annual_return, annual_volatility, sharpe_ratio, downside_risk, sortino_ratio, calmar_ratio.
Only the 1-D ndarray path is transcribed (no pandas/DataFrame branches, no `out=` buffers);
risk_free = 0 and required_return = 0 as policy-gate uses them, annualization = P always given.

Like empyrical.utils, nanmean/nanstd come from bottleneck when it is importable, else numpy.

Usage:
    /usr/bin/python3 scripts/reference/empyrical_reference.py \
        examples/data/BTCUSD_1Hour.csv test/fixtures/empyrical
"""

import csv
import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

try:  # empyrical.utils: "fast versions" from bottleneck, else numpy
    import bottleneck as bn

    nanmean, nanstd, nanmin = bn.nanmean, bn.nanstd, bn.nanmin
    BACKEND = "bottleneck " + bn.__version__
except ImportError:  # pragma: no cover
    nanmean, nanstd, nanmin = np.nanmean, np.nanstd, np.nanmin
    BACKEND = "numpy " + np.__version__


# ----------------------------------------------------------------- empyrical transcription


def cum_returns(returns, starting_value=0.0):
    """empyrical.stats.cum_returns (1-D): NaN returns count as 0, then cumprod(1 + r)."""
    returns = np.asarray(returns, dtype="float64")
    if len(returns) < 1:
        return returns.copy()
    returns = np.where(np.isnan(returns), 0.0, returns)
    out = np.cumprod(returns + 1.0)
    if starting_value == 0:
        return out - 1.0
    return out * starting_value


def cum_returns_final(returns, starting_value=0.0):
    """empyrical.stats.cum_returns_final: nanprod(1 + r) (- 1 when starting_value is 0)."""
    returns = np.asarray(returns, dtype="float64")
    if len(returns) == 0:
        return float("nan")
    result = np.nanprod(returns + 1.0, axis=0)
    if starting_value == 0:
        result -= 1.0
    else:
        result *= starting_value
    return float(result)


def max_drawdown(returns):
    """empyrical.stats.max_drawdown (0.5.x): the cumulative series starts with the value 100,
    so the starting capital is the first peak; result is <= 0."""
    returns = np.asarray(returns, dtype="float64")
    if len(returns) < 1:
        return float("nan")
    cumulative = np.empty(len(returns) + 1, dtype="float64")
    cumulative[0] = start = 100.0
    cumulative[1:] = cum_returns(returns, starting_value=start)
    max_return = np.fmax.accumulate(cumulative, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(nanmin((cumulative - max_return) / max_return))


def annual_return(returns, annualization):
    """empyrical.stats.annual_return: cum_returns_final(r, 1) ** (1 / (N / P)) - 1."""
    returns = np.asarray(returns, dtype="float64")
    if len(returns) < 1:
        return float("nan")
    num_years = len(returns) / annualization
    ending_value = cum_returns_final(returns, starting_value=1)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return float(np.float64(ending_value) ** (1 / num_years) - 1)


def annual_volatility(returns, annualization, alpha=2.0):
    """empyrical.stats.annual_volatility: nanstd(ddof=1) * P ** (1 / alpha)."""
    returns = np.asarray(returns, dtype="float64")
    if len(returns) < 2:
        return float("nan")
    return float(nanstd(returns, ddof=1) * (annualization ** (1.0 / alpha)))


def sharpe_ratio(returns, annualization, risk_free=0):
    """empyrical.stats.sharpe_ratio (0.5.x): mean / std(ddof=1) * sqrt(P); no explicit
    zero-variance guard (0/0 -> nan, x/0 -> inf)."""
    returns = np.asarray(returns, dtype="float64")
    if len(returns) < 2:
        return float("nan")
    adj = returns if risk_free == 0 else returns - risk_free
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(nanmean(adj), nanstd(adj, ddof=1)) * np.sqrt(annualization))


def downside_risk(returns, annualization, required_return=0):
    """empyrical.stats.downside_risk: sqrt(nanmean(clip(r - MAR, -inf, 0) ** 2)) * sqrt(P),
    the mean taken over ALL observations."""
    returns = np.asarray(returns, dtype="float64")
    if len(returns) < 1:
        return float("nan")
    downside_diff = np.clip(returns - required_return, -np.inf, 0)
    mean_squares = nanmean(np.square(downside_diff))
    return float(np.sqrt(mean_squares) * np.sqrt(annualization))


def sortino_ratio(returns, annualization, required_return=0):
    """empyrical.stats.sortino_ratio: (nanmean(r - MAR) * P) / downside_risk."""
    returns = np.asarray(returns, dtype="float64")
    if len(returns) < 2:
        return float("nan")
    adj = returns if required_return == 0 else returns - required_return
    average_annual_return = nanmean(adj) * annualization
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(average_annual_return, downside_risk(returns, annualization, required_return)))


def calmar_ratio(returns, annualization):
    """empyrical.stats.calmar_ratio: annual_return / |max_drawdown| when max_drawdown < 0,
    nan otherwise; an infinite result becomes nan."""
    max_dd = max_drawdown(returns)
    if max_dd < 0:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            temp = annual_return(returns, annualization) / abs(max_dd)
    else:
        return float("nan")
    if np.isinf(temp):
        return float("nan")
    return float(temp)


# ----------------------------------------------------------------- helpers


def enc(x):
    """JSON has no NaN/Infinity: encode them as strings."""
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def returns_from_equity(equity):
    """Exactly what metrics.ts does: r_t = E_t / E_{t-1} - 1 (IEEE division, then subtraction)."""
    e = np.asarray(equity, dtype="float64")
    return e[1:] / e[:-1] - 1.0


def empyrical_all(returns, p):
    return {
        "cum_returns_final": enc(cum_returns_final(returns)),
        "annual_return": enc(annual_return(returns, p)),
        "annual_volatility": enc(annual_volatility(returns, p)),
        "sharpe_ratio": enc(sharpe_ratio(returns, p)),
        "sortino_ratio": enc(sortino_ratio(returns, p)),
        "max_drawdown": enc(max_drawdown(returns)),
        "calmar_ratio": enc(calmar_ratio(returns, p)),
    }


def equity_case(name, description, equity, p, deviations=None):
    equity = [float(x) for x in equity]
    r = returns_from_equity(equity) if len(equity) > 1 else np.array([], dtype="float64")
    case = {
        "name": name,
        "description": description,
        "periodsPerYear": p,
        "equity": equity,
        "empyrical": empyrical_all(r, p),
    }
    if deviations:
        case["deviations"] = deviations
    return case


def equity_from_returns(rs, start=100.0):
    e = [start]
    for r in rs:
        e.append(e[-1] * (1.0 + r))
    return e


def read_bars(path):
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            ts = datetime.strptime(row["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            rows.append(
                (
                    int(ts.timestamp() * 1000),
                    float(row["open"]),
                    float(row["high"]),
                    float(row["low"]),
                    float(row["close"]),
                    float(row["volume"]),
                )
            )
    rows.sort()
    return rows


def buy_and_hold_sim(bars, capital, fee_bps, slippage_bps):
    """Independent re-implementation of SPEC 5's sizing for one BUY (T = 1) decided at the close of
    bars[0] and filled at the open of bars[1], then held; same operation order as simulate.ts.
    No hidden leverage (SPEC 5): T = 1 is not margin, so the bought quantity is capped at
    max(0, cash) / (fill * (1 + fee)) -- cash after the fill, fees included, is not negative.
    Returns the equity curve E_0..E_N and the PnL of the trade closed (for trade statistics only)
    at the last close with the usual costs."""
    fee = fee_bps / 10000.0
    slip = slippage_bps / 10000.0
    cash, q = capital, 0.0
    o = bars[1][1]
    e = cash + q * o
    target_qty = 1.0 * e / o
    dq = target_qty - q
    fill = o * (1 + slip)
    affordable = max(0.0, cash) / (fill * (1 + fee))
    if dq > 0 and affordable < dq:
        dq = affordable
    entry_flow = -(dq * fill) - abs(dq) * fill * fee
    cash -= dq * fill + abs(dq) * fill * fee
    q = q + dq
    equity = [capital]
    for b in bars[1:]:
        equity.append(cash + q * b[4])
    last_close = bars[-1][4]
    exit_fill = last_close * (1 - slip)
    exit_flow = q * exit_fill - abs(q) * exit_fill * fee
    return equity, entry_flow + exit_flow, q


def main():
    csv_path = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/data/BTCUSD_1Hour.csv")
    out_dir = Path(sys.argv[2] if len(sys.argv) > 2 else "test/fixtures/empyrical")
    out_dir.mkdir(parents=True, exist_ok=True)
    bars = read_bars(csv_path)
    closes = [b[4] for b in bars]
    P_CRYPTO_1H = 24 * 365

    cases = []
    # (a) real BTC hourly bars: close-to-close returns, the equity being the close series itself
    cases.append(
        equity_case(
            "btc_1h_last_720",
            "BTCUSD 1Hour closes: the last 721 closes, i.e. 720 close-to-close returns (30 days)",
            closes[-721:],
            P_CRYPTO_1H,
        )
    )
    cases.append(
        equity_case(
            "btc_1h_last_4320",
            "BTCUSD 1Hour closes: the last 4321 closes, i.e. 4320 close-to-close returns (180 days)",
            closes[-4321:],
            P_CRYPTO_1H,
        )
    )
    # (b) buy and hold over the last 720 bars, through SPEC 5's sizing and costs
    window = bars[-721:]  # window[0] is the decision bar before the window
    bh_equity, bh_trade_pnl, bh_qty = buy_and_hold_sim(window, 100000.0, 25.0, 5.0)
    bh = equity_case(
        "btc_1h_buy_and_hold_720",
        "Buy and hold BTCUSD over the last 720 1Hour bars: BUY (T=1) at the close of the bar before the "
        "window, filled at the first window bar's open; capital 100000, fee 25 bps, slippage 5 bps",
        bh_equity,
        P_CRYPTO_1H,
    )
    bh["simulation"] = {
        "capital": 100000.0,
        "feeBps": 25.0,
        "slippageBps": 5.0,
        "minTradeValue": 1.0,
        "bars": {
            "time": [b[0] for b in window],
            "open": [b[1] for b in window],
            "high": [b[2] for b in window],
            "low": [b[3] for b in window],
            "close": [b[4] for b in window],
            "volume": [b[5] for b in window],
        },
        "quantity": bh_qty,
        "openTradePnlAtLastClose": bh_trade_pnl,
        "buyHoldReturn": window[-1][4] / window[1][1] - 1.0,
    }
    cases.append(bh)

    # (c) small hand series, including every edge case empyrical answers with nan/inf
    hand = [
        ("mixed_daily", "mixed gains and losses, P = 252", [0.01, -0.02, 0.015, 0.0, -0.005, 0.03], 252, None),
        ("first_bar_loss", "the first return is a loss: E_0 must count as the peak", [-0.1, 0.05, 0.02], 252, None),
        ("mixed_hourly", "mixed, P = 8760", [0.002, -0.001, 0.0005, -0.003, 0.004, 0.001, -0.002], 8760, None),
        ("two_returns_crypto_daily", "two returns, P = 365", [0.03, -0.01], 365, None),
        ("all_zero", "flat equity: zero variance, no downside, no drawdown", [0.0, 0.0, 0.0, 0.0], 8760, None),
        ("all_positive", "only gains: no downside (sortino inf), no drawdown (calmar nan)", [0.01, 0.02, 0.005], 252, None),
        ("single_gain", "one return: no std (ddof 1), no sortino", [0.01], 252, None),
        ("single_loss", "one losing return", [-0.05], 252, None),
        ("no_returns", "E_0 only: nothing is defined", [], 252, None),
        ("total_loss", "equity reaches exactly 0 at the last bar", [0.1, -1.0], 252, None),
        ("cagr_overflow", "two big gains at P = 8760: (1+R)^(P/N) overflows to inf", [0.5, 0.5], 8760, None),
        ("calmar_overflow", "annual return overflows, so calmar is inf -> nan", [0.5, -0.1], 8760, None),
        (
            "negative_final_equity",
            "a short blown through zero: equity ends negative; P/N = 126 is an integer, so numpy's power of "
            "a negative base returns a (meaningless) real number",
            [0.1, -1.5],
            252,
            {"cagr": "equity ended non-positive: policy-gate reports null, empyrical a meaningless real",
             "calmar": "follows cagr"},
        ),
        (
            "constant_positive",
            "constant non-zero returns: std is 0 mathematically, numpy may leave a rounding residue",
            [0.01, 0.01, 0.01, 0.01],
            252,
            None,
        ),
    ]
    for name, desc, rs, p, dev in hand:
        eq = equity_from_returns(rs)
        c = equity_case(name, desc, eq, p, dev)
        c["returnsUsedToBuildEquity"] = rs
        # constant_positive: whatever numpy makes of 0/0-ish std, policy-gate reports null sharpe
        if name == "constant_positive":
            r = returns_from_equity(eq)
            if not np.all(r == r[0]):
                c["note"] = "after E_t/E_{t-1}-1 the returns are not bit-identical"
            sr = c["empyrical"]["sharpe_ratio"]
            if isinstance(sr, float) and math.isfinite(sr):
                c["deviations"] = {
                    "sharpe": "zero variance: empyrical divides by a rounding residue, policy-gate reports null",
                    "volatility": "zero variance: policy-gate reports exactly 0",
                }
        cases.append(c)

    doc = {
        "generatedBy": "scripts/reference/empyrical_reference.py",
        "transcribedFrom": {
            "repository": "stefan-jansen/empyrical-reloaded (fork of quantopian/empyrical)",
            "commit": "f14713c99ca6e46cf85b75a63e9265747b9f110e",
            "files": ["empyrical/stats.py", "empyrical/utils.py"],
            "crossChecked": [
                "stefan-jansen/empyrical-reloaded src/empyrical/stats.py @ 2df4789ed37c4099bd812bdbc6fa35253ced631e",
                "quantopian/empyrical empyrical/stats.py @ 05eb8bfd5ca2652d886b1b72ae21f8aa1f4c1150 (older; not used)",
            ],
        },
        "numerics": {"python": sys.version.split()[0], "numpy": np.__version__, "nanmean/nanstd": BACKEND},
        "source": str(csv_path),
        "encoding": "non-finite values are the strings NaN, Infinity, -Infinity",
        "cases": cases,
    }
    out = out_dir / "metrics-reference.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out} ({len(cases)} cases, backend {BACKEND})")
    for c in cases:
        print(c["name"], json.dumps(c["empyrical"]))


if __name__ == "__main__":
    main()
