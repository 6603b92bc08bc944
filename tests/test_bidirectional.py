"""Bidirectional attention on every supported architecture, proven three independent ways: the future-token test,
equality with a hand-built all-visible attention mask, and non-zero gradients from the last token to the first position
in training mode."""

from __future__ import annotations

import pytest
import torch

from lab.bidirectional import (
    BidirectionalityError,
    attention_mode,
    future_token_report,
    is_causal,
    make_bidirectional,
    verify_bidirectional,
)
from lab.tiny import TINY_ARCHITECTURES, supports_sdpa, tiny_model

CASES = [
    (arch, impl) for arch in TINY_ARCHITECTURES for impl in ("eager", "sdpa") if impl == "eager" or supports_sdpa(arch)
]
LENGTH = 12  # shorter than the tiny models' sliding window (16): every layer may see every token


def ids(length: int = LENGTH, batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randint(5, 400, (batch, length), generator=torch.Generator().manual_seed(seed))


def hand_built_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """An additive (B, 1, T, T) mask written out by hand: every query sees every real key, never a padding key."""
    keys_visible = attention_mask[:, None, None, :].bool()  # (B, 1, 1, T)
    full = keys_visible.expand(-1, 1, attention_mask.shape[1], -1)  # (B, 1, T, T)
    return torch.zeros(full.shape, dtype=dtype).masked_fill(~full, torch.finfo(dtype).min)


def test_sdpa_missing_only_where_transformers_lacks_it():
    assert {arch for arch in TINY_ARCHITECTURES if not supports_sdpa(arch)} == {"gemma2"}


@pytest.mark.parametrize("arch,impl", CASES)
def test_causal_model_does_not_see_the_future(arch, impl):
    model = tiny_model(arch, attn_implementation=impl)
    report = future_token_report(model)
    assert max(report.relative_change) == 0.0
    with pytest.raises(BidirectionalityError):
        verify_bidirectional(model)


@pytest.mark.parametrize("arch,impl", CASES)
def test_every_layer_sees_the_future_after_the_switch(arch, impl):
    model = make_bidirectional(tiny_model(arch, attn_implementation=impl))
    report = future_token_report(model)
    assert report.relative_change[0] == 0.0  # embeddings are per token
    assert report.layers_seeing_future() == list(range(1, len(report.relative_change)))


@pytest.mark.parametrize("arch,impl", CASES)
@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_equals_a_hand_built_full_attention_mask(arch, impl, padding_side):
    """Our switch gives exactly what the causal model computes when handed an all-visible 4-D mask by hand."""
    reference = tiny_model(arch, attn_implementation=impl)  # stays causal: only the hand-built mask opens it
    model = make_bidirectional(tiny_model(arch, attn_implementation=impl))
    input_ids = ids(batch=2)
    mask = torch.ones_like(input_ids)
    pad = slice(0, 4) if padding_side == "left" else slice(LENGTH - 4, LENGTH)
    mask[1, pad] = 0  # row 1 has 4 padding tokens
    positions = (mask.cumsum(1) - 1).clamp_min(0)
    with torch.no_grad():
        ours = model(input_ids=input_ids, attention_mask=mask, position_ids=positions).last_hidden_state
        theirs = reference(
            input_ids=input_ids, attention_mask=hand_built_mask(mask, torch.float32), position_ids=positions
        ).last_hidden_state
    real = mask.bool()
    torch.testing.assert_close(ours[real], theirs[real], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch,impl", CASES)
@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_padding_never_changes_a_real_token(arch, impl, padding_side):
    model = make_bidirectional(tiny_model(arch, attn_implementation=impl))
    short = ids(length=7, seed=1)
    pad_id = 0
    padded = torch.full((1, LENGTH), pad_id)
    mask = torch.zeros((1, LENGTH), dtype=torch.long)
    span = slice(LENGTH - 7, LENGTH) if padding_side == "left" else slice(0, 7)
    padded[0, span], mask[0, span] = short[0], 1
    with torch.no_grad():
        alone = model(input_ids=short, attention_mask=torch.ones_like(short)).last_hidden_state[0]
        positions = (mask.cumsum(1) - 1).clamp_min(0)
        in_batch = model(input_ids=padded, attention_mask=mask, position_ids=positions).last_hidden_state[0, span]
    torch.testing.assert_close(in_batch, alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch,impl", CASES)
def test_gradients_flow_from_the_last_token_to_the_first_in_training_mode(arch, impl):
    """In training mode (backward), position 0's output depends on the last input token only when bidirectional."""
    for bidirectional in (False, True):
        model = tiny_model(arch, attn_implementation=impl).train()
        if bidirectional:
            make_bidirectional(model)
        embeds = model.get_input_embeddings()(ids()).detach().requires_grad_(True)  # (1, T, C)
        model(inputs_embeds=embeds).last_hidden_state[0, 0].sum().backward()
        grad_from_last = embeds.grad[0, -1].abs().max().item()
        assert (grad_from_last > 0) == bidirectional, (arch, impl, bidirectional, grad_from_last)


@pytest.mark.parametrize("arch", [a for a, extra in TINY_ARCHITECTURES.items() if "sliding_window" in extra])
def test_sliding_window_layers_see_both_directions(arch):
    """Inside its window a sliding-window layer sees later tokens too; beyond its window it sees nothing."""
    model = tiny_model(arch, attn_implementation="eager")
    window = model.config.sliding_window
    layer_types = getattr(model.config, "layer_types", None) or ["sliding_attention"] * model.config.num_hidden_layers
    first_sliding = layer_types.index("sliding_attention") + 1  # hidden_states[0] is the embeddings
    base = ids(length=2 * window + 4)
    near, far = base.clone(), base.clone()
    near[0, window // 2] += 1  # inside the first position's window
    far[0, -1] += 1  # outside it

    def first_position(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(input_ids=x, output_hidden_states=True).hidden_states[first_sliding][0, 0]

    assert torch.equal(first_position(base), first_position(near))  # causal: the future is hidden
    make_bidirectional(model)
    assert not torch.allclose(first_position(base), first_position(near))  # bidirectional: seen within the window
    if all(kind == "sliding_attention" for kind in layer_types[:first_sliding]):  # no full layer before it
        assert torch.equal(first_position(base), first_position(far))  # still a window: nothing beyond it


def test_attention_mode_switches_and_restores():
    model = make_bidirectional(tiny_model("llama"))
    with attention_mode(model, causal=True):
        assert is_causal(model) and not future_token_report(model).sees_future
    assert not is_causal(model) and future_token_report(model).sees_future


def test_causal_lm_wrapper_and_its_decoder_switch_together():
    lm = make_bidirectional(tiny_model("qwen2", causal_lm=True))
    assert future_token_report(lm.model).sees_future
    assert lm.config.is_causal is False and lm.model.config.is_causal is False


def test_verifier_raises_when_the_switch_does_not_take(monkeypatch):
    """A model whose attention ignores the switch must fail loudly, not stay silently causal (llm2vec's Qwen2 bug)."""
    import lab.bidirectional as bidirectional

    monkeypatch.setattr(bidirectional, "set_causal", lambda model, causal: model)
    with pytest.raises(BidirectionalityError, match="still attends causally"):
        bidirectional.make_bidirectional(tiny_model("qwen2"))


def test_non_transformers_module_is_rejected():
    with pytest.raises(TypeError, match="no transformers config"):
        make_bidirectional(torch.nn.Linear(3, 3))
