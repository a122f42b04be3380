import copy

import pytest
import torch

from bench.int4_grid import GROUP, Int4Linear, exact_int4_layers, four_bit_grid, int4_supported
from o1_retriever.model.quantization import Int8Linear, int8_linear_layers, quantize_int8, smooth, smoothing_scales

needs_int4 = pytest.mark.skipif(not int4_supported(), reason="no int4 CPU kernel or bf16 arithmetic here")


def outlier_llama(seed: int = 0):
    """A random 2-layer Llama whose normalised activations have one outlier channel, as trained LMs do."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=96,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        initializer_range=0.1,  # layers that move the residual stream, as trained ones do
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for layer in model.model.layers:
            layer.input_layernorm.weight[3] = 60.0
            layer.post_attention_layernorm.weight[5] = 60.0
    return model


SEQUENCES = [list(range(1, 40)), list(range(40, 90))]


def logits(model, ids=(7, 3, 9, 22, 41, 63, 80, 2)):
    with torch.no_grad():
        return model(input_ids=torch.tensor([list(ids)])).logits[0].float()


def test_smoothing_scales_balance_activation_and_weight_ranges():
    activations, weights = torch.tensor([100.0, 1.0, 4.0]), torch.tensor([0.01, 1.0, 0.25])
    scales = smoothing_scales(activations, weights, alpha=0.5)
    assert torch.allclose(activations / scales, weights * scales)  # alpha 0.5: both sides meet in the middle
    assert torch.allclose(smoothing_scales(activations, weights, alpha=0.0), 1 / weights)
    assert smoothing_scales(torch.zeros(2), torch.zeros(2), alpha=0.7).min() > 0  # dead channels: no division by 0


def test_smoothing_keeps_fp32_outputs_and_shrinks_the_outliers():
    model = outlier_llama()
    before = logits(model)
    assert smooth(model, SEQUENCES) == 2
    assert torch.allclose(logits(model), before, atol=1e-4)
    assert model.model.layers[0].input_layernorm.weight.abs().max() < 60.0 / 4


def test_smoothed_int8_is_closer_to_fp32_than_plain_int8():
    model = outlier_llama()
    reference = logits(model)
    plain = int8_linear_layers(copy.deepcopy(model))
    smoothed = quantize_int8(copy.deepcopy(model), SEQUENCES)
    assert not [m for m in smoothed.modules() if type(m) is torch.nn.Linear]

    def error(m):
        return ((logits(m) - reference).norm() / reference.norm()).item()

    assert error(smoothed) < 0.95 * error(plain)  # 0.91x here (0.61x with one activation range per call)


def test_another_architecture_is_quantised_without_smoothing():
    layers = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    assert smooth(layers, []) == 0
    x = torch.randn(3, 8)
    reference = layers(x)
    quantised = quantize_int8(layers, [])
    assert isinstance(quantised[0], Int8Linear)
    assert torch.allclose(quantised(x), reference, atol=0.05)


@pytest.mark.parametrize("bias", [True, False])
def test_int8_linear_matches_fp32_up_to_rounding(bias):
    torch.manual_seed(0)
    linear = torch.nn.Linear(32, 16, bias=bias)
    x = torch.randn(5, 32)
    assert torch.allclose(Int8Linear(linear)(x), linear(x), atol=0.05)
    assert Int8Linear(linear)(x[None]).shape == (1, 5, 16)


@pytest.mark.parametrize("bias", [True, False])
def test_an_int8_row_does_not_depend_on_the_rows_beside_it(bias):
    """Each token gets its own activation scale: a row's output is bit for bit the same alone or beside a row a
    thousand times larger, and that small row stays accurate there (one scale per call rounds it to a few levels)."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(32, 16, bias=bias)
    row, loud = torch.randn(1, 32), 1000 * torch.randn(3, 32)
    layer = Int8Linear(linear)
    assert torch.equal(layer(torch.cat([row, loud]))[:1], layer(row))
    assert torch.equal(layer(torch.cat([loud, row]))[-1:], layer(row))
    from bench.int8_per_call import PerCallInt8Linear

    per_call = PerCallInt8Linear(linear)
    error = (layer(torch.cat([row, loud]))[:1] - linear(row)).abs().max()
    error_per_call = (per_call(torch.cat([row, loud]))[:1] - linear(row)).abs().max()
    assert error < 0.05 < error_per_call


