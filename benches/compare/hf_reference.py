#!/usr/bin/env python3
"""Reference hidden states and attention matrices of a Hugging Face encoder, from PyTorch + transformers.

The independent reference for `eigenformer_model::hf` (crates/model/tests/hf_reference.rs): the Rust
test runs our forward pass on the same inputs and compares every layer.

Two modes:

  dump MODEL_DIR OUT.safetensors [--sentence TEXT ...] [--max-tokens N] [--no-attentions]
      Tokenise each sentence with the directory's own tokenizer (no padding, no truncation beyond
      --max-tokens), run the model in eval mode with eager attention and write, for sentence i:
        s{i}.ids     int64 [n]            the token ids (special tokens included)
        s{i}.hidden  float32 [L+1, n, d]  hidden_states: 0 = embedding output, l = after layer l
        s{i}.attn    float32 [L, h, n, n] attention probabilities
      For ViT/DeiT directories the inputs are seeded random pixels instead (`s{i}.pixels`
      float32 [C, H, W]); --sentence is ignored.

  tiny FAMILY MODEL_DIR OUT.safetensors
      Build a tiny randomly initialised model of FAMILY (bert, mpnet, vit, deit), save it to
      MODEL_DIR (config.json + model.safetensors, a few hundred KB) and dump it as above on seeded
      random token ids / pixels. These small checkpoints and dumps are the committed test fixtures.

torch and transformers are installed with pip if missing. Everything runs on the CPU in float32.
"""

import argparse
import importlib
import json
import subprocess
import sys
from pathlib import Path

DEFAULT_SENTENCES = [
    "The cat sat on the mat.",
    "Transformers smooth their tokens with depth.",
    "Eigenvalues tell the story.",
]


def ensure(module, pip_name):
    try:
        return importlib.import_module(module)
    except ImportError:
        print(f"installing {pip_name} with pip", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", pip_name])
        return importlib.import_module(module)


torch = ensure("torch", "torch")
transformers = ensure("transformers", "transformers")
np = ensure("numpy", "numpy")
ensure("safetensors", "safetensors")
from safetensors.numpy import save_file  # noqa: E402


def run(model, inputs):
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True, output_attentions=True)
    hidden = np.stack([h[0].float().numpy() for h in out.hidden_states]).astype(np.float32)
    attn = np.stack([a[0].float().numpy() for a in out.attentions]).astype(np.float32)
    return hidden, attn


def is_vision(config):
    return config.model_type in ("vit", "deit")


def load(model_dir):
    config = transformers.AutoConfig.from_pretrained(model_dir)
    model = transformers.AutoModel.from_pretrained(
        model_dir, attn_implementation="eager", add_pooling_layer=False
    )
    return config, model.eval().float()


def dump_model(config, model, out, text_inputs=None, seed=0, count=3, attentions=True):
    """Write the safetensors dump; `text_inputs` is a list of id lists (None: seeded random)."""
    tensors = {}
    gen = torch.Generator().manual_seed(seed)
    if is_vision(config):
        c, s = config.num_channels, config.image_size
        for i in range(count):
            pixels = torch.randn((1, c, s, s), generator=gen)
            hidden, attn = run(model, {"pixel_values": pixels})
            tensors[f"s{i}.pixels"] = pixels[0].numpy().astype(np.float32)
            tensors[f"s{i}.hidden"] = hidden
            tensors[f"s{i}.attn"] = attn
    else:
        for i, ids in enumerate(text_inputs):
            ids_t = torch.tensor([ids], dtype=torch.long)
            hidden, attn = run(model, {"input_ids": ids_t})
            tensors[f"s{i}.ids"] = np.asarray(ids, dtype=np.int64)
            tensors[f"s{i}.hidden"] = hidden
            if attentions:
                tensors[f"s{i}.attn"] = attn
    meta = {"model_type": config.model_type, "torch": torch.__version__,
            "transformers": transformers.__version__}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=meta)
    print(f"wrote {out}: {len(tensors)} tensors", file=sys.stderr)


def cmd_dump(args):
    config, model = load(args.model_dir)
    ids = None
    if not is_vision(config):
        tok = transformers.AutoTokenizer.from_pretrained(args.model_dir)
        sentences = args.sentence or DEFAULT_SENTENCES
        ids = [tok(s, truncation=True, max_length=args.max_tokens)["input_ids"] for s in sentences]
    dump_model(config, model, args.out, ids, attentions=not args.no_attentions)


def tiny_config(family):
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64, hidden_act="gelu")
    if family == "bert":
        return transformers.BertConfig(vocab_size=64, max_position_embeddings=64,
                                       type_vocab_size=2, layer_norm_eps=1e-12, **common)
    if family == "mpnet":
        return transformers.MPNetConfig(vocab_size=64, max_position_embeddings=66,
                                        relative_attention_num_buckets=32, layer_norm_eps=1e-5,
                                        pad_token_id=1, **common)
    if family == "vit":
        return transformers.ViTConfig(image_size=8, patch_size=4, num_channels=3,
                                      layer_norm_eps=1e-12, **common)
    if family == "deit":
        return transformers.DeiTConfig(image_size=8, patch_size=4, num_channels=3,
                                       layer_norm_eps=1e-12, **common)
    raise SystemExit(f"unknown family {family}")


def randomise(model, gen):
    """Replace every parameter by seeded noise: LayerNorm weights get mixed signs (C8) and the
    biases are non-zero, so a loader that swaps or drops a tensor cannot pass by luck."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if "LayerNorm.weight" in name or ("layernorm" in name and name.endswith("weight")):
                p.copy_(noise * 0.5 + 1.0)
            else:
                p.copy_(noise * 0.2)


def cmd_tiny(args):
    torch.manual_seed(0)
    config = tiny_config(args.family)
    model_cls = {"bert": transformers.BertModel, "mpnet": transformers.MPNetModel,
                 "vit": transformers.ViTModel, "deit": transformers.DeiTModel}[args.family]
    model = model_cls(config, add_pooling_layer=False).eval()
    gen = torch.Generator().manual_seed(1)
    randomise(model, gen)
    model.save_pretrained(args.model_dir, safe_serialization=True)
    # Reload from disk, so the dump is of exactly what the fixture directory holds.
    _, model = load(args.model_dir)
    ids = None
    if not is_vision(config):
        # Lengths 5, 12 and 40: the last exercises MPNet's logarithmic relative-position buckets.
        # Ids avoid MPNet's padding id 1, whose position would differ.
        ids = [[int(v) for v in torch.randint(2, config.vocab_size, (n,), generator=gen)]
               for n in (5, 12, 40)]
    dump_model(config, model, args.out, ids)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump", help="dump a checkpoint directory on sentences")
    d.add_argument("model_dir")
    d.add_argument("out")
    d.add_argument("--sentence", action="append")
    d.add_argument("--max-tokens", type=int, default=512)
    d.add_argument("--no-attentions", action="store_true",
                   help="leave out s{i}.attn (smaller fixtures)")
    t = sub.add_parser("tiny", help="make a tiny random checkpoint and dump it")
    t.add_argument("family", choices=["bert", "mpnet", "vit", "deit"])
    t.add_argument("model_dir")
    t.add_argument("out")
    args = parser.parse_args()
    {"dump": cmd_dump, "tiny": cmd_tiny}[args.cmd](args)


if __name__ == "__main__":
    main()
