//! A seed's plan: everything a run does, drawn from the seed alone.

use std::time::Duration;

use scope_conn::CloseMode;

/// splitmix64: the plan's own dice, so that a seed means the same plan
/// whatever turmoil draws from its own generator (seeded with the same
/// number).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `lo..=hi`.
    fn upto(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.upto(lo, hi))
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }

    /// One of `choices`, by weight.
    fn weighted<T: Copy>(&mut self, choices: &[(u64, T)]) -> T {
        let total: u64 = choices.iter().map(|(w, _)| w).sum();
        let mut at = self.next() % total;
        for &(w, x) in choices {
            if at < w {
                return x;
            }
            at -= w;
        }
        unreachable!("`at` is below the total weight")
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Latency {
    /// Every segment takes this long: the network keeps their order.
    Fixed(Duration),
    /// Drawn for each segment between the two (turmoil's exponential
    /// curve): segments overtake each other. TCP's sequence numbers put the
    /// data back in order, but a reset is not sequenced and may overtake
    /// data.
    Random { min: Duration, max: Duration },
}

impl Latency {
    pub(crate) fn max(self) -> Duration {
        match self {
            Latency::Fixed(d) => d,
            Latency::Random { max, .. } => max,
        }
    }
}

/// What happens to the link between the server and one client host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    /// Segments both ways held from `at` and delivered at `at + len`: a
    /// partition that heals. Released by the end of the shutdown's grace.
    Held {
        at: Duration,
        len: Duration,
    },
    /// Held from `at` for the rest of the run.
    HeldForever {
        at: Duration,
    },
    /// Segments both ways dropped from `at`; the link is repaired at
    /// `at + len`, but a stream that lost a segment stays stuck.
    Cut {
        at: Duration,
        len: Duration,
    },
    /// Dropped from `at` for the rest of the run.
    CutForever {
        at: Duration,
    },
    /// Server-to-client segments dropped from `at`: requests arrive, answers
    /// do not.
    Deaf {
        at: Duration,
    },
}

impl Fault {
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Held { .. } => "held",
            Fault::HeldForever { .. } => "held-forever",
            Fault::Cut { .. } => "cut",
            Fault::CutForever { .. } => "cut-forever",
            Fault::Deaf { .. } => "deaf",
        }
    }
}

/// What the run does to a link between steps: turmoil's `Sim::hold`,
/// `release`, `partition`, `repair` and `partition_oneway` (from the
/// server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Hold,
    Release,
    Partition,
    Repair,
    PartitionFromServer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Reads the quick answers, then sends `quit`, then reads to the end.
    Behave,
    /// Reads until the server ends the connection.
    Stay,
    /// Shuts its write side down after its requests; reads to the end.
    HalfClose,
    /// Sends half a request after its requests, never the rest; reads to
    /// the end.
    Stall,
    /// Reads nothing until the server must be done (the end of the
    /// shutdown's grace), then reads what is left.
    NoRead,
    /// Sends half a request, then hangs up (a reset if answers lay unread).
    Leave,
    /// Connects as the shutdown begins.
    Late,
}

