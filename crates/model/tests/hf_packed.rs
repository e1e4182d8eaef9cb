//! The packed forward (`HfEncoder::forward_batch`: several sequences stacked for the per-token
//! steps, attention per sequence) gives every sequence the trace it gets alone, for every text
//! family: post-LN encoders (BERT, MPNet with its relative position bias) and causal decoders
//! (GPT-2; Llama, Qwen2 and Mistral with RoPE, grouped-query attention, SwiGLU and RMSNorm).

use eigenformer_model::hf;
use eigenformer_model::hf::EncoderTrace;
use ndarray::Array2;
use std::path::Path;

fn max_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn compare(name: &str, alone: &EncoderTrace, packed: &EncoderTrace) {
    assert_eq!(alone.hidden_states.len(), packed.hidden_states.len());
    for (l, (a, b)) in alone
        .hidden_states
        .iter()
        .zip(&packed.hidden_states)
        .enumerate()
    {
        let d = max_diff(a, b);
        assert!(d < 1e-5, "{name}: hidden state {l} differs by {d}");
    }
    for (l, (a, b)) in alone.attentions.iter().zip(&packed.attentions).enumerate() {
        assert_eq!(a.len(), b.len());
        for (h, (x, y)) in a.iter().zip(b).enumerate() {
            let d = max_diff(x, y);
            assert!(
                d < 1e-6,
                "{name}: layer {l} head {h} attention differs by {d}"
            );
        }
    }
    match (&alone.final_hidden, &packed.final_hidden) {
        (Some(a), Some(b)) => assert!(max_diff(a, b) < 1e-5, "{name}: final norm"),
        (None, None) => {}
        _ => panic!("{name}: final_hidden present on one side only"),
    }
}

#[test]
fn a_packed_forward_gives_each_sequence_its_own_trace() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf");
    for name in [
        "tiny-bert",
        "tiny-mpnet",
        "tiny-gpt2",
        "tiny-llama",
        "tiny-qwen2",
        "tiny-mistral",
    ] {
        let model = hf::load_dir(&dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let vocab = model.config().vocab as u32;
        let max = model.config().max_tokens().min(9);
        // Three lengths, ids spread over the vocabulary (the first and last tokens as a
        // tokenizer's specials would be).
        let seqs: Vec<Vec<u32>> = [max, 2, max - 2]
            .iter()
            .enumerate()
            .map(|(s, &n)| {
                (0..n as u32)
                    .map(|i| (i * 7 + s as u32 * 3 + 1) % vocab)
                    .collect()
            })
            .collect();
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let packed = model.forward_batch(&refs).unwrap();
        assert_eq!(packed.len(), 3);
        for (ids, p) in seqs.iter().zip(&packed) {
            let alone = model.forward(ids).unwrap();
            assert_eq!(p.hidden_states[0].nrows(), ids.len());
            compare(name, &alone, p);
        }
        // Bad input in any sequence is refused as it is alone.
        let bad = [vocab];
        let e = model.forward_batch(&[refs[0], &bad]).unwrap_err();
        assert!(e.to_string().contains("outside the vocabulary"), "{e}");
        assert!(model.forward_batch(&[]).unwrap().is_empty());
    }
}
