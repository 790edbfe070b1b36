//! Model-based randomized tests: random nurseries (policy, running limit),
//! random children (ok / err / panic after a delay, waiting for cancellation,
//! ignoring it), spawned from the owner, a `Spawner` or a plain thread at
//! random times, an optional `cancel`, aborts of single children through the
//! handle their spawn returned (running, or still waiting for a slot), and a
//! final `shutdown` with a random grace. Every run is checked against a small
//! reference model of what each child must have ended as.
//!
//! Times are chosen so that no two events can tie: operations happen at whole
//! multiples of 50 s (aborts half a second after an odd one, the shutdown at
//! a whole second), and child `i` lasts `k` seconds plus `2^i` ms, so every
//! chain of children through a running slot ends at a distinct instant (at
//! most 255 ms past a whole second) that is never an operation's.
//!
//! `SCOPE_MODEL_SEQUENCES` sets how many sequences run (default 2,000);
//! `SCOPE_MODEL_SEED` replays one.

use std::time::Duration;

use scope_core::{Nursery, Policy, Spawner};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Ok(u64),
    Err(u64),
    Panic(u64),
    WaitCancel,
    Ignore,
}

#[derive(Clone, Copy, Debug)]
enum Via {
    Owner,
    Spawner,
    Thread,
}

#[derive(Clone, Debug)]
struct Plan {
    fail_fast: bool,
    limit: Option<usize>,
    /// (spawn time ms, kind, via), in spawn order.
    children: Vec<(u64, Kind, Via)>,
    cancel_at: Option<u64>,
    /// (time ms, index of the child whose handle aborts it), in time order.
    aborts: Vec<(u64, usize)>,
    shutdown_at: u64,
    grace: u64,
}

#[derive(Debug, Default, PartialEq, Clone, Copy)]
struct Expect {
    completed: u64,
    failed: u64,
    cancelled: u64,
    aborted: u64,
    refused: u64,
    /// Index of the child whose failure is reported first.
    first_failure: Option<usize>,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const STEP: u64 = 50_000;

fn plan(seed: u64) -> Plan {
    let mut r = Rng(seed);
    let n = 1 + r.below(8) as usize;
    let children = (0..n)
        .map(|i| {
            let d = 1000 * (1 + r.below(9)) + (1 << i);
            let kind = match r.below(6) {
                0 | 1 => Kind::Ok(d),
                2 => Kind::Err(d),
                3 => Kind::Panic(d),
                4 => Kind::WaitCancel,
                _ => Kind::Ignore,
            };
            let via = [Via::Owner, Via::Spawner, Via::Thread][r.below(3) as usize];
            (2 * STEP * r.below(4), kind, via)
        })
        .collect::<Vec<_>>();
    let mut children = children;
    children.sort_by_key(|c| c.0); // stable: same-time spawns keep index order
    let mut aborts: Vec<(u64, usize)> = (0..r.below(3))
        .map(|_| {
            let at = STEP * (1 + 2 * r.below(3)) + 500;
            (at, r.below(n as u64) as usize)
        })
        .collect();
    aborts.sort();
    Plan {
        fail_fast: r.below(2) == 0,
        limit: match r.below(3) {
            0 => None,
            _ => Some(1 + r.below(3) as usize),
        },
        children,
        cancel_at: match r.below(3) {
            0 => Some(3 * STEP),
            1 => Some(5 * STEP),
            _ => None,
        },
        aborts,
        // Either after every timed child has ended, or a few whole seconds
        // after the last spawns, so that the shutdown's windows cut through
        // running children and queues.
        shutdown_at: match r.below(2) {
            0 => 8 * STEP,
            _ => 6 * STEP + 1000 * (1 + r.below(12)),
        },
        grace: [0, 5_000, 50_000][r.below(3) as usize],
    }
}

/// The reference model: a discrete-event simulation of the contract.
struct Sim<'a> {
    p: &'a Plan,
    st: Vec<St>,
    e: Expect,
    cancelled: bool,
    queue: std::collections::VecDeque<usize>,
    running: usize,
    first_fail: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum St {
    NotYet,
    Refused,
    Queued,
    Running(u64), // started at
    Done,
}

impl Sim<'_> {
    fn live(&self) -> bool {
        self.st
            .iter()
            .any(|s| matches!(s, St::Running(_) | St::Queued))
    }