impl Role {
    /// Reads until the server ends the connection.
    pub(crate) fn reads(self) -> bool {
        matches!(
            self,
            Role::Behave | Role::Stay | Role::HalfClose | Role::Stall | Role::Late
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    Echo,
    Fail,
    Slow(u64),
    Later,
    Token,
    Stuck,
    Flood(u64),
    /// A task closes the connection (from inside), then answers.
    Close,
}

/// The slowest `slow` request.
const SLOWEST: u64 = 40;

/// The last client starts connecting by 30 ms and, once connected, writes
/// the rest of its requests at most 40 ms later.
const LAST_START: u64 = 30;
const LONGEST_GAP: u64 = 40;

#[derive(Debug, Clone)]
pub(crate) struct ConnPlan {
    pub(crate) name: String,
    pub(crate) role: Role,
    /// When it connects.
    pub(crate) start: Duration,
    pub(crate) requests: Vec<Request>,
    /// The requests go out in two writes, split inside the last one, this
    /// long apart: a fault in between cuts a request in half.
    pub(crate) gap: Duration,
    /// How many bytes of the last request the second write carries.
    pub(crate) split: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct HostPlan {
    pub(crate) name: String,
    pub(crate) fault: Fault,
    pub(crate) conns: Vec<ConnPlan>,
}

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) seed: u64,
    pub(crate) latency: Latency,
    /// Turmoil steps the hosts in an order drawn (from the seed) each step.
    pub(crate) random_order: bool,
    pub(crate) shutdown_at: Duration,
    /// The shutdown's grace: `drain` for the connections to close by
    /// themselves, then the cancel, then `grace - drain` until the abort.
    pub(crate) grace: Duration,
    pub(crate) drain: Duration,
    pub(crate) send_timeout: Duration,
    pub(crate) goodbye_timeout: Duration,
    pub(crate) write_queue: usize,
    /// `Supervise` keeps a connection open when a task fails; `FailFast`
    /// closes it, cancelling its other tasks.
    pub(crate) fail_fast: bool,
    pub(crate) shutdown_mode: CloseMode,
    pub(crate) idle_timeout: Option<Duration>,
    /// `max_connections`, and whether over it new ones are refused (or wait
    /// in the backlog).
    pub(crate) cap: Option<(usize, bool)>,
    /// The sessions read on while their connection closes and say goodbye
    /// once it drained (see `server::serve`).
    pub(crate) goodbye: bool,
    pub(crate) hosts: Vec<HostPlan>,
}

impl Plan {
    pub(crate) fn of(seed: u64) -> Plan {
        let mut d = Dice(seed);
        let latency = if d.percent(50) {
            Latency::Fixed(d.ms(0, 25))
        } else {
            let min = d.ms(0, 5);
            Latency::Random {
                min,
                max: min + d.ms(5, 60),
            }
        };
        // Mostly late enough that every request has arrived on a healthy
        // link (see `requests_in`); sometimes while the clients are still
        // connecting.
        let shutdown_at = if d.percent(15) {
            d.ms(0, 60)
        } else {
            d.ms(200, 350)
        };
        // Half the seeds have tasks that only the shutdown's cancel or abort
        // ends; in the others every wait of a connection's close has its
        // own bound, so the server's escalation should never be needed.
        let escalate = d.percent(50);
        // Sometimes next to nothing: the abort comes at once. Longer where
        // no task needs the escalation, to leave room for the connections'
        // own bounds (the shutdown then ends before it).
        let grace = if d.percent(10) {
            d.ms(0, 15)
        } else if escalate {
            d.ms(100, 400)
        } else {
            d.ms(100, 1000)
        };
        // `shutdown(grace)` drains for three quarters of it; some runs
        // choose their own split.
        let drain = if d.percent(70) {
            grace / 4 * 3
        } else {
            d.ms(0, grace.as_millis() as u64)
        };
        let hosts = (0..d.upto(2, 4))
            .map(|h| HostPlan::of(&mut d, h, shutdown_at, grace, escalate))
            .collect();
        let random_order = d.percent(30);
        // From well inside the grace's drain to longer than the grace.
        let send_timeout = if d.percent(50) {
            d.ms(20, 100)
        } else {
            d.ms(100, 600)
        };
        let goodbye_timeout = if d.percent(50) {
            d.ms(20, 100)
        } else {
            d.ms(100, 600)
        };
        // A small queue makes a flood's sender wait for room, so a blocked
        // transport holds a task, not only the queue.
        let write_queue = if d.percent(50) { 64 } else { 256 * 1024 };
        let fail_fast = d.percent(30);
        let shutdown_mode = match d.weighted(&[(60, 0), (20, 1), (20, 2)]) {
            0 => CloseMode::Join,
            // Each connection escalates on its own, maybe before the server
            // would.
            1 => CloseMode::Deadline(d.ms(0, grace.as_millis() as u64)),
            _ => CloseMode::Detach,
        };
        // Longer than any pause inside a healthy session (its requests
        // arrive within 105 ms of the accept; an answer's reply within two
        // trips), so it closes only connections that a fault silenced.
        let idle_timeout = d.percent(40).then(|| d.ms(150, 400));
        let cap = d
            .percent(15)
            .then(|| (d.upto(1, 4) as usize, d.percent(50)));
        let goodbye = d.percent(40);
        Plan {
            seed,
            latency,
            random_order,
            shutdown_at,
            grace,
            drain,
            send_timeout,
            goodbye_timeout,
            write_queue,
            fail_fast,
            shutdown_mode,
            idle_timeout,
            cap,
            goodbye,
            hosts,
        }
    }

    /// The latest the clients stop waiting (see `client::Deadline`): the
    /// shutdown has ended every connection by `shutdown_at + grace`, held
    /// segments are released by then too, and what the server sent last is
    /// on the wire for at most the largest latency.
    pub(crate) fn deadline(&self) -> Duration {
        self.shutdown_at + self.grace + 2 * self.latency.max() + ms(100)
    }

