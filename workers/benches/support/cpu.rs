//! CPU time by process name, read from `/proc` (Linux): where a phase's
//! cycles went, per job, for Marquee and its peers alike. A run's ratio
//! says who is faster; this says what bounds each side on this machine.
//! `benches/peers/bench.mjs` reads the same figures for the peers.

use std::collections::BTreeMap;

/// The processes a no-op job's work is done in, ours and the peers'.
/// `noop_throughput` is this bench (its name as `/proc` cuts it to 15
/// bytes): it is the enqueuer in the enqueue and end-to-end phases.
const WATCHED: [&str; 5] = [
    "noop_throughput",
    "marquee-worker",
    "node",
    "redis-server",
    "postgres",
];

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, 100 on the
/// Linux architectures we run on).
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system time, in clock ticks, summed by process name. A
/// process that exits between two snapshots takes its time with it; the
/// processes measured here live through a phase.
pub fn snapshot() -> BTreeMap<String, u64> {
    let mut ticks = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return ticks;
    };
    for entry in entries.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: the name may hold spaces, so split at
        // the last ')'; utime and stime are fields 14 and 15.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = &stat[open + 1..close];
        if !WATCHED.contains(&name) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let used: u64 = fields
            .get(11..13)
            .into_iter()
            .flatten()
            .filter_map(|f| f.parse::<u64>().ok())
            .sum();
        *ticks.entry(name.to_owned()).or_default() += used;
    }
    ticks
}

/// Microseconds of CPU per job between two snapshots, by process name, for
/// the processes that used any: e.g. `marquee-worker 46 + redis-server 26 +
/// postgres 103 = 175`.
pub fn per_job(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    jobs: usize,
) -> String {
    let used = per_job_by_name(before, after, jobs);
    format_per_job(&used.iter().map(|(name, us)| (name.as_str(), *us)).collect())
}

/// Like [`per_job`], as figures.
pub fn per_job_by_name(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    jobs: usize,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(name, ticks)| {
            let spent = ticks.saturating_sub(before.get(name).copied().unwrap_or(0));
            let micros = spent as f64 / TICKS_PER_SECOND * 1e6 / jobs as f64;
            (name.clone(), micros)
        })
        .filter(|(_, micros)| *micros >= 1.0)
        .collect()
}

/// `a 1 + b 2 = 3`, in [`WATCHED`] order.
pub fn format_per_job(used: &BTreeMap<&str, f64>) -> String {
    let parts: Vec<String> = WATCHED
        .iter()
        .filter_map(|name| used.get(name).map(|us| format!("{name} {us:.0}")))
        .collect();
    let total: f64 = used.values().sum();
    format!("{} = {total:.0}", parts.join(" + "))
}
