"""
Builds the small policies under test/fixtures/sb3/ and torch's step-by-step reference decisions
over real bars (examples/data/BTCUSD_1Hour.csv), so the TypeScript tests (test/sb3-exports.test.ts)
compare policy-gate's decisions with torch's without needing torch.

The networks are built the way stable-baselines3 and sb3-contrib build them (their module
structure, rebuilt here in plain torch because neither library is installed): FlattenExtractor,
MlpExtractor with policy_net and value_net (Tanh), action_net, value_net, log_std for Box actions,
and RecurrentPPO's lstm_actor / lstm_critic with episode starts handled as in
RecurrentActorCriticPolicy._process_sequence. Weights are torch's default initialisation under a
fixed seed.

    /usr/bin/python3 scripts/export/make_test_models.py     # from the repository root

The output is byte-for-byte reproducible (fixed seed, one thread); test/sb3-exports.test.ts
regenerates it into a temporary folder and compares, where torch is installed.

Observation features are computed here with numpy, independently of policy-gate, and written as
{at, obs} golden vectors into each card (observation parity); the decisions of every evaluation
window (the backtest and each walk-forward fold, each one episode) go to <name>.reference.json.
"""
from __future__ import annotations

import csv
import json
import math
import os
import sys
from datetime import datetime, timezone

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_policy import export_policy, normalize_obs  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Where the files go: test/fixtures/sb3, or the folder named by POLICY_GATE_SB3_OUT (the regeneration test).
OUT = os.environ.get("POLICY_GATE_SB3_OUT") or os.path.join(ROOT, "test", "fixtures", "sb3")
BARS = os.path.join(ROOT, "examples", "data", "BTCUSD_1Hour.csv")
SEED = 20241227
END = "2024-09-10T00:00:00Z"
BACKTEST_DAYS = 30
WF_DAYS = 90
FOLDS = 3
DAY_MS = 86_400_000
MEANINGS = ["CLOSE", "BUY", "SELL"]
FEATURES = [{"name": "log_return", "lag": 1}, {"name": "log_return", "lag": 4}, {"name": "range"},
            {"name": "body"}, {"name": "hour_sin"}, {"name": "hour_cos"}]
SCALE = {"mean": [0, 0, 0, 0, 0, 0], "std": [0.005, 0.01, 0.01, 0.005, 1, 1]}


# ------------------------------------------------------------------ bars and features (numpy)

