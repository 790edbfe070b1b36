//! A `Server` and its clients on turmoil's simulated network: latency
//! (fixed or random), partitions that heal and ones that do not, segments
//! held and released, and faults that begin as the shutdown does. Each run
//! is one seed, and the seed decides everything: the latency, which client
//! hosts meet which fault and when, what every client asks and how it
//! misbehaves, when the shutdown begins, its grace and how it splits it,
//! the send, goodbye and idle timeouts, the write queue, the policy, the
//! shutdown's close mode and a connection cap (`plan.rs`). The same seed
//! replays the same run.
//!
//! Every run's graceful shutdown returns within its grace on the simulated
//! clock and accounts for every task any connection started: none live,
//! `spawned == completed + failed + cancelled + aborted`, and the server's
//! report agrees with the tally the handler keeps itself (as in
//! `conn_soak.rs`); each connection's final report gives the reason its
//! session saw, and the server's host keeps no TCP stream. Where no task needs the server's escalation, the
//! connections' own clocks (the send and goodbye timeouts) end the shutdown
//! before the cancel. Clients on a link that heals see their connection
//! end; clients whose requests all arrived get every answer promised; no
//! client reads an answer it did not ask for, or one twice (`check` in this
//! file).
//!
//! `SCOPE_TURMOIL_SEEDS=5000` runs more seeds (200 by default);
//! `SCOPE_TURMOIL_SEED=17` runs seed 17 alone and prints its plan and what
//! happened. A failing seed prints that command.
//!
//! # The simulated network
//!
//! Turmoil runs every host on its own current-thread runtime with a paused
//! clock and steps them in turn, one millisecond of simulated time a step,
//! moving TCP segments between them with the configured latency. Its TCP has
//! sequence numbers and per-segment flow control (a writer may have 64
//! segments unread by its peer; each write is one segment) but no
//! retransmission, which decides how the faults are modelled:
//!
//! - **A partition that heals** is `hold` then `release`: segments sent
//!   meanwhile wait on the link and arrive after it, as real TCP's
//!   retransmissions would once the path is back.
//! - **A cut** is `partition` (segments dropped) then, maybe, `repair`. A
//!   stream that lost a segment stays stuck after the repair (nothing
//!   resends it): for its connection the cut never heals, though new
//!   connections would work. That is the partition that does not heal.
//! - **A deaf client** is `partition_oneway` from the server: requests
//!   arrive, answers are lost.
//!
//! A server writing to a peer that does not read, or across a held or cut
//! link, runs out of flow-control credit after 64 segments: its writes
//! block, so the connection's send timeout (or the shutdown's grace) must
//! end them.
//!
//! Where turmoil's TCP differs from a kernel's, and what follows here:
//!
//! - A FIN that arrives while 64 segments lie unread waits in the reorder
//!   buffer until another segment arrives, which never happens once the
//!   peer closed: a client that floods its own connection may never see
//!   its end, and is not held to seeing it.
//! - There is no `SO_LINGER`: a connection the shutdown turns away is
//!   dropped (a FIN, or a reset if it sent something), not reset.
//! - The SYN's answer travels out of band: a connect completes when the
//!   server accepts, whatever the link does to segments then.
//! - A host whose software has returned takes no segments: the server's
//!   host stays up until the clients are done, as a machine outlives its
//!   server process.
//!
//! # The protocol
//!
//! One request a line; each client names its requests so that any answer
//! it reads can be checked.
//!
//! - `hello <name>`: the handler answers `hi <name>` itself.
//! - `echo <id>`: a task answers `<id>`.
//! - `fail <id>`: a task answers `failed <id>`, then fails (counted; under
//!   `Supervise` the connection stays open, under `FailFast` it closes).
//! - `slow <ms> <id>`: a task sleeps, then answers `slow <id>`.
//! - `later <id>`: a task waits for the connection's close to begin, then
//!   starts a follow-up task that answers `later <id>`: work started while
//!   the connection closes, whose answer must still reach the peer.
//! - `token`: a task waits for the connection's token: only the shutdown's
//!   cancel ends it.
//! - `stuck`: a task that ignores everything: only the shutdown's abort ends
//!   it.
//! - `flood <n> <id>`: a task sends `<id>/0` .. `<id>/<n-1>` through the
//!   connection's `Writer`, one segment each, so that a peer that does not
//!   read, or a held link, blocks it.
//! - `quit`: the handler stops reading.

