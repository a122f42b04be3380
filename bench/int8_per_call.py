"""fbgemm's own dynamic int8 linear layer, one activation range per call: the variant the product's per-token
``Int8Linear`` replaced, kept here for the measurements that compare the two (bench/int8_kl.py, step_cost.py):
``int8_linear_layers(model, PerCallInt8Linear)``, ``quantize_int8(model, calibration, PerCallInt8Linear)``."""

from __future__ import annotations

import torch

from o1_retriever.model.quantization import Int8Linear


class PerCallInt8Linear(Int8Linear):
    """``Int8Linear``'s int8 weights, with the rows of a call sharing one activation range (fbgemm's behaviour)."""

    SCALES = "per call"

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__(linear)
        qweight, _ = torch.ops.quantized.linear_unpack(self._packed)
        self._packed = torch.ops.quantized.linear_prepack(qweight, self._bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic(x.float(), self._packed, self.reduce_range).to(x.dtype)
