//! Argon2id cost as the server pays it: `hash` (signup, create-user, changePassword) and
//! `verify` (login), each admitted into the hashing pool and run on one of its workers
//! (one per CPU, each reusing its buffer) exactly as a request does.
//!
//! `cargo bench --bench password` (add `-- --quick` for a rough figure in seconds).

use std::hint::black_box;
use std::time::Duration;

use authql::auth::password::Passwords;
use authql::domain::Password;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

const PASSWORD: &str = "correct horse battery";

fn passwords(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let passwords = Passwords::new(64);
    let password = Password::parse(PASSWORD, "password").expect("valid password");
    let hash = rt
        .block_on(passwords.admit().unwrap().hash(&password))
        .expect("hashing works");
    // Outside the timed loop: the benchmarked calls answer what login relies on.
    assert!(
        rt.block_on(passwords.admit().unwrap().verify(PASSWORD, Some(&hash)))
            .unwrap()
    );
    assert!(
        !rt.block_on(
            passwords
                .admit()
                .unwrap()
                .verify("wrong password", Some(&hash))
        )
        .unwrap()
    );
    assert!(
        !rt.block_on(passwords.admit().unwrap().verify(PASSWORD, None))
            .unwrap()
    );

    let mut group = c.benchmark_group("password");
    // One hash is tens of milliseconds: ten samples are plenty and keep a full run short.
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    group.bench_function("hash", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                passwords
                    .admit()
                    .unwrap()
                    .hash(black_box(&password))
                    .await
                    .unwrap(),
            )
        });
    });
    group.bench_function("verify", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                passwords
                    .admit()
                    .unwrap()
                    .verify(black_box(PASSWORD), Some(&hash))
                    .await
                    .unwrap(),
            )
        });
    });
    // An unknown username verifies against the dummy hash: it should cost the same as
    // `verify`, or login timing would tell which usernames exist.
    group.bench_function("verify_unknown_user", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                passwords
                    .admit()
                    .unwrap()
                    .verify(black_box(PASSWORD), None)
                    .await
                    .unwrap(),
            )
        });
    });
    // As many verifies at once as there are workers (one per CPU): the ceiling on
    // logins per second is `workers / this time`. Equal to `verify` if they scale.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    group.bench_function(format!("verify_x{workers}_concurrent"), |b| {
        b.to_async(&rt).iter(|| async {
            let permits: Vec<_> = (0..workers).map(|_| passwords.admit().unwrap()).collect();
            let checks = permits.iter().map(|p| p.verify(PASSWORD, Some(&hash)));
            black_box(futures_util::future::try_join_all(checks).await.unwrap())
        });
    });
    group.finish();
}

criterion_group!(benches, passwords);
criterion_main!(benches);
