"""
Export a policy to ONNX for policy-gate: the model file, its policy card and golden vectors.

Needs torch and onnx only (what a training repository already has); stable-baselines3 and
sb3-contrib are not imported: the policy object is used through the attributes their policies have
(features_extractor, mlp_extractor, action_net, lstm_actor), so a plain torch module with the same
structure works too. See docs/exporting.md.

    from export_policy import export_policy
    export_policy(model.policy, "out", "BTCUSD_1Hour", card, style="logits", obs_shape=(9,),
                  golden_obs=some_observations, vec_normalize=env)   # env: a VecNormalize, or None

Styles (what the ONNX file computes, and how the card reads it):
  "logits"      action_net(mlp_extractor.forward_actor(features)): one score per action (Discrete),
                or the Gaussian mean (Box, unclipped). Card: output "logits"/"action", kind logits/continuous.
  "sb3"         stable-baselines3's documented recipe: policy(obs, deterministic=True) -> (actions,
                values, log_prob); outputs named action, value, log_prob. Discrete card: output_kind
                "action_index", log_prob_output "log_prob"; Box: output "action" (the mean).
  "recurrent"   sb3-contrib RecurrentPPO's actor for one step: inputs obs, h_in, c_in ([layers, batch,
                hidden]) and episode_starts ([batch]); outputs action (the index, or the mean for Box),
                h_out, c_out. Card: state pairs with the batch on axis 1, extra input episode_starts.

Feature graphs: export_feature_graph(module, out_dir, file_name, window) exports a team's own
feature function (raw bars in, one feature row per window out) for a card's observation.feature_graph.

Golden vectors: for each row of golden_obs (raw observations, before VecNormalize), the model input
(normalised and clipped as VecNormalize does) and the output torch computes are written as
{obs, output}. For "recurrent" they are a window's first step (zero state, episode start 1), which
is how policy-gate checks them.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Optional, Sequence

import torch
from torch import nn

OPSET = 17


def _features(policy: nn.Module, obs: torch.Tensor) -> torch.Tensor:
    # SB3 >= 1.8 keeps the actor's extractor as pi_features_extractor (the same module when shared).
    extractor = getattr(policy, "pi_features_extractor", None)
    if extractor is None:
        extractor = policy.features_extractor
    return extractor(obs.float())  # preprocess_obs of a Box observation space: a float cast


def _is_discrete(policy: nn.Module) -> bool:
    # SB3 keeps log_std only for Gaussian (Box) policies.
    return not isinstance(getattr(policy, "log_std", None), torch.Tensor)


class ActionHead(nn.Module):
    """Logits (Discrete) or the Gaussian mean (Box): the action network on the actor's latent."""

    def __init__(self, policy: nn.Module):
        super().__init__()
        self.policy = policy

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        latent_pi = self.policy.mlp_extractor.forward_actor(_features(self.policy, obs))
        return self.policy.action_net(latent_pi)


class DocumentedRecipe(nn.Module):
    """stable-baselines3's export recipe: the policy's own deterministic forward pass."""

    def __init__(self, policy: nn.Module):
        super().__init__()
        self.policy = policy

    def forward(self, obs: torch.Tensor):
        return self.policy(obs, deterministic=True)


class RecurrentStep(nn.Module):
    """One step of a RecurrentPPO actor: reset the state where an episode starts, LSTM, actor head."""

    def __init__(self, policy: nn.Module):
        super().__init__()
        self.policy = policy
        self.discrete = _is_discrete(policy)

    def forward(self, obs, h_in, c_in, episode_starts):
        keep = (1.0 - episode_starts).view(1, -1, 1)
        features = _features(self.policy, obs)
        out, (h_out, c_out) = self.policy.lstm_actor(features.unsqueeze(0), (keep * h_in, keep * c_in))
        latent_pi = self.policy.mlp_extractor.forward_actor(out.squeeze(0))
        head = self.policy.action_net(latent_pi)
        action = torch.argmax(head, dim=1) if self.discrete else head
        return action, h_out, c_out


def normalize_obs(obs, vec_normalize) -> torch.Tensor:
    """VecNormalize's transform: clip((obs - mean) / sqrt(var + epsilon), -clip_obs, clip_obs), float32."""
    x = torch.as_tensor(obs, dtype=torch.float64)
    if vec_normalize is None:
        return x.float()
    rms = vec_normalize.obs_rms
    mean = torch.as_tensor(rms.mean, dtype=torch.float64)
    std = torch.sqrt(torch.as_tensor(rms.var, dtype=torch.float64) + vec_normalize.epsilon)
    return torch.clamp((x - mean) / std, -vec_normalize.clip_obs, vec_normalize.clip_obs).float()


def card_normalize(vec_normalize) -> dict:
    """The card's observation.normalize and clip for a VecNormalize (std = sqrt(var + epsilon))."""
    rms = vec_normalize.obs_rms
    mean = [float(v) for v in torch.as_tensor(rms.mean, dtype=torch.float64).flatten()]
    var = torch.as_tensor(rms.var, dtype=torch.float64).flatten()
    std = [float(math.sqrt(float(v) + vec_normalize.epsilon)) for v in var]
    return {"normalize": {"mean": mean, "std": std}, "clip": float(vec_normalize.clip_obs)}


