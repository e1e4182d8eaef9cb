//! Configuration: presets, JSON, overrides, enum names, typed validation errors.

use eigenformer_model::{AttentionKind, ModelError, SpectralForm, ViT, ViTConfig, PRESETS};

#[test]
fn presets_have_the_documented_shapes() {
    let d = ViTConfig::preset("deit-ti").unwrap();
    assert_eq!(
        (
            d.image_size,
            d.channels,
            d.patch_size,
            d.width,
            d.depth,
            d.heads,
            d.mlp_hidden,
            d.classes
        ),
        (224, 3, 16, 192, 12, 3, 768, 1000)
    );
    assert_eq!(d.num_tokens(), 197);
    let c = ViTConfig::preset("vit-cifar").unwrap();
    assert_eq!(
        (
            c.image_size,
            c.channels,
            c.patch_size,
            c.width,
            c.depth,
            c.heads,
            c.mlp_hidden,
            c.classes
        ),
        (32, 3, 4, 192, 12, 3, 768, 10)
    );
    let s = ViTConfig::preset("vit-small").unwrap();
    assert_eq!(
        (
            s.image_size,
            s.channels,
            s.patch_size,
            s.width,
            s.depth,
            s.heads,
            s.mlp_hidden,
            s.classes
        ),
        (28, 1, 4, 128, 6, 4, 256, 10)
    );
    for name in PRESETS {
        let p = ViTConfig::preset(name).unwrap();
        p.validate().unwrap();
        assert_eq!(p.attention, AttentionKind::Plain);
        assert_eq!(p.drop_path, 0.0);
    }
    let err = ViTConfig::preset("vit-huge").unwrap_err();
    assert!(matches!(err, ModelError::UnknownPreset { .. }), "{err}");
    assert!(err.to_string().contains("vit-cifar"));
}

#[test]
fn json_round_trip_and_defaults() {
    let mut c = ViTConfig::preset("vit-cifar").unwrap();
    c.attention = AttentionKind::SpectralMinus;
    c.spectral.form = SpectralForm::General;
    c.spectral.eps = 1e-3;
    c.nonneg_ln_gamma = true;
    let text = c.to_json().unwrap();
    assert!(
        text.contains("\"spectral-\"") && text.contains("\"general\""),
        "{text}"
    );
    assert_eq!(ViTConfig::from_json(&text).unwrap(), c);
    // Optional fields default.
    let minimal = r#"{"image_size": 8, "channels": 1, "patch_size": 4, "width": 8, "depth": 1,
        "heads": 2, "mlp_hidden": 8, "classes": 2}"#;
    let m = ViTConfig::from_json(minimal).unwrap();
    assert_eq!(m.attention, AttentionKind::Plain);
    assert_eq!(m.spectral.form, SpectralForm::Lowrank);
    assert_eq!((m.spectral.eps, m.spectral.upper), (1e-4, 1.0));
    // Unknown fields and invalid values are refused.
    assert!(matches!(
        ViTConfig::from_json(&minimal.replace("\"depth\"", "\"deepth\"")),
        Err(ModelError::Json(_))
    ));
    assert!(matches!(
        ViTConfig::from_json(&minimal.replace("\"heads\": 2", "\"heads\": 3")),
        Err(ModelError::InvalidConfig { field: "heads", .. })
    ));
}

#[test]
fn enum_names_parse_and_print() {
    for kind in AttentionKind::ALL {
        assert_eq!(kind.to_string().parse::<AttentionKind>().unwrap(), kind);
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, format!("\"{}\"", kind.name()));
    }
    for form in SpectralForm::ALL {
        assert_eq!(form.to_string().parse::<SpectralForm>().unwrap(), form);
    }
    assert_eq!(
        "Spectral-".parse::<AttentionKind>().unwrap(),
        AttentionKind::SpectralMinus
    );
    let err = "spectral".parse::<AttentionKind>().unwrap_err();
    assert!(matches!(err, ModelError::UnknownName { .. }) && err.to_string().contains("spectral+"));
    assert!("diag".parse::<SpectralForm>().is_err());
}

