/**
 * Where a run's CPU went, from /proc: the service, the load generator (this
 * process), PostgreSQL's processes, Redis, and what the machine left idle. A rate
 * that stops rising while the machine still has idle time is bound by waiting; a
 * rate whose budget sums to every core is bound by the machine, and the budget
 * says which part to cut.
 */
import { readdir, readFile } from "node:fs/promises";

/** CPU time (user + system) a process has used, in ms (USER_HZ = 100). */
export async function processCpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (stat === undefined) return 0; // ended meanwhile (a PostgreSQL backend that closed)
  const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** The pids of every process whose command name is `name`. */
async function pidsNamed(name: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = await readFile(`/proc/${entry}/comm`, "utf8").catch(() => "");
    if (comm.trim() === name) pids.push(Number(entry));
  }
  return pids;
}

/** Busy and total jiffies of the whole machine, from /proc/stat's first line. */
async function machineJiffies(): Promise<{ busy: number; total: number }> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n", 1)[0]!;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal (guest is inside user)
  const idle = values[3]! + values[4]!; // idle + iowait
  return { busy: total - idle, total };
}

interface Snapshot {
  atMs: number;
  serviceMs: number;
  clientMs: number;
  postgresMs: number;
  redisMs: number;
  machine: { busy: number; total: number };
}

/** CPU used per operation by each part, in µs, and the machine's share busy. */
export interface CpuBudget {
  serviceUs: number;
  clientUs: number;
  postgresUs: number;
  redisUs: number;
  /** Everything else on the machine (other processes, the kernel's own threads). */
  otherUs: number;
  /** Cores' worth busy over the stretch (2 = both cores all the time). */
  machineCores: number;
  cores: number;
}

async function sumCpu(pids: readonly number[]): Promise<number> {
  let ms = 0;
  for (const pid of pids) ms += await processCpuMs(pid);
  return ms;
}

/**
 * Starts measuring; the returned function ends the stretch and divides by the
 * operations done in it. PostgreSQL's processes are listed again at the end, so a
 * backend that opened during the stretch is counted from zero (its whole life is
 * inside it); one that closed during it is lost, which the bench's pools avoid.
 */
export async function startCpuBudget(servicePid: number): Promise<(operations: number) => Promise<CpuBudget>> {
  const snap = async (postgres: readonly number[], redis: readonly number[], startedPostgres?: ReadonlySet<number>): Promise<Snapshot> => ({
    atMs: performance.now(),
    serviceMs: await processCpuMs(servicePid),
    clientMs: ((u) => (u.user + u.system) / 1000)(process.cpuUsage()),
    postgresMs: await sumCpu(startedPostgres === undefined ? postgres : postgres.filter((pid) => startedPostgres.has(pid))),
    redisMs: await sumCpu(redis),
    machine: await machineJiffies(),
  });
  const [postgres, redis] = [await pidsNamed("postgres"), await pidsNamed("redis-server")];
  const before = await snap(postgres, redis);
  return async (operations) => {
    const laterPostgres = await pidsNamed("postgres");
    const known = new Set(postgres);
    const after = await snap(laterPostgres, redis, known);
    const newcomers = await sumCpu(laterPostgres.filter((pid) => !known.has(pid)));
    const perOp = (ms: number) => Math.round((ms * 1000) / Math.max(1, operations));
    const cores = (await readFile("/proc/cpuinfo", "utf8")).split("\n").filter((l) => l.startsWith("processor")).length;
    const machineMs = ((after.machine.busy - before.machine.busy) / Math.max(1, after.machine.total - before.machine.total)) * cores * (after.atMs - before.atMs);
    const parts = {
      serviceUs: perOp(after.serviceMs - before.serviceMs),
      clientUs: perOp(after.clientMs - before.clientMs),
      postgresUs: perOp(after.postgresMs - before.postgresMs + newcomers),
      redisUs: perOp(after.redisMs - before.redisMs),
    };
    const known_ = parts.serviceUs + parts.clientUs + parts.postgresUs + parts.redisUs;
    return {
      ...parts,
      otherUs: Math.max(0, perOp(machineMs) - known_),
      machineCores: Number(((after.machine.busy - before.machine.busy) / Math.max(1, after.machine.total - before.machine.total) * cores).toFixed(2)),
      cores,
    };
  };
}