#![deny(unsafe_code)]

mod client;
mod plan;
mod server;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use scope_conn::{CloseMode, CloseReason};

use crate::client::{End, Seen, client_host};
use crate::plan::{Action, ConnPlan, Fault, HostPlan, Latency, Plan, Request, Role};
use crate::server::{ServerSeen, server_node};

const SERVER: &str = "server";
const PORT: u16 = 9000;
const DEFAULT_SEEDS: u64 = 200;

// ----- one run -------------------------------------------------------------

/// Everything a run produced that the checks and the replay compare.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    server: ServerSeen,
    /// In the plan's order: by host, then by connection.
    clients: Vec<Seen>,
}

impl Outcome {
    /// FNV-1a over the whole outcome: one number to compare runs by.
    fn digest(&self) -> u64 {
        format!("{self:?}")
            .bytes()
            .fold(0xCBF2_9CE4_8422_2325, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
            })
    }
}

/// Runs `plan` on a fresh simulation. `Err` if the simulation failed (a
/// host's error, or a run past its time: a hang).
fn run(plan: &Plan) -> Result<Outcome, String> {
    let plan = Arc::new(plan.clone());
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(plan.seed)
        .simulation_duration(plan.deadline() + Duration::from_secs(2));
    match plan.latency {
        Latency::Fixed(d) => builder.min_message_latency(d).max_message_latency(d),
        Latency::Random { min, max } => builder.min_message_latency(min).max_message_latency(max),
    };
    if plan.random_order {
        builder.enable_random_order();
    }
    let mut sim = builder.build();

    let server = Rc::new(RefCell::new(None));
    let server_done = Rc::new(Cell::new(None));
    let clients_left = Rc::new(Cell::new(plan.hosts.len()));
    // A client of the simulation, not a host: the run waits for it.
    sim.client(
        SERVER,
        server_node(
            Arc::clone(&plan),
            Rc::clone(&server),
            Rc::clone(&server_done),
            Rc::clone(&clients_left),
        ),
    );
    let mut per_host = Vec::new();
    for h in &plan.hosts {
        let seen = Rc::new(RefCell::new(Vec::new()));
        sim.client(
            h.name.as_str(),
            client_host(
                h.clone(),
                Arc::clone(&plan),
                Rc::clone(&server_done),
                Rc::clone(&seen),
                Rc::clone(&clients_left),
            ),
        );
        per_host.push(seen);
    }

    // The faults, applied between steps at their time.
    let mut events = plan.events().into_iter().peekable();
    loop {
        while let Some((_, action, host)) = events.next_if(|e| e.0 <= sim.elapsed()) {
            match action {
                Action::Hold => sim.hold(SERVER, host),
                Action::Release => sim.release(SERVER, host),
                Action::Partition => sim.partition(SERVER, host),
                Action::Repair => sim.repair(SERVER, host),
                Action::PartitionFromServer => sim.partition_oneway(SERVER, host),
            }
        }
        if sim.step().map_err(|e| e.to_string())? {
            break;
        }
    }
    drop(sim);
    let server = server
        .borrow_mut()
        .take()
        .ok_or("the server never reported")?;
    let clients = per_host.into_iter().flat_map(|seen| seen.take()).collect();
    Ok(Outcome { server, clients })
}

// ----- the checks ----------------------------------------------------------

/// Which of the conditional promises a run was held to.
#[derive(Debug, Default, Clone, Copy)]
struct Checked {
    /// The shutdown ended within the connections' own bounds.
    own_bound: bool,
    /// Clients that had to see their connection end.
    ends: u64,
    /// Clients that had to get every answer promised.
    answers: u64,
    /// Clients that had to be told goodbye.
    goodbyes: u64,
}

