#!/usr/bin/env node
// tests/wasm/chromium-run.mjs: runs a wasm test program in headless
// Chromium, as node runs it (`make check` does both; no npm dependencies).
//
//   node chromium-run.mjs PROGRAM.js [ARG...]
//   node chromium-run.mjs DESCRIPTOR.chromium
//
// PROGRAM.js is an emscripten program linked with -sSINGLE_FILE (the wasm
// inside). A descriptor is what automake runs: a small file whose
// `program=PATH` line names the program (tests/wasm/Makefile.inc writes
// one per program, so that the node run and this one have their own logs).
//
// How: a server on 127.0.0.1 at a port the kernel picks serves a page that
// loads the program; the page POSTs the program's stdout and stderr
// (Module.print/printErr) back in order, then its exit status
// (Module.prokioEnd, called by tests/wasm/pre.js from emscripten's quit:
// exit(), an uncaught exception, an abort).
// Chromium runs headless with a fresh profile in its own process group.
// This prints stdout to stdout (TAP) and stderr to stderr, and exits with
// the program's status. A program that never ends fails when the time
// limit (CHROMIUM_RUN_TIMEOUT seconds, default 120) runs out: a page cannot
// tell "the event loop ran dry" the way node does by exiting (pre.js).
// Only the process group started here is killed (and what it spawned),
// and the temporary profile is removed, on every way out.
//
// Without a chromium (CHROMIUM, else chromium, chromium-browser,
// google-chrome on PATH) the test is a skip with the reason: the TAP plan
// `1..0 # SKIP reason` and status 0 (automake's TAP driver counts that as
// a skip; it would count 77 as an error).
//
// examples/browser/check.mjs uses runPage() for a page of its own.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SKIP = 0; /* with a `1..0 # SKIP` plan: see above */
const FAIL = 99; /* automake: a hard error, not a test failure */

// The chromium flags of ../shared/notes/wasm.md: no sandbox (containers, CI
// as root), no GPU, nothing that talks to the network or runs in the
// background and could slow a page or outlive the run.
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-extensions',
  '--disable-dev-shm-usage',
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--no-default-browser-check',
];

// The chromium to run, or null.
export function findChromium() {
  const names = process.env.CHROMIUM
    ? [process.env.CHROMIUM]
    : ['chromium', 'chromium-browser', 'google-chrome'];
  for (const name of names) {
    if (name.includes('/')) {
      if (isExecutable(name)) return name;
      continue;
    }
    for (const dir of (process.env.PATH || '').split(':')) {
      const p = path.join(dir || '.', name);
      if (isExecutable(p)) return p;
    }
  }
  return null;
}

function isExecutable(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

// Pids of every descendant of pid (Linux /proc), so that what chromium
// spawned into other sessions (its zygotes) can be ended by id too.
function descendants(pid) {
  const children = new Map();
  let entries = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(e));
    } catch {
      /* gone meanwhile */
    }
  }
  const out = [];
  const todo = [pid];
  while (todo.length) {
    for (const c of children.get(todo.pop()) || []) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

// The start time of pid (field 22 of /proc/PID/stat, in clock ticks since
// boot), or null when there is no such process. With the pid it names one
// process: a pid alone may be reused by an unrelated process once the one
// remembered has ended (pid_max is 32768 on many machines).
export function startTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return null;
  }
}

// Remembers pid as one of this run's processes (pid -> start time).
export function rememberProcess(known, pid) {
  if (known.has(pid)) return;
  const start = startTime(pid);
  if (start !== null) known.set(pid, start);
}

// True when the remembered process itself is still there.
function stillThere(known, pid) {
  return startTime(pid) === known.get(pid);
}

