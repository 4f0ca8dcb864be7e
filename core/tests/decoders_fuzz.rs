//! Property tests for every decoder that remote (hostile) input reaches: ledger records and their JSON
//! Lines files, changes pages and the changes in them, server-signed blobs, and (feature `face`) the
//! image decoder.
//!
//! Each decoder is fed arbitrary bytes and mutated valid encodings (bit flips, truncation, inserted and
//! deleted bytes). The properties: it never panics; what it decodes from garbage never verifies; and
//! what validation accepts survives the wire. Case counts are kept small enough for each property to run
//! in seconds in the dev profile.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::io::BufReader;
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use serde_json::{Value, json};
use siap_core::geo::{Fence, Site};
use siap_core::ledger::export::{read_jsonl, write_jsonl};
use siap_core::ledger::{Ledger, Record, Signer, SoftwareSigner, device_id_for, verify_record};
use siap_core::permit::{PermitDocument, PermitStatus};
use siap_core::signed::{CHANGES_DOMAIN, PERMIT_DOMAIN, SignedBlob};
use siap_core::store::Store;
use siap_core::sync::apply::apply_page;
use siap_core::sync::protocol::{Change, ChangeEntry, ChangesPage};
use siap_core::sync::validate::{json_depth, validate_change};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Failure persistence files would land in the source tree; the seed is printed on failure.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A device key, three chained records and their JSON Lines export (made once).
struct Fixture {
    public_key: Vec<u8>,
    device_id: String,
    records: Vec<Record>,
    jsonl: Vec<u8>,
    server: SoftwareSigner,
    server_key: Vec<u8>,
    page: ChangesPage,
    signed_page: SignedBlob,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let ledger = Ledger::new(
            Arc::new(Store::open_in_memory().unwrap()),
            Arc::new(SoftwareSigner::generate().unwrap()),
        )
        .unwrap();
        for (kind, payload) in [
            ("attendance.check_in", &br#"{"site_id":"s1","accepted":true}"#[..]),
            ("inspection.report", br#"{"asset_id":"a1","condition":"good"}"#),
            ("attendance.check_out", b"{}"),
        ] {
            ledger.append(kind, payload).unwrap();
        }
        let records = ledger.all().unwrap();
        let mut jsonl = Vec::new();
        write_jsonl(&mut jsonl, &records).unwrap();
        let server = SoftwareSigner::generate().unwrap();
        let server_key = server.public_key().unwrap();
        let permit = PermitDocument {
            permit_id: "P-2026-001".into(),
            version: 1,
            permit_type: "PBG".into(),
            status: PermitStatus::Submitted,
            official_fee_idr: 150_000,
            deadline_ms: 2_000_000,
            submitted_at_ms: 1_000_000,
            timeline: vec![],
            office: "DPMPTSP".into(),
        };
        let changes = vec![
            Change::Site {
                id: "s1".into(),
                name: "Balai Kota".into(),
                fence: json!({"type": "circle", "center": {"lat": -10.16, "lon": 123.59}, "radius_m": 150.0}),
            },
            Change::Site {
                id: "s2".into(),
                name: "Pasar".into(),
                fence: json!({"type": "polygon", "vertices": [
                    {"lat": 0.0, "lon": 0.0}, {"lat": 0.0, "lon": 0.001}, {"lat": 0.001, "lon": 0.001}]}),
            },
            Change::Employee {
                id: "e1".into(),
                name: "Ani".into(),
                site_ids: vec!["s1".into(), "s2".into()],
            },
            Change::Asset {
                id: "a1".into(),
                name: "Jembatan".into(),
                category: "road".into(),
                lat: -10.1,
                lon: 123.6,
                radius_m: 30.0,
            },
            Change::Schedule {
                id: "pemkot".into(),
                body: json!({"mon": ["07:30", "16:00"], "fri": ["07:30", "11:30"], "tz": "Asia/Makassar"}),
            },
            Change::Permit {
                signed: SignedBlob::sign_json(&server, PERMIT_DOMAIN, &permit).unwrap(),
            },
        ];
        let page = ChangesPage {
            device_id: "dev".into(),
            since: 0,
            next_cursor: changes.len() as u64,
            more: false,
            changes: changes
                .into_iter()
                .enumerate()
                .map(|(i, change)| ChangeEntry {
                    cursor: i as u64 + 1,
                    change,
                })
                .collect(),
            server_time_ms: 1_000_000,
        };
        let signed_page = SignedBlob::sign_json(&server, CHANGES_DOMAIN, &page).unwrap();
        Fixture {
            public_key: ledger.public_key().to_vec(),
            device_id: ledger.device_id().to_owned(),
            records,
            jsonl,
            server,
            server_key,
            page,
            signed_page,
        }
    })
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit { at: usize, bit: u8 },
    SetByte { at: usize, byte: u8 },
    Insert { at: usize, byte: u8 },
    Delete { at: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::SetByte { at, byte }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Delete { at }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn mutate(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for m in mutations {
        if b.is_empty() {
            break;
        }
        match *m {
            Mutation::FlipBit { at, bit } => {
                let i = at % b.len();
                b[i] ^= 1 << bit;
            }
            Mutation::SetByte { at, byte } => {
                let i = at % b.len();
                b[i] = byte;
            }
            Mutation::Insert { at, byte } => b.insert(at % (b.len() + 1), byte),
            Mutation::Delete { at } => {
                b.remove(at % b.len());
            }
            Mutation::Truncate { at } => b.truncate(at % b.len()),
        }
    }
    b
}

/// Arbitrary JSON values (bounded size), with JSON-ish keys so that some land on real field names.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("type".to_owned()),
        Just("center".to_owned()),
        Just("lat".to_owned()),
        Just("lon".to_owned()),
        Just("radius_m".to_owned()),
        Just("vertices".to_owned()),
        "[a-z_]{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        (-200.0f64..200.0).prop_map(Value::from),
        prop_oneof![
            Just("circle".to_owned()),
            Just("polygon".to_owned()),
            ".{0,12}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn any_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("s1".to_owned()),
        Just(String::new()),
        Just(" ".to_owned()),
        "\\PC{0,20}",
        ".{0,140}",
        "[a-z]{120,140}",
    ]
}

/// Arbitrary f64s, biased to the interesting ones.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        -200.0f64..200.0,
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(90.0),
        Just(180.0),
    ]
}

