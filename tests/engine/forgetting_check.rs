//! Every influence request reports its forgetting check (docs/DAMPING.md): it fails when the
//! step is clearly wrong (δ 100× above or below the `auto` rule's), the default calibrated
//! length passes it, and `--on-check-fail refuse|retrain` act on a failure.

use crate::common;

use common::gpu;
use ifru::data::Dataset;
use ifru::data::synthetic::synthetic_dataset;
use ifru::gpu::GpuHandle;
use ifru::kernels::adam::AdamConfig;
use ifru::model::adjacency_for;
use ifru::model::{LossKind, ModelKind, ModelSpec, Params};
use ifru::train::{LastEpoch, TrainConfig, TrainData, train};
use ifru::unlearn::engine::{ForgetRequest, Method, MethodId, MethodOutcome, Unlearner};
use ifru::unlearn::influence::IfruOptions;
use ifru::unlearn::influence::OnCheckFail;
use ifru::unlearn::influence::forgetting::LengthSource;
use ifru::unlearn::request::ForgetRows;

struct Trained {
    data: Dataset,
    spec: ModelSpec,
    recipe: TrainConfig,
    params: Params,
    forget: Vec<u32>,
}

/// MF trained long enough to memorise its flipped rows (forget AUC far above the unseen
/// rows'), as in the demo.
fn trained() -> Trained {
    let data = synthetic_dataset(20_000, 5, 0.02).expect("synthetic data");
    let forget: Vec<u32> = data.flipped_rows().collect();
    let spec = ModelSpec::new(ModelKind::Mf, 0, 16, LossKind::Bce).unwrap();
    let recipe = TrainConfig {
        adam: AdamConfig {
            lr: 1e-2,
            ..AdamConfig::default()
        },
        max_epochs: 30,
        init_std: 0.1,
        ..TrainConfig::default()
    };
    let adjacency = adjacency_for(&spec, data.n_users, data.n_items, &data.train).unwrap();
    let out = train(
        gpu(),
        spec,
        &recipe,
        &TrainData {
            n_users: data.n_users,
            n_items: data.n_items,
            rows: &data.train,
            adjacency: adjacency.as_ref(),
        },
        &mut LastEpoch(0),
        &mut |_| {},
    )
    .unwrap();
    Trained {
        data,
        spec,
        recipe,
        params: out.params,
        forget,
    }
}

/// A resident unlearner of the trained model, nothing forgotten.
fn unlearner(t: &Trained) -> Unlearner<'static> {
    unlearner_on(gpu(), t)
}

/// [`unlearner`] on a given device.
fn unlearner_on<'g>(device: impl Into<GpuHandle<'g>>, t: &Trained) -> Unlearner<'g> {
    Unlearner::from_parts(
        device,
        t.spec,
        t.recipe.clone(),
        t.data.clone(),
        &t.params,
        vec![false; t.data.train.len()],
    )
    .unwrap()
}

/// Three genuine rows of the first user: a request too small to fit its own length.
fn small_genuine_request(t: &Trained) -> Vec<u32> {
    let user = t.data.train.users[0];
    (0..t.data.train.len() as u32)
        .filter(|r| t.data.train.users[*r as usize] == user && t.forget.binary_search(r).is_err())
        .take(3)
        .collect()
}

fn apply(
    t: &Trained,
    method: MethodId,
    opts: &IfruOptions,
) -> (ifru::Result<MethodOutcome>, Unlearner<'static>) {
    let mut u = unlearner(t);
    let request =
        ForgetRequest::new(Method::from_id(method, opts.clone(), 0)).rows_kind(ForgetRows::Flipped);
    let out = u.forget_with(&t.forget, &request);
    (out, u)
}

