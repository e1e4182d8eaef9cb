//! Named parameters: stable names, round trip through load_named, errors naming the tensor.

mod common;

use common::{images, tiny, variants};
use eigenformer_model::{AttentionKind, Mode, ModelError, SpectralForm, ViT};
use ndarray::{ArrayD, IxDyn};
use std::collections::HashSet;

#[test]
fn names_are_unique_hierarchical_and_stable() {
    let m = ViT::new(tiny(AttentionKind::Plain, SpectralForm::Lowrank), 0).unwrap();
    let named = m.named_parameters();
    let names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
    let unique: HashSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len());
    let shape = |n: &str| named.iter().find(|(x, _)| x == n).unwrap().1.shape();
    assert_eq!(shape("patch_embed.proj.weight"), vec![32, 16]);
    assert_eq!(shape("cls_token"), vec![1, 1, 16]);
    assert_eq!(shape("pos_embed"), vec![1, 5, 16]);
    assert_eq!(shape("blocks.1.attn.qkv.weight"), vec![16, 48]);
    assert_eq!(shape("blocks.1.attn.proj.weight"), vec![16, 16]);
    assert_eq!(shape("blocks.0.norm1.weight"), vec![16]);
    assert_eq!(shape("blocks.0.mlp.fc1.weight"), vec![16, 24]);
    assert_eq!(shape("head.weight"), vec![16, 3]);
    assert_eq!(names[0], "patch_embed.proj.weight");
    assert_eq!(*names.last().unwrap(), "head.bias");
    assert_eq!(
        m.num_parameters(),
        named.iter().map(|(_, t)| t.len()).sum::<usize>()
    );

    let spec = |kind, form| {
        let m = ViT::new(tiny(kind, form), 0).unwrap();
        m.named_parameters()
            .into_iter()
            .filter(|(n, _)| n.starts_with("blocks.0.attn.") || n.starts_with("blocks.0.featscale"))
            .map(|(n, t)| (n, t.shape()))
            .collect::<Vec<_>>()
    };
    let s = |n: &str, sh: &[usize]| (n.to_string(), sh.to_vec());
    assert_eq!(
        spec(AttentionKind::SpectralMinus, SpectralForm::Lowrank),
        vec![
            s("blocks.0.attn.qk.weight", &[16, 32]),
            s("blocks.0.attn.qk.bias", &[32]),
            s("blocks.0.attn.theta", &[2, 16, 8]),
            s("blocks.0.attn.psi", &[16]),
            s("blocks.0.attn.out_bias", &[16]),
        ]
    );
    assert_eq!(
        spec(AttentionKind::SpectralPlus, SpectralForm::Symmetric)[2],
        s("blocks.0.attn.theta", &[2, 16, 16])
    );
    assert_eq!(
        spec(AttentionKind::SpectralPlus, SpectralForm::General)[2..4],
        [
            s("blocks.0.attn.v", &[2, 16, 16]),
            s("blocks.0.attn.psi", &[32])
        ]
    );
    assert_eq!(
        spec(AttentionKind::AttnScale, SpectralForm::Lowrank)
            .last()
            .unwrap(),
        &s("blocks.0.attn.omega", &[2])
    );
    let fs = spec(AttentionKind::FeatScale, SpectralForm::Lowrank);
    assert!(fs.contains(&s("blocks.0.featscale.s_dc", &[16])));
    assert!(fs.contains(&s("blocks.0.featscale.s_hc", &[16])));
}

#[test]
fn named_parameters_round_trip_through_load_named() {
    for (kind, form) in variants() {
        let c = tiny(kind, form);
        let a = ViT::new(c.clone(), 1).unwrap();
        let b = ViT::new(c.clone(), 2).unwrap();
        let x = images(2, &c, 3);
        assert_ne!(
            a.forward(&x, Mode::Eval).unwrap().to_vec(),
            b.forward(&x, Mode::Eval).unwrap().to_vec()
        );
        // Shuffled order is fine.
        let mut state = a.state_dict();
        state.reverse();
        b.load_named(&state).unwrap();
        assert_eq!(a.state_dict(), b.state_dict());
        assert_eq!(
            a.forward(&x, Mode::Eval).unwrap().to_vec(),
            b.forward(&x, Mode::Eval).unwrap().to_vec(),
            "{kind} {form}"
        );
    }
}

#[test]
fn load_named_errors_name_the_tensor_and_change_nothing() {
    let c = tiny(AttentionKind::SpectralMinus, SpectralForm::Lowrank);
    let m = ViT::new(c.clone(), 1).unwrap();
    let good = ViT::new(c, 2).unwrap().state_dict();
    let before = m.state_dict();

    let mut wrong = good.clone();
    let i = wrong
        .iter()
        .position(|(n, _)| n == "blocks.1.attn.theta")
        .unwrap();
    wrong[i].1 = ArrayD::zeros(IxDyn(&[2, 16, 16]));
    let err = m.load_named(&wrong).unwrap_err();
    assert!(
        matches!(&err, ModelError::ParameterShape { name, expected, found }
            if name == "blocks.1.attn.theta" && expected == &[2, 16, 8] && found == &[2, 16, 16]),
        "{err}"
    );
    assert!(err.to_string().contains("blocks.1.attn.theta"));

    let missing: Vec<_> = good
        .iter()
        .filter(|(n, _)| n != "blocks.0.norm2.bias")
        .cloned()
        .collect();
    let err = m.load_named(&missing).unwrap_err();
    assert!(
        matches!(&err, ModelError::MissingParameter { name, .. } if name == "blocks.0.norm2.bias"),
        "{err}"
    );
    assert!(err.to_string().contains("blocks.0.norm2.bias"));

    let mut extra = good.clone();
    extra.push((
        "blocks.0.attn.qkv.weight".into(),
        ArrayD::zeros(IxDyn(&[16, 48])),
    ));
    let err = m.load_named(&extra).unwrap_err();
    assert!(
        matches!(&err, ModelError::UnexpectedParameter { name } if name == "blocks.0.attn.qkv.weight"),
        "{err}"
    );

    let mut dup = good.clone();
    dup.push(good[0].clone());
    assert!(matches!(
        m.load_named(&dup),
        Err(ModelError::DuplicateParameter { .. })
    ));

    assert_eq!(
        m.state_dict(),
        before,
        "a failed load must not change the model"
    );
}
