//! Criterion glue shared by every bench file: one criterion group per
//! [`Group`], one benchmark per contender, timed through `iter_custom` so
//! that only each case's own timed region counts.

use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use scope_benches::{Group, Sample};

/// Benchmarks every timed case of `groups`; prints byte-count cases, which
/// are exact and identical run to run, so criterion's statistics add nothing.
pub(crate) fn run(c: &mut Criterion, groups: Vec<Group>) {
    for mut group in groups {
        let id = group.id().to_owned();
        let mut g = c.benchmark_group(id.clone());
        // A run spawns 100k tasks (tens of milliseconds): ten flat samples
        // of a few runs each keep a full `cargo bench` within minutes.
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for case in group.cases_mut() {
            let contender = case.contender();
            if let Sample::Bytes(bytes) = case.run() {
                println!("{id}/{contender}: {bytes:.2} bytes per item");
                continue;
            }
            g.throughput(Throughput::Elements(case.items()));
            g.bench_function(contender, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| match case.run() {
                            Sample::Time(d) => d,
                            Sample::Bytes(_) => unreachable!("a timed case measured bytes"),
                        })
                        .sum()
                });
            });
        }
        g.finish();
    }
}
