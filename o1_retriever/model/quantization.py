"""int8 thinking on a CPU: SmoothQuant-style smoothing, then int8 linear layers with 8-bit dynamic activations, one
range per token.

Generating a thought reads every weight once per token, so on a CPU it is bound by how many bytes the weights take;
int8 reads 4x fewer than fp32. What int8 costs is the activations' rounding: a few outlier channels squeeze every
other channel into a few levels (worst at the input of each MLP's down projection: keeping those layers in fp32
alone cut the error nearly 4x). Smoothing (Xiao et al. 2023,
SmoothQuant) moves that range into the weights, exactly in fp32: for a linear layer ``W`` fed by ``x``, ``x / s``
and ``W * s`` give the same product, and ``1 / s`` folds into the layer that makes ``x`` (an RMSNorm's weight, or
the up projection). The activation maxima come from one forward pass over a few built-in prose prompts
(``CALIBRATION``), so any thinker is calibrated when it first thinks, without data.

Each token (row) is quantised on its own range. With one range per call (torch's dynamic linear layer as it is), a
query's thoughts depended on the other queries generated in the same batch and on their padding; per token, the
integer products are exact and each row's result is the same whatever the batch holds. (A prompt left-padded for a
longer neighbour would still differ in attention's last bits, which rounding to 8 bits amplifies: the thinker pads
each prompt to a width of its own, ``LocalThinker.PAD_MULTIPLE``.)

How close int8 comes to fp32, and what each choice here cost, is measured in docs/results.md ("int8 thinking").
"""

from __future__ import annotations

import functools
import warnings

import torch

#: a few (query, answer) turns of everyday prose: the calibration text, chosen to look like thinking, not like data
CALIBRATION = (
    (
        "How do vaccines train the immune system?",
        "Vaccines expose the immune system to a harmless piece or weakened form of a pathogen, such as a protein or "
        "an inactivated virus. B cells produce antibodies against it and memory cells persist, so a later infection "
        "is recognised and cleared quickly.",
    ),
    (
        "Why did the Roman Empire decline?",
        "Historians point to many causes: overextended borders, economic troubles and inflation, reliance on "
        "mercenaries, political instability with frequent changes of emperor, and pressure from migrating peoples "
        "in the fourth and fifth centuries.",
    ),
    (
        "What is the time complexity of binary search?",
        "Binary search halves the sorted range at each step by comparing the target with the middle element, so it "
        "needs at most log2(n) + 1 comparisons: O(log n) time and O(1) extra space when written iteratively.",
    ),
    (
        "Does coffee raise blood pressure?",
        "Caffeine can raise blood pressure for a few hours after drinking, by 3 to 10 mmHg in people who rarely "
        "drink it. Regular drinkers develop partial tolerance, and large cohort studies find no clear link between "
        "moderate coffee intake and long-term hypertension.",
    ),
)

#: how much of the activations' range moves into the weights (0: none, 1: all); 0.7 was best of 0.5-0.9 by KL
SMOOTHING_ALPHA = 0.7


def int8_scheme() -> str:
    """Names what ``quantize_int8`` does on this CPU, for the thought cache: thoughts of another scheme are other
    thoughts. Activations keep 8 bits where the CPU multiplies them exactly (VNNI), else 7."""
    bits = 8 if _exact_int8_products() else 7
    return (
        f"smoothed (alpha {SMOOTHING_ALPHA}) int8 linear layers, per-channel weights, {bits}-bit dynamic activations "
        "per token"
    )


def smoothing_scales(activation_max: torch.Tensor, weight_max: torch.Tensor, alpha: float) -> torch.Tensor:
    """Per input channel ``s = a^alpha / w^(1 - alpha)``: dividing the activations by ``s`` and multiplying the
    weights' columns by it balances their ranges (``a``: the channel's largest |activation|, ``w``: its largest
    |weight| over the layers it feeds)."""
    tiny = 1e-5
    return (activation_max.clamp(min=tiny) ** alpha / weight_max.clamp(min=tiny) ** (1 - alpha)).clamp(min=tiny)