#[test]
fn the_check_fails_a_wrong_step_and_passes_the_default() {
    let t = trained();
    let base = IfruOptions::default_for(&t.spec);
    let (fixed, _) = apply(&t, MethodId::IfruFixed, &base);
    let fixed = fixed.unwrap();
    let auto = fixed.influence.as_ref().unwrap().damping;
    let check = fixed.forgetting_check.as_ref().unwrap();
    assert_eq!(check.statistic.to_string(), "forget_auc");
    assert!(check.rows > 0 && check.value.is_some(), "{check:?}");
    // The statistic had somewhere to go: memorised rows score far from unseen ones.
    let (before, target) = (check.before.unwrap(), check.target.unwrap());
    assert!(before - target > 0.2, "{check:?}");

    for (label, delta) in [("δ × 100", auto * 100.0), ("δ ÷ 100", auto / 100.0)] {
        let opts = IfruOptions {
            damping: Some(delta),
            ..base.clone()
        };
        let (out, _) = apply(&t, MethodId::IfruFixed, &opts);
        let check = out.unwrap().forgetting_check.unwrap();
        assert_eq!(check.passed, Some(false), "{label}: {check:?}");
    }

    let (default, _) = apply(&t, MethodId::Ifru, &base);
    let default = default.unwrap();
    let check = default.forgetting_check.as_ref().unwrap();
    assert_eq!(check.passed, Some(true), "{check:?}");
    let length = default.step_length.as_ref().unwrap();
    assert_eq!(length.source, LengthSource::Fitted);
    assert!(length.t > 0.0 && length.t <= length.max, "{length:?}");
}

#[test]
fn a_failed_check_refuses_or_retrains_as_asked() {
    let t = trained();
    let base = IfruOptions::default_for(&t.spec);
    let (fixed, _) = apply(&t, MethodId::IfruFixed, &base);
    let auto = fixed.unwrap().influence.unwrap().damping;
    let wrong = IfruOptions {
        damping: Some(auto * 100.0),
        ..base.clone()
    };

    let refuse = IfruOptions {
        on_check_fail: OnCheckFail::Refuse,
        ..wrong.clone()
    };
    let (out, u) = apply(&t, MethodId::IfruFixed, &refuse);
    let err = out.expect_err("a refused request");
    assert_eq!(err.kind(), ifru::ErrorKind::CheckFailed, "{err}");
    let err = err.to_string();
    assert!(
        err.contains("forgetting check") && err.contains("unchanged"),
        "{err}"
    );
    // Nothing changed: the parameters bit for bit, and no row is forgotten.
    let bits = |p: &Params| p.nodes().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&u.params().unwrap()), bits(&t.params));
    assert_eq!(u.remaining_row_ids().len(), t.data.train.len());

    let retrain = IfruOptions {
        on_check_fail: OnCheckFail::Retrain,
        ..wrong
    };
    let (out, u) = apply(&t, MethodId::IfruFixed, &retrain);
    let out = out.unwrap();
    assert_eq!(out.fallback, Some(MethodId::Retrain));
    assert!(out.epochs.is_some());
    assert_eq!(
        u.remaining_row_ids().len(),
        t.data.train.len() - t.forget.len()
    );
}

/// A step the clamp stops short (δ 100× above `auto`, so even the longest length leaves most
/// of the way) is continued: the remaining objective re-linearised where it ended, the next
/// step solved and fitted from there, and the fitting rows end closer to their target.
#[test]
fn a_step_stopped_short_is_continued_by_newton_steps() {
    let t = trained();
    let base = IfruOptions::default_for(&t.spec);
    let (fixed, _) = apply(&t, MethodId::IfruFixed, &base);
    let auto = fixed.unwrap().influence.unwrap().damping;
    let short = IfruOptions {
        damping: Some(auto * 100.0),
        ..base
    };
    let (out, _) = apply(&t, MethodId::Ifru, &short);
    let length = out.unwrap().step_length.unwrap();
    assert_eq!(length.source, LengthSource::Fitted);
    assert!(!length.relinearised.is_empty(), "{length:?}");
    assert_eq!(length.solves, 1 + length.relinearised.len(), "{length:?}");
    let (first, last) = (length.first_gap_left.unwrap(), length.gap_left.unwrap());
    assert!(
        first > 0.25,
        "the first step was meant to stop short: {length:?}"
    );
    assert!(last.abs() < first - 0.05, "no closer: {length:?}");
}

