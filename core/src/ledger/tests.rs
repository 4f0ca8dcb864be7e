//! Tamper tests: every kind of manipulation of a stored ledger must be caught by `verify_chain`: changed
//! bytes in any field, records reordered, dropped or duplicated, a fork signed with the device's own key,
//! and records from another key or another device.

use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::store::Store;

type Mutation = Box<dyn Fn(&mut Record)>;

fn ledger() -> Ledger {
    Ledger::new(
        Arc::new(Store::open_in_memory().unwrap()),
        Arc::new(SoftwareSigner::generate().unwrap()),
    )
    .unwrap()
}

fn chain(n: usize) -> (Ledger, Vec<Record>) {
    let l = ledger();
    for i in 0..n {
        l.append("test.event", format!("{{\"i\":{i}}}").as_bytes())
            .unwrap();
    }
    let all = l.all().unwrap();
    (l, all)
}

#[test]
fn a_clean_chain_verifies() {
    let (l, recs) = chain(5);
    let head = verify_chain(l.public_key(), &recs).unwrap().unwrap();
    assert_eq!(head.seq, 5);
    assert_eq!(Some(head), l.head().unwrap());
    assert_eq!(verify_chain(l.public_key(), &[]).unwrap(), None);
}

#[test]
fn continuation_from_a_head() {
    let (l, recs) = chain(6);
    let head = verify_chain(l.public_key(), &recs[..3]).unwrap();
    assert_eq!(
        verify_continuation(l.public_key(), head, &recs[3..])
            .unwrap()
            .unwrap()
            .seq,
        6
    );
    assert!(matches!(
        verify_continuation(l.public_key(), head, &recs[4..]),
        Err(ChainError::Gap {
            expected: 4,
            found: 5
        })
    ));
}

#[test]
fn flipped_bytes_in_every_field_are_caught() {
    let (l, recs) = chain(4);
    let pk = l.public_key();
    let mutations: Vec<Mutation> = vec![
        Box::new(|r| r.payload[0] ^= 1),
        Box::new(|r| r.kind.push('x')),
        Box::new(|r| r.prev_hash[5] ^= 1),
        Box::new(|r| r.hash[0] ^= 1),
        Box::new(|r| r.signature[10] ^= 1),
        Box::new(|r| r.seq += 10),
        // Change the first character to something it is not (a fixed "f" would be a no-op 1 time in 16).
        Box::new(|r| {
            let c = if r.device_id.starts_with('f') {
                "0"
            } else {
                "f"
            };
            r.device_id.replace_range(0..1, c);
        }),
    ];
    for (i, m) in mutations.iter().enumerate() {
        let mut t = recs.clone();
        m(&mut t[2]);
        assert!(verify_chain(pk, &t).is_err(), "mutation {i} went unnoticed");
    }
}

#[test]
fn reorder_drop_and_duplicate_are_named() {
    let (l, recs) = chain(4);
    let pk = l.public_key();
    let mut reordered = recs.clone();
    reordered.swap(1, 2);
    assert!(matches!(
        verify_chain(pk, &reordered),
        Err(ChainError::Gap {
            expected: 2,
            found: 3
        })
    ));
    let mut dropped = recs.clone();
    dropped.remove(1);
    assert!(matches!(
        verify_chain(pk, &dropped),
        Err(ChainError::Gap {
            expected: 2,
            found: 3
        })
    ));
    let mut dup = recs.clone();
    dup.push(recs[1].clone());
    assert!(matches!(
        verify_chain(pk, &dup),
        Err(ChainError::Duplicate { seq: 2 })
    ));
}

thread_local! {
    static SIGNER: Arc<dyn Signer> = Arc::new(SoftwareSigner::generate().unwrap());
}

#[test]
fn fork_with_same_key() {
    let signer = SIGNER.with(Arc::clone);
    let a = Ledger::new(Arc::new(Store::open_in_memory().unwrap()), signer.clone()).unwrap();
    let b = Ledger::new(Arc::new(Store::open_in_memory().unwrap()), signer).unwrap();
    for l in [&a, &b] {
        l.append("test.event", b"1").unwrap();
        l.append("test.event", b"2").unwrap();
    }
    a.append("test.event", b"3a").unwrap();
    b.append("test.event", b"3b").unwrap();
    let mut recs = a.all().unwrap();
    recs.push(b.get(3).unwrap().unwrap());
    assert!(matches!(
        verify_chain(a.public_key(), &recs),
        Err(ChainError::Fork { seq: 3 })
    ));
}