    fn end_time(&self, i: usize) -> Option<u64> {
        match (self.st[i], self.p.children[i].1) {
            (St::Running(s), Kind::Ok(d) | Kind::Err(d) | Kind::Panic(d)) => Some(s + d),
            _ => None,
        }
    }

    /// A child's end frees its slot for the next queued child (FIFO).
    fn free_slot(&mut self, t: u64) {
        if self.p.limit.is_some() {
            match self.queue.pop_front() {
                Some(q) => self.st[q] = St::Running(t),
                None => self.running -= 1,
            }
        }
    }

    /// Runs every child end before `until`, in time order.
    fn settle(&mut self, until: u64) {
        while let Some((t, i)) = (0..self.st.len())
            .filter_map(|i| self.end_time(i).map(|t| (t, i)))
            .min()
        {
            if t >= until {
                break;
            }
            self.st[i] = St::Done;
            match self.p.children[i].1 {
                Kind::Ok(_) if self.cancelled => self.e.cancelled += 1,
                Kind::Ok(_) => self.e.completed += 1,
                _ => {
                    self.e.failed += 1;
                    if self.first_fail.is_none() {
                        self.first_fail = Some(i);
                    }
                }
            }
            // Fail-fast cancels (dropping the queue) before the slot is
            // handed on: no queued child starts because of a failure.
            if self.first_fail == Some(i) && self.p.fail_fast {
                self.cancel(t, true);
            }
            self.free_slot(t);
        }
    }

    /// `reacts`: children waiting on the token get to run before the next
    /// step (false only for a zero-grace shutdown, which aborts at once).
    fn cancel(&mut self, t: u64, reacts: bool) {
        if self.cancelled {
            return;
        }
        self.cancelled = true;
        // Queued children are dropped unstarted, as cancelled.
        for q in std::mem::take(&mut self.queue) {
            self.st[q] = St::Done;
            self.e.cancelled += 1;
        }
        // Children waiting on the token end now; their slots free up but the
        // queue is already empty.
        for i in 0..self.st.len() {
            if reacts
                && matches!(self.st[i], St::Running(_))
                && self.p.children[i].1 == Kind::WaitCancel
            {
                self.st[i] = St::Done;
                self.e.cancelled += 1;
                self.free_slot(t);
            }
        }
    }

    /// The child's handle aborts it: a running one ends and frees its slot,
    /// a waiting one leaves the queue; any other is left alone.
    fn abort(&mut self, i: usize, t: u64) {
        match self.st[i] {
            St::Running(_) => {
                self.st[i] = St::Done;
                self.e.aborted += 1;
                self.free_slot(t);
            }
            St::Queued => {
                self.queue.retain(|&q| q != i);
                self.st[i] = St::Done;
                self.e.aborted += 1;
            }
            _ => {}
        }
    }