/// Panics, saying what, if `out` breaks a promise; returns which of the
/// conditional ones applied.
fn check(plan: &Plan, out: &Outcome) -> Checked {
    let mut checked = Checked::default();
    let s = &out.server;
    // The shutdown: within its grace, final, every task accounted for.
    assert!(
        s.took <= plan.grace,
        "the shutdown took {:?}, past its grace of {:?}",
        s.took,
        plan.grace
    );
    assert!(s.is_final, "the shutdown's report is not final");
    assert_eq!(s.open_after, 0, "connections left open after the shutdown");
    assert_eq!(
        s.sockets_after, 0,
        "TCP streams left on the server's host after the shutdown"
    );
    let [
        spawned,
        completed,
        failed,
        cancelled,
        aborted,
        refused,
        live,
    ] = s.tasks;
    assert_eq!(live, 0, "tasks live after the shutdown: {:?}", s.tasks);
    assert_eq!(
        spawned,
        completed + failed + cancelled + aborted,
        "the counts do not add up: {:?}",
        s.tasks
    );
    assert_eq!(
        [spawned, completed, failed, cancelled, aborted, refused],
        s.tally,
        "the report ([spawned, completed, failed, cancelled, aborted, refused]) \
         disagrees with the handler's own tally"
    );
    // The server's own children: the accept loop, and per connection its
    // task and its nested nursery.
    let [
        n_spawned,
        n_completed,
        n_failed,
        n_cancelled,
        n_aborted,
        n_live,
    ] = s.nursery;
    assert_eq!(n_live, 0, "server tasks live: {:?}", s.nursery);
    assert_eq!(
        n_spawned,
        n_completed + n_failed + n_cancelled + n_aborted,
        "the server's counts do not add up: {:?}",
        s.nursery
    );
    assert_eq!(n_spawned, 1 + 2 * s.connections, "{:?}", s.nursery);
    // It escalated if and only if the drain was not enough (a zero drain
    // cancels at once).
    assert_eq!(
        s.escalated,
        s.took >= plan.drain,
        "took {:?} of a drain of {:?}; escalated: {}",
        s.took,
        plan.drain,
        s.escalated
    );
    // Every connection had its handler, and every handler ended.
    assert_eq!(s.handlers, s.connections, "handlers against connections");
    assert_eq!(
        s.reasons.len() as u64 + s.unreported,
        s.handlers,
        "handlers that neither reported nor were dropped"
    );
    if !plan.cap.is_some_and(|(_, refuse)| refuse) {
        assert_eq!(s.refused_connections, 0, "refused with no cap to refuse by");
    }
    // One report per connection, cut short or not ...
    assert_eq!(
        s.closed.len() as u64,
        s.connections,
        "connections against reports: {:?}",
        s.closed
    );
    // ... and the reason the session saw from inside, at once, is the
    // report's.
    for closed in &s.closed {
        if let Some(&reason) = s.reasons.get(&closed.peer) {
            assert_eq!(
                reason, closed.reason,
                "{}: the session and the report disagree on why it closed",
                closed.peer
            );
        }
    }
    // The connections' own bounds end their closes: the server's escalation
    // (the cancel after the drain, the abort at the grace's end) is the last
    // resort, not the way a close ends.
    if plan.shutdown_mode == CloseMode::Join && !plan.escalates() && plan.own_bound() < plan.drain {
        checked.own_bound = true;
        assert!(
            s.took <= plan.own_bound(),
            "the shutdown took {:?}, past the connections' own bound of {:?} \
             (send timeout {:?}, goodbye {:?}); it drains for {:?}",
            s.took,
            plan.own_bound(),
            plan.send_timeout,
            plan.goodbye_timeout,
            plan.drain
        );
        // Under `FailFast` a failure cancels its own connection's tasks.
        let cancelled_by_server = if plan.fail_fast { 0 } else { cancelled };
        assert_eq!(
            cancelled_by_server + aborted,
            0,
            "the shutdown had to cancel or abort: {:?}",
            s.tasks
        );
    }

    let conns = plan
        .hosts
        .iter()
        .flat_map(|h| h.conns.iter().map(move |c| (h, c)));
    let mut greeted = 0;
    for ((host, c), seen) in conns.zip(&out.clients) {
        assert_eq!(c.name, seen.name);
        let who = format!("{} ({:?}, link {:?})", c.name, c.role, host.fault);
        // Nothing it did not ask for, nothing twice, floods in order.
        let quick = c.quick();
        let later = c.later();
        let mut floods: BTreeMap<&str, u64> = BTreeMap::new();
        for (i, line) in seen.lines.iter().enumerate() {
            if line == "bye" {
                // The goodbye comes once the tasks have drained, after
                // everything they wrote.
                assert!(
                    plan.goodbye,
                    "{who}: a goodbye from a server that says none"
                );
                assert_eq!(
                    i + 1,
                    seen.lines.len(),
                    "{who}: the goodbye was not last: {:?}",
                    seen.lines
                );
                continue;
            }
            if quick.contains(line) || later.contains(line) {
                assert!(
                    !seen.lines[..i].contains(line),
                    "{who} read {line:?} twice: {:?}",
                    seen.lines
                );
                continue;
            }
            let flood = line
                .split_once('/')
                .filter(|(id, _)| c.flood(id).is_some())
                .and_then(|(id, j)| Some((id, j.parse::<u64>().ok()?)));
            let Some((id, j)) = flood else {
                panic!(
                    "{who} read {line:?}, which it never asked for: {:?}",
                    seen.lines
                );
            };
            let next = floods.entry(id).or_default();
            assert_eq!(
                j, *next,
                "{who} read a flood out of order: {:?}",
                seen.lines
            );
            *next += 1;
        }
        if seen.lines.first() == Some(&quick[0]) {
            greeted += 1;
        }

        // A link that heals: the shutdown ends the connection, and the
        // client sees it end. A client that floods is left out: turmoil
        // delivers no FIN behind 64 unread segments (the FIN waits in the
        // reorder buffer for a read that makes room, which moves nothing).
        let heals = matches!(host.fault, Fault::None | Fault::Held { .. });
        if heals && c.role.reads() && !c.floods() {
            checked.ends += 1;
            assert!(
                matches!(seen.end, End::Eof | End::Reset | End::Refused),
                "{who}: the connection did not end by the client's deadline \
                 ({:?} after the start): {seen:?}",
                plan.deadline()
            );
        }
        // A link that carried every request: what was promised arrives. A
        // reset may overtake data only where latency reorders segments.
        // A close from a task, or a failure under `FailFast`, closes the
        // connection where it falls, ending the reads (of a request/response
        // session) and refusing follow-up work once the tasks are cancelled.
        let closes = c.requests.contains(&Request::Close)
            || plan.fail_fast && c.requests.contains(&Request::Fail);
        if plan.calm()
            && plan.delivers(host)
            && c.role.reads()
            && c.role != Role::Late
            && !c.floods()
            && !closes
        {
            assert_ne!(seen.end, End::Refused, "{who} was refused");
            checked.answers += 1;
            let promised: &[String] = if plan.drains() { &later } else { &[] };
            let whole = matches!(plan.latency, Latency::Fixed(_)) || seen.end == End::Eof;
            if whole {
                for want in quick.iter().chain(promised) {
                    assert!(
                        seen.lines.contains(want),
                        "{who} never got {want:?}: {seen:?}"
                    );
                }
            }
            // A session still reading when its connection drained says
            // goodbye, unless the grace ran out first (a task only the
            // escalation ends).
            let escalates = c
                .requests
                .iter()
                .any(|r| matches!(r, Request::Token | Request::Stuck));
            if plan.goodbye
                && plan.drains()
                && whole
                && matches!(c.role, Role::Stay | Role::Stall)
                && !escalates
            {
                checked.goodbyes += 1;
                assert_eq!(
                    seen.lines.last().map(String::as_str),
                    Some("bye"),
                    "{who} was not told goodbye: {seen:?}"
                );
            }
        }
    }
    assert!(
        greeted <= s.connections,
        "{greeted} clients greeted by {} connections",
        s.connections
    );
    checked
}

