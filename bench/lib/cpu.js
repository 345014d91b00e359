'use strict';
/**
 * CPU by process group from /proc (Linux; 100 clock ticks a second): a snapshot before and after the
 * measured part, and each group's use as % of one core in between, with the whole machine's busy share.
 */
const fs = require('node:fs');
const os = require('node:os');
const { performance } = require('node:perf_hooks');

/** utime + stime (clock ticks) of every process, with comm and ppid. */
function processTable() {
  const table = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      table.push({ pid: Number(pid), comm, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** Busy and total ticks of the machine, and processes forked since boot (short-lived ones show there). */
function machineTicks() {
  const text = fs.readFileSync('/proc/stat', 'utf8');
  const [, ...f] = text.split('\n')[0].trim().split(/\s+/).map(Number);
  const forks = Number(/^processes (\d+)/m.exec(text)?.[1] ?? 0);
  return { busy: f[0] + f[1] + f[2] + f[5] + f[6] + f[7], all: f.reduce((a, b) => a + b, 0), forks };
}

/**
 * Ticks by group: each of `children` under its serviceName (with its own children but openssl: gateway
 * cluster workers), this process as `self` when named, PostgreSQL, Redis and cfssl.
 */
function cpuGroups(table, children, self) {
  const own = new Map(children.map((c) => [c.pid, c.serviceName]));
  const groups = {};
  const add = (name, ticks) => (groups[name] = (groups[name] || 0) + ticks);
  for (const p of table) {
    if (own.has(p.pid)) add(own.get(p.pid), p.ticks);
    else if (own.has(p.ppid) && p.comm !== 'openssl') add(own.get(p.ppid), p.ticks); // gateway cluster workers
    else if (self && p.pid === process.pid) add(self, p.ticks);
    else if (p.comm === 'postgres') add('postgres', p.ticks);
    else if (p.comm === 'redis-server') add('redis', p.ticks);
    else if (p.comm === 'cfssl') add('cfssl', p.ticks);
  }
  return groups;
}

/** Ticks by group (`groupsOf(processTable())`) and of the machine, now. */
function cpuSnapshot(groupsOf) {
  const groups = groupsOf(processTable());
  const machine = machineTicks();
  return { groups, machine, at: performance.now() };
}

/**
 * % of one core per group between `before` and now (groups that used none left out), then 'machine busy'
 * (% of one core: 200% is all of a 2-CPU machine); the sum of the groups, and forks per second.
 */
function cpuSince(before, groupsOf) {
  const seconds = (performance.now() - before.at) / 1000;
  const groups = groupsOf(processTable());
  const machine = machineTicks();
  const cpu = {};
  for (const [name, ticks] of Object.entries(groups)) {
    const used = ticks - (before.groups[name] || 0);
    if (used > 0) cpu[name] = used / seconds; // 100 ticks/s: ticks per second = % of one core
  }
  const accounted = Object.values(cpu).reduce((a, b) => a + b, 0);
  cpu['machine busy'] = ((100 * (machine.busy - before.machine.busy)) / (machine.all - before.machine.all)) * os.cpus().length;
  return { cpu, accounted, forksPerSecond: (machine.forks - before.machine.forks) / seconds };
}

module.exports = { processTable, machineTicks, cpuGroups, cpuSnapshot, cpuSince };