#[test]
fn another_key_and_another_device_are_caught() {
    let (l, recs) = chain(3);
    let (other, other_recs) = chain(3);
    // Verified against the wrong key: the records name another device.
    assert!(matches!(
        verify_chain(other.public_key(), &recs),
        Err(ChainError::WrongDevice { seq: 1 })
    ));
    // Another device's record replayed into this chain.
    let mut replay = recs.clone();
    replay.push(other_recs[2].clone());
    assert!(matches!(
        verify_chain(l.public_key(), &replay),
        Err(ChainError::Duplicate { .. }
            | ChainError::Fork { .. }
            | ChainError::WrongDevice { .. })
    ));
    let mut replay_next = recs.clone();
    let mut foreign = other_recs[0].clone();
    foreign.seq = 4;
    replay_next.push(foreign);
    assert!(matches!(
        verify_chain(l.public_key(), &replay_next),
        Err(ChainError::WrongDevice { seq: 4 })
    ));
    // Re-signed by another key under this device's id: signature check fails.
    let mut resigned = recs.clone();
    let forger = SoftwareSigner::generate().unwrap();
    resigned[1].signature = forger.sign(&resigned[1].hash).unwrap();
    assert!(matches!(
        verify_chain(l.public_key(), &resigned),
        Err(ChainError::BadSignature { seq: 2 })
    ));
    assert!(matches!(
        verify_chain(&[4u8; 10], &recs),
        Err(ChainError::BadPublicKey)
    ));
}

#[test]
fn bad_entries_are_refused_before_signing() {
    let l = ledger();
    assert!(l.append("", b"{}").is_err());
    assert!(l.append("Bad Kind", b"{}").is_err());
    assert!(l.append("ok", &vec![0u8; MAX_PAYLOAD_BYTES + 1]).is_err());
    assert!(l.append_batch(&[("ok", b"1"), ("BAD", b"2")]).is_err());
    assert_eq!(
        l.head().unwrap(),
        None,
        "nothing is written when any entry is bad"
    );
}

#[test]
fn jsonl_round_trip() {
    let (l, recs) = chain(3);
    let mut buf = Vec::new();
    assert_eq!(l.export_jsonl(&mut buf).unwrap(), 3);
    let back = export::read_jsonl(&buf[..]).unwrap();
    assert_eq!(back, recs);
    assert!(export::read_jsonl(&b"{not json}\n"[..]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any single byte flip anywhere in any record's JSON encoding either fails to parse or fails to verify.
    #[test]
    fn any_flipped_byte_is_detected(rec in 0usize..4, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (l, recs) = CHAIN.with(Clone::clone);
        let mut line = serde_json::to_vec(&recs[rec]).unwrap();
        let i = pos.index(line.len());
        line[i] ^= 1 << bit;
        if let Ok(r) = serde_json::from_slice::<Record>(&line) {
            let mut t = recs.clone();
            let unchanged = r == recs[rec];
            t[rec] = r;
            // A flip can land in JSON syntax that decodes to the same record (e.g. hex case); then it is not tampering.
            prop_assert!(unchanged || verify_chain(l.public_key(), &t).is_err());
        }
    }

    /// Any permutation other than the identity is caught.
    #[test]
    fn any_reordering_is_detected(perm in Just((0..5usize).collect::<Vec<_>>()).prop_shuffle()) {
        let (l, recs) = CHAIN.with(Clone::clone);
        let t: Vec<Record> = perm.iter().map(|&i| recs[i].clone()).collect();
        prop_assert_eq!(verify_chain(l.public_key(), &t).is_ok(), perm.iter().enumerate().all(|(a, &b)| a == b));
    }
}

thread_local! {
    static CHAIN: (Ledger, Vec<Record>) = chain(5);
}
