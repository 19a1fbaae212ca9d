//! Argon2id cost as the server pays it: `Passwords::hash` (signup, create-user,
//! changePassword) and `Passwords::verify` (login), each going through the semaphore and
//! tokio's blocking pool exactly as a request does.
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
    let passwords = Passwords::new().expect("dummy hash");
    let password = Password::parse(PASSWORD, "password").expect("valid password");
    let hash = rt
        .block_on(passwords.hash(&password))
        .expect("hashing works");
    // Outside the timed loop: the benchmarked calls answer what login relies on.
    assert!(
        rt.block_on(passwords.verify(PASSWORD, Some(&hash)))
            .unwrap()
    );
    assert!(
        !rt.block_on(passwords.verify("wrong password", Some(&hash)))
            .unwrap()
    );
    assert!(!rt.block_on(passwords.verify(PASSWORD, None)).unwrap());

    let mut group = c.benchmark_group("password");
    // One hash is tens of milliseconds: ten samples are plenty and keep a full run short.
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    group.bench_function("hash", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(passwords.hash(black_box(&password)).await.unwrap()) });
    });
    group.bench_function("verify", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                passwords
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
            black_box(passwords.verify(black_box(PASSWORD), None).await.unwrap())
        });
    });
    // As many verifies at once as the semaphore admits (one per CPU): the ceiling on
    // logins per second is `workers / this time`. Equal to `verify` if they scale.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    group.bench_function(format!("verify_x{workers}_concurrent"), |b| {
        b.to_async(&rt).iter(|| async {
            let checks = (0..workers).map(|_| passwords.verify(PASSWORD, Some(&hash)));
            black_box(futures_util::future::try_join_all(checks).await.unwrap())
        });
    });
    group.finish();
}

criterion_group!(benches, passwords);
criterion_main!(benches);