// Kills what is left of the remembered processes, after a grace for them
// to end by themselves; a pid now used by another process is left alone.
export async function killRemembered(known, graceMs = 2000) {
  const left = () => [...known.keys()].filter((p) => stillThere(known, p));
  for (let i = 0; i < graceMs / 100 && left().length; i++) await sleep(100);
  for (const p of left()) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Serves `roots` (URL path -> first root holding the file; `routes` for
// generated answers and POSTs), opens `page` in headless chromium and
// resolves when `onPost` says the page is done, or with {timeout: true}.
//   roots:   directories, searched in order
//   routes:  {'/path': (req, body) => string|Buffer|{status, body, type}}
//            for GET answers; a POST's body is a Buffer
//   page:    the URL path to open (with a query string if wanted)
//   done:    a promise the routes settle when the page has reported
//   timeoutMs, log (a function for the runner's own notes, to stderr)
// Always kills chromium's process group and removes its profile.
export async function runPage({ roots = [], routes = {}, page, done, timeoutMs, log }) {
  const say = log || ((s) => process.stdout.write(`# chromium-run: ${s.replace(/\n/g, '\n# ')}\n`));
  const chromium = findChromium();
  if (!chromium) return { skip: 'no chromium (apt-get install chromium, or set CHROMIUM)' };

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url, 'http://127.0.0.1');
      const reply = (status, body, type) => {
        res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
        res.end(body);
      };
      try {
        const route = routes[url.pathname];
        if (route) {
          const r = route(req, Buffer.concat(chunks), url);
          if (r && typeof r === 'object' && !Buffer.isBuffer(r))
            return reply(r.status || 200, r.body || '', r.type || 'text/plain');
          return reply(200, r || '', TYPES[path.extname(url.pathname)] || 'text/plain');
        }
        if (req.method !== 'GET') return reply(405, 'GET only\n', 'text/plain');
        const rel = path.normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, '');
        for (const root of roots) {
          const file = path.join(root, rel);
          if (!file.startsWith(path.resolve(root))) break;
          if (fs.existsSync(file) && fs.statSync(file).isFile())
            return reply(200, fs.readFileSync(file),
                         TYPES[path.extname(file)] || 'application/octet-stream');
        }
        return reply(404, 'not found\n', 'text/plain');
      } catch (e) {
        say(`server: ${req.url}: ${e.message}`);
        return reply(500, String(e.message), 'text/plain');
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.address().port;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'prokio-chromium-'));

  // Its own process group (detached: setsid), so that it and everything it
  // starts in that group can be ended with one kill of -pid.
  const child = spawn(chromium, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`,
                                 `http://127.0.0.1:${port}${page}`],
                      { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let chromeErr = '';
  child.stderr.on('data', (d) => {
    if (chromeErr.length < 65536) chromeErr += d;
  });
  const exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
  child.once('error', (e) => say(`cannot start ${chromium}: ${e.message}`));

  const known = new Map(); /* pid -> start time */
  const remember = setInterval(() => {
    for (const p of descendants(child.pid)) rememberProcess(known, p);
  }, 250);

  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    clearInterval(remember);
    for (const p of descendants(child.pid)) rememberProcess(known, p);
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    await Promise.race([exited, sleep(3000)]);
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    // Chromium's zygotes live in sessions of their own; they end when the
    // browser does, and whatever is still there after a grace is killed by
    // id (they are this run's descendants, nobody else's: the start time
    // tells a remembered process from a later one given the same pid).
    await killRemembered(known);
    server.closeAllConnections?.();
    server.close();
    for (let i = 0; i < 5; i++) {
      try {
        fs.rmSync(profile, { recursive: true, force: true });
        break;
      } catch {
        await sleep(200);
      }
    }
  };
  // Interrupted (make's timeout, ^C): clean up, then die the same way.
  let interrupted = false;
  const onSignal = (sig) => {
    interrupted = true;
    cleanup().finally(() => process.exit(128 + os.constants.signals[sig]));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);

  let timer;
  const timedOut = new Promise((r) => {
    timer = setTimeout(() => r({ timeout: true }), timeoutMs);
  });
  const browserGone = exited.then((e) => ({ browserExit: e }));
  const outcome = await Promise.race([done, timedOut, browserGone]);
  clearTimeout(timer);
  if (outcome.browserExit && !cleaned) {
    // Its stderr without the D-Bus complaints of a machine with no bus.
    const lines = chromeErr.split('\n').filter((l) => l && !/dbus/i.test(l)).slice(-40);
    say(`chromium ended before the page reported (status ${outcome.browserExit.code}, ` +
        `signal ${outcome.browserExit.sig}); its stderr:\n${lines.join('\n')}`);
  }
  if (interrupted) return { interrupted: true }; /* onSignal ends the process */
  await cleanup();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
  return outcome;
}

// The environment a test page sees through getenv() (pre.js copies
// Module.prokioEnv into emscripten's ENV): what the tests read.
function testEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env))
    if (/^(PROKIO_|CONFORMANCE_|CMOCKA_)/.test(k)) env[k] = v;
  return env;
}

