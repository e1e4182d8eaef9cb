"""The in-memory audit agrees with `eigenformer audit` on the same inputs, within 1e-5 for every
per-layer number (and exactly for every count, key and length): on the real MiniLM (loaded by
transformers from the directory the CLI fetches) and on a tiny checkpoint of every family the
CLI audits (the model crate's fixtures, loaded by transformers; DINOv2 built here)."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import need  # noqa: E402

torch = need("torch")
transformers = need("transformers")

import eigenformer  # noqa: E402

from conftest import FIXTURES, load_json, max_difference, run_cli, write_png  # noqa: E402

TOL = 1e-5

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Attention layers with residual connections can smooth or sharpen token representations.",
    "A short one.",
    "Hello!",
    "Eigenvalues of the value-output matrix decide what deep stacks do.",
    "The committee met on Tuesday to discuss the budget, but no decision was reached before "
    "the evening session ended.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    "In 1969, two astronauts walked on the Moon while a third orbited above them.",
    "Numbers like 3.14159 and 2.71828 appear everywhere in mathematics.",
    "Why do tokens become alike as depth grows?",
    "Rain.",
    "The old library smelled of dust, leather and a century of quiet afternoons.",
    "Stock prices fell sharply after the announcement, then recovered by the close.",
    "He said: \"Don't forget the keys!\" and left.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "A long list: apples, pears, plums, cherries, grapes, melons, lemons, limes, figs, dates.",
    "Transformers process every token of a sequence in parallel.",
    "The river flooded the valley twice that spring.",
    "Can you pass the salt, please?",
    "Quantum computers exploit superposition and entanglement.",
    # Longer than MiniLM's 512 positions: cut as the CLI cuts (first 511 tokens + [SEP]).
    " ".join(f"word{i} and more" for i in range(300)),
]


def compare(py: dict, cli: dict, what: str) -> float:
    """Fail unless every per-layer value agrees; returns the largest difference."""
    diff, at = max_difference(py["layers"], cli["layers"], "layers")
    assert diff <= TOL, f"{what}: |Python − CLI| = {diff:.3e} at {at}"
    for key in ("model_type", "layers", "heads", "width", "head_dim", "post_ln", "max_tokens",
                "causal", "kv_heads", "norm", "effective_spectrum"):
        assert py["model"][key] == cli["model"][key], f"{what}: model.{key}"
    for key in ("sentences", "truncated", "mean_tokens", "max_tokens", "skipped"):
        assert py["text"][key] == cli["text"][key], f"{what}: text.{key}"
    assert py["schema_version"] == cli["schema_version"]
    return diff


@pytest.fixture(scope="session")
def minilm_dir(cli) -> Path:
    p = subprocess.run([str(cli), "fetch", "minilm"], capture_output=True, text=True)
    if p.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"eigenformer fetch minilm failed: {p.stderr}")
        pytest.skip(f"MiniLM cannot be fetched here: {p.stderr.strip()}")
    return Path(p.stdout.strip())


def test_minilm_agrees_with_the_cli(cli, minilm_dir, tmp_path):
    text = tmp_path / "sentences.txt"
    text.write_text("\n".join(SENTENCES) + "\n")
    out = tmp_path / "cli"
    run_cli(cli, "audit", "--model", minilm_dir, "--text", text, "--out", out)
    want = load_json(out / "audit.json")
    tok = transformers.AutoTokenizer.from_pretrained(minilm_dir)
    model = transformers.AutoModel.from_pretrained(minilm_dir)
    before = model.config._attn_implementation
    result = eigenformer.audit(model, tokenizer=tok, texts=SENTENCES)
    got = json.loads(result.to_json())
    diff = compare(got, want, "MiniLM")
    print(f"MiniLM, {len(SENTENCES)} sentences: max |Python − CLI| = {diff:.3e}")
    assert got["text"]["truncated"] == 1
    assert any("were cut" in w for w in result.warnings)
    # .layers: the dicts of audit.json, with the keys of the CLI's layers.
    assert result.layers == got["layers"]
    assert list(result.layers[1]) == list(want["layers"][1])
    assert result.layers[0]["index"] == 0 and len(result.layers) == 7
    # The report files are the CLI's, with the same tables.
    mine = tmp_path / "py"
    written = result.write_report(mine)
    assert sorted(Path(p).name for p in written) == sorted(p.name for p in out.iterdir())
    assert (mine / "layers.csv").read_text().splitlines()[0] == (
        out / "layers.csv").read_text().splitlines()[0]
    assert load_json(mine / "audit.json") == got
    # The model is left as it was.
    assert model.config._attn_implementation == before


def _token_ids(vocab: int, specials: list[int], seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    lists = []
    for n in (5, 8, 1, 7, 3, 6):  # tiny-mistral takes at most 8 positions
        ids = [rng.randrange(vocab) for _ in range(n)]
        if specials and n > 2:
            ids[0] = specials[0]
        lists.append(ids)
    return lists


TEXT_FIXTURES = ["tiny-bert", "tiny-mpnet", "tiny-gpt2", "tiny-llama", "tiny-mistral", "tiny-qwen2"]


@pytest.mark.parametrize("name", TEXT_FIXTURES)
def test_text_families_agree_with_the_cli(cli, tmp_path, name):
    d = FIXTURES / name
    model = transformers.AutoModel.from_pretrained(d)
    config = model.config
    specials = [i for i in (config.bos_token_id, config.eos_token_id, config.pad_token_id)
                if isinstance(i, int)]
    lists = _token_ids(config.vocab_size, specials, seed=len(name))
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps(lists))
    out = tmp_path / "cli"
    run_cli(cli, "audit", "--model", d, "--token-ids", ids, "--out", out)
    want = load_json(out / "audit.json")
    got = json.loads(eigenformer.audit(model, input_ids=lists).to_json())
    assert got["text"]["skipped"] == 1
    print(f"{name}: max |Python − CLI| = {compare(got, want, name):.3e}")


def _images(tmp_path: Path, side: int, count: int) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(side + count)
    px = rng.integers(0, 256, size=(count, side, side, 3), dtype=np.uint8)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(count):
        write_png(folder / f"img_{i:03}.png", px[i])
    x = (px.astype(np.float32) / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)
    return folder, np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _dinov2(tmp_path: Path, registers: int) -> Path:
    torch.manual_seed(registers + 3)
    kind = "dinov2_with_registers" if registers else "dinov2"
    config = transformers.AutoConfig.for_model(
        kind, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2,
        image_size=8, patch_size=4, layerscale_value=0.5,
        **({"num_register_tokens": registers} if registers else {}),
    )
    model = transformers.AutoModel.from_config(config)
    with torch.no_grad():
        for p in model.parameters():
            # LayerScale and LayerNorm weights away from 1, some γ negative.
            p.add_(0.3 * torch.randn_like(p))
    d = tmp_path / kind
    model.save_pretrained(d)
    return d


@pytest.mark.parametrize("name", ["tiny-vit", "tiny-deit", "dinov2", "dinov2-registers"])
def test_vision_families_agree_with_the_cli(cli, tmp_path, name):
    if name.startswith("dinov2"):
        d = _dinov2(tmp_path, registers=2 if name.endswith("registers") else 0)
    else:
        d = FIXTURES / name
    model = transformers.AutoModel.from_pretrained(d)
    side = int(model.config.image_size)
    folder, pixels = _images(tmp_path, side, 5)
    out = tmp_path / "cli"
    run_cli(cli, "audit", "--model", d, "--images", folder, "--image-size", str(side),
            "--resize", str(side), "--mean", "0.5", "0.5", "0.5", "--std", "0.5", "0.5", "0.5", "--out", out)
    want = load_json(out / "audit.json")
    got = json.loads(eigenformer.audit(model, images=torch.from_numpy(pixels), batch_size=2)
                     .to_json())
    print(f"{name}: max |Python − CLI| = {compare(got, want, name):.3e}")
    heads = got["layers"][1]["heads"]
    assert all(h["eigenvalues_h_sigma"] is not None for h in heads), "pre-LN: H_eff"
