#!/usr/bin/env node
// Peer job-queue benchmark: BullMQ (Redis) and graphile-worker (PostgreSQL)
// with no-op jobs, in three phases (enqueue, drain, end_to_end).
//
//   node bench.mjs <bullmq|graphile>
//
// Env: JOBS (20000), CONCURRENCY (50), TIMEOUT_S (300), VERBOSE (unset),
//      REDIS_HOST (127.0.0.1), REDIS_PORT (6379),
//      PG_BASE_URL (postgres://postgres@127.0.0.1:5432),
//      PG_POOL_SIZE (graphile: min(max(10, CONCURRENCY + 2), 64)),
//      GW_LOCAL_QUEUE_SIZE (graphile: max(500, CONCURRENCY + 1)).
//
// Progress goes to stderr; exactly one JSON line goes to stdout on success.
// Any error (or the hard timeout) cleans up, prints to stderr and exits 1.

import { readFileSync, readdirSync } from "node:fs";
import { EventEmitter } from "node:events";
import { performance } from "node:perf_hooks";

const PEER = process.argv[2];
const CHUNK = 1000;

function intEnv(name, dflt) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function log(...args) {
  console.error(`[${PEER ?? "bench"}]`, ...args);
}

function pkgVersion(name) {
  const url = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")).version;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Counter with "wait until n >= target" support.
function makeCounter() {
  let n = 0;
  let waiters = [];
  return {
    get n() {
      return n;
    },
    inc() {
      n++;
      if (waiters.length) {
        waiters = waiters.filter((w) => (n >= w.target ? (w.resolve(), false) : true));
      }
    },
    until(target) {
      if (n >= target) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ target, resolve }));
    },
  };
}

function chunks(total, make) {
  const out = [];
  for (let start = 0; start < total; start += CHUNK) {
    const len = Math.min(CHUNK, total - start);
    out.push(Array.from({ length: len }, make));
  }
  return out;
}

const rate = (n, ms) => Math.round((n * 1000) / ms);

// CPU time by process name from /proc (Linux), as the Rust bench reads it
// (workers/benches/support/cpu.rs): user + system clock ticks (USER_HZ 100).
const WATCHED = ["node", "redis-server", "postgres"];

function cpuSnapshot() {
  const ticks = {};
  let pids = [];
  try {
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    return ticks;
  }
  for (const pid of pids) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue;
    }
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    const name = stat.slice(open + 1, close);
    if (!WATCHED.includes(name)) continue;
    const fields = stat.slice(close + 2).split(" ");
    ticks[name] = (ticks[name] ?? 0) + Number(fields[11]) + Number(fields[12]);
  }
  return ticks;
}

