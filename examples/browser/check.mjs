#!/usr/bin/env node
// examples/browser/check.mjs: make check's test of the browser example
// (TAP). Serves the page (index.html and message.txt from this directory,
// browser.js from the build's examples/browser/) on 127.0.0.1 at a port the
// kernel picks, opens index.html?report in headless Chromium through
// tests/wasm/chromium-run.mjs, and checks the summary the page posts back
// against what this script knows independently (the file's size and
// checksum, the clock's period). Run from the top build directory.
// Without a chromium it is a TAP skip (`1..0 # SKIP`, status 0).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const top = path.resolve(here, '..', '..');
const { runPage } = await import(path.join(top, 'tests', 'wasm', 'chromium-run.mjs'));

const built = path.resolve('examples', 'browser');
if (!fs.existsSync(path.join(built, 'browser.js'))) {
  console.log(`Bail out! ${path.join(built, 'browser.js')} is not built (run make first)`);
  process.exit(99);
}

let report;
const done = new Promise((r) => {
  report = r;
});
let summary = null;
const outcome = await runPage({
  roots: [built, here],
  routes: {
    '/report': (req, body) => {
      summary = JSON.parse(body.toString('utf8'));
      report({ summary });
      return 'ok';
    },
    '/favicon.ico': () => ({ status: 204 }),
  },
  page: '/index.html?report',
  done,
  timeoutMs: Number(process.env.CHROMIUM_RUN_TIMEOUT || 60) * 1000,
});
if (outcome.interrupted) await new Promise(() => {}); /* the runner is exiting */
if (outcome.skip) {
  console.log(`1..0 # SKIP ${outcome.skip}`);
  process.exit(0);
}

const tests = [];
const check = (ok, what) => tests.push({ ok: Boolean(ok), what });
console.log(`# the page reported: ${JSON.stringify(summary)}`);
if (!summary) {
  console.log('1..1');
  console.log(`not ok 1 - the page reported ${outcome.timeout ? 'nothing in time' : 'nothing'}`);
  process.exit(1);
}
check(summary.ticks === 10 && summary.ticks_ms >= 1000 && summary.ticks_ms < 5000,
      `the clock task ticked 10 times in ${summary.ticks_ms} ms (100 ms a tick, never early)`);
const file = fs.readFileSync(path.join(here, 'message.txt'));
let fnv = 2166136261;
for (const byte of file) fnv = Math.imul(fnv ^ byte, 16777619) >>> 0;
const checksum = fnv.toString(16).padStart(8, '0');
check(summary.fetch_error === '',
      `the fetch task's await of fetch('message.txt') ended without error` +
      (summary.fetch_error ? ` (${summary.fetch_error})` : ''));
check(summary.bytes === file.length && summary.checksum === checksum,
      `it read ${summary.bytes} bytes, FNV-1a ${summary.checksum} ` +
      `(the file: ${file.length} bytes, ${checksum})`);
check(Array.isArray(summary.errors) && summary.errors.length === 0,
      `no error on the page (${JSON.stringify(summary.errors)})`);

console.log(`1..${tests.length}`);
tests.forEach((t, i) => console.log(`${t.ok ? 'ok' : 'not ok'} ${i + 1} - ${t.what}`));
process.exit(tests.every((t) => t.ok) ? 0 : 1);
