"""fbgemm's own dynamic int8 linear layer, one activation range per call: the variant the product's per-token
``Int8Linear`` replaced, kept here for the measurements that compare the two (bench/int8_kl.py, step_cost.py)."""

from __future__ import annotations

import torch

from o1_retriever.model.quantization import Int8Linear, smooth


class PerCallInt8Linear(Int8Linear):
    """``Int8Linear``'s int8 weights, with the rows of a call sharing one activation range (fbgemm's behaviour)."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__(linear)
        qweight, _ = torch.ops.quantized.linear_unpack(self._packed)
        self._packed = torch.ops.quantized.linear_prepack(qweight, self._bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic(x.float(), self._packed, self.reduce_range).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8, activation scales per call"


def per_call_int8_layers(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with every plain linear layer a ``PerCallInt8Linear`` (no smoothing). In place; returns it."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(module, name, PerCallInt8Linear(child))
    return model


def quantize_per_call(model: torch.nn.Module, calibration: list[list[int]]) -> torch.nn.Module:
    """``model`` smoothed on ``calibration`` as the product smooths it, then in per-call int8. In place."""
    smooth(model, calibration)
    return per_call_int8_layers(model)
