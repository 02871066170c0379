#!/usr/bin/env node
// tests/wasm/chromium-run-kill.mjs: chromium-run.mjs's cleanup killed
// every pid it had seen among chromium's descendants during the run, by
// pid alone, after the browser ended: a helper that had exited during the
// run and whose pid the kernel had given to an unrelated process since
// (pid_max is 32768 here, and a busy machine goes round it in minutes) got
// that process SIGKILLed. Fixed in chromium-run.mjs: a process is
// remembered with its start time and killed only if the pid still has it.
//
// A `sleep` of our own stands for both cases: remembered with another
// start time (its pid "reused"), it must survive the cleanup; remembered
// as itself, it must be killed. Output: TAP.
import { spawn } from 'node:child_process';

import { killRemembered, rememberProcess, startTime } from './chromium-run.mjs';

const child = spawn('sleep', ['60'], { stdio: 'ignore' });
const exited = new Promise((r) => child.once('exit', (code, sig) => r(sig || code)));
const within = (ms) => Promise.race([exited, new Promise((r) => setTimeout(() => r(null), ms))]);
let failures = 0;
const report = (ok, what) => {
  failures += !ok;
  console.log(`${ok ? 'ok' : 'not ok'} ${++report.n} - ${what}`);
};
report.n = 0;

console.log('1..3');
await new Promise((r) => child.once('spawn', r));
const known = new Map();
rememberProcess(known, child.pid);
report(known.get(child.pid) === startTime(child.pid) && known.get(child.pid) !== null,
       `a process is remembered with its start time (${known.get(child.pid)})`);

known.set(child.pid, 'the start time of a process that ended');
await killRemembered(known, 0);
report((await within(300)) === null, 'a pid now used by another process is not killed');

known.set(child.pid, startTime(child.pid));
await killRemembered(known, 0);
const how = await within(5000);
report(how === 'SIGKILL', `the remembered process itself is killed (${how})`);

if (how === null) child.kill('SIGKILL'); /* ours: never left behind */
process.exitCode = failures ? 1 : 0;