// ----- running seeds -------------------------------------------------------

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
    )
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "a panic without a message".to_owned()
    }
}

/// A seed's outcome and what it was held to, or why it failed and how to
/// rerun it.
type SeedResult = Result<(Outcome, Checked), String>;

/// Runs and checks one seed.
fn run_seed(seed: u64) -> SeedResult {
    let plan = Plan::of(seed);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let out = run(&plan)?;
        let checked = check(&plan, &out);
        Ok::<_, String>((out, checked))
    }));
    let why = match result {
        Ok(Ok(out)) => return Ok(out),
        Ok(Err(e)) => format!("the simulation failed: {e}"),
        Err(panic) => panic_message(&*panic),
    };
    Err(format!(
        "seed {seed} failed: {why}\n  rerun it alone: SCOPE_TURMOIL_SEED={seed} cargo test \
         -p scope-tests --test conn_turmoil -- --nocapture"
    ))
}

/// What the seeds exercised, so that a default run proves it met every
/// fault it claims to.
#[derive(Debug, Default)]
struct Coverage {
    faults: BTreeMap<&'static str, u64>,
    send_timeouts: u64,
    full_grace: u64,
    early: u64,
    cut_off: u64,
    truncated: u64,
    cut_short: u64,
    cancelled: u64,
    aborted: u64,
    failed: u64,
    refused_tasks: u64,
    /// Seeds held to the connections' own bound.
    own_bound: u64,
    /// Clients held to seeing their end, and to getting every answer.
    ends: u64,
    answers: u64,
    goodbyes: u64,
}