/// A request too small to fit its own length takes the model's own (fitted on a pseudo-request
/// by a scratch unlearner) when no earlier request fitted one; flipped rows, which a
/// pseudo-request of genuine rows says nothing about, do not.
#[test]
fn a_small_request_takes_the_models_own_length() {
    let t = trained();
    let mut u = unlearner(&t);
    let all_remain = vec![false; t.data.train.len()];
    let fit_own = |kind| {
        ifru::unlearn::model_length::fit(
            gpu(),
            t.spec,
            &t.recipe,
            &t.data,
            &t.params,
            &all_remain,
            kind,
            11,
        )
        .unwrap()
    };
    let own = fit_own(ForgetRows::Genuine).expect("the pseudo-request fits a length");
    assert!(own.t > 0.0 && own.t.is_finite(), "{own:?}");
    assert_eq!(own.users, ifru::unlearn::model_length::PSEUDO_USERS);
    assert_eq!(
        own.lengths.len(),
        ifru::unlearn::model_length::PSEUDO_REQUESTS
    );
    assert!(
        own.lengths.contains(&Some(own.t)),
        "the median is one of them: {own:?}"
    );
    assert!(own.rows.iter().all(|&n| n >= own.users), "{own:?}");
    u.set_model_length(ForgetRows::Genuine, Some(own.clone()));

    let small = small_genuine_request(&t);
    assert_eq!(small.len(), 3);
    let genuine = ForgetRequest::default().rows_kind(ForgetRows::Genuine);
    let out = u.forget_with(&small, &genuine).unwrap();
    let length = out.step_length.unwrap();
    assert_eq!(
        length.source,
        LengthSource::ModelLength,
        "{:?}",
        out.warnings
    );
    assert_eq!(length.t, own.t.min(length.max));

    let small_flipped = &t.forget[..3];
    let flipped_request = ForgetRequest::default().rows_kind(ForgetRows::Flipped);
    let out = u.forget_with(small_flipped, &flipped_request).unwrap();
    assert_eq!(out.step_length.unwrap().source, LengthSource::FixedRule);

    // Where the data marks flipped rows, a length fitted on pseudo-requests of them is the
    // small flipped request's (a fresh unlearner: the one above has forgotten rows).
    let own_flipped =
        fit_own(ForgetRows::Flipped).expect("the flipped pseudo-requests fit a length");
    assert!(
        own_flipped.t > 0.0 && own_flipped.t.is_finite(),
        "{own_flipped:?}"
    );
    assert_eq!(own_flipped.rows, vec![t.forget.len() / 2; 3]);
    let mut u = unlearner(&t);
    u.set_model_length(ForgetRows::Flipped, Some(own_flipped.clone()));
    let length = u
        .forget_with(small_flipped, &flipped_request)
        .unwrap()
        .step_length
        .unwrap();
    assert_eq!(length.source, LengthSource::ModelLength);
    assert_eq!(length.t, own_flipped.t.min(length.max));
}

