//! Synthetic landmark sequences: a 3-D mean face turned by a real head, or printed on a plane.
//!
//! There is no real video of live head turns here, so the liveness geometry is tested, tuned and
//! benchmarked on this model, and the module docs say so. It is public so that integration tests, the
//! benchmark and the server's self-checks can produce the same sequences; it is small, deterministic
//! (seeded [`Rng`]) and has no dependencies.
//!
//! Units: one inter-ocular distance (IOD, ~63 mm on an adult) = 1. Camera coordinates: x right, y down,
//! z away from the camera. The mean face (eyes at z = 0, nose tip 0.55 IOD in front of them, mouth corners
//! 0.1 in front) turns about a pivot 1.5 IOD behind and 0.8 below the eyes, roughly the top of the neck.
//! Positive yaw turns the head to the person's left (nose towards image +x in an unmirrored frame);
//! positive pitch looks up.

use super::pose::CANONICAL;
use super::{FrameObservation, Landmarks, Movement, Tracks};

/// The five landmarks of the mean face (MTCNN order), IOD units, head frame.
pub const MEAN_FACE: [[f64; 3]; 5] = [
    [-0.5, 0.0, 0.0],
    [0.5, 0.0, 0.0],
    [0.0, 0.6, -0.55],
    [-0.4, 1.15, -0.1],
    [0.4, 1.15, -0.1],
];

/// Head rotation pivot in the head frame.
pub const PIVOT: [f64; 3] = [0.0, 0.8, 1.5];

/// Small deterministic PRNG (SplitMix64) for reproducible tests; not for anything secret.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[a, b)`.
    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        a + (b - a) * u
    }

    /// Standard normal (Box-Muller).
    pub fn gaussian(&mut self) -> f64 {
        let u1 = self.uniform(f64::MIN_POSITIVE, 1.0);
        let u2 = self.uniform(0.0, 1.0);
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Pinhole camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// Focal length, pixels.
    pub focal_px: f64,
    /// Principal point x, pixels.
    pub cx: f64,
    /// Principal point y, pixels.
    pub cy: f64,
    /// Distance of the eyes from the camera, IOD units.
    pub distance: f64,
}

impl Default for Camera {
    /// A 640x480 phone frame, f = 600 px, face at 7.5 IOD (~47 cm): inter-ocular distance ~80 px.
    fn default() -> Self {
        Camera {
            focal_px: 600.0,
            cx: 320.0,
            cy: 240.0,
            distance: 7.5,
        }
    }
}

impl Camera {
    fn project(&self, p: [f64; 3]) -> [f64; 2] {
        [
            self.cx + self.focal_px * p[0] / p[2],
            self.cy + self.focal_px * p[1] / p[2],
        ]
    }
}

use super::pose::rotate;

/// Head-frame points that stand for the feature points the optical flow follows: the canonical face
/// points and the midpoints between each side point and the nose tip (48 points at different depths).
pub fn track_face() -> Vec<[f64; 3]> {
    let tip = CANONICAL[6];
    let mut pts = CANONICAL.to_vec();
    pts.extend(
        CANONICAL[8..]
            .iter()
            .map(|p| [0, 1, 2].map(|k| f64::midpoint(p[k], tip[k]))),
    );
    pts
}

/// Image points of head-frame points `pts` on a live head at the given pose; `offset` moves the head
/// sideways/up (IOD units).
pub fn live_points(
    cam: &Camera,
    yaw_deg: f64,
    pitch_deg: f64,
    roll_deg: f64,
    offset: [f64; 2],
    pts: &[[f64; 3]],
) -> Vec<[f64; 2]> {
    pts.iter()
        .map(|p| {
            let rel = [p[0] - PIVOT[0], p[1] - PIVOT[1], p[2] - PIVOT[2]];
            let r = rotate(rel, yaw_deg, pitch_deg, roll_deg);
            cam.project([
                r[0] + PIVOT[0] + offset[0],
                r[1] + PIVOT[1] - 0.6 + offset[1],
                r[2] + PIVOT[2] + cam.distance,
            ])
        })
        .collect()
}