// Microseconds of CPU per job between two snapshots, by process name.
function cpuPerJob(before, after, jobs) {
  const out = {};
  for (const [name, t] of Object.entries(after)) {
    const us = (Math.max(0, t - (before[name] ?? 0)) / 100) * 1e6 / jobs;
    if (us >= 1) out[name] = Math.round(us);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Lifecycle: one cleanup function (set by the peer), run exactly once on both
// the success and the failure path; hard timeout; signals.

let cleanupFn = async () => {};
let cleanupPromise = null;
let failing = false;

function cleanup() {
  if (!cleanupPromise) {
    cleanupPromise = (async () => {
      try {
        await cleanupFn();
      } catch (e) {
        console.error(`[${PEER}] cleanup error: ${e?.stack ?? e}`);
        throw e;
      }
    })();
  }
  return cleanupPromise;
}

async function fail(err) {
  if (failing) return;
  failing = true;
  console.error(`[${PEER ?? "bench"}] ERROR: ${err?.stack ?? err}`);
  // Cleanup is bounded so the process always ends.
  setTimeout(() => {
    console.error(`[${PEER}] cleanup did not finish within 20s; exiting anyway`);
    process.exit(1);
  }, 20_000).unref();
  try {
    await cleanup();
  } catch {
    /* already reported */
  }
  process.exit(1);
}

process.on("SIGINT", () => fail(new Error("interrupted (SIGINT)")));
process.on("SIGTERM", () => fail(new Error("terminated (SIGTERM)")));
process.on("unhandledRejection", (e) => fail(e));
process.on("uncaughtException", (e) => fail(e));

// ---------------------------------------------------------------------------
// BullMQ

async function benchBullmq({ jobs, concurrency }) {
  const { Queue, Worker } = await import("bullmq");
  const version = pkgVersion("bullmq");
  const connection = {
    host: process.env.REDIS_HOST || "127.0.0.1",
    port: intEnv("REDIS_PORT", 6379),
    maxRetriesPerRequest: null, // required by BullMQ workers
  };
  // Unique prefix per run; contains "bull" so `redis-cli --scan --pattern '*bull*'` finds leftovers.
  const prefix = `bull-marquee-bench-${process.pid}-${Date.now()}`;
  const name = "noop";
  log(`bullmq ${version}, redis ${connection.host}:${connection.port}, prefix ${prefix}`);

  const queue = new Queue(name, {
    connection,
    prefix,
    // Completed jobs are deleted (like graphile-worker deletes completed rows);
    // failed jobs are kept (none are expected; any failure aborts the run).
    defaultJobOptions: { removeOnComplete: true, removeOnFail: false },
  });
  queue.on("error", (e) => {
    if (!cleanupPromise) fail(e);
  });
  let worker = null;
  const completed = makeCounter();

  cleanupFn = async () => {
    if (worker) {
      log("closing worker");
      await worker.close();
    }
    log("obliterating queue");
    await queue.obliterate({ force: true });
    // Belt and braces: anything left under our prefix is reported and deleted.
    const client = await queue.client;
    const left = [];
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      left.push(...keys);
    } while (cursor !== "0");
    if (left.length) {
      log(`WARNING: ${left.length} keys left after obliterate (${left.slice(0, 5).join(", ")}...); deleting`);
      for (let i = 0; i < left.length; i += 500) await client.del(...left.slice(i, i + 500));
    }
    await queue.close();
    log("redis cleaned up");
  };

  await queue.waitUntilReady();
  const mkJob = () => ({ name, data: {} });

  // 1. enqueue (no worker running)
  const batch1 = chunks(jobs, mkJob);
  let t0 = performance.now();
  for (const c of batch1) await queue.addBulk(c);
  const enqueueMs = performance.now() - t0;
  const waiting = await queue.getWaitingCount();
  if (waiting !== jobs) throw new Error(`expected ${jobs} waiting jobs, found ${waiting}`);
  log(`enqueue: ${jobs} jobs in ${enqueueMs.toFixed(0)} ms`);

  // 2. drain: start the worker, wait for JOBS 'completed' events. BullMQ emits
  // 'completed' only after the moveToCompleted Lua script has returned, i.e.
  // once Redis has recorded the completion (here: removed the job).
  t0 = performance.now();
  const cpu0 = cpuSnapshot();
  worker = new Worker(name, async () => {}, { connection, prefix, concurrency });
  worker.on("completed", () => completed.inc());
  worker.on("failed", (job, err) => fail(new Error(`job ${job?.id} failed: ${err?.message}`)));
  worker.on("error", (e) => {
    if (!cleanupPromise) fail(e);
  });
  await completed.until(jobs);
  const drainMs = performance.now() - t0;
  const drainCpu = cpuPerJob(cpu0, cpuSnapshot(), jobs);
  log(`drain: ${jobs} jobs in ${drainMs.toFixed(0)} ms`);
  await assertBullEmpty(queue);

  // 3. end_to_end: worker still running; enqueue another JOBS and wait.
  const batch2 = chunks(jobs, mkJob);
  t0 = performance.now();
  for (const c of batch2) await queue.addBulk(c);
  await completed.until(2 * jobs);
  const e2eMs = performance.now() - t0;
  log(`end_to_end: ${jobs} jobs in ${e2eMs.toFixed(0)} ms`);
  await assertBullEmpty(queue);
  await sleep(50);
  if (completed.n !== 2 * jobs) throw new Error(`expected ${2 * jobs} completions, saw ${completed.n}`);

  return { version, enqueueMs, drainMs, e2eMs, extra: { drain_cpu_us_per_job: drainCpu } };
}

async function assertBullEmpty(queue) {
  const counts = await queue.getJobCounts("wait", "active", "delayed", "failed", "prioritized", "waiting-children", "paused");
  const busy = Object.entries(counts).filter(([, v]) => v > 0);
  if (busy.length) throw new Error(`queue not empty after phase: ${JSON.stringify(counts)}`);
}

// ---------------------------------------------------------------------------
// graphile-worker

async function benchGraphile({ jobs, concurrency }) {
  // graphile-worker reads NO_LOG_SUCCESS at import time; without it it formats
  // an info line for every completed job.
  process.env.NO_LOG_SUCCESS ??= "1";
  const gw = await import("graphile-worker");
  const { default: pg } = await import("pg");
  const version = pkgVersion("graphile-worker");

  const base = (process.env.PG_BASE_URL || "postgres://postgres@127.0.0.1:5432").replace(/\/+$/, "");
  const dbName = "marquee_bench_graphile";
  const dbUrl = `${base}/${dbName}`;
  const poolSize = intEnv("PG_POOL_SIZE", Math.min(Math.max(10, concurrency + 2), 64));
  const localQueueSize = intEnv("GW_LOCAL_QUEUE_SIZE", Math.max(500, concurrency + 1));
  const verbose = !!process.env.VERBOSE;

  const logger = new gw.Logger((scope) => (level, message) => {
    if (level === "error" || level === "warning" || verbose) {
      console.error(`[graphile-worker ${level}${scope?.label ? " " + scope.label : ""}] ${message}`);
    }
  });

  const admin = new pg.Client({ connectionString: `${base}/postgres` });
  let adminConnected = false;
  let workerUtils = null;
  let runner = null;
  let poll = null;

  cleanupFn = async () => {
    if (runner) {
      log("stopping runner");
      await runner.stop();
    }
    if (workerUtils) await workerUtils.release();
    if (poll) await poll.end();
    if (adminConnected) {
      // graphile-worker's release calls pgPool.end() without awaiting it, so
      // its connections may still be closing; give them up to 5 s before
      // DROP ... WITH (FORCE) terminates whatever is left.
      const openConns = async () =>
        (await admin.query("select count(*)::int as n from pg_stat_activity where datname = $1", [dbName])).rows[0].n;
      let open = await openConns();
      if (open > 0) log(`waiting for ${open} graphile-worker connection(s) to close`);
      for (let i = 0; open > 0 && i < 100; i++) {
        await sleep(50);
        open = await openConns();
      }
      if (open > 0) log(`WARNING: ${open} connection(s) to ${dbName} still open; dropping with force`);
      log(`dropping database ${dbName}`);
      await admin.query(`drop database if exists ${dbName} with (force)`);
      await admin.end();
    }
  };

  await admin.connect();
  adminConnected = true;
  await admin.query(`drop database if exists ${dbName} with (force)`);
  await admin.query(`create database ${dbName}`);
  log(
    `graphile-worker ${version}, db ${dbName}, concurrentJobs ${concurrency}, maxPoolSize ${poolSize}, ` +
      `localQueue.size ${localQueueSize}, completeJobBatchDelay 0, failJobBatchDelay 0`,
  );

  const events = new EventEmitter();
  events.on("job:failed", ({ job, error }) => fail(new Error(`job ${job?.id} failed: ${error?.message ?? error}`)));
  events.on("job:error", ({ job, error }) => fail(new Error(`job ${job?.id} errored: ${error?.message ?? error}`)));
  // Evidence that the local queue is in use: count its batch fetches.
  let lqFetches = 0;
  let lqFetched = 0;
  events.on("localQueue:getJobs:complete", ({ jobs: got }) => {
    lqFetches++;
    lqFetched += got?.length ?? 0;
  });
  events.on("pool:listen:error", ({ error }) => {
    if (!cleanupPromise) fail(error);
  });

  const preset = {
    worker: {
      connectionString: dbUrl,
      concurrentJobs: concurrency,
      maxPoolSize: poolSize,
      localQueue: { size: localQueueSize },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0,
      logger,
      events,
    },
  };

  // Separate small pool for enqueueing (addJobs -> graphile_worker.add_jobs).
  workerUtils = await gw.makeWorkerUtils({
    preset: { worker: { connectionString: dbUrl, maxPoolSize: 2, logger } },
  });
  await workerUtils.migrate();
  poll = new pg.Client({ connectionString: dbUrl });
  await poll.connect();

  // Completion is durable when the row is gone from graphile_worker._private_jobs
  // (0.17's table; `graphile_worker.jobs` is a view over it). With
  // completeJobBatchDelay the DELETE happens after the task function returns,
  // so we wait for the task count first, then poll the table until it is empty.
  const remaining = async () =>
    (await poll.query("select count(*)::int as n from graphile_worker._private_jobs")).rows[0].n;
  const waitTableEmpty = async () => {
    while ((await remaining()) > 0) await sleep(2);
  };

  const ran = makeCounter();
  const taskList = {
    noop: async () => {
      ran.inc();
    },
  };
  const mkJob = () => ({ identifier: "noop", payload: {} });

  // 1. enqueue (no worker running)
  const batch1 = chunks(jobs, mkJob);
  let t0 = performance.now();
  for (const c of batch1) await workerUtils.addJobs(c);
  const enqueueMs = performance.now() - t0;
  const queued = await remaining();
  if (queued !== jobs) throw new Error(`expected ${jobs} rows in jobs table, found ${queued}`);
  log(`enqueue: ${jobs} jobs in ${enqueueMs.toFixed(0)} ms`);

  // 2. drain: start the worker pool, wait for all task calls, then for the table to be empty.
  t0 = performance.now();
  const cpu0 = cpuSnapshot();
  runner = await gw.run({ preset, taskList, noHandleSignals: true });
  runner.promise.catch((e) => fail(e));
  await ran.until(jobs);
  await waitTableEmpty();
  const drainMs = performance.now() - t0;
  const drainCpu = cpuPerJob(cpu0, cpuSnapshot(), jobs);
  log(`drain: ${jobs} jobs in ${drainMs.toFixed(0)} ms`);

  // 3. end_to_end: worker still running; enqueue another JOBS and wait.
  const batch2 = chunks(jobs, mkJob);
  t0 = performance.now();
  for (const c of batch2) await workerUtils.addJobs(c);
  await ran.until(2 * jobs);
  await waitTableEmpty();
  const e2eMs = performance.now() - t0;
  log(`end_to_end: ${jobs} jobs in ${e2eMs.toFixed(0)} ms`);
  log(`localQueue: ${lqFetches} batch fetches returned ${lqFetched} jobs`);
  await sleep(50);
  if (ran.n !== 2 * jobs) throw new Error(`expected ${2 * jobs} task executions, saw ${ran.n}`);

  return {
    version,
    enqueueMs,
    drainMs,
    e2eMs,
    extra: { pg_pool_size: poolSize, local_queue_size: localQueueSize, drain_cpu_us_per_job: drainCpu },
  };
}

// ---------------------------------------------------------------------------

async function main() {
  const peers = { bullmq: benchBullmq, graphile: benchGraphile };
  if (!peers[PEER]) throw new Error(`usage: node bench.mjs <bullmq|graphile>  (got ${JSON.stringify(PEER)})`);
  const jobs = intEnv("JOBS", 20000);
  const concurrency = intEnv("CONCURRENCY", 50);
  const timeoutS = intEnv("TIMEOUT_S", 300);
  // Deliberately not unref'd: it also keeps the process alive (and failing)
  // if something hangs on a promise without an open handle.
  setTimeout(() => fail(new Error(`hard timeout: not finished after ${timeoutS}s`)), timeoutS * 1000);
  log(`jobs=${jobs} concurrency=${concurrency} timeout=${timeoutS}s`);

  const r = await peers[PEER]({ jobs, concurrency });
  await cleanup();
  return {
    peer: PEER,
    version: r.version,
    jobs,
    concurrency,
    enqueue_per_s: rate(jobs, r.enqueueMs),
    drain_per_s: rate(jobs, r.drainMs),
    end_to_end_per_s: rate(jobs, r.e2eMs),
    ...(r.extra ?? {}),
  };
}

main().then(
  (result) => {
    if (failing) return;
    process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
  },
  (err) => fail(err),
);