    /// By when every request has arrived on a healthy link: the connect
    /// takes one way (turmoil answers the SYN out of band), the requests
    /// another.
    fn requests_in(&self) -> Duration {
        // Turmoil moves segments and wakes hosts once a step (1 ms).
        ms(LAST_START + LONGEST_GAP) + 2 * self.latency.max() + ms(5)
    }

    /// When the last held link is released (the run's start if none is).
    pub(crate) fn last_release(&self) -> Duration {
        self.events()
            .iter()
            .filter(|(_, action, _)| *action == Action::Release)
            .map(|(at, _, _)| *at)
            .max()
            .unwrap_or_default()
    }

    /// Every client's requests arrived before the shutdown began, on a
    /// healthy link, and no cap kept a client waiting: what the requests
    /// promise is owed.
    pub(crate) fn calm(&self) -> bool {
        self.shutdown_at >= self.requests_in() && self.cap.is_none()
    }

    /// Whether a task waits for the token or ignores everything: only the
    /// server's escalation ends those.
    pub(crate) fn escalates(&self) -> bool {
        self.hosts
            .iter()
            .flat_map(|h| &h.conns)
            .flat_map(|c| &c.requests)
            .any(|r| matches!(r, Request::Token | Request::Stuck))
    }

    /// How long the shutdown may take when no task needs the server's
    /// escalation: every close is then bounded by the connection's own
    /// clocks. A blocked write fails once the transport took nothing for
    /// the send timeout, counted from the last progress or the start of the
    /// block: at the latest when the slowest task writes, or when a fault
    /// that begins or ends during the shutdown changes what the link takes
    /// (plus the way there). Then the goodbye and the flush get the goodbye
    /// timeout.
    pub(crate) fn own_bound(&self) -> Duration {
        let mut progress = ms(SLOWEST);
        for (at, _, _) in self.events() {
            if at > self.shutdown_at {
                progress = progress.max(at - self.shutdown_at + self.latency.max());
            }
        }
        // Turmoil moves segments and wakes hosts once a step (1 ms).
        progress + self.send_timeout + self.goodbye_timeout + ms(5)
    }

    /// Whether the work still to do when the shutdown began may write its
    /// answers: the transports stay open (not `Detach`), and there is a
    /// drain before the cancel refuses follow-up work.
    pub(crate) fn drains(&self) -> bool {
        let own = match self.shutdown_mode {
            CloseMode::Join => true,
            CloseMode::Deadline(d) => d / 4 * 3 >= ms(5),
            _ => false,
        };
        own && self.drain >= ms(5)
    }

    /// Whether `host`'s link carries every request and every answer, if
    /// late: healthy, or held only after the requests arrived (the answers
    /// wait, then come).
    pub(crate) fn delivers(&self, host: &HostPlan) -> bool {
        match host.fault {
            Fault::None => true,
            Fault::Held { at, .. } => at > self.requests_in(),
            _ => false,
        }
    }