    fn spawn(&mut self, i: usize, t: u64) {
        if self.cancelled {
            self.st[i] = St::Refused;
            self.e.refused += 1;
        } else if self.p.limit.is_some_and(|l| self.running >= l) {
            self.st[i] = St::Queued;
            self.queue.push_back(i);
        } else {
            self.running += 1;
            self.st[i] = St::Running(t);
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Spawn(usize),
    Cancel,
    Abort(usize),
}

/// Every operation of the plan but the shutdown, unsorted.
fn events(p: &Plan) -> Vec<(u64, Op)> {
    let mut ops: Vec<(u64, Op)> = p
        .children
        .iter()
        .enumerate()
        .map(|(i, c)| (c.0, Op::Spawn(i)))
        .collect();
    ops.extend(p.cancel_at.map(|c| (c, Op::Cancel)));
    ops.extend(p.aborts.iter().map(|&(t, i)| (t, Op::Abort(i))));
    ops
}

fn expect(p: &Plan) -> Expect {
    let mut sim = Sim {
        p,
        st: vec![St::NotYet; p.children.len()],
        e: Expect::default(),
        cancelled: false,
        queue: Default::default(),
        running: 0,
        first_fail: None,
    };
    // Operations in time order; spawns (even multiples of STEP) never share an
    // instant with a cancel (odd multiples), and aborts come half a second
    // after one of those (two aborts at once run in plan order).
    let mut ops: Vec<(u64, Op)> = events(p);
    ops.sort_by_key(|o| o.0);
    for (t, op) in ops {
        sim.settle(t);
        match op {
            Op::Spawn(i) => sim.spawn(i, t),
            Op::Cancel => sim.cancel(t, true),
            Op::Abort(i) => sim.abort(i, t),
        }
    }
    // shutdown(grace): the drain window (three quarters of the grace), the
    // cancel window (the rest), abort. The drain deadline (3.75 s or 37.5 s
    // after the shutdown) never ties with a child's end: ends fall 1 to 255 ms
    // past a whole second (a sum of distinct `2^i` ms offsets), the deadline
    // 750 or 500 ms past one.
    let e_t = p.shutdown_at;
    let drain = p.grace / 4 * 3;
    sim.settle(e_t + drain);
    if sim.live() {
        sim.cancel(e_t + drain, p.grace > 0);
        sim.settle(e_t + p.grace);
        for s in sim.st.iter_mut() {
            if matches!(s, St::Running(_) | St::Queued) {
                *s = St::Done;
                sim.e.aborted += 1;
            }
        }
    }
    sim.e.first_failure = sim.first_fail;
    sim.e
}

async fn run(p: &Plan) -> Expect {
    let builder = Nursery::<(), String>::builder().policy(if p.fail_fast {
        Policy::FailFast
    } else {
        Policy::Supervise
    });
    let builder = match p.limit {
        Some(l) => builder.max_running(l),
        None => builder,
    };
    let nursery = builder.build().unwrap();
    let spawner: Spawner<(), String> = nursery.spawner();
    let start = tokio::time::Instant::now();
    let at = |ms: u64| start + Duration::from_millis(ms);
    let mut events = events(p);
    events.sort_by_key(|e| e.0);
    let mut refused = 0;
    let mut handles: Vec<Option<tokio::task::AbortHandle>> = vec![None; p.children.len()];
    for (t, what) in events {
        tokio::time::sleep_until(at(t)).await;
        let i = match what {
            Op::Spawn(i) => i,
            Op::Cancel => {
                nursery.cancel();
                continue;
            }
            Op::Abort(i) => {
                if let Some(h) = &handles[i] {
                    h.abort();
                }
                continue;
            }
        };
        let (_, kind, via) = p.children[i];
        let token = nursery.token().clone();
        let fut = async move {
            match kind {
                Kind::Ok(d) => {
                    tokio::time::sleep(Duration::from_millis(d)).await;
                    Ok(())
                }
                Kind::Err(d) => {
                    tokio::time::sleep(Duration::from_millis(d)).await;
                    Err(format!("child {i}"))
                }
                Kind::Panic(d) => {
                    tokio::time::sleep(Duration::from_millis(d)).await;
                    std::panic::panic_any(i)
                }
                Kind::WaitCancel => {
                    token.cancelled().await;
                    Ok(())
                }
                Kind::Ignore => std::future::pending().await,
            }
        };
        let name = format!("{i}");
        let handle = match via {
            Via::Owner => nursery.spawn_named(name, fut).ok(),
            Via::Spawner => spawner.spawn_named(name, fut).ok(),
            Via::Thread => {
                let s = spawner.clone();
                std::thread::spawn(move || s.spawn_named(name, fut).ok())
                    .join()
                    .unwrap()
            }
        };
        if handle.is_none() {
            refused += 1;
        }
        handles[i] = handle;
    }
    tokio::time::sleep_until(at(p.shutdown_at)).await;
    let report = nursery.shutdown(Duration::from_millis(p.grace)).await;
    assert!(report.is_final());
    let s = report.stats();
    assert_eq!(s.refused, refused);
    Expect {
        completed: s.completed,
        failed: s.failed,
        cancelled: s.cancelled,
        aborted: s.aborted,
        refused: s.refused,
        first_failure: report
            .failure()
            .map(|f| f.child_name().unwrap().parse().unwrap()),
    }
}

#[test]
fn random_sequences_match_the_reference_model() {
    let count: u64 = std::env::var("SCOPE_MODEL_SEQUENCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let seeds: Vec<u64> = match std::env::var("SCOPE_MODEL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(seed) => vec![seed],
        None => (0..count).collect(),
    };
    // Panicking children are expected; keep the output readable.
    std::panic::set_hook(Box::new(|_| {}));
    let mut children = 0;
    for &seed in &seeds {
        let p = plan(seed);
        children += p.children.len();
        let want = expect(&p);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let got = rt.block_on(run(&p));
        if got != want {
            let _ = std::panic::take_hook();
            panic!("seed {seed}: got {got:?}, model says {want:?}\nplan: {p:#?}");
        }
    }
    let _ = std::panic::take_hook();
    println!(
        "{} sequences, {children} children, all matched the model",
        seeds.len()
    );
}
