// What the node benchmarks share: CPU seconds of processes, read from /proc.
import { execSync } from 'node:child_process';
import fs from 'node:fs';

const TICKS = Number(execSync('getconf CLK_TCK'));
export function cpuOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS;
  } catch {
    return 0; // gone
  }
}
// The processes of the Chromium that playwright launched: { pid, cmd }.
export function chromiumProcesses() {
  const out = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('chromium') && cmd.includes('playwright')) out.push({ pid, cmd });
    } catch { /* gone */ }
  }
  return out;
}