/// Landmarks of a live head at the given pose; `offset` moves the head sideways/up (IOD units).
pub fn live_landmarks(
    cam: &Camera,
    yaw_deg: f64,
    pitch_deg: f64,
    roll_deg: f64,
    offset: [f64; 2],
) -> [[f64; 2]; 5] {
    five(&live_points(
        cam, yaw_deg, pitch_deg, roll_deg, offset, &MEAN_FACE,
    ))
}

fn five(v: &[[f64; 2]]) -> [[f64; 2]; 5] {
    std::array::from_fn(|i| v[i])
}

/// Where and how a photo (or screen) is held: rotations of its plane, scale, offset.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PlanePose {
    /// Rotation about the vertical axis, degrees (turning the photo like a head turn).
    pub tilt_y_deg: f64,
    /// Rotation about the horizontal axis, degrees (tilting the photo like a nod).
    pub tilt_x_deg: f64,
    /// In-plane rotation, degrees.
    pub roll_deg: f64,
    /// Relative size of the face on the photo (1 = life size at the camera distance).
    pub scale: f64,
    /// Sideways/up offset, IOD units.
    pub offset: [f64; 2],
}

impl PlanePose {
    /// A random hand-held pose: tilts up to `max_tilt_deg`, roll up to 15°, scale 0.7-1.4, offset ±1.
    pub fn random(rng: &mut Rng, max_tilt_deg: f64) -> PlanePose {
        PlanePose {
            tilt_y_deg: rng.uniform(-max_tilt_deg, max_tilt_deg),
            tilt_x_deg: rng.uniform(-max_tilt_deg, max_tilt_deg),
            roll_deg: rng.uniform(-15.0, 15.0),
            scale: rng.uniform(0.7, 1.4),
            offset: [rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)],
        }
    }
}

/// Landmarks of the mean face *printed on a flat photo* (its frontal image) held at `pose`: the five
/// points are on one plane, so any two such frames differ by a homography.
pub fn photo_landmarks(cam: &Camera, pose: &PlanePose) -> [[f64; 2]; 5] {
    bent_photo_landmarks(cam, pose, f64::INFINITY)
}

/// Like [`photo_landmarks`] but the printout is bent around a vertical cylinder of `radius` (IOD units,
/// convex towards the camera): the middle of the face (the nose) comes forward of the eyes by the sag.
pub fn bent_photo_landmarks(cam: &Camera, pose: &PlanePose, radius: f64) -> [[f64; 2]; 5] {
    five(&photo_points(cam, pose, radius, &MEAN_FACE))
}

/// Image points of head-frame points `pts` as printed on a photo (their frontal image) bent around a
/// vertical cylinder of `radius` (infinite: flat) and held at `pose`.
pub fn photo_points(
    cam: &Camera,
    pose: &PlanePose,
    radius: f64,
    pts: &[[f64; 3]],
) -> Vec<[f64; 2]> {
    pts.iter()
        .map(|p| {
            let (x, y) = (p[0] * pose.scale, (p[1] - 0.6) * pose.scale);
            let (x, z) = if radius.is_finite() {
                let a = x / radius;
                (radius * a.sin(), radius * (1.0 - a.cos()))
            } else {
                (x, 0.0)
            };
            let r = rotate([x, y, z], pose.tilt_y_deg, pose.tilt_x_deg, pose.roll_deg);
            cam.project([
                r[0] + pose.offset[0],
                r[1] + pose.offset[1],
                r[2] + cam.distance,
            ])
        })
        .collect()
}

/// Independent Gaussian noise of `sigma_px` on every coordinate of any number of points.
pub fn noisy_points(v: &[[f64; 2]], sigma_px: f64, rng: &mut Rng) -> Vec<[f32; 2]> {
    v.iter()
        .map(|[x, y]| {
            [
                (x + sigma_px * rng.gaussian()) as f32,
                (y + sigma_px * rng.gaussian()) as f32,
            ]
        })
        .collect()
}