    /// The fault events, in time order: when, what, to which host's link.
    pub(crate) fn events(&self) -> Vec<(Duration, Action, &str)> {
        let mut events = Vec::new();
        for h in &self.hosts {
            let name = h.name.as_str();
            match h.fault {
                Fault::None => {}
                Fault::Held { at, len } => {
                    events.push((at, Action::Hold, name));
                    events.push((at + len, Action::Release, name));
                }
                Fault::HeldForever { at } => events.push((at, Action::Hold, name)),
                Fault::Cut { at, len } => {
                    events.push((at, Action::Partition, name));
                    events.push((at + len, Action::Repair, name));
                }
                Fault::CutForever { at } => events.push((at, Action::Partition, name)),
                Fault::Deaf { at } => events.push((at, Action::PartitionFromServer, name)),
            }
        }
        // Stable: a hold and its release at one instant stay in that order.
        events.sort_by_key(|e| e.0);
        events
    }
}

impl HostPlan {
    fn of(d: &mut Dice, h: u64, shutdown_at: Duration, grace: Duration, escalate: bool) -> Self {
        let name = format!("h{h}");
        // Half the faults strike mid-session, half as the shutdown begins
        // (from just before it to halfway through its grace).
        let at = if d.percent(50) {
            d.ms(5, 5 + shutdown_at.as_millis() as u64)
        } else {
            shutdown_at.saturating_sub(ms(10)) + d.ms(0, grace.as_millis() as u64 / 2 + 10)
        };
        let fault = match d.weighted(&[(40, 0), (15, 1), (10, 2), (15, 3), (10, 4), (10, 5)]) {
            0 => Fault::None,
            // Released by the end of the grace.
            1 => Fault::Held {
                at,
                len: d.ms(
                    1,
                    (shutdown_at + grace).saturating_sub(at).as_millis() as u64 + 1,
                ),
            },
            2 => Fault::HeldForever { at },
            3 => Fault::Cut {
                at,
                len: d.ms(1, 300),
            },
            4 => Fault::CutForever { at },
            _ => Fault::Deaf { at },
        };
        let conns = (0..d.upto(1, 3))
            .map(|c| ConnPlan::of(d, format!("{name}c{c}"), shutdown_at, escalate))
            .collect();
        HostPlan { name, fault, conns }
    }
}

impl ConnPlan {
    fn of(d: &mut Dice, name: String, shutdown_at: Duration, escalate: bool) -> Self {
        let role = d.weighted(&[
            (25, Role::Behave),
            (20, Role::Stay),
            (10, Role::HalfClose),
            (10, Role::Stall),
            (10, Role::NoRead),
            (10, Role::Leave),
            (15, Role::Late),
        ]);
        // Not before 1 ms: the server binds its listener in the first step.
        let start = if role == Role::Late {
            shutdown_at.saturating_sub(ms(15)) + d.ms(0, 30)
        } else {
            d.ms(0, LAST_START)
        }
        .max(ms(1));
        let mut requests = vec![Request::Echo];
        let slow = d.upto(1, SLOWEST);
        for (p, r) in [
            (60, Request::Fail),
            (50, Request::Slow(slow)),
            (50, Request::Later),
            (if escalate { 40 } else { 0 }, Request::Token),
            (if escalate { 20 } else { 0 }, Request::Stuck),
            (40, Request::Echo),
            (10, Request::Close),
        ] {
            if d.percent(p) {
                requests.push(r);
            }
        }
        // Past 64 segments a flood blocks unless the peer reads.
        if role == Role::NoRead || d.percent(10) {
            requests.push(Request::Flood(d.upto(20, 120)));
        }
        // Fisher-Yates, so the long requests are not always last.
        for i in (1..requests.len()).rev() {
            requests.swap(i, d.upto(0, i as u64) as usize);
        }
        ConnPlan {
            name,
            role,
            start,
            requests,
            gap: d.ms(5, LONGEST_GAP),
            split: d.upto(1, 4) as usize,
        }
    }

    pub(crate) fn id(&self, k: usize) -> String {
        format!("{}.{k}", self.name)
    }

    pub(crate) fn line(&self, k: usize) -> String {
        let id = self.id(k);
        match self.requests[k] {
            Request::Echo => format!("echo {id}\n"),
            Request::Fail => format!("fail {id}\n"),
            Request::Slow(ms) => format!("slow {ms} {id}\n"),
            Request::Later => format!("later {id}\n"),
            Request::Token => "token\n".to_owned(),
            Request::Stuck => "stuck\n".to_owned(),
            Request::Flood(n) => format!("flood {n} {id}\n"),
            Request::Close => format!("close {id}\n"),
        }
    }

    /// The answers that come before the close: `hi`, echoes, failures and
    /// slow ones.
    pub(crate) fn quick(&self) -> Vec<String> {
        let mut want = vec![format!("hi {}", self.name)];
        for (k, r) in self.requests.iter().enumerate() {
            match r {
                Request::Echo => want.push(self.id(k)),
                Request::Fail => want.push(format!("failed {}", self.id(k))),
                Request::Slow(_) => want.push(format!("slow {}", self.id(k))),
                Request::Close => want.push(format!("closing {}", self.id(k))),
                _ => {}
            }
        }
        want
    }

    /// The answers written once the close began.
    pub(crate) fn later(&self) -> Vec<String> {
        (0..self.requests.len())
            .filter(|&k| self.requests[k] == Request::Later)
            .map(|k| format!("later {}", self.id(k)))
            .collect()
    }

    /// Which flood request `id` names, if any.
    pub(crate) fn flood(&self, id: &str) -> Option<usize> {
        (0..self.requests.len())
            .find(|&k| matches!(self.requests[k], Request::Flood(_)) && self.id(k) == id)
    }

    pub(crate) fn floods(&self) -> bool {
        self.requests.iter().any(|r| matches!(r, Request::Flood(_)))
    }
}