// The page of a test program: Module hooks that send everything back.
function testPage(name, args) {
  const config = JSON.stringify({ env: testEnv(), args });
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${name.replace(/[<&]/g, '')}</title></head>
<body><pre id="out"></pre>
<script>
(function () {
  var config = ${config.replace(/</g, '\\u003c')};
  var queue = [], sending = false, status = null, sent = false;
  // One POST in flight at a time keeps the lines in order.
  function flush() {
    if (sending) return;
    if (queue.length) {
      var lines = queue; queue = [];
      sending = true;
      fetch('/out', {method: 'POST', body: JSON.stringify(lines)})
        .catch(function () {})
        .then(function () { sending = false; flush(); });
    } else if (status !== null && !sent) {
      sent = true;
      fetch('/exit', {method: 'POST', body: JSON.stringify({status: status})});
    }
  }
  function line(stream, text) { queue.push([stream, String(text)]); flush(); }
  function finish(code) {
    if (status === null) status = code;
    flush();
  }
  window.Module = {
    arguments: config.args,
    prokioEnv: config.env,
    print: function (t) { line(1, t); },
    printErr: function (t) { line(2, t); },
    // pre.js calls this when the program ends (exit(), an exception that
    // escaped C, after an abort).
    prokioEnd: function (code, error) {
      if (error) line(2, 'chromium-run: uncaught: ' + (error.stack || error));
      finish(code);
    },
    onAbort: function (what) { line(2, 'chromium-run: abort: ' + what); finish(134); },
  };
  window.addEventListener('error', function (e) {
    line(2, 'chromium-run: uncaught error: ' + e.message);
    finish(1);
  });
  window.addEventListener('unhandledrejection', function (e) {
    line(2, 'chromium-run: unhandled rejection: ' + (e.reason && e.reason.stack || e.reason));
    finish(1);
  });
})();
</script>
<script src="/program.js"></script>
</body></html>
`;
}

// Runs one program; resolves with the exit status for the runner.
async function runProgram(program, args) {
  const timeoutS = Number(process.env.CHROMIUM_RUN_TIMEOUT || 120);
  let report;
  const done = new Promise((r) => {
    report = r;
  });
  const name = path.basename(program);
  const routes = {
    '/': () => ({ body: testPage(name, args), type: 'text/html; charset=utf-8' }),
    '/program.js': () => fs.readFileSync(program),
    '/favicon.ico': () => ({ status: 204 }),
    '/out': (req, body) => {
      for (const [stream, text] of JSON.parse(body.toString('utf8')))
        (stream === 1 ? process.stdout : process.stderr).write(text + '\n');
      return 'ok';
    },
    '/exit': (req, body) => {
      report({ status: JSON.parse(body.toString('utf8')).status });
      return 'ok';
    },
  };
  const t0 = Date.now();
  const outcome = await runPage({ routes, page: '/', done, timeoutMs: timeoutS * 1000 });
  const took = ((Date.now() - t0) / 1000).toFixed(1);
  if (outcome.skip) {
    console.log(`1..0 # SKIP ${outcome.skip}`);
    return SKIP;
  }
  if (outcome.interrupted) return await new Promise(() => {}); /* exiting */
  if (outcome.timeout) {
    console.log(`# chromium-run: ${name} did not end within ${timeoutS} s ` +
                `(CHROMIUM_RUN_TIMEOUT): a program that never ends fails`);
    console.log(`Bail out! ${name} did not end in chromium within ${timeoutS} s`);
    return FAIL;
  }
  if (outcome.browserExit) {
    console.log(`Bail out! chromium ended before ${name} did`);
    return FAIL;
  }
  // A TAP comment on stdout, so that it follows the program's output.
  console.log(`# chromium-run: ${name} exited with ${outcome.status} in chromium ` +
              `(${took} s with the browser)`);
  return outcome.status;
}

// A descriptor names its program relative to the build directory.
function programOf(arg) {
  if (!arg.endsWith('.chromium')) return arg;
  const m = /^program=(.*)$/m.exec(fs.readFileSync(arg, 'utf8'));
  if (!m) throw new Error(`${arg}: no program= line`);
  return m[1].trim();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const [arg, ...args] = process.argv.slice(2);
  if (!arg) {
    process.stderr.write('usage: chromium-run.mjs PROGRAM.js|DESCRIPTOR.chromium [ARG...]\n');
    process.exit(2);
  }
  let program;
  try {
    program = programOf(arg);
    fs.accessSync(program, fs.constants.R_OK);
  } catch (e) {
    process.stderr.write(`chromium-run: ${e.message}\n`);
    process.exit(FAIL);
  }
  const status = await runProgram(program, args);
  process.exitCode = status;
}
