"""from_transformer_lens: a HookedTransformer built from a GPT-2 gives the audit of that GPT-2
through transformers, and folding its LayerNorms (fold_ln) moves γ into W_V as documented."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from conftest import need  # noqa: E402

torch = need("torch")
transformers = need("transformers")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    tl = pytest.importorskip("transformer_lens")

import eigenformer  # noqa: E402

from conftest import max_difference  # noqa: E402

TOKENS = [[5, 17, 3, 44, 9, 30], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [7], [60, 12, 33]]


@pytest.fixture(scope="module")
def gpt2():
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_embd=32, n_layer=2, n_head=4, n_positions=24, vocab_size=64,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for block in model.transformer.h:
            # LayerNorm weights away from 1, some negative, so that folding them matters.
            block.ln_1.weight.copy_(torch.linspace(-1.5, 2.0, 32))
            block.ln_1.bias.normal_(0, 0.3)
    return model


def hooked(gpt2, fold: bool):
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformer_lens.pretrained.weight_conversions.gpt2 import convert_gpt2_weights

    c = gpt2.config
    cfg = HookedTransformerConfig(
        n_layers=c.n_layer, d_model=c.n_embd, d_head=c.n_embd // c.n_head, n_heads=c.n_head,
        d_mlp=4 * c.n_embd, d_vocab=c.vocab_size, n_ctx=c.n_positions, act_fn="gelu_new",
        normalization_type="LN", eps=c.layer_norm_epsilon, original_architecture="GPT2LMHeadModel",
        model_name="tiny-gpt2",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = HookedTransformer(cfg)
    state = convert_gpt2_weights(gpt2, cfg)
    model.load_and_process_state_dict(
        state, fold_ln=fold, center_writing_weights=False, center_unembed=False,
        fold_value_biases=False,
    )
    return model.eval()


def test_hooked_transformer_agrees_with_the_transformers_audit(gpt2):
    want = json.loads(eigenformer.audit(gpt2, input_ids=TOKENS).to_json())
    r = eigenformer.from_transformer_lens(hooked(gpt2, fold=False), tokens=TOKENS)
    got = json.loads(r.to_json())
    diff, at = max_difference(got["layers"], want["layers"], "layers")
    assert diff <= 1e-5, f"{diff:.3e} at {at}"
    print(f"HookedTransformer vs transformers GPT-2: max difference {diff:.3e}")
    assert got["text"]["skipped"] == 1 and got["text"]["sentences"] == 3
    for key in ("layers", "heads", "width", "head_dim", "causal", "norm", "post_ln"):
        assert got["model"][key] == want["model"][key], key
    assert not any("folded" in w for w in r.warnings)


def test_fold_ln_moves_gamma_into_w_v(gpt2):
    plain = json.loads(eigenformer.from_transformer_lens(hooked(gpt2, fold=False),
                                                         tokens=TOKENS).to_json())
    r = eigenformer.from_transformer_lens(hooked(gpt2, fold=True), tokens=TOKENS)
    folded = json.loads(r.to_json())
    assert any("folded" in w for w in r.warnings)
    for lp, lf in zip(plain["layers"], folded["layers"]):
        # fold_ln alone leaves the residual stream as it was.
        for key in ("mean_cosine", "hc_dc", "sigma2_over_sigma1", "mean_cosine_centred", "sigma"):
            if lp[key] is not None:
                assert abs(lp[key] - lf[key]) < 1e-5, key
        for hp, hf in zip(lp["heads"], lf["heads"]):
            # H_eff = P_d diag(γ) H / σ is the same either way ...
            a = np.array(hp["eigenvalues_h_sigma"])
            b = np.array(hf["eigenvalues_h_sigma"])
            assert np.abs(a - b).max() < 1e-4 * max(1.0, np.abs(a).max())
            # ... and the folded model's "H" is P_d diag(γ) H, i.e. σ · H_eff.
            folded_h = np.array(hf["eigenvalues_h"])
            assert np.abs(folded_h - a * lp["sigma"]).max() < 1e-4 * max(1.0, np.abs(folded_h).max())
            # which is not H: γ has negative entries.
            raw = np.array(hp["eigenvalues_h"])
            assert np.abs(raw - folded_h).max() > 1e-3


def test_bad_arguments(gpt2):
    m = hooked(gpt2, fold=False)
    with pytest.raises(TypeError, match="HookedTransformer"):
        eigenformer.from_transformer_lens(gpt2, tokens=TOKENS)
    with pytest.raises(ValueError, match="exactly one"):
        eigenformer.from_transformer_lens(m)
    with pytest.raises(ValueError, match="vocabulary"):
        eigenformer.from_transformer_lens(m, tokens=[[1, 64]])
    with pytest.raises(ValueError, match="at most 24"):
        eigenformer.from_transformer_lens(m, tokens=[list(range(25))])
    with pytest.raises(ValueError, match="no tokenizer"):
        eigenformer.from_transformer_lens(m, texts=["hello"])
