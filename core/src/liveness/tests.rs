//! Module tests: geometry margins on the synthetic face model, sequence decisions, bad input.

use super::synth::{
    Camera, Identity, PlanePose, Presenter, Rng, SequenceSpec, live_landmarks, noisy, photo_landmarks,
    sequence,
};
use super::*;
use crate::clock::MonotonicReading;

#[test]
fn calibrate_print() {
    let cam = Camera::default();
    for deg in [5.0, 10.0, 15.0, 17.0, 20.0, 25.0, 30.0] {
        let n = live_landmarks(&cam, 0.0, 0.0, 0.0, [0.0, 0.0]).map(|p| p.map(|v| v as f32));
        let y = live_landmarks(&cam, deg, 0.0, 0.0, [0.0, 0.0]).map(|p| p.map(|v| v as f32));
        let p = live_landmarks(&cam, 0.0, deg, 0.0, [0.0, 0.0]).map(|p| p.map(|v| v as f32));
        let pn = Pose::from_landmarks(&n).unwrap();
        let (dy, _) = Pose::from_landmarks(&y).unwrap().delta(&pn);
        let (_, dp) = Pose::from_landmarks(&p).unwrap().delta(&pn);
        println!(
            "{deg}: yaw {dy:.3} res {:.3} | pitch {dp:.3} res {:.3} iod {:.1}",
            planarity::nose_residual(&n, &y).unwrap(),
            planarity::nose_residual(&n, &p).unwrap(),
            pn.inter_ocular_px
        );
    }
    let _ = (noisy, photo_landmarks, PlanePose::default(), Identity::random(&mut Rng::new(1)));
    let _ = (sequence, Presenter::Live, SequenceSpec::default(), MonotonicReading { monotonic_ms: 0, boot_id: String::new() });
}
