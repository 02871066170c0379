#!/usr/bin/env node
// tests/wasm/run-main-dry.mjs: runs tests/regress/wasm-run-main-dry.js
// (built in the build directory, this test's working directory) under
// node and checks that a root task that can never end makes a failing
// exit status and says so, instead of node's 0 (see the .c file's header).
// Output: TAP.
import { spawnSync } from 'node:child_process';

const program = 'tests/regress/wasm-run-main-dry.js';
const r = spawnSync(process.execPath, [program], { encoding: 'utf8', timeout: 60000 });
console.log('1..2');
console.log(`${r.status === 1 ? 'ok' : 'not ok'} 1 - a root task stuck for ever ends the ` +
            `program with status 1 (got ${r.status}${r.error ? ', ' + r.error.message : ''})`);
const said = /the JS event loop ran dry before the main task ended/.test(r.stderr || '');
console.log(`${said ? 'ok' : 'not ok'} 2 - and says why on stderr`);
if (!said) console.log(`# stderr: ${(r.stderr || '').replace(/\n/g, '\n# ')}`);
process.exitCode = r.status === 1 && said ? 0 : 1;