def test_quantising_twice_changes_nothing_more():
    model = quantize_int8(outlier_llama(), SEQUENCES)
    once = logits(model)
    assert smooth(model, SEQUENCES) == 0  # its linear layers are int8 already: nothing left to smooth
    assert torch.equal(logits(quantize_int8(model, SEQUENCES)), once)


def on_a_four_bit_grid(weight: torch.Tensor, symmetric: bool = False) -> torch.Tensor:
    """``weight`` rounded as GGUF rounds to Q4_1 (each group's least and greatest value kept, 16 levels between) or,
    ``symmetric``, to Q4_0 (levels -8..7 times a step: the greatest level is often unused)."""
    rows, columns = weight.shape
    groups = weight.detach().float().reshape(rows, columns // GROUP, GROUP)
    if symmetric:
        step = groups.abs().amax(-1, keepdim=True) / 8
        return ((groups / step).round().clamp(-8, 7) * step).reshape(rows, columns)
    low, high = groups.amin(-1, keepdim=True), groups.amax(-1, keepdim=True)
    step = (high - low) / 15
    return (((groups - low) / step).round() * step + low).reshape(rows, columns)


@pytest.mark.parametrize("symmetric", [False, True])
def test_four_bit_grids_are_found_exactly_and_other_weights_refused(symmetric):
    torch.manual_seed(0)
    weight = on_a_four_bit_grid(torch.randn(32, 3 * GROUP), symmetric)
    codes, steps, offsets = four_bit_grid(weight)
    assert codes.min() >= 0 and codes.max() <= 15
    rebuilt = codes.reshape(32, 3, GROUP) * steps[..., None] + offsets[..., None]
    assert torch.allclose(rebuilt.reshape(weight.shape), weight, rtol=0, atol=1e-3 * steps.max().item())
    assert four_bit_grid(torch.randn(32, 3 * GROUP)) is None  # full-precision weights
    assert four_bit_grid(on_a_four_bit_grid(torch.randn(32, 3 * GROUP)) * 1.001 + 1e-4 * torch.randn(1)) is not None
    off = weight.clone()
    off[17, 40] += 0.3 * steps[17, 1]  # one value between two levels
    assert four_bit_grid(off) is None
    assert four_bit_grid(torch.randn(4, GROUP + 1)) is None  # no whole groups


@needs_int4
@pytest.mark.parametrize("bias", [True, False])
def test_int4_linear_computes_the_weights_it_was_given(bias):
    torch.manual_seed(0)
    linear = torch.nn.Linear(2 * GROUP, 16, bias=bias)
    with torch.no_grad():
        linear.weight.copy_(on_a_four_bit_grid(linear.weight))
    x = torch.randn(2, 5, 2 * GROUP)
    exact = Int4Linear(linear, *four_bit_grid(linear.weight))(x)
    assert exact.shape == (2, 5, 16) and exact.dtype == torch.float32
    assert torch.allclose(exact, linear(x), rtol=0.02, atol=0.02)  # bf16 activations and steps: ~3 digits


@needs_int4
def test_layers_already_four_bit_kept_four_bit_come_closest_to_fp32():
    """The experiment of ``bench.int8_kl``'s ``exact-int4`` scheme (not the product's int8)."""
    model = outlier_llama()
    with torch.no_grad():
        for layer in model.model.layers:
            for linear in [m for m in layer.modules() if type(m) is torch.nn.Linear]:
                linear.weight.copy_(on_a_four_bit_grid(linear.weight))  # as a model de-quantised from GGUF
    reference = logits(model)
    mixed = copy.deepcopy(model)
    assert exact_int4_layers(mixed) == 14  # 7 a layer; the head is not on a grid
    quantize_int8(mixed, SEQUENCES)
    assert isinstance(mixed.lm_head, Int8Linear)
    assert not [m for m in mixed.modules() if type(m) is torch.nn.Linear]
    int8_only = quantize_int8(copy.deepcopy(model), SEQUENCES)

    def error(m):
        return ((logits(m) - reference).norm() / reference.norm()).item()

    assert error(mixed) < 0.75 * error(int8_only)


def test_the_int8_scheme_names_the_activation_bits_this_cpu_uses(monkeypatch):
    """7-bit and 8-bit activations write other thoughts: a thought cache shared by two CPUs must not mix them."""
    from o1_retriever.model import quantization

    names = {}
    for exact in (False, True):
        monkeypatch.setattr(quantization, "_exact_int8_products", lambda exact=exact: exact)
        names[exact] = quantization.int8_scheme()
        assert Int8Linear(torch.nn.Linear(4, 4)).reduce_range is not exact
    assert "7-bit" in names[False] and "8-bit" in names[True]
