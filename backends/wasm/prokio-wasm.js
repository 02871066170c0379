// backends/wasm/prokio-wasm.js: the JS side of the wasm backend (wasm.c).
// Link every program that uses libprokio on wasm with
//   --js-library <pkgdatadir>/prokio-wasm.js
//
// One state object per loop (keyed by the loop's address), holding the
// callbacks the loop has pending. Each pending callback holds one
// emscripten keepalive (runtimeKeepalivePush/Pop), so a program linked with
// -sEXIT_RUNTIME=1 stays alive while the runtime has timers or work, and
// ends when it has neither. C is entered through callUserCallback, which
// reports exceptions (exit() included) the way emscripten expects.
//
// Macrotasks: setImmediate in node; a MessageChannel elsewhere (browsers,
// workers). Never setTimeout(0): browsers clamp nested timeouts to 4 ms and
// node to 1 ms (notes/wasm.md: a 2M-wake run was 23x slower).
mergeInto(LibraryManager.library, {
  $PROKIO_WASM__deps: ['$callUserCallback', '$runtimeKeepalivePush', '$runtimeKeepalivePop'],
  $PROKIO_WASM: {
    // Library objects are written out as source: a Map is made at first use.
    loops: null,
    // A macrotask queue of callbacks: setImmediate where it exists.
    port: null,
    portQueue: [],
    macrotask: function(fn) {
      if (typeof setImmediate === 'function') {
        var id = setImmediate(fn);
        return function() { clearImmediate(id); };
      }
      if (!PROKIO_WASM.port) {
        var ch = new MessageChannel();
        ch.port1.onmessage = function() {
          var f = PROKIO_WASM.portQueue.shift();
          if (f && f.live) f.fn();
        };
        PROKIO_WASM.port = ch.port2;
      }
      var entry = {fn: fn, live: true};
      PROKIO_WASM.portQueue.push(entry);
      PROKIO_WASM.port.postMessage(0);
      return function() { entry.live = false; };
    },
    // Runs C's drive for loop st unless the loop was finished meanwhile.
    drive: function(st, fromMicrotask) {
      if (st.dead) return;
      callUserCallback(function() { _prokio_wasm_drive(st.ptr, fromMicrotask); });
    },
  },

  prokio_wasm_js_init__deps: ['$PROKIO_WASM'],
  prokio_wasm_js_init: function(loop) {
    if (!PROKIO_WASM.loops) PROKIO_WASM.loops = new Map();
    PROKIO_WASM.loops.set(loop, {ptr: loop, dead: false, timer: null, cancelMacro: null});
  },

  prokio_wasm_js_fini__deps: ['$PROKIO_WASM'],
  prokio_wasm_js_fini: function(loop) {
    var st = PROKIO_WASM.loops.get(loop);
    if (!st) return;
    PROKIO_WASM.loops.delete(loop);
    st.dead = true;
    if (st.timer !== null) { clearTimeout(st.timer); st.timer = null; runtimeKeepalivePop(); }
    if (st.cancelMacro) { st.cancelMacro(); st.cancelMacro = null; runtimeKeepalivePop(); }
    // A queued microtask pops its own keepalive and sees `dead`.
  },

  // C coalesces: at most one queued microtask per loop.
  prokio_wasm_js_microtask__deps: ['$PROKIO_WASM'],
  prokio_wasm_js_microtask: function(loop) {
    var st = PROKIO_WASM.loops.get(loop);
    if (!st) return;
    runtimeKeepalivePush();
    queueMicrotask(function() {
      runtimeKeepalivePop();
      PROKIO_WASM.drive(st, 1);
    });
  },

  prokio_wasm_js_macrotask__deps: ['$PROKIO_WASM'],
  prokio_wasm_js_macrotask: function(loop) {
    var st = PROKIO_WASM.loops.get(loop);
    if (!st || st.cancelMacro) return; /* one is enough */
    runtimeKeepalivePush();
    st.cancelMacro = PROKIO_WASM.macrotask(function() {
      st.cancelMacro = null;
      runtimeKeepalivePop();
      PROKIO_WASM.drive(st, 0);
    });
  },

  prokio_wasm_js_timer__deps: ['$PROKIO_WASM'],
  prokio_wasm_js_timer: function(loop, ms) {
    var st = PROKIO_WASM.loops.get(loop);
    if (!st) return;
    if (st.timer !== null) clearTimeout(st.timer);
    else runtimeKeepalivePush();
    st.timer = setTimeout(function() {
      st.timer = null;
      runtimeKeepalivePop();
      PROKIO_WASM.drive(st, 0);
    }, ms);
  },

  prokio_wasm_js_clear_timer__deps: ['$PROKIO_WASM'],
  prokio_wasm_js_clear_timer: function(loop) {
    var st = PROKIO_WASM.loops.get(loop);
    if (!st || st.timer === null) return;
    clearTimeout(st.timer);
    st.timer = null;
    runtimeKeepalivePop();
  },
});
