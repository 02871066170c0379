// tests/wasm/pre.js: linked into every wasm test (--pre-js).
// - node's environment reaches getenv() (emscripten keeps its own ENV);
// - the exit code is 99 (an error for automake) until the program calls
//   exit(): node exits 0 when its event loop runs dry, which would make a
//   test that never finished pass.
Module['preRun'] = Module['preRun'] || [];
Module['preRun'].push(function() {
  if (typeof process === 'undefined') return;
  if (typeof ENV !== 'undefined')
    for (var k in process.env) ENV[k] = process.env[k];
  process.exitCode = 99;
});