/// Add independent Gaussian noise of `sigma_px` to every coordinate.
pub fn noisy(l: &[[f64; 2]; 5], sigma_px: f64, rng: &mut Rng) -> Landmarks {
    l.map(|[x, y]| {
        [
            (x + sigma_px * rng.gaussian()) as f32,
            (y + sigma_px * rng.gaussian()) as f32,
        ]
    })
}

/// A synthetic identity: a random unit vector standing for a person's 192-d embedding.
#[derive(Debug, Clone)]
pub struct Identity(pub Vec<f32>);

impl Identity {
    /// A random identity (different identities are nearly orthogonal).
    pub fn random(rng: &mut Rng) -> Identity {
        Identity(unit((0..192).map(|_| rng.gaussian()).collect()))
    }

    /// One frame's embedding: the identity plus noise (`noise` 0.5 gives cosine ~0.9 to the identity).
    pub fn sample(&self, noise: f64, rng: &mut Rng) -> Vec<f32> {
        let k = noise / (self.0.len() as f64).sqrt();
        unit(
            self.0
                .iter()
                .map(|v| f64::from(*v) + k * rng.gaussian())
                .collect(),
        )
    }
}

fn unit(v: Vec<f64>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    v.into_iter().map(|x| (x / n) as f32).collect()
}

/// Who or what is in front of the camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Presenter {
    /// A live head (the mean face) making the movements.
    Live,
    /// A flat photo or screen, tilted to imitate the movements, with hand jitter.
    Photo,
    /// A printout bent around a cylinder of this radius (IOD units), tilted likewise.
    BentPhoto(f64),
}

/// How to synthesise a sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceSpec {
    /// Time of the first frame, monotonic ms.
    pub start_ms: i64,
    /// Frames per second.
    pub fps: f64,
    /// Neutral frames at the start, between movements and at the end.
    pub hold_frames: usize,
    /// Frames going out to the peak (and as many coming back).
    pub ramp_frames: usize,
    /// Peak head turn (or photo tilt), degrees.
    pub yaw_deg: f64,
    /// Peak nod (or photo tilt), degrees.
    pub pitch_deg: f64,
    /// Landmark noise, pixels (σ).
    pub noise_px: f64,
    /// Random pose jitter of the head or the hand, degrees (σ).
    pub jitter_deg: f64,
    /// Embed every n-th frame (0 = never).
    pub embed_every: usize,
    /// Embedding noise (see [`Identity::sample`]).
    pub embed_noise: f64,
    /// Live head or photo.
    pub presenter: Presenter,
    /// Camera.
    pub camera: Camera,
}

impl Default for SequenceSpec {
    /// A live head at 10 fps, 25° turns and 25° nods, 1 px landmark noise, an embedding every 4th frame.
    fn default() -> Self {
        SequenceSpec {
            start_ms: 0,
            fps: 10.0,
            hold_frames: 3,
            ramp_frames: 2,
            yaw_deg: 25.0,
            pitch_deg: 25.0,
            noise_px: 1.0,
            jitter_deg: 1.0,
            embed_every: 4,
            embed_noise: 0.5,
            presenter: Presenter::Live,
            camera: Camera::default(),
        }
    }
}

/// The (yaw, pitch) schedule of a sequence: neutral holds around out-and-back ramps for each movement.
pub fn schedule(steps: &[Movement], spec: &SequenceSpec) -> Vec<(f64, f64)> {
    let mut out = vec![(0.0, 0.0); spec.hold_frames];
    for m in steps {
        let (y, p) = match m {
            Movement::TurnLeft => (spec.yaw_deg, 0.0),
            Movement::TurnRight => (-spec.yaw_deg, 0.0),
            Movement::LookUp => (0.0, spec.pitch_deg),
            Movement::LookDown => (0.0, -spec.pitch_deg),
        };
        let r = spec.ramp_frames.max(1);
        for i in 1..=r {
            let a = i as f64 / r as f64;
            out.push((y * a, p * a));
        }
        for i in (0..r).rev() {
            let a = i as f64 / r as f64;
            out.push((y * a, p * a));
        }
        out.extend(std::iter::repeat_n(
            (0.0, 0.0),
            spec.hold_frames.saturating_sub(1),
        ));
    }
    out
}

