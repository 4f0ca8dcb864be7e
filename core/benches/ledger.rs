//! Ledger append on a real SQLite file: one record per transaction, and batches of 100.
//! Budget: > 2,000 records/s single. Also: signature verification per record (what bounds server ingest).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use siap_core::ledger::{Ledger, Signer, SoftwareSigner, verify_chain};
use siap_core::store::Store;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open_dir(dir.path()).expect("store"));
    let signer: Arc<dyn Signer> = Arc::new(SoftwareSigner::generate().expect("key"));
    let ledger = Ledger::new(store, signer).expect("ledger");
    let payload = vec![b'x'; 600]; // about the size of an attendance payload

    let mut g = c.benchmark_group("ledger_append");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single", |b| {
        b.iter(|| black_box(ledger.append("bench.single", &payload).expect("append")));
    });
    g.throughput(Throughput::Elements(100));
    let batch: Vec<(&str, &[u8])> = (0..100).map(|_| ("bench.batch", &payload[..])).collect();
    g.bench_function("batch_100", |b| {
        b.iter(|| black_box(ledger.append_batch(&batch).expect("append")));
    });
    g.finish();

    let recs = ledger.records_after(0, 1000).expect("read");
    let pk = ledger.public_key().to_vec();
    let mut g = c.benchmark_group("ledger_verify");
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.bench_function("verify_chain_1000", |b| {
        b.iter_batched(
            || recs.clone(),
            |r| black_box(verify_chain(&pk, &r).expect("valid")),
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
