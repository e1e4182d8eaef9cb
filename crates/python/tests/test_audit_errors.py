"""The in-memory audit refuses what it cannot audit with a clear TypeError or ValueError, and
leaves the model as it found it."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need  # noqa: E402

torch = need("torch")
transformers = need("transformers")

import eigenformer  # noqa: E402
from eigenformer import _native  # noqa: E402

from conftest import FIXTURES  # noqa: E402


@pytest.fixture(scope="module")
def bert():
    return transformers.AutoModel.from_pretrained(FIXTURES / "tiny-bert")


@pytest.fixture(scope="module")
def vit():
    return transformers.AutoModel.from_pretrained(FIXTURES / "tiny-vit")


def test_unsupported_family_and_non_models():
    config = transformers.AutoConfig.for_model(
        "roberta", hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, vocab_size=50, max_position_embeddings=20,
    )
    roberta = transformers.AutoModel.from_config(config)
    with pytest.raises(ValueError, match="unsupported model family 'roberta'.*supports bert"):
        eigenformer.audit(roberta, input_ids=[[1, 2, 3]])
    with pytest.raises(TypeError, match="transformers PreTrainedModel"):
        eigenformer.audit("bert-base-uncased", input_ids=[[1, 2, 3]])


def test_bad_text_inputs(bert):
    vocab = bert.config.vocab_size
    with pytest.raises(ValueError, match="exactly one of"):
        eigenformer.audit(bert)
    with pytest.raises(ValueError, match="exactly one of"):
        eigenformer.audit(bert, texts=["a"], input_ids=[[1, 2]])
    with pytest.raises(ValueError, match="needs tokenizer"):
        eigenformer.audit(bert, texts=["a sentence"])
    with pytest.raises(ValueError, match=f"outside the model's vocabulary of {vocab}"):
        eigenformer.audit(bert, input_ids=[[1, vocab]])
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        eigenformer.audit(bert, input_ids=[[1, -2]])
    with pytest.raises(TypeError, match="not an integer token id"):
        eigenformer.audit(bert, input_ids=[[1, 2.5]])
    with pytest.raises(ValueError, match="at most"):
        eigenformer.audit(bert, input_ids=[[1] * 10_000])
    with pytest.raises(ValueError, match="empty"):
        eigenformer.audit(bert, input_ids=[])
    with pytest.raises(ValueError, match="a text model"):
        eigenformer.audit(bert, images=torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match="no sentences"):
        eigenformer.audit(bert, input_ids=[[3]])


def test_bad_images(vit):
    with pytest.raises(ValueError, match="a vision model"):
        eigenformer.audit(vit, input_ids=[[1, 2]])
    with pytest.raises(TypeError, match="float"):
        eigenformer.audit(vit, images=torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match="float"):
        eigenformer.audit(vit, images=np.zeros((2, 3, 8, 8), dtype=np.int32))
    with pytest.raises(TypeError, match="torch.Tensor or NumPy"):
        eigenformer.audit(vit, images=[[0.0]])
    with pytest.raises(ValueError, match="4-D"):
        eigenformer.audit(vit, images=torch.zeros(3, 8, 8))
    bad = torch.zeros(2, 3, 8, 8)
    bad[1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        eigenformer.audit(vit, images=bad)


def test_the_model_is_left_as_it_was(bert):
    bert.train()
    before = bert.config._attn_implementation
    r = eigenformer.audit(bert, input_ids=[[1, 2, 3, 4], [5, 6, 7]])
    assert bert.training and bert.config._attn_implementation == before
    assert r.text["sentences"] == 2
    assert any(p.requires_grad for p in bert.parameters())


def builder(**over):
    args = dict(
        name="m", dir="", model_type="bert", post_ln=True, causal=False, norm="layernorm",
        layer_norm_eps=1e-12, max_tokens=16, kv_heads=1, kv_group=[0],
        gamma=np.ones((1, 4)), w_v=np.full((1, 1, 4, 2), 0.1), w_o=np.full((1, 1, 2, 4), 0.1),
    )
    args.update(over)
    return _native.AuditBuilder(**args)


def test_the_native_builder_checks_its_arrays():
    with pytest.raises(ValueError, match="w_o has shape"):
        builder(w_o=np.ones((1, 1, 4, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        builder(gamma=np.array([[1.0, np.nan, 1.0, 1.0]]))
    with pytest.raises(TypeError, match="float32 or float64"):
        builder(w_v=np.ones((1, 1, 4, 2), dtype=np.int8))
    with pytest.raises(ValueError, match="norm must be"):
        builder(norm="batchnorm")
    with pytest.raises(ValueError, match="kv_group"):
        builder(kv_group=[0, 0])
    b = builder()
    states = np.random.default_rng(1).normal(size=(2, 3, 4))
    with pytest.raises(ValueError, match="row-stochastic"):
        b.add(states, np.full((1, 1, 3, 3), 0.5), [])
    with pytest.raises(ValueError, match="attentions has shape"):
        b.add(states, np.full((1, 2, 3, 3), 1 / 3), [])
    with pytest.raises(ValueError, match="special token position 5"):
        b.add(states, np.full((1, 1, 3, 3), 1 / 3), [5])
    assert b.add(states, np.full((1, 1, 3, 3), 1 / 3), [0])
    assert b.inputs == 1
    r = b.finish("s", "t")
    assert r.text["sentences"] == 1 and len(r.layers) == 2
    with pytest.raises(ValueError, match="already finished"):
        b.finish("s", "t")
    with pytest.raises(ValueError, match="finished"):
        b.add(states, np.full((1, 1, 3, 3), 1 / 3), [0])