def export_policy(
    policy: nn.Module,
    out_dir: str,
    model_id: str,
    card: dict,
    *,
    style: str = "logits",
    obs_shape: Sequence[int],
    golden_obs: Optional[Any] = None,
    vec_normalize: Any = None,
    dynamic_batch: bool = True,
) -> dict:
    """Writes <out_dir>/<model_id>.onnx and <model_id>.card.json; returns the card written.

    `card` holds what only the training code knows (symbol, timeframe, observation features, action
    type and meanings, execution); the input, outputs, state, extra inputs, normalize and goldens are
    filled in here. `obs_shape` is one observation's shape: (W*F,) or (W, F) for a rank-3 input.
    """
    if style not in ("logits", "sb3", "recurrent"):
        raise ValueError(f"style must be logits, sb3 or recurrent, got {style!r}")
    policy = policy.eval()
    discrete = _is_discrete(policy)
    os.makedirs(out_dir, exist_ok=True)
    onnx_path = os.path.join(out_dir, f"{model_id}.onnx")
    card = json.loads(json.dumps(card))  # a copy
    card.setdefault("schema", "policy-card/1")
    card["input"] = "obs"
    action = card.setdefault("action", {})
    action["type"] = "discrete" if discrete else "continuous"
    obs = torch.zeros((1, *obs_shape), dtype=torch.float32)

    if style == "logits":
        module, args = ActionHead(policy), (obs,)
        inputs, outputs = ["obs"], ["logits" if discrete else "action"]
        action["output"] = outputs[0]
        action["output_kind"] = "logits" if discrete else "continuous"
        axes = {"obs": {0: "batch"}, outputs[0]: {0: "batch"}}
    elif style == "sb3":
        module, args = DocumentedRecipe(policy), (obs,)
        inputs, outputs = ["obs"], ["action", "value", "log_prob"]
        action["output"] = "action"
        if discrete:
            action["output_kind"] = "action_index"
            action["log_prob_output"] = "log_prob"
        else:
            action["output_kind"] = "continuous"
        axes = {name: {0: "batch"} for name in inputs + outputs}
    else:
        lstm = policy.lstm_actor
        state = torch.zeros((lstm.num_layers, 1, lstm.hidden_size), dtype=torch.float32)
        module, args = RecurrentStep(policy), (obs, state, state.clone(), torch.ones(1))
        inputs, outputs = ["obs", "h_in", "c_in", "episode_starts"], ["action", "h_out", "c_out"]
        action["output"] = "action"
        action["output_kind"] = "action_index" if discrete else "continuous"
        card["state"] = [
            {"input": "h_in", "output": "h_out", "batch_axis": 1},
            {"input": "c_in", "output": "c_out", "batch_axis": 1},
        ]
        card["extra_inputs"] = [{"name": "episode_starts", "value": "episode_start"}]
        axes = {"obs": {0: "batch"}, "h_in": {1: "batch"}, "c_in": {1: "batch"}, "episode_starts": {0: "batch"},
                "action": {0: "batch"}, "h_out": {1: "batch"}, "c_out": {1: "batch"}}

    with torch.no_grad():
        torch.onnx.export(module, args, onnx_path, input_names=inputs, output_names=outputs,
                          dynamic_axes=axes if dynamic_batch else None, opset_version=OPSET)
    import onnx  # checked after writing: the file must be a valid, self-contained model
    onnx.checker.check_model(onnx.load(onnx_path), full_check=True)

    if vec_normalize is not None:
        card.setdefault("observation", {}).update(card_normalize(vec_normalize))

    goldens = []
    if golden_obs is not None:
        x = normalize_obs(golden_obs, vec_normalize).reshape((-1, *obs_shape))
        with torch.no_grad():
            for row in x:
                one = row.unsqueeze(0)
                if style == "recurrent":
                    out = module(one, *[torch.zeros_like(a) for a in args[1:3]], torch.ones(1))[0]
                else:
                    out = module(one)
                    out = out[0] if isinstance(out, tuple) else out
                goldens.append({"obs": [float(v) for v in row.flatten()],
                                "output": [float(v) for v in out.flatten()]})
    card["golden"] = card.get("golden", []) + goldens
    with open(os.path.join(out_dir, f"{model_id}.card.json"), "w") as f:
        json.dump(card, f, indent=1)
        f.write("\n")
    return card


def export_feature_graph(
    features: nn.Module,
    out_dir: str,
    file_name: str,
    window: int,
    *,
    times: bool = True,
    times_unit: str = "s",
) -> dict:
    """Writes <out_dir>/<file_name>, a feature graph, and returns the card's observation.feature_graph.

    `features(bars, times)` (or `features(bars)` with times=False) maps a batch of windows to feature
    rows: bars [batch, window, 5] float32 (open, high, low, close, volume; oldest bar first, the last
    row is the decision bar), times [batch, window] int64 (each bar's start, UTC, in `times_unit`),
    and returns [batch, F] — the F feature values of each window's last bar. Each window must be
    computed on its own: a value that mixes the rows of a batch reads other bars (policy-gate's
    look-ahead audit flags it).
    """
    if times_unit not in ("s", "ms", "ns"):
        raise ValueError(f"times_unit must be s, ms or ns, got {times_unit!r}")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, file_name)
    bars = torch.ones((2, window, 5), dtype=torch.float32)
    args = (bars, torch.zeros((2, window), dtype=torch.int64)) if times else (bars,)
    inputs = ["bars", "times"] if times else ["bars"]
    axes = {name: {0: "batch"} for name in inputs + ["features"]}
    with torch.no_grad():
        torch.onnx.export(features.eval(), args, path, input_names=inputs, output_names=["features"],
                          dynamic_axes=axes, opset_version=OPSET)
    import onnx
    onnx.checker.check_model(onnx.load(path), full_check=True)
    graph = {"file": file_name, "window": window}
    if times and times_unit != "s":
        graph["times_unit"] = times_unit
    return graph