/// Frames of `who` answering `steps` as described by `spec`.
pub fn sequence(
    steps: &[Movement],
    spec: &SequenceSpec,
    who: &Identity,
    rng: &mut Rng,
) -> Vec<FrameObservation> {
    let period = 1000.0 / spec.fps;
    let hand = PlanePose {
        scale: 1.0,
        ..PlanePose::default()
    };
    schedule(steps, spec)
        .into_iter()
        .enumerate()
        .map(|(i, (yaw, pitch))| {
            let j = spec.jitter_deg;
            let (jy, jp, jr) = (j * rng.gaussian(), j * rng.gaussian(), j * rng.gaussian());
            let project =
                |pts: &[[f64; 3]], plane: &Option<PlanePose>| match (spec.presenter, plane) {
                    (Presenter::BentPhoto(r), Some(pose)) => {
                        photo_points(&spec.camera, pose, r, pts)
                    }
                    (_, Some(pose)) => photo_points(&spec.camera, pose, f64::INFINITY, pts),
                    (_, None) => {
                        live_points(&spec.camera, yaw + jy, pitch + jp, jr, [0.0, 0.0], pts)
                    }
                };
            let plane = match spec.presenter {
                Presenter::Live => None,
                Presenter::Photo | Presenter::BentPhoto(_) => Some(PlanePose {
                    tilt_y_deg: yaw + jy,
                    tilt_x_deg: pitch + jp,
                    roll_deg: jr,
                    offset: [0.05 * rng.gaussian(), 0.05 * rng.gaussian()],
                    ..hand
                }),
            };
            let clean = five(&project(&MEAN_FACE, &plane));
            let mesh = noisy_points(&project(&CANONICAL, &plane), spec.noise_px, rng);
            let tracked = noisy_points(
                &project(&track_face(), &plane),
                spec.noise_px * TRACK_NOISE,
                rng,
            );
            let l = noisy(&clean, spec.noise_px, rng);
            let xs = l.map(|p| p[0]);
            let ys = l.map(|p| p[1]);
            let iod = (l[1][0] - l[0][0]).hypot(l[1][1] - l[0][1]);
            let min = |v: [f32; 5]| v.into_iter().fold(f32::INFINITY, f32::min);
            let max = |v: [f32; 5]| v.into_iter().fold(f32::NEG_INFINITY, f32::max);
            FrameObservation {
                t_ms: spec.start_ms + (i as f64 * period).round() as i64,
                faces: 1,
                landmarks: Some(l),
                face_box: Some([
                    min(xs) - 0.6 * iod,
                    min(ys) - 0.9 * iod,
                    max(xs) + 0.6 * iod,
                    max(ys) + 0.5 * iod,
                ]),
                embedding: (spec.embed_every > 0 && i % spec.embed_every == 0)
                    .then(|| who.sample(spec.embed_noise, rng)),
                sharpness: Some(40.0),
                mesh: Some(mesh),
                tracks: Some(Tracks {
                    generation: 1,
                    points: tracked.into_iter().map(Some).collect(),
                }),
            }
        })
        .collect()
}

/// Noise of the tracked points relative to the landmarks' (`SequenceSpec::noise_px`): optical flow on a
/// sharp corner is more precise than a landmark network (measured on real video: a tenth of a pixel
/// between frames of a still photo, against about a pixel of landmark jitter).
pub const TRACK_NOISE: f64 = 0.3;