fn any_change() -> impl Strategy<Value = Change> {
    let fence = prop_oneof![
        json_value(),
        (any_f64(), any_f64(), any_f64()).prop_map(|(lat, lon, r)| {
            json!({"type": "circle", "center": {"lat": lat, "lon": lon}, "radius_m": r})
        }),
        prop::collection::vec((any_f64(), any_f64()), 0..8).prop_map(|v| {
            let vertices: Vec<Value> = v
                .into_iter()
                .map(|(lat, lon)| json!({"lat": lat, "lon": lon}))
                .collect();
            json!({"type": "polygon", "vertices": vertices})
        }),
    ];
    prop_oneof![
        (any_id(), ".{0,300}", fence).prop_map(|(id, name, fence)| Change::Site {
            id,
            name,
            fence
        }),
        (any_id(), ".{0,20}", prop::collection::vec(any_id(), 0..5))
            .prop_map(|(id, name, site_ids)| Change::Employee { id, name, site_ids }),
        (
            any_id(),
            ".{0,20}",
            ".{0,20}",
            any_f64(),
            any_f64(),
            any_f64()
        )
            .prop_map(|(id, name, category, lat, lon, radius_m)| Change::Asset {
                id,
                name,
                category,
                lat,
                lon,
                radius_m,
            }),
        (any_id(), json_value()).prop_map(|(id, body)| Change::Schedule { id, body }),
        (
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(any::<u8>(), 0..72)
        )
            .prop_map(|(body, signature)| Change::Permit {
                signed: SignedBlob { body, signature },
            }),
        (
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(any::<u8>(), 0..72)
        )
            .prop_map(|(body, signature)| Change::FaceDecision {
                signed: SignedBlob { body, signature },
            }),
    ]
}