@torch.no_grad()
def activation_maxima(model: torch.nn.Module, sequences: list[list[int]], names: tuple[str, ...]) -> dict:
    """The largest |input| per channel of every module whose name ends with one of ``names``, over ``sequences``."""
    maxima: dict[str, torch.Tensor] = {}

    def record(name):
        def hook(_module, inputs):
            seen = inputs[0].detach().float().abs().reshape(-1, inputs[0].shape[-1]).amax(0)
            maxima[name] = torch.maximum(maxima[name], seen) if name in maxima else seen

        return hook

    hooks = [m.register_forward_pre_hook(record(n)) for n, m in model.named_modules() if n.endswith(names)]
    body = model.get_decoder() if hasattr(model, "get_decoder") else model  # the head's logits are not needed
    try:
        for ids in sequences:
            body(input_ids=torch.tensor([ids], device=next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
    return maxima


def _llama_like(layer: torch.nn.Module) -> bool:
    """A decoder layer with the Llama layout (RMSNorm -> q/k/v, RMSNorm -> gate/up -> down) in plain linear layers,
    which smoothing knows."""
    attention, mlp = getattr(layer, "self_attn", None), getattr(layer, "mlp", None)
    norms = [getattr(layer, name, None) for name in ("input_layernorm", "post_attention_layernorm")]
    linears = [getattr(attention, name, None) for name in ("q_proj", "k_proj", "v_proj")]
    linears += [getattr(mlp, name, None) for name in ("gate_proj", "up_proj", "down_proj")]
    return all(hasattr(norm, "weight") for norm in norms) and all(type(m) is torch.nn.Linear for m in linears)


@torch.no_grad()
def smooth(model: torch.nn.Module, sequences: list[list[int]], alpha: float = SMOOTHING_ALPHA) -> int:
    """Smooth every Llama-like decoder layer of ``model`` in place (its fp32 outputs do not change); returns how many
    layers were smoothed (0 for another architecture, which is then quantised as it is)."""
    layers = {name: m for name, m in model.named_modules() if _llama_like(m)}
    if not layers:
        return 0
    maxima = activation_maxima(model, sequences, ("q_proj", "gate_proj", "down_proj"))
    for name, layer in layers.items():
        attention, mlp = layer.self_attn, layer.mlp
        for norm, linears, inputs in (
            (layer.input_layernorm, [attention.q_proj, attention.k_proj, attention.v_proj], f"{name}.self_attn.q_proj"),
            (layer.post_attention_layernorm, [mlp.gate_proj, mlp.up_proj], f"{name}.mlp.gate_proj"),
        ):
            weight_max = torch.stack([linear.weight.abs().amax(0) for linear in linears]).amax(0)
            scales = smoothing_scales(maxima[inputs], weight_max.float(), alpha).to(norm.weight.dtype)
            norm.weight.div_(scales)
            for linear in linears:
                linear.weight.mul_(scales)
        scales = smoothing_scales(maxima[f"{name}.mlp.down_proj"], mlp.down_proj.weight.abs().amax(0).float(), alpha)
        scales = scales.to(mlp.up_proj.weight.dtype)
        mlp.up_proj.weight.div_(scales[:, None])  # the down projection's input is silu(gate) * up: linear in up's rows
        if mlp.up_proj.bias is not None:
            mlp.up_proj.bias.div_(scales)
        mlp.down_proj.weight.mul_(scales)
    return len(layers)


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The feature flags of this CPU (``/proc/cpuinfo``; empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return frozenset(next((line for line in cpuinfo if line.startswith("flags")), "").split())
    except OSError:
        return frozenset()


def _exact_int8_products() -> bool:
    """Whether this CPU multiplies 8-bit activations without 16-bit saturation (VNNI or AMX int8); without it
    activations keep 7 bits, as torch's own dynamic quantisation does everywhere."""
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})


@functools.cache
def int8_supported() -> bool:
    """Whether this torch build and CPU run int8 dynamic linear layers (fbgemm on x86; some ARM builds do not)."""
    try:
        Int8Linear(torch.nn.Linear(4, 4))(torch.ones(1, 4))
    except (RuntimeError, NotImplementedError):
        return False
    return True


class Int8Linear(torch.nn.Module):
    """A linear layer with int8 weights (one symmetric scale per output channel) and activations quantised to int8
    when it is called (fbgemm's dynamic linear): 4x fewer bytes of weights read per token than fp32.

    Every row of the input gets its own range: each row is mapped onto [0, 1] by its least and greatest value, so
    every call's range is [0, 1] (all 8 bits on each row's own range) and a row's result never depends on the rows
    beside it; the shift comes back exactly through the int8 weights' row sums."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scales = (weight.abs().amax(dim=1).clamp(min=1e-8) / 127).double()
        zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about per-channel qint8 parameters it converts
            qweight = torch.quantize_per_channel(weight, scales, zero_points, 0, torch.qint8)
        bias = None if linear.bias is None else linear.bias.detach().float()
        self._packed = torch.ops.quantized.linear_prepack(qweight, None)
        # per token, x = low + span * unit, so W x + b = span * (W unit) + low * (W 1) + b, with W as int8 holds it
        self._row_sums = qweight.dequantize().sum(1)[None]
        self._bias = bias
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.reduce_range = not _exact_int8_products()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.float().reshape(-1, self.in_features)
        low = rows.amin(1, keepdim=True)
        span = (rows.amax(1, keepdim=True) - low).clamp_(min=1e-12)  # a constant row maps to zeros: any range fits
        unit = (rows - low).div_(span)  # each row's least value is exactly 0 and its greatest exactly 1
        out = torch.ops.quantized.linear_dynamic(unit, self._packed, self.reduce_range)
        out = out.mul_(span).addmm_(low, self._row_sums)
        if self._bias is not None:
            out = out.add_(self._bias)
        return out.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    #: how the activations are ranged, for ``repr``
    SCALES = "per token"

    def extra_repr(self) -> str:
        features = f"in_features={self.in_features}, out_features={self.out_features}"
        return f"{features}, int8, activation scales {self.SCALES}"


def int8_linear_layers(model: torch.nn.Module, layer: type[Int8Linear] = Int8Linear) -> torch.nn.Module:
    """``model`` with every plain linear layer replaced by ``layer`` of it (no smoothing). In place; returns it."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(module, name, layer(child))
    return model


def quantize_int8(
    model: torch.nn.Module, calibration: list[list[int]], layer: type[Int8Linear] = Int8Linear
) -> torch.nn.Module:
    """``model`` (a CPU fp32 causal LM) smoothed on ``calibration`` token ids, then with every linear layer, its
    head included, an int8 ``layer``. In place; returns it."""
    smooth(model, calibration)
    return int8_linear_layers(model, layer)
