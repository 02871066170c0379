// tests/wasm/pre.js: linked into every wasm test (--pre-js).
// - the environment reaches getenv() (emscripten keeps its own ENV): node's,
//   or in a browser what the page puts in Module.prokioEnv
//   (tests/wasm/chromium-run.mjs passes the PROKIO_, CONFORMANCE_ and
//   CMOCKA_ variables);
// - the exit code is 99 (an error for automake) until the program calls
//   exit(): node exits 0 when its event loop runs dry, which would make a
//   test that never finished pass. A page has no such exit: the runner
//   fails a program that does not end within its time limit.
Module['preRun'] = Module['preRun'] || [];
Module['preRun'].push(function() {
  if (typeof process === 'undefined') {
    if (typeof ENV !== 'undefined' && Module['prokioEnv'])
      for (var k in Module['prokioEnv']) ENV[k] = Module['prokioEnv'][k];
    return;
  }
  if (typeof ENV !== 'undefined')
    for (var k in process.env) ENV[k] = process.env[k];
  process.exitCode = 99;
});
// When main returns while the runtime must stay alive (a main that an
// -sASYNCIFY sleep unwound, or one that left timers), main's caller calls
// exit with a status that means nothing yet: node's own quit would set its
// exit code (0, so a program that then never ends passes). That exit is
// ignored: the program ends later, by exit() or when nothing is left to
// run. In a page, Module.prokioEnd(status, error) learns every other end
// (exit(), an exception that escaped C). This is done here because quit_,
// keepRuntimeAlive and calledMain are the program's own (module scope).
Module['preRun'].push(function() {
  var quit = quit_;
  quit_ = function(status, toThrow) {
    var isExit = toThrow instanceof ExitStatus;
    var mainReturning = typeof calledMain !== 'undefined' && !calledMain;
    if (isExit && mainReturning && keepRuntimeAlive())
      throw toThrow;
    if (typeof process === 'undefined' && Module['prokioEnd'])
      Module['prokioEnd'](status, isExit ? null : toThrow);
    quit(status, toThrow);
  };
});
