"""
A feature graph: a team's own feature function, exported from torch to ONNX, that policy-gate runs on
the bars up to each decision bar (docs/exporting.md, "Your own features: a feature graph").

    /usr/bin/python3 scripts/export/feature_graph_example.py     # from the repository root

writes test/fixtures/feature-graph/ (or the folder named by POLICY_GATE_FG_OUT):

  features.onnx            MarketFeatures below: bars [batch, 48, 5] + times [batch, 48] -> [batch, 6]
  features_leaky.onnx      the same, except that momentum is z-scored over the batch: each row then
                           depends on the other windows of the batch, i.e. on later bars (a look-ahead
                           that policy-gate's audit must catch)
  BTCUSD_1Hour.onnx        a policy (stable-baselines3's module structure, logits) on 4 rows of
                           the 6 graph features plus the built-in "body"
  BTCUSD_1Hour.card.json   its card: observation.feature_graph, normalize, {obs, output} and {at, obs} goldens
  BTCUSD_1Hour.reference.json  torch's decision at every decision bar of the backtest and each fold

The observations here are computed the way training code computes them: the feature module applied
in torch to each bar's own window, built with numpy from examples/data/BTCUSD_1Hour.csv — independent
of policy-gate, which runs the exported graph through onnxruntime. Byte-for-byte reproducible (fixed
seed, one thread); test/feature-graph.test.ts regenerates it into a temporary folder and compares,
where torch is installed.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
from datetime import datetime

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_policy import export_feature_graph, export_policy  # noqa: E402
from make_test_models import ActorCriticPolicy, iso, windows, BARS, END, BACKTEST_DAYS, WF_DAYS, FOLDS, MEANINGS  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.environ.get("POLICY_GATE_FG_OUT") or os.path.join(ROOT, "test", "fixtures", "feature-graph")
SEED = 20260105
LOOKBACK = 48  # bars the feature function reads, the decision bar included
WINDOW = 4     # feature rows per observation


class MarketFeatures(nn.Module):
    """Six features of the last bar of each window, from that window only.

    bars:  [batch, L, 5] float32 — open, high, low, close, volume; oldest first, the last row is the decision bar
    times: [batch, L] int64 — each bar's start, Unix seconds (UTC)
    returns [batch, 6]: 1-bar log return, 24-bar log momentum, volatility of the L-1 log returns
    (sample std), 14-bar mean true range / close, close / window VWAP - 1, sine of the UTC hour.
    """

    def forward(self, bars: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        o, h, l, c, v = bars.unbind(-1)
        r = torch.log(c[:, 1:] / c[:, :-1])
        ret_1 = r[:, -1]
        mom_24 = torch.log(c[:, -1] / c[:, -25])
        vol = r.std(dim=1, unbiased=True)
        prev = c[:, -15:-1]
        hi, lo = h[:, -14:], l[:, -14:]
        tr = torch.maximum(hi - lo, torch.maximum((hi - prev).abs(), (lo - prev).abs()))
        atr_rel = tr.mean(dim=1) / c[:, -1]
        tp = (h + l + c) / 3
        vwap_dist = c[:, -1] / ((tp * v).sum(dim=1) / v.sum(dim=1)) - 1
        hour = torch.remainder(torch.div(times[:, -1], 3600, rounding_mode="floor"), 24).to(torch.float32)
        hour_sin = torch.sin(hour * (2 * math.pi / 24))
        return torch.stack([ret_1, mom_24, vol, atr_rel, vwap_dist, hour_sin], dim=1)


class LeakyFeatures(MarketFeatures):
    """MarketFeatures with momentum z-scored over the batch — the statistics of every window in it."""

    def forward(self, bars: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        x = super().forward(bars, times)
        m = x[:, 1]
        z = (m - m.mean()) / (m.std() + 1e-6)
        return torch.cat([x[:, :1], z.unsqueeze(1), x[:, 2:]], dim=1)


def load_bars():
    t, ohlcv = [], []
    with open(BARS) as f:
        for row in csv.DictReader(f):
            t.append(int(datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")).timestamp()))
            ohlcv.append([float(row[k]) for k in ("open", "high", "low", "close", "volume")])
    return np.array(t, dtype=np.int64), np.array(ohlcv)


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    t, ohlcv = load_bars()
    n = len(t)
    wins = windows(t * 1000)

    graph = export_feature_graph(MarketFeatures(), OUT, "features.onnx", LOOKBACK)
    export_feature_graph(LeakyFeatures(), OUT, "features_leaky.onnx", LOOKBACK)

    # The training code's feature rows: the module on each bar's own window (batch of one window each
    # would be slow; windows are independent, so a batch of them gives the same rows).
    fm = MarketFeatures().eval()
    idx = np.arange(LOOKBACK - 1, n)
    win = np.stack([ohlcv[i - LOOKBACK + 1:i + 1] for i in idx]).astype(np.float32)
    tw = np.stack([t[i - LOOKBACK + 1:i + 1] for i in idx])
    with torch.no_grad():
        g = fm(torch.from_numpy(win), torch.from_numpy(tw)).double().numpy()
    rows = np.full((n, 7), np.nan)
    rows[LOOKBACK - 1:, :6] = g
    rows[:, 6] = (ohlcv[:, 3] - ohlcv[:, 0]) / ohlcv[:, 0]  # the built-in "body": (c - o) / o

    # Per-feature statistics over the first 3000 bars (the "training" period), population std.
    sample = rows[LOOKBACK - 1:3000]
    mean, std = sample.mean(axis=0), sample.std(axis=0)

    def obs_at(taus):
        x = np.stack([rows[tau - WINDOW + 1:tau + 1] for tau in taus])  # [k, W, 7], time-major
        return ((x - mean) / std).astype(np.float32).reshape(len(taus), -1)

    features = [{"name": "graph", "column": k} for k in range(6)] + ["body"]
    card = {"schema": "policy-card/1", "symbol": "BTCUSD", "timeframe": "1Hour", "asset_class": "crypto",
            "observation": {"window": WINDOW, "feature_graph": graph, "features": features,
                            "normalize": {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}},
            "action": {"meanings": MEANINGS}, "execution": {"long_only": False, "max_exposure": 1.0}}
    policy = ActorCriticPolicy(WINDOW * 7, n_actions=3).eval()
    first_decision = wins[0][1] - 1
    card = export_policy(policy, OUT, "BTCUSD_1Hour", card, style="logits", obs_shape=(WINDOW * 7,),
                         golden_obs=obs_at([first_decision + 3, first_decision + 50]))
    for tau in (first_decision, first_decision + 100, wins[1][1] + 7):
        card["golden"].append({"at": iso(int(t[tau]) * 1000), "obs": [float(v) for v in obs_at([tau])[0]]})
    with open(os.path.join(OUT, "BTCUSD_1Hour.card.json"), "w") as f:
        json.dump(card, f, indent=1)
        f.write("\n")

    ref = []
    for label, s, e in wins:
        taus = list(range(s - 1, e))
        x = obs_at(taus)
        assert not np.isnan(x).any(), f"the warm-up reaches into window {label}"
        with torch.no_grad():
            a, _, _ = policy(torch.from_numpy(x), deterministic=True)
        ref.append({"window": label, "first_decision": iso(int(t[taus[0]]) * 1000), "last_decision": iso(int(t[taus[-1]]) * 1000),
                    "start": iso(int(t[s]) * 1000), "end": iso(int(t[e]) * 1000), "actions": [int(v) for v in a]})
    meta = {"torch": torch.__version__, "seed": SEED, "end": END, "backtest_days": BACKTEST_DAYS,
            "walk_forward": {"days": WF_DAYS, "folds": FOLDS}, "bars": os.path.relpath(BARS, ROOT),
            "model": "BTCUSD_1Hour.onnx", "kind": "discrete", "windows": ref}
    with open(os.path.join(OUT, "BTCUSD_1Hour.reference.json"), "w") as f:
        json.dump(meta, f)
        f.write("\n")
    print(f"wrote {OUT} with torch {torch.__version__}")


if __name__ == "__main__":
    main()