/// What `validate_change` accepting a change promises.
fn check_accepted(c: &Change) {
    match c {
        Change::Site { id, name, fence } => {
            let fence: Fence =
                serde_json::from_value(fence.clone()).expect("accepted fence parses");
            Site {
                id: id.clone(),
                name: name.clone(),
                fence,
            }
            .validate()
            .expect("accepted site validates");
        }
        Change::Asset {
            lat, lon, radius_m, ..
        } => {
            assert!(lat.is_finite() && (-90.0..=90.0).contains(lat));
            assert!(lon.is_finite() && (-180.0..=180.0).contains(lon));
            assert!(radius_m.is_finite() && *radius_m > 0.0);
        }
        Change::Schedule { body, .. } => assert!(json_depth(body) <= 16),
        Change::Employee { .. } | Change::Permit { .. } | Change::FaceDecision { .. } => {}
    }
}

proptest! {
    #![proptest_config(config(256))]

    // ---- ledger records ----

    #[test]
    fn record_json_from_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let f = fixture();
        if let Ok(r) = serde_json::from_slice::<Record>(&bytes) {
            prop_assert!(verify_record(&f.public_key, &f.device_id, &r).is_err());
        }
    }

    #[test]
    fn structured_garbage_records_never_verify(
        device in prop_oneof![Just(None), ".{0,40}".prop_map(Some)],
        seq in any::<u64>(),
        prev in any::<[u8; 32]>(),
        kind in ".{0,70}",
        payload in prop::collection::vec(any::<u8>(), 0..256),
        hash in any::<[u8; 32]>(),
        signature in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let f = fixture();
        let r = Record {
            device_id: device.unwrap_or_else(|| f.device_id.clone()),
            seq,
            prev_hash: prev,
            kind,
            payload,
            hash,
            signature,
        };
        // Through the wire format and back, then verified: never a panic, never a pass.
        let bytes = serde_json::to_vec(&r).unwrap();
        let back: Record = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(&back, &r);
        prop_assert!(verify_record(&f.public_key, &f.device_id, &back).is_err());
    }

    #[test]
    fn mutated_records_decode_to_the_original_or_fail_verification(
        which in 0usize..3,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let f = fixture();
        let original = &f.records[which];
        let bytes = mutate(&serde_json::to_vec(original).unwrap(), &mutations);
        if let Ok(r) = serde_json::from_slice::<Record>(&bytes) {
            // A flip that decodes to the same record (hex case, for one) is harmless; anything else fails.
            if &r != original {
                prop_assert!(verify_record(&f.public_key, &f.device_id, &r).is_err());
            }
        }
    }

    // ---- the JSON Lines reader ----

    #[test]
    fn jsonl_reader_on_arbitrary_bytes_never_panics_and_ignores_buffering(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        capacity in 1usize..64,
    ) {
        let whole = read_jsonl(&bytes[..]);
        let chunked = read_jsonl(BufReader::with_capacity(capacity, &bytes[..]));
        prop_assert_eq!(whole.is_ok(), chunked.is_ok());
        if let (Ok(a), Ok(b)) = (whole, chunked) {
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn jsonl_reader_on_mutated_exports_never_panics(
        mutations in prop::collection::vec(mutation(), 1..6),
        capacity in 1usize..64,
    ) {
        let f = fixture();
        let bytes = mutate(&f.jsonl, &mutations);
        let whole = read_jsonl(&bytes[..]);
        let chunked = read_jsonl(BufReader::with_capacity(capacity, &bytes[..]));
        prop_assert_eq!(whole.is_ok(), chunked.is_ok());
        if let Ok(records) = whole {
            // Whatever still parses is the chain, or fails to verify, or is a shorter chain (a
            // truncation: what `siap ledger verify --expect-head` catches).
            if records != f.records {
                let full = matches!(
                    siap_core::ledger::verify_chain(&f.public_key, &records),
                    Ok(Some(h)) if h.seq >= 3
                );
                prop_assert!(!full);
            }
        }
    }

    // ---- changes ----

    #[test]
    fn change_json_from_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(c) = serde_json::from_slice::<Change>(&bytes)
            && validate_change(&c).is_ok()
        {
            check_accepted(&c);
        }
        let _ = serde_json::from_slice::<ChangesPage>(&bytes);
    }

    #[test]
    fn arbitrary_changes_validate_without_panicking_and_accepted_ones_survive_the_wire(c in any_change()) {
        if validate_change(&c).is_ok() {
            check_accepted(&c);
            // What the server accepts, the device can parse and accepts too.
            let wire = serde_json::to_vec(&c).unwrap();
            let back: Change = serde_json::from_slice(&wire).unwrap();
            prop_assert!(validate_change(&back).is_ok());
        }
    }

    #[test]
    fn mutated_pages_never_panic_and_apply_without_error(
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let f = fixture();
        let bytes = mutate(&serde_json::to_vec(&f.page).unwrap(), &mutations);
        if let Ok(page) = serde_json::from_slice::<ChangesPage>(&bytes) {
            for e in &page.changes {
                if validate_change(&e.change).is_ok() {
                    check_accepted(&e.change);
                }
            }
            // Skip and flag: a bad change never fails the page.
            let store = Store::open_in_memory().unwrap();
            let counts = apply_page(&store, &f.server_key, &page).unwrap();
            let permits = page.changes.iter().filter(|e| matches!(e.change, Change::Permit { .. })).count();
            prop_assert!(
                (counts.applied + counts.skipped + counts.stale) as usize == page.changes.len(),
                "{counts:?} for {} changes ({permits} permits)", page.changes.len()
            );
        }
    }

    #[test]
    fn arbitrary_pages_apply_without_error(changes in prop::collection::vec(any_change(), 0..6)) {
        let f = fixture();
        let page = ChangesPage {
            device_id: "dev".into(),
            since: 0,
            next_cursor: changes.len() as u64,
            more: false,
            changes: changes.into_iter().enumerate().map(|(i, change)| ChangeEntry { cursor: i as u64 + 1, change }).collect(),
            server_time_ms: 0,
        };
        let store = Store::open_in_memory().unwrap();
        let counts = apply_page(&store, &f.server_key, &page).unwrap();
        let invalid = page.changes.iter().filter(|e| validate_change(&e.change).is_err()).count();
        prop_assert!(counts.skipped as usize >= invalid);
        // Whatever was stored reads back.
        let sites = siap_core::reference::Reference(&store).sites().unwrap();
        prop_assert!(sites.iter().all(|s| s.validate().is_ok()));
    }

    // ---- server-signed blobs ----

    #[test]
    fn signed_blob_from_arbitrary_bytes_never_verifies(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let f = fixture();
        if let Ok(b) = serde_json::from_slice::<SignedBlob>(&bytes) {
            prop_assert!(b.verify(&f.server_key, CHANGES_DOMAIN, "changes").is_err());
            prop_assert!(b.verify_json::<ChangesPage>(&f.server_key, CHANGES_DOMAIN, "changes").is_err());
        }
    }

    #[test]
    fn mutated_signed_pages_decode_to_the_original_or_fail_verification(
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let f = fixture();
        let bytes = mutate(&serde_json::to_vec(&f.signed_page).unwrap(), &mutations);
        if let Ok(b) = serde_json::from_slice::<SignedBlob>(&bytes) {
            let verified = b.verify_json::<ChangesPage>(&f.server_key, CHANGES_DOMAIN, "changes");
            if b == f.signed_page {
                prop_assert_eq!(verified.unwrap(), f.page.clone());
            } else {
                prop_assert!(verified.is_err());
            }
        }
    }

    #[test]
    fn signed_bodies_with_arbitrary_content_verify_but_fail_to_parse_cleanly(
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        // Signed by the real server key: the signature passes, the body is garbage. Parsing must be a
        // typed error, not a panic.
        let f = fixture();
        let b = SignedBlob::sign(&f.server, CHANGES_DOMAIN, body).unwrap();
        prop_assert!(b.verify(&f.server_key, CHANGES_DOMAIN, "changes").is_ok());
        let _ = b.verify_json::<ChangesPage>(&f.server_key, CHANGES_DOMAIN, "changes");
        prop_assert!(b.verify(&f.server_key, PERMIT_DOMAIN, "permit").is_err());
    }
}

