//! Argon2id password hashing with OWASP's parameters (m = 19 MiB, t = 2, p = 1).
//!
//! Hashes run on a fixed pool of one worker thread per CPU, never on the async runtime.
//! Each worker owns one 19 MiB buffer for its whole life, so a login storm costs at most
//! one buffer per CPU instead of a fresh allocation per hash (which let glibc grow an arena
//! per blocking thread: hundreds of MiB after a few seconds of logins).
//!
//! Admission is explicit ([`Passwords::admit`]): at most `PASSWORD_HASH_QUEUE` hashes may
//! wait for a worker; beyond that the caller is told at once ([`Overloaded`]) and answers
//! `RATE_LIMITED`, so a storm can grow neither memory nor everyone's latency without bound.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
    mpsc,
};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{Output, SaltString, rand_core::OsRng},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// OWASP's Argon2id parameters (password storage cheat sheet): 19 MiB, 2 passes, 1 lane.
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// A hash of a random password nobody knows, with our parameters: verified when the
/// username is unknown, so an unknown name costs the same time as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$Zm2pUuB8vP6VxmyLh3yQ6A$4QEMrbWfxMEqB5sUYlAsJz3JTWlPdmQS7PZsG9sbt3o";

/// Hashing failed for a reason other than a wrong password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("the hashing workers are gone")]
    Closed,
}

/// Every place in the hash queue is taken: shed the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is overloaded")]
pub struct Overloaded;

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The hashing pool; cheap to clone. The workers stop when the last clone is dropped.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: mpsc::Sender<Job>,
    /// Places in the system: one per worker plus `PASSWORD_HASH_QUEUE` waiting.
    admission: Arc<Semaphore>,
    places: usize,
    running: Arc<AtomicUsize>,
}

impl Passwords {
    /// Starts one worker per CPU; at most `queue` admitted hashes wait for one.
    pub fn new(queue: usize) -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_workers(workers, queue)
    }

    fn with_workers(workers: usize, queue: usize) -> Self {
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let running = Arc::new(AtomicUsize::new(0));
        for index in 0..workers {
            let receiver = receiver.clone();
            let running = running.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("authql-argon2-{index}"))
                .spawn(move || work(&receiver, &running));
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password hashing worker");
            }
        }
        let places = workers + queue;
        Self {
            inner: Arc::new(Inner {
                jobs,
                admission: Arc::new(Semaphore::new(places)),
                places,
                running,
            }),
        }
    }

    /// Takes a place for one hash, or says at once that there is none.
    pub fn admit(&self) -> Result<HashPermit, Overloaded> {
        let permit = self
            .inner
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| Overloaded)?;
        Ok(HashPermit {
            passwords: self.clone(),
            place: Arc::new(permit),
        })
    }

    /// Hashes admitted but not yet running (the `authql_password_hash_queue` gauge).
    pub fn waiting(&self) -> usize {
        let admitted = self.inner.places - self.inner.admission.available_permits();
        admitted.saturating_sub(self.inner.running.load(Ordering::Relaxed))
    }

    /// Queues `work` holding `place`: the place is given back only when the caller is done
    /// with its permit *and* the job has finished, so a request cancelled while its hash
    /// waits (client gone, timeout, a WebSocket `complete`) cannot free a place that its
    /// queued job still takes. A job whose caller is gone is skipped, not computed.
    async fn run<T: Send + 'static>(
        &self,
        place: Arc<OwnedSemaphorePermit>,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (done, result) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move |buffer| {
            let _place = place;
            if !done.is_closed() {
                let _ = done.send(span.in_scope(|| work(buffer)));
            }
        });
        self.inner
            .jobs
            .send(job)
            .map_err(|_| PasswordError::Closed)?;
        result.await.map_err(|_| PasswordError::Closed)
    }
}

/// A worker: takes jobs until every sender is gone, reusing one buffer throughout.
fn work(receiver: &Mutex<mpsc::Receiver<Job>>, running: &AtomicUsize) {
    yield_to_requests();
    let mut buffer: Vec<Block> = Vec::new();
    loop {
        let job = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        running.fetch_add(1, Ordering::Relaxed);
        job(&mut buffer);
        running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs this thread under `SCHED_IDLE`, below every ordinary thread: a hash is 10+ ms of
/// CPU, and at equal priority every request queued behind one waits that long, so a login
/// storm would set everyone's read latency. Under `SCHED_IDLE` a request thread that wakes
/// takes the CPU at once (at nice 19 it could still wait for the hash's time slice to end:
/// the storm's read p99 was 2.3–3.2 × idle on a fast machine); hashes take what requests
/// leave, and admission (`PASSWORD_HASH_QUEUE`) bounds how many wait. Lowering one's own
/// policy needs no privilege; where it fails, nice 19, and failing that the usual priority.
fn yield_to_requests() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_current_thread_priority, set_thread_priority_and_policy, thread_native_id,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle).is_ok() {
        return;
    }
    if let Err(error) = set_current_thread_priority(ThreadPriority::Min) {
        tracing::warn!(?error, "cannot lower the password hashing priority");
    }
}

/// One admitted place, for one hash or a check followed by a hash (`changePassword`); the
/// place is given back when the permit is dropped and its jobs have run.
pub struct HashPermit {
    passwords: Passwords,
    place: Arc<OwnedSemaphorePermit>,
}