#[test]
fn overrides_by_key() {
    let c = ViTConfig::preset("vit-small")
        .unwrap()
        .with_overrides(&[
            ("depth", "2"),
            ("attention", "spectral-"),
            ("spectral.form", "symmetric"),
            ("spectral.eps", "0.001"),
            ("drop_path", "0.1"),
            ("nonneg_ln_gamma", "true"),
        ])
        .unwrap();
    assert_eq!(c.depth, 2);
    assert_eq!(c.attention, AttentionKind::SpectralMinus);
    assert_eq!(c.spectral.form, SpectralForm::Symmetric);
    assert_eq!(c.spectral.eps, 1e-3);
    assert!(c.nonneg_ln_gamma && c.drop_path == 0.1);
    let base = ViTConfig::preset("vit-small").unwrap();
    assert!(matches!(
        base.with_overrides(&[("depht", "2")]),
        Err(ModelError::InvalidOverride { .. })
    ));
    assert!(matches!(
        base.with_overrides(&[("attention", "sharp")]),
        Err(ModelError::InvalidOverride { .. })
    ));
    assert!(matches!(
        base.with_overrides(&[("heads", "3")]),
        Err(ModelError::InvalidConfig { field: "heads", .. })
    ));
}

/// A change to a configuration.
type Mutation = fn(&mut ViTConfig);

#[test]
fn invalid_configs_give_typed_errors() {
    let base = ViTConfig::preset("vit-small").unwrap();
    let cases: Vec<(&str, Mutation)> = vec![
        ("heads", |c| c.heads = 3),
        ("patch_size", |c| c.patch_size = 5),
        ("width", |c| c.width = 0),
        ("depth", |c| c.depth = 0),
        ("classes", |c| c.classes = 0),
        ("drop_path", |c| c.drop_path = 1.0),
        ("spectral.eps", |c| c.spectral.eps = 0.0),
        ("spectral.upper", |c| c.spectral.upper = 1e-5),
        ("ln_eps", |c| c.ln_eps = -1.0),
    ];
    for (field, mutate) in cases {
        let mut c = base.clone();
        mutate(&mut c);
        match c.validate() {
            Err(ModelError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected InvalidConfig, got {other:?}"),
        }
        match ViT::new(c, 0) {
            Err(ModelError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: ViT::new must refuse, got {:?}", other.map(|_| ())),
        }
    }
}

/// `parameter_count` is what the model really holds, for every attention kind and form.
#[test]
fn the_parameter_count_matches_the_built_model() {
    let mut base = ViTConfig::preset("vit-small").unwrap();
    base.depth = 2;
    base.width = 16;
    base.heads = 2;
    base.mlp_hidden = 24;
    for kind in AttentionKind::ALL {
        for form in SpectralForm::ALL {
            let mut c = base.clone();
            c.attention = kind;
            c.spectral.form = form;
            let model = ViT::new(c.clone(), 0).unwrap();
            let held: usize = model
                .named_parameters()
                .iter()
                .map(|(_, t)| t.shape().iter().product::<usize>())
                .sum();
            assert_eq!(c.parameter_count(), Some(held as u64), "{kind} {form}");
        }
    }
    // DeiT-Ti's well-known size (5.7 M parameters).
    let deit = ViTConfig::preset("deit-ti").unwrap();
    assert_eq!(deit.parameter_count(), Some(5_717_416));
}

/// Issue 14, item 8: `train --width 1000000 --heads 1` aborted with a failed allocation of
/// terabytes. Absurd sizes are a typed error stating the limit, before anything is allocated.
#[test]
fn absurd_model_sizes_are_refused_with_the_limit() {
    let mut c = ViTConfig::preset("vit-small").unwrap();
    c.width = 1_000_000;
    c.heads = 1;
    c.mlp_hidden = 2_000_000;
    let err = c.validate().unwrap_err();
    assert!(matches!(err, ModelError::TooLarge { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("parameter count")
            && msg.contains(&eigenformer_model::MAX_PARAMETERS.to_string()),
        "{msg}"
    );
    assert!(ViT::new(c, 0).is_err());

    // Overflowing products are refused, not wrapped.
    let mut c = ViTConfig::preset("vit-small").unwrap();
    c.width = usize::MAX / 2 + 1;
    c.heads = 1;
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("more than 2^64"));

    // Few parameters but many tokens (22 501 at 150x150 pixels with 1-pixel patches): the
    // attention probabilities alone exceed the activation bound.
    let mut c = ViTConfig::preset("vit-small").unwrap();
    c.image_size = 150;
    c.patch_size = 1;
    c.width = 4;
    c.heads = 1;
    c.mlp_hidden = 4;
    c.depth = 1;
    let msg = match c.validate() {
        Err(ModelError::TooLarge { what, .. }) => what,
        other => panic!("{other:?}"),
    };
    assert!(msg.contains("activations"), "{msg}");

    // The presets and the experiment profiles' sizes stay well inside.
    for name in PRESETS {
        let p = ViTConfig::preset(name).unwrap();
        assert!(p.parameter_count().unwrap() * 100 < eigenformer_model::MAX_PARAMETERS);
    }
}