impl Coverage {
    fn add(&mut self, plan: &Plan, out: &Outcome, checked: Checked) {
        self.own_bound += u64::from(checked.own_bound);
        self.ends += checked.ends;
        self.answers += checked.answers;
        self.goodbyes += checked.goodbyes;
        for h in &plan.hosts {
            *self.faults.entry(h.fault.kind()).or_default() += 1;
        }
        let s = &out.server;
        self.send_timeouts += s
            .closed
            .iter()
            .filter(|c| c.reason == CloseReason::SendTimeout)
            .count() as u64;
        if s.took == plan.grace {
            self.full_grace += 1;
        } else {
            self.early += 1;
        }
        self.cut_off += out
            .clients
            .iter()
            .filter(|c| c.end == End::Deadline)
            .count() as u64;
        self.truncated += s.truncated;
        // A connection whose driver the grace's abort ended is reported by
        // the shutdown, not final.
        self.cut_short += s.closed.iter().filter(|c| c.cut_short).count() as u64;
        self.failed += s.tasks[2];
        self.cancelled += s.tasks[3];
        self.aborted += s.tasks[4];
        self.refused_tasks += s.tasks[5];
    }
}

#[test]
fn every_seed_shuts_down_within_its_grace_with_every_task_accounted_for() {
    if let Some(seed) = env_u64("SCOPE_TURMOIL_SEED") {
        let plan = Plan::of(seed);
        println!("seed {seed}: {plan:#?}");
        match run_seed(seed) {
            Ok((out, checked)) => println!("{out:#?}\n{checked:?}\ndigest {:016x}", out.digest()),
            Err(e) => panic!("{e}"),
        }
        return;
    }
    let seeds = env_u64("SCOPE_TURMOIL_SEEDS").unwrap_or(DEFAULT_SEEDS);
    // Seeds are independent simulations, each on its own thread's world:
    // spread them over the cores.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(seeds as usize)
        .max(1);
    let next = AtomicU64::new(0);
    let started = std::time::Instant::now();
    let results: Vec<(u64, SeedResult)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let seed = next.fetch_add(1, Relaxed);
                        if seed >= seeds {
                            return done;
                        }
                        done.push((seed, run_seed(seed)));
                    }
                })
            })
            .collect();
        let mut all: Vec<_> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker panicked outside a seed"))
            .collect();
        all.sort_by_key(|(seed, _)| *seed);
        all
    });
    let elapsed = started.elapsed();

    let mut failures = Vec::new();
    let mut coverage = Coverage::default();
    let mut digest = 0u64;
    for (seed, result) in &results {
        match result {
            Ok((out, checked)) => {
                coverage.add(&Plan::of(*seed), out, *checked);
                digest = digest.rotate_left(7) ^ out.digest();
            }
            Err(e) => failures.push(e.as_str()),
        }
    }
    println!(
        "conn_turmoil: {seeds} seeds in {:.2} s on {workers} threads; digest of all runs \
         {digest:016x}; {coverage:?}",
        elapsed.as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {seeds} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    if seeds >= DEFAULT_SEEDS {
        // The default seeds meet every fault and every way a task or a
        // connection can end; otherwise the run above proved less than its
        // name says.
        for kind in ["none", "held", "held-forever", "cut", "cut-forever", "deaf"] {
            assert!(
                coverage.faults.get(kind).is_some_and(|&n| n > 0),
                "no {kind} link: {coverage:?}"
            );
        }
        for (what, n) in [
            (
                "a connection closed by its send timeout",
                coverage.send_timeouts,
            ),
            (
                "a shutdown that needed its whole grace",
                coverage.full_grace,
            ),
            ("a shutdown done before its grace", coverage.early),
            ("a client cut off for good", coverage.cut_off),
            ("a request cut short", coverage.truncated),
            (
                "a connection whose close the grace cut short",
                coverage.cut_short,
            ),
            ("a failed task", coverage.failed),
            ("a cancelled task", coverage.cancelled),
            ("an aborted task", coverage.aborted),
            (
                "a run held to the connections' own bound",
                coverage.own_bound,
            ),
            ("a client held to seeing its end", coverage.ends),
            ("a client held to every answer", coverage.answers),
            ("a client held to a goodbye", coverage.goodbyes),
        ] {
            assert!(n > 0, "no seed produced {what}: {coverage:?}");
        }
    }
}