impl HashPermit {
    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
    pub async fn hash(&self, password: &crate::domain::Password) -> Result<String, PasswordError> {
        let password = password.expose().to_owned();
        self.passwords
            .run(self.place.clone(), move |buffer| {
                hash_with(&password, buffer)
            })
            .await?
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is no user,
    /// so both cases take the same time. Always false without a user.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, PasswordError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or(DUMMY_HASH).to_owned();
        let password = password.to_owned();
        let matches = self
            .passwords
            .run(self.place.clone(), move |buffer| {
                verify_with(&password, &hash, buffer)
            })
            .await??;
        Ok(known && matches)
    }
}

fn argon2(algorithm: Algorithm, version: Version, params: Params) -> Argon2<'static> {
    Argon2::new(algorithm, version, params)
}

fn owasp_params() -> Params {
    Params::new(M_COST_KIB, T_COST, P_COST, None).expect("BUG: OWASP Argon2 params are valid")
}

/// `buffer` grown to at least `blocks` (once per worker for our own parameters).
fn memory(buffer: &mut Vec<Block>, blocks: usize) -> &mut [Block] {
    if buffer.len() < blocks {
        buffer.resize(blocks, Block::default());
    }
    &mut buffer[..blocks]
}

fn hash_with(password: &str, buffer: &mut Vec<Block>) -> Result<String, PasswordError> {
    let params = owasp_params();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| PasswordError::Argon2(e.to_string()))?;
    let hasher = argon2(Algorithm::Argon2id, Version::V0x13, params.clone());
    let memory = memory(buffer, params.block_count());
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        hasher
            .hash_password_into_with_memory(password.as_bytes(), salt_raw, out, &mut *memory)
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|e| PasswordError::Argon2(e.to_string()))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params)
            .try_into()
            .map_err(|e: argon2::password_hash::Error| PasswordError::Argon2(e.to_string()))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Recomputes the hash with the stored parameters and compares in constant time
/// (`Output`'s equality is constant-time).
fn verify_with(password: &str, hash: &str, buffer: &mut Vec<Block>) -> Result<bool, PasswordError> {
    let invalid = |e: argon2::password_hash::Error| PasswordError::Argon2(e.to_string());
    let parsed = PasswordHash::new(hash).map_err(invalid)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(invalid)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| PasswordError::Argon2(e.to_string()))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(invalid)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(PasswordError::Argon2("hash without salt or output".into()));
    };
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(invalid)?;
    let hasher = argon2(algorithm, version, params.clone());
    let memory = memory(buffer, params.block_count());
    let computed = Output::init_with(expected.len(), |out| {
        hasher
            .hash_password_into_with_memory(password.as_bytes(), salt_raw, out, &mut *memory)
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(invalid)?;
    Ok(computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;

    #[test]
    fn hashes_verify_with_the_reference_implementation_and_back() {
        let mut buffer = Vec::new();
        let hash = hash_with("correct horse battery", &mut buffer).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        // The buffer is reused: a second hash and both verifications run on it.
        assert!(verify_with("correct horse battery", &hash, &mut buffer).unwrap());
        assert!(!verify_with("wrong horse battery", &hash, &mut buffer).unwrap());
        assert_eq!(buffer.len(), owasp_params().block_count());
    }

    /// A request thread that wakes takes the CPU from a hash at once: hashing threads run
    /// under `SCHED_IDLE` (nice 19 alone let a storm of logins double the reads' p99).
    #[tokio::test]
    async fn hashes_run_below_every_request_thread() {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};
        let passwords = Passwords::new(1);
        let permit = passwords.admit().unwrap();
        let policy = passwords
            .run(permit.place.clone(), |_| {
                thread_priority::unix::thread_schedule_policy().unwrap()
            })
            .await
            .unwrap();
        assert_eq!(
            policy,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
        );
    }

    #[test]
    fn the_dummy_hash_has_our_parameters() {
        let parsed = Params::try_from(&PasswordHash::new(DUMMY_HASH).unwrap()).unwrap();
        let ours = owasp_params();
        assert_eq!(
            (parsed.m_cost(), parsed.t_cost(), parsed.p_cost()),
            (ours.m_cost(), ours.t_cost(), ours.p_cost())
        );
        assert!(!verify_with("anything", DUMMY_HASH, &mut Vec::new()).unwrap());
    }

    #[tokio::test]
    async fn a_cancelled_hash_keeps_its_place_until_its_job_is_done() {
        let passwords = Passwords::with_workers(1, 0);
        let permit = passwords.admit().unwrap();
        let hashing = tokio::spawn(async move { permit.verify("x", None).await });
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        hashing.abort();
        // The caller is gone but its job holds the only place until the worker is done.
        assert_eq!(passwords.admit().err(), Some(Overloaded));
        let mut freed = false;
        for _ in 0..200 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            if passwords.admit().is_ok() {
                freed = true;
                break;
            }
        }
        assert!(freed, "the place never came back");
    }

    #[tokio::test]
    async fn beyond_the_queue_a_hash_is_refused_at_once() {
        let passwords = Passwords::with_workers(1, 1);
        let first = passwords.admit().unwrap();
        let second = passwords.admit().unwrap();
        assert_eq!(passwords.admit().err(), Some(Overloaded));
        drop(first);
        let third = passwords.admit().unwrap();
        assert!(third.verify("x", None).await.is_ok_and(|ok| !ok));
        drop(second);
    }
}