def load_bars():
    t, o, h, l, c = [], [], [], [], []
    with open(BARS) as f:
        for row in csv.DictReader(f):
            t.append(int(datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")).timestamp() * 1000))
            o.append(float(row["open"])); h.append(float(row["high"])); l.append(float(row["low"])); c.append(float(row["close"]))
    return np.array(t, dtype=np.int64), np.array(o), np.array(h), np.array(l), np.array(c)


def feature_rows(t, o, h, l, c):
    """One row per bar: ln(c/c-1), ln(c/c-4), (h-l)/c, (c-o)/o, sin and cos of the UTC hour; NaN in the warm-up."""
    n = len(c)
    x = np.full((n, 6), np.nan)
    x[1:, 0] = np.log(c[1:] / c[:-1])
    x[4:, 1] = np.log(c[4:] / c[:-4])
    x[:, 2] = (h - l) / c
    x[:, 3] = (c - o) / o
    hour = (t // 3_600_000) % 24
    x[:, 4] = np.sin(2 * math.pi * hour / 24)
    x[:, 5] = np.cos(2 * math.pi * hour / 24)
    return x


def observations(x, window):
    """Observation at each bar: the `window` newest rows, time-major (oldest first); NaN when incomplete."""
    n, f = x.shape
    obs = np.full((n, window, f), np.nan)
    for w in range(window):
        obs[window - 1:, w, :] = x[w:n - window + 1 + w, :]
    return obs


def iso(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def windows(t):
    """The evaluation windows as policy-gate places them: the backtest, then the walk-forward folds."""
    end_ms = int(datetime.fromisoformat(END.replace("Z", "+00:00")).timestamp() * 1000)

    def place(days):
        end = int(np.searchsorted(t, end_ms, side="right")) - 1
        start = int(np.searchsorted(t, t[end] - days * DAY_MS, side="right"))
        return start, end

    out = [("backtest", *place(BACKTEST_DAYS))]
    s, e = place(WF_DAYS)
    size = (e - s + 1) // FOLDS
    for i in range(FOLDS):
        fs = s + i * size
        out.append((f"fold{i + 1}", fs, e if i == FOLDS - 1 else fs + size - 1))
    return out


# ------------------------------------------------------------------ stable-baselines3's module structure

class FlattenExtractor(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()

    def forward(self, obs):
        return self.flatten(obs)


class MlpExtractor(nn.Module):
    def __init__(self, feature_dim, pi=(64, 64), vf=(64, 64)):
        super().__init__()
        def mlp(sizes):
            layers, last = [], feature_dim
            for s in sizes:
                layers += [nn.Linear(last, s), nn.Tanh()]
                last = s
            return nn.Sequential(*layers)
        self.policy_net = mlp(pi)
        self.value_net = mlp(vf)
        self.latent_dim_pi, self.latent_dim_vf = pi[-1], vf[-1]

    def forward(self, features):
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features):
        return self.policy_net(features)

    def forward_critic(self, features):
        return self.value_net(features)


class ActorCriticPolicy(nn.Module):
    """PPO's MlpPolicy: Discrete (n actions) or Box (dim actions, a diagonal Gaussian)."""

    def __init__(self, obs_dim, n_actions=None, box_dim=None):
        super().__init__()
        self.features_extractor = FlattenExtractor()
        self.mlp_extractor = MlpExtractor(obs_dim)
        self.discrete = n_actions is not None
        self.action_net = nn.Linear(64, n_actions if self.discrete else box_dim)
        self.value_net = nn.Linear(64, 1)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((box_dim,), -0.5))
            self.box_dim = box_dim

    def extract_features(self, obs):
        return self.features_extractor(obs.float())

    def forward(self, obs, deterministic=False):
        features = self.extract_features(obs)
        latent_pi, latent_vf = self.mlp_extractor(features)
        values = self.value_net(latent_vf)
        head = self.action_net(latent_pi)
        if self.discrete:
            dist = torch.distributions.Categorical(logits=head)
            actions = torch.argmax(dist.probs, dim=1) if deterministic else dist.sample()
            log_prob = dist.log_prob(actions)
            return actions.reshape((-1,)), values, log_prob
        std = torch.ones_like(head) * self.log_std.exp()
        dist = torch.distributions.Normal(head, std)
        actions = head if deterministic else dist.rsample()
        log_prob = dist.log_prob(actions).sum(dim=1)
        return actions.reshape((-1, self.box_dim)), values, log_prob


class RecurrentActorCriticPolicy(ActorCriticPolicy):
    """sb3-contrib's MlpLstmPolicy: LSTMs for the actor and the critic, states (layers, n_envs, hidden)."""

    def __init__(self, obs_dim, n_actions, hidden=16, layers=1):
        super().__init__(obs_dim, n_actions=n_actions)
        self.mlp_extractor = MlpExtractor(hidden)
        self.lstm_actor = nn.LSTM(obs_dim, hidden, num_layers=layers)
        self.lstm_critic = nn.LSTM(obs_dim, hidden, num_layers=layers)

    @staticmethod
    def _process_sequence(features, lstm_states, episode_starts, lstm):
        n_seq = lstm_states[0].shape[1]
        features_sequence = features.reshape((n_seq, -1, lstm.input_size)).swapaxes(0, 1)
        episode_starts = episode_starts.reshape((n_seq, -1)).swapaxes(0, 1)
        if torch.all(episode_starts == 0.0):
            out, lstm_states = lstm(features_sequence, lstm_states)
            return torch.flatten(out.transpose(0, 1), start_dim=0, end_dim=1), lstm_states
        outs = []
        for f, start in zip(features_sequence, episode_starts):
            hidden, lstm_states = lstm(f.unsqueeze(dim=0), (
                (1.0 - start).view(1, n_seq, 1) * lstm_states[0],
                (1.0 - start).view(1, n_seq, 1) * lstm_states[1],
            ))
            outs += [hidden]
        return torch.flatten(torch.cat(outs).transpose(0, 1), start_dim=0, end_dim=1), lstm_states

    def step(self, obs, states_pi, episode_starts):
        """predict(): one deterministic step of the actor."""
        latent, states_pi = self._process_sequence(self.extract_features(obs), states_pi, episode_starts, self.lstm_actor)
        logits = self.action_net(self.mlp_extractor.forward_actor(latent))
        return torch.argmax(logits, dim=1), states_pi


class OnnxableSB3Policy(nn.Module):
    """Verbatim the export recipe of stable-baselines3's documentation."""

    def __init__(self, policy):
        super().__init__()
        self.policy = policy

    def forward(self, observation):
        return self.policy(observation, deterministic=True)


class RunningMeanStd:
    def __init__(self, mean, var):
        self.mean, self.var = mean, var


class VecNormalizeStats:
    """The attributes of a VecNormalize that the export reads."""

    def __init__(self, mean, var, clip_obs, epsilon=1e-8):
        self.obs_rms = RunningMeanStd(mean, var)
        self.clip_obs, self.epsilon = clip_obs, epsilon


# ------------------------------------------------------------------ building and referencing

def base_card(window=1, normalize=True):
    obs = {"window": window, "features": FEATURES}
    if normalize:
        obs["normalize"] = {"mean": SCALE["mean"] * window if window == 1 else SCALE["mean"], "std": SCALE["std"]}
    return {"schema": "policy-card/1", "symbol": "BTCUSD", "timeframe": "1Hour", "asset_class": "crypto",
            "observation": obs, "action": {"meanings": MEANINGS} if True else {},
            "execution": {"long_only": False, "max_exposure": 1.0}}


def scaled(obs_raw):
    return (obs_raw - np.array(SCALE["mean"])) / np.array(SCALE["std"])


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    t, o, h, l, c = load_bars()
    x = feature_rows(t, o, h, l, c)
    wins = windows(t)
    first_decision = wins[0][1] - 1
    golden_at = [first_decision, first_decision + 100, wins[1][1] + 7]
    os.makedirs(OUT, exist_ok=True)
    meta = {"torch": torch.__version__, "seed": SEED, "end": END, "backtest_days": BACKTEST_DAYS,
            "walk_forward": {"days": WF_DAYS, "folds": FOLDS}, "bars": os.path.relpath(BARS, ROOT)}

    def model_input(obs_rows, vecnorm=None):
        """float32 model input from raw observation rows (card normalize, or VecNormalize)."""
        if vecnorm is not None:
            return normalize_obs(obs_rows.reshape(len(obs_rows), -1), vecnorm).numpy()
        return scaled(obs_rows).astype(np.float32)

    def write_reference(name, card_json_extra, decide, window=1, vecnorm=None, kind="discrete"):
        obs = observations(x, window)  # raw rows, [n, W, F]
        ref_windows = []
        for label, s, e in wins:
            taus = list(range(s - 1, e))
            rows = obs[taus]
            assert not np.isnan(rows).any(), f"{name}: warm-up reaches into window {label}"
            inp = model_input(rows, vecnorm).reshape(len(taus), *((window, 6) if window > 1 else (6,)))
            values = decide(torch.from_numpy(inp))
            entry = {"window": label, "first_decision": iso(int(t[taus[0]])), "last_decision": iso(int(t[taus[-1]])),
                     "start": iso(int(t[s])), "end": iso(int(t[e]))}
            entry.update(values)
            ref_windows.append(entry)
        with open(os.path.join(OUT, f"{name}.reference.json"), "w") as f:
            json.dump({**meta, "model": f"{name}.onnx", "kind": kind, "windows": ref_windows}, f)
            f.write("\n")
        # observation parity: the rows computed here, as {at, obs} goldens of the card
        card_path = os.path.join(OUT, f"{name}.card.json")
        with open(card_path) as f:
            card = json.load(f)
        for tau in golden_at:
            inp = model_input(obs[[tau]], vecnorm).reshape(-1)
            card["golden"].append({"at": iso(int(t[tau])), "obs": [float(v) for v in inp]})
        card.update(card_json_extra)
        with open(card_path, "w") as f:
            json.dump(card, f, indent=1)
            f.write("\n")

    golden_rows = lambda window: observations(x, window)[[first_decision + 3, first_decision + 50]]

    # 1. SB3's documented recipe as is: input "input", batch fixed at 1, outputs (actions int64, values, log_prob)
    #    named by torch; a card that names no output (the action index is recognised, with a note).
    sb3 = ActorCriticPolicy(6, n_actions=3).eval()
    path = os.path.join(OUT, "sb3_discrete.onnx")
    with torch.no_grad():
        torch.onnx.export(OnnxableSB3Policy(sb3), torch.zeros(1, 6), path, opset_version=17, input_names=["input"])
    card = base_card()
    card["input"] = "input"
    card["golden"] = []
    with torch.no_grad():
        for row in golden_rows(1):
            a, _, _ = sb3(torch.from_numpy(scaled(row).astype(np.float32)).reshape(1, 6), deterministic=True)
            card["golden"].append({"obs": [float(v) for v in scaled(row).astype(np.float32).reshape(-1)], "output": [int(a[0])]})
    with open(os.path.join(OUT, "sb3_discrete.card.json"), "w") as f:
        json.dump(card, f, indent=1)

    def sb3_decide(inp):
        out = []
        lps = []
        with torch.no_grad():
            for row in inp:  # step by step, batch 1 as exported
                a, _, lp = sb3(row.unsqueeze(0), deterministic=True)
                out.append(int(a[0])); lps.append(float(lp[0]))
        return {"actions": out, "log_probs": lps}
    write_reference("sb3_discrete", {}, sb3_decide)

    # 2. logits only (action_net of the actor's latent), dynamic batch
    logits_policy = ActorCriticPolicy(6, n_actions=3).eval()
    export_policy(logits_policy, OUT, "sb3_logits", base_card(), style="logits", obs_shape=(6,),
                  golden_obs=scaled(golden_rows(1).reshape(-1, 6)))
    def logits_decide(inp):
        with torch.no_grad():
            a, _, _ = logits_policy(inp, deterministic=True)
        return {"actions": [int(v) for v in a]}
    write_reference("sb3_logits", {}, logits_decide)

    # 3. continuous (Box(1)): SB3's recipe; the first output is the Gaussian mean, unclipped
    box = ActorCriticPolicy(6, box_dim=1).eval()
    with torch.no_grad():
        box.action_net.weight.mul_(12.0)  # spread the mean beyond [-1, 1] so the clip is exercised
    card = base_card()
    card["action"] = {}
    export_policy(box, OUT, "sb3_continuous", card, style="sb3", obs_shape=(6,),
                  golden_obs=scaled(golden_rows(1).reshape(-1, 6)))
    def box_decide(inp):
        with torch.no_grad():
            a, _, _ = box(inp, deterministic=True)
        return {"means": [float(v) for v in a[:, 0]]}
    write_reference("sb3_continuous", {}, box_decide, kind="continuous")

    # 4. VecNormalize: statistics of the raw features over the first 3000 bars, clip_obs 3
    vn_policy = ActorCriticPolicy(6, n_actions=3).eval()
    sample = x[4:3000]
    vecnorm = VecNormalizeStats(sample.mean(axis=0), sample.var(axis=0), clip_obs=3.0)
    card = base_card(normalize=False)
    export_policy(vn_policy, OUT, "sb3_vecnormalize", card, style="logits", obs_shape=(6,),
                  golden_obs=golden_rows(1).reshape(-1, 6), vec_normalize=vecnorm)
    def vn_decide(inp):
        with torch.no_grad():
            a, _, _ = vn_policy(inp, deterministic=True)
        return {"actions": [int(v) for v in a]}
    write_reference("sb3_vecnormalize", {}, vn_decide, vecnorm=vecnorm)

    # 5. RecurrentPPO (MlpLstmPolicy): h and c of the actor's LSTM, [1, batch, 16], episode starts
    rec = RecurrentActorCriticPolicy(6, n_actions=3, hidden=16).eval()
    with torch.no_grad():
        for p in rec.lstm_actor.parameters():
            p.mul_(3.0)  # a livelier memory, so the state visibly changes decisions
    export_policy(rec, OUT, "recurrent_ppo", base_card(), style="recurrent", obs_shape=(6,),
                  golden_obs=scaled(golden_rows(1).reshape(-1, 6)))
    def rec_decide(inp):
        states = (torch.zeros(1, 1, 16), torch.zeros(1, 1, 16))
        out = []
        with torch.no_grad():
            for k, row in enumerate(inp):  # one episode per window: episode_start 1 at its first step
                a, states = rec.step(row.unsqueeze(0), states, torch.tensor([1.0 if k == 0 else 0.0]))
                out.append(int(a[0]))
        # The same observations without the memory (state reset every step) decide differently:
        fresh = []
        with torch.no_grad():
            for row in inp:
                a, _ = rec.step(row.unsqueeze(0), (torch.zeros(1, 1, 16), torch.zeros(1, 1, 16)), torch.tensor([1.0]))
                fresh.append(int(a[0]))
        return {"actions": out, "actions_without_memory": fresh}
    write_reference("recurrent_ppo", {}, rec_decide)

    # 6. a rank-3 window input [batch, 4, 6] (FlattenExtractor: time-major)
    w3 = ActorCriticPolicy(24, n_actions=3).eval()
    export_policy(w3, OUT, "window_rank3", base_card(window=4), style="logits", obs_shape=(4, 6),
                  golden_obs=scaled(golden_rows(4)).reshape(-1, 4, 6))
    def w3_decide(inp):
        with torch.no_grad():
            a, _, _ = w3(inp, deterministic=True)
        return {"actions": [int(v) for v in a]}
    write_reference("window_rank3", {}, w3_decide, window=4)

    print(f"wrote {OUT} with torch {torch.__version__}")


if __name__ == "__main__":
    main()