#[test]
fn the_same_seed_reproduces_the_same_run() {
    // Seeds with faults of each kind that leave traces: held, cut, deaf.
    let mut seeds = Vec::new();
    for kind in ["held", "cut", "deaf"] {
        let seed = (0..)
            .find(|&s| {
                Plan::of(s).hosts.iter().any(|h| h.fault.kind() == kind) && !seeds.contains(&s)
            })
            .expect("some seed has each fault");
        seeds.push(seed);
    }
    let mut digests = Vec::new();
    for &seed in &seeds {
        let (first, _) = run_seed(seed).unwrap_or_else(|e| panic!("{e}"));
        let (again, _) = run_seed(seed).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            first,
            again,
            "seed {seed} ran differently the second time (digests {:016x} and {:016x})",
            first.digest(),
            again.digest()
        );
        digests.push(first.digest());
    }
    // The digest tells runs apart: otherwise the comparison above proves
    // nothing.
    digests.sort_unstable();
    digests.dedup();
    assert_eq!(digests.len(), seeds.len(), "different seeds, one digest");
}

// ----- single behaviours, by hand -------------------------------------------

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One client on a link held from just before the shutdown on, asking for
/// more than the link can take: when the shutdown begins, the connection's
/// writes are blocked, its flood task waits for room in the write queue,
/// and something must end them.
fn held_writes(send_timeout: Duration, grace: Duration, release: Option<Duration>) -> Plan {
    let at = ms(195);
    Plan {
        seed: 1,
        latency: Latency::Fixed(ms(5)),
        random_order: false,
        shutdown_at: ms(200),
        grace,
        drain: grace / 4 * 3,
        send_timeout,
        goodbye_timeout: ms(50),
        write_queue: 64,
        fail_fast: false,
        shutdown_mode: CloseMode::Join,
        idle_timeout: None,
        cap: None,
        goodbye: false,
        hosts: vec![HostPlan {
            name: "h0".to_owned(),
            fault: match release {
                Some(after) => Fault::Held { at, len: after },
                None => Fault::HeldForever { at },
            },
            conns: vec![ConnPlan {
                name: "h0c0".to_owned(),
                role: Role::Stay,
                start: ms(1),
                // Still flowing when the hold begins: 64 segments a round
                // trip of 10 ms.
                requests: vec![Request::Echo, Request::Flood(2_000)],
                gap: ms(5),
                split: 1,
            }],
        }],
    }
}