/// The model's own length scales the first solve's damping only where it says the `auto`
/// rule is off by more than a second solve would correct (beyond 4× either way, within the
/// fit's bounds of 32×); such a
/// request's length is then not a multiple of the `auto` step, so it hands none on to later
/// small requests.
#[test]
fn a_model_length_far_from_one_scales_the_first_damping() {
    let t = trained();
    let genuine = ForgetRequest::default().rows_kind(ForgetRows::Genuine);
    let fixed = Method::from_id(MethodId::IfruFixed, IfruOptions::default_for(&t.spec), 0);
    let fixed = unlearner(&t)
        .forget_with(
            &t.forget,
            &ForgetRequest::new(fixed).rows_kind(ForgetRows::Genuine),
        )
        .unwrap();
    let auto = fixed.influence.unwrap().damping;
    let length_of = |t: f64| ifru::unlearn::model_length::ModelLength {
        t,
        lengths: vec![Some(t)],
        rows: vec![40],
        users: 20,
        seed: 0,
        seconds: 0.0,
    };

    // Within 4× of 1 the request's own length corrects δ; under 1/32 the model's length says
    // nothing about δ (its pseudo-requests found next to nothing to forget).
    for (own, scaled) in [
        (8.0, true),
        (0.1, true),
        (2.0, false),
        (0.3, false),
        (0.01, false),
    ] {
        let mut u = unlearner(&t);
        u.set_model_length(ForgetRows::Genuine, Some(length_of(own)));
        let out = u.forget_with(&t.forget, &genuine).unwrap();
        let length = out.step_length.unwrap();
        assert_eq!(length.source, LengthSource::Fitted);
        assert_eq!(length.model_scale, scaled.then_some(own), "{length:?}");
        // The report's damping is the last solve's: a second solve divides it by the first
        // solve's length.
        let first = out.influence.unwrap().damping * length.first_length.unwrap_or(1.0) as f32;
        let expected = if scaled { auto / own as f32 } else { auto };
        assert!(
            (first - expected).abs() <= 1e-5 * expected,
            "model length {own}: first δ {first}, expected {expected} ({length:?})"
        );
        assert_eq!(length.of_auto_step().is_none(), scaled);

        // A small genuine request next: a scaled request handed on no length, so it takes
        // the model's own; an unscaled one's fitted length is an earlier request's.
        let small = small_genuine_request(&t);
        let next = u
            .forget_with(&small, &genuine)
            .unwrap()
            .step_length
            .unwrap();
        let expected_source = if scaled {
            LengthSource::ModelLength
        } else {
            LengthSource::EarlierRequests
        };
        assert_eq!(next.source, expected_source, "model length {own}");
    }
}

/// A request that removes users whole leaves every row's node without rows: neither half of
/// it can be measured, so no scoring pass runs (the unseen rows alone measure nothing); the
/// same users less one row each leave a check half to score.
#[test]
fn a_request_removing_users_whole_scores_nothing() {
    let t = trained();
    let users: Vec<u32> = vec![1, 2, 3];
    let rows_of = |u: u32| -> Vec<u32> {
        (0..t.data.train.len() as u32)
            .filter(|&r| t.data.train.users[r as usize] == u)
            .collect()
    };
    let whole: Vec<u32> = users.iter().flat_map(|&u| rows_of(u)).collect();
    let partial: Vec<u32> = users
        .iter()
        .flat_map(|&u| rows_of(u).into_iter().skip(1))
        .collect();
    assert!(partial.len() >= 4, "{} rows", partial.len());
    let genuine = ForgetRequest::default().rows_kind(ForgetRows::Genuine);
    // A device of its own: the counters count all work on a device, and the shared one
    // serves the tests running beside this one.
    let own = std::sync::Arc::new(common::open(ifru::gpu::GpuOptions::default()));
    let run = |rows: &[u32]| {
        unlearner_on(std::sync::Arc::clone(&own), &t)
            .forget_with(rows, &genuine)
            .unwrap()
    };
    let second_half = whole.len() - whole.len() / 2;
    let (whole, partial) = (run(&whole), run(&partial));

    let check = whole.forgetting_check.as_ref().unwrap();
    assert_eq!(check.passed, None, "{check:?}");
    assert_eq!((check.rows, check.isolated_rows), (0, second_half));
    let check = partial.forgetting_check.as_ref().unwrap();
    assert!(check.rows > 0 && check.value.is_some(), "{check:?}");
    let (w, p) = (whole.device.unwrap(), partial.device.unwrap());
    // The scoring passes (three runs and a read-back of every scored row) and the probe's
    // copy of θ took the whole request from 38 to 53 submissions and 171 to 195 kB read
    // back when they ran; a partial request still runs them.
    assert!(w.submissions <= 45, "whole {w:?}");
    assert!(p.submissions > 45, "partial {p:?}");
}
