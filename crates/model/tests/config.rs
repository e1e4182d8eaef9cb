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