/// Runs and checks `plan`, failing with its outcome.
fn run_checked(plan: &Plan) -> Outcome {
    let out = run(plan).unwrap_or_else(|e| panic!("the simulation failed: {e}"));
    check(plan, &out);
    out
}

#[test]
fn a_shutdown_while_a_held_link_blocks_writes_ends_by_the_send_timeout() {
    let send_timeout = ms(50);
    let grace = ms(1_000);
    let plan = held_writes(send_timeout, grace, None);
    let out = run_checked(&plan);
    let s = &out.server;
    // The writes blocked within a round trip of the hold (5 ms before the
    // shutdown); the send timeout failed them, which ended the flood task
    // and the close, long before the drain was over.
    assert!(
        s.took <= send_timeout + ms(5),
        "the close took {:?}: the send timeout of {send_timeout:?} did not end it",
        s.took
    );
    let [spawned, completed, _, cancelled, aborted, _, _] = s.tasks;
    assert_eq!((cancelled, aborted), (0, 0), "{:?}", s.tasks);
    assert_eq!(spawned, completed, "{:?}", s.tasks);
    assert_eq!(s.closed.len(), 1, "{:?}", s.closed);
    assert_eq!(
        s.closed[0].reason,
        CloseReason::Shutdown,
        "the shutdown asked first"
    );
    // The flood was cut off mid-way: the client saw part of it, in order.
    let flood = out.clients[0].lines.len();
    assert!(flood > 64 && flood < 2_000, "{flood} lines");
}

#[test]
fn a_send_timeout_longer_than_the_grace_leaves_the_grace_to_end_the_shutdown() {
    let grace = ms(200);
    let plan = held_writes(ms(5_000), grace, None);
    let out = run_checked(&plan);
    let s = &out.server;
    // Nothing ends the blocked flood task but the abort at the grace's end:
    // the shutdown takes the whole grace, and not a moment more.
    assert_eq!(s.took, grace);
    let [_, _, _, cancelled, aborted, _, _] = s.tasks;
    assert_eq!((cancelled, aborted), (0, 1), "{:?}", s.tasks);
    // The connection's driver went with it: the shutdown reported it, cut
    // short, with the flood task aborted.
    assert_eq!(s.closed.len(), 1, "{:?}", s.closed);
    assert!(s.closed[0].cut_short, "{:?}", s.closed);
    assert_eq!(s.closed[0].reason, CloseReason::Shutdown);
    assert_eq!(s.closed[0].tasks[4], 1, "{:?}", s.closed);
    assert_eq!(s.connections, 1);
}

#[test]
fn a_hold_released_during_the_shutdown_lets_the_close_finish_its_work() {
    let grace = ms(1_000);
    let plan = held_writes(ms(500), grace, Some(ms(65)));
    let out = run_checked(&plan);
    let s = &out.server;
    // The flood resumed after the release, ran to its end, and the close
    // finished on its own, well inside the drain.
    assert!(s.took < plan.drain, "took {:?}", s.took);
    let [spawned, completed, _, cancelled, aborted, _, _] = s.tasks;
    assert_eq!((spawned, completed, cancelled, aborted), (2, 2, 0, 0));
    let seen = &out.clients[0];
    assert_eq!(seen.end, End::Eof, "{:?}", seen.end);
    assert_eq!(
        seen.lines.len(),
        2 + 2_000,
        "hi, the echo, every flood line"
    );
}