#[test]
fn device_ids_of_the_fixture_are_consistent() {
    let f = fixture();
    assert_eq!(device_id_for(&f.public_key), f.device_id);
    assert!(validate_change(&f.page.changes[0].change).is_ok());
    assert!(
        f.page
            .changes
            .iter()
            .all(|e| validate_change(&e.change).is_ok())
    );
}

#[cfg(feature = "face")]
mod images {
    //! `FaceImage::decode`: the one function that turns untrusted JPEG/PNG bytes into pixels.

    use std::io::Cursor;
    use std::sync::OnceLock;

    use image::{ImageEncoder, codecs::jpeg::JpegEncoder, codecs::png::PngEncoder};
    use proptest::prelude::*;
    use siap_core::face::{FaceImage, MAX_SIDE};

    use super::{config, mutate, mutation};

    /// A real 96x72 JPEG and PNG (a gradient with a disc), encoded once.
    fn samples() -> &'static (Vec<u8>, Vec<u8>) {
        static S: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
        S.get_or_init(|| {
            let (w, h) = (96u32, 72u32);
            let mut rgb = Vec::with_capacity((w * h * 3) as usize);
            for y in 0..h {
                for x in 0..w {
                    let inside = (x as i32 - 48).pow(2) + (y as i32 - 36).pow(2) < 400;
                    rgb.extend_from_slice(&[
                        (x * 255 / w) as u8,
                        (y * 255 / h) as u8,
                        if inside { 230 } else { 40 },
                    ]);
                }
            }
            let mut jpeg = Vec::new();
            JpegEncoder::new_with_quality(Cursor::new(&mut jpeg), 85)
                .write_image(&rgb, w, h, image::ExtendedColorType::Rgb8)
                .unwrap();
            let mut png = Vec::new();
            PngEncoder::new(Cursor::new(&mut png))
                .write_image(&rgb, w, h, image::ExtendedColorType::Rgb8)
                .unwrap();
            (jpeg, png)
        })
    }

    fn check(result: siap_core::Result<FaceImage>) {
        if let Ok(img) = result {
            assert!(img.width() <= MAX_SIDE && img.height() <= MAX_SIDE);
            assert_eq!(
                img.rgb().len(),
                img.width() as usize * img.height() as usize * 3
            );
        }
    }

    #[test]
    fn the_samples_decode_and_their_headers_alone_do_not() {
        let (jpeg, png) = samples();
        for bytes in [jpeg, png] {
            let img = FaceImage::decode(bytes).unwrap();
            assert_eq!((img.width(), img.height()), (96, 72));
            for cut in [0, 1, 2, 4, 8, 16, 32] {
                assert!(FaceImage::decode(&bytes[..cut]).is_err(), "cut at {cut}");
            }
        }
        // A PNG cut before its image data is an error, not a blank picture.
        assert!(FaceImage::decode(&png[..png.len() / 4]).is_err());
    }

    proptest! {
        #![proptest_config(config(256))]

        #[test]
        fn arbitrary_bytes_are_an_error(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
            prop_assert!(FaceImage::decode(&bytes).is_err());
        }

        #[test]
        fn arbitrary_bytes_behind_a_jpeg_or_png_signature_never_panic(
            png in any::<bool>(),
            rest in prop::collection::vec(any::<u8>(), 0..4096),
        ) {
            let mut bytes = if png {
                b"\x89PNG\r\n\x1a\n".to_vec()
            } else {
                vec![0xFF, 0xD8, 0xFF, 0xE0]
            };
            bytes.extend(rest);
            check(FaceImage::decode(&bytes));
        }

        #[test]
        fn truncated_images_never_panic(png in any::<bool>(), frac in 0.0f64..1.0) {
            let (jpeg, png_bytes) = samples();
            let bytes = if png { png_bytes } else { jpeg };
            let cut = (bytes.len() as f64 * frac) as usize;
            check(FaceImage::decode(&bytes[..cut]));
        }

        #[test]
        fn mutated_images_never_panic(
            png in any::<bool>(),
            mutations in prop::collection::vec(mutation(), 1..8),
        ) {
            let (jpeg, png_bytes) = samples();
            let bytes = mutate(if png { png_bytes } else { jpeg }, &mutations);
            check(FaceImage::decode(&bytes));
        }
    }
}
