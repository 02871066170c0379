// core/prokio-js.js: the JS side of the JS bridge (prokio/js.h, core/js.c).
// Link every program that uses prokio/js.h on wasm with
//   --js-library <pkgdatadir>/prokio-js.js
//
// Tables (handles, pending awaits, task-promise deferreds) hand out ids made
// of a slot index (low 24 bits) and a generation (the 7 bits above), so an
// id that was freed is refused even after its slot is reused, and an id is
// a positive int32 on the C side. A table holds at most 2^24 - 1 entries
// (slot 0 is never used: id 0 is no handle); a full table refuses with
// PROKIO_ENOMEM rather than let an index run into the generation's bits.
// Freed slots wait in a FIFO and are reused only once QUARANTINE others
// are free (or the table cannot grow): with a 7-bit generation, reusing
// the last freed slot first gave a stale id back after 127 make/release
// cycles; now that takes 127 * QUARANTINE releases.
//
// Strings cross as UTF-8 through TextDecoder/TextEncoder: invalid UTF-8
// from C becomes U+FFFD (emscripten's own decoder does not check strings
// under 17 bytes and reads past a NUL after a cut character), and a lone
// surrogate in a JS string becomes U+FFFD (emscripten's encoder made
// invalid UTF-8 of it, swallowing the next character).
//
// User JS can throw anywhere it is called (a getter, a `then`): each such
// place catches, as an exception that escaped into C would reach
// emscripten's callUserCallback and end the program.
//
// Functions C calls return 0 or a negative PROKIO_E* code, leave the
// failure's message in PROKIO_JS.message (core/js.c fetches it) and write
// handles through C pointers. Callbacks that enter C from JS's own event
// loop go through callUserCallback, as emscripten expects.
//
// An await holds one emscripten keepalive while its promise is pending, so
// a program linked with -sEXIT_RUNTIME=1 waits for it; dropping the await
// (its task ended, it was cancelled, the runtime shut down) gives the
// keepalive back at once, so a promise that never settles does not keep
// the program alive, and a settlement that comes later is ignored.
mergeInto(LibraryManager.library, {
  $PROKIO_JS__deps: ['$callUserCallback', '$runtimeKeepalivePush', '$runtimeKeepalivePop'],
  $PROKIO_JS__postset: 'PROKIO_JS.init();',
  $PROKIO_JS: {
    EINVAL: -{{{ cDefine('EINVAL') }}},
    ENOENT: -{{{ cDefine('ENOENT') }}},
    ERANGE: -{{{ cDefine('ERANGE') }}},
    ENOMEM: -{{{ cDefine('ENOMEM') }}},
    EJS: -4006,
    SLOTS: 0x1000000,
    QUARANTINE: 4096,
    decoder: null,
    encoder: null,
    message: '',
    handles: null,
    awaits: null,
    deferreds: null,
    exports: null,
    staged: null,
    api: null,

    init: function() {
      PROKIO_JS.handles = PROKIO_JS.table();
      PROKIO_JS.awaits = PROKIO_JS.table();
      PROKIO_JS.deferreds = PROKIO_JS.table();
      PROKIO_JS.exports = new Map();
      PROKIO_JS.decoder = new TextDecoder('utf-8');
      PROKIO_JS.encoder = new TextEncoder();
      // Quoted: the names users call survive closure's renaming.
      PROKIO_JS.api = {
        'spawn': PROKIO_JS.spawn,
        'handlesLive': function() { return PROKIO_JS.handles.live; },
      };
      Module['prokio'] = PROKIO_JS.api;
    },

    // ------------------------------------------------------------ tables
    table: function() {
      return {vals: [undefined], gens: [0], used: [false], dispose: [], free: [], head: 0,
              live: 0};
    },
    // The id of v's new entry, or 0 when the table is full.
    tput: function(t, v) {
      var i, waiting = t.free.length - t.head;
      if (waiting > PROKIO_JS.QUARANTINE || (waiting > 0 && t.vals.length >= PROKIO_JS.SLOTS)) {
        i = t.free[t.head++];
        if (t.head >= 65536 && t.head * 2 >= t.free.length) {
          t.free = t.free.slice(t.head);
          t.head = 0;
        }
      } else if (t.vals.length < PROKIO_JS.SLOTS) {
        i = t.vals.length;
      } else {
        return 0;
      }
      var g = (t.gens[i] | 0) % 127 + 1;
      t.vals[i] = v;
      t.gens[i] = g;
      t.used[i] = true;
      t.live++;
      return (i | (g << 24)) >>> 0;
    },
    // The slot of a live id, or -1.
    tslot: function(t, id) {
      id = id >>> 0;
      var i = id & 0xffffff;
      if (id === 0 || i >= t.vals.length || !t.used[i] || t.gens[i] !== id >>> 24) return -1;
      return i;
    },
    tfree: function(t, i) {
      var d = t.dispose[i];
      t.vals[i] = undefined;
      t.used[i] = false;
      t.dispose[i] = undefined;
      t.free.push(i);
      t.live--;
      if (d) d();
    },

    // ----------------------------------------------------------- handles
    put: function(v) { return PROKIO_JS.tput(PROKIO_JS.handles, v); },
    full: function(what) {
      return PROKIO_JS.fail(PROKIO_JS.ENOMEM, 'the ' + what + ' table is full (' +
                            (PROKIO_JS.SLOTS - 1) + ' entries): release handles or end ' +
                            'awaits you no longer need');
    },
    // Writes a new handle of v to *ptr: 0, or PROKIO_ENOMEM (*ptr untouched).
    out: function(ptr, v) {
      var h = PROKIO_JS.put(v);
      if (!h) return PROKIO_JS.full('handle');
      HEAPU32[ptr >> 2] = h;
      return 0;
    },
    // The NUL-terminated UTF-8 at ptr as a JS string.
    utf8: function(ptr) {
      var end = ptr;
      while (HEAPU8[end]) end++;
      return PROKIO_JS.decoder.decode(HEAPU8.subarray(ptr, end));
    },
    // s as UTF-8 into buf (size bytes, NUL-terminated, cut before a whole
    // character); returns the full length in bytes, without the NUL.
    write: function(s, buf, size) {
      var bytes = PROKIO_JS.encoder.encode(s), n = bytes.length;
      if (size === 0) return n;
      var k = n;
      if (k + 1 > size) {
        k = size - 1;
        while (k > 0 && (bytes[k] & 0xc0) === 0x80) k--;
      }
      HEAPU8.set(bytes.subarray(0, k), buf);
      HEAPU8[buf + k] = 0;
      return n;
    },
    live: function(h) { return PROKIO_JS.tslot(PROKIO_JS.handles, h) >= 0; },
    get: function(h) { return PROKIO_JS.handles.vals[PROKIO_JS.tslot(PROKIO_JS.handles, h)]; },
    release: function(h) {
      var i = PROKIO_JS.tslot(PROKIO_JS.handles, h);
      if (i >= 0) PROKIO_JS.tfree(PROKIO_JS.handles, i);
    },
    fail: function(code, msg) { PROKIO_JS.message = msg; return code; },
    bad: function(h, what) {
      return PROKIO_JS.fail(PROKIO_JS.EINVAL, (what || 'handle') + ' ' + (h >>> 0) +
                            ' is not live (0, released, or never made)');
    },
    str: function(v) {
      try { return String(v); } catch (e) { return '(a value String() cannot convert)'; }
    },
    // What an exception or a rejection says: its message, else String(it).
    // User JS runs here (a getter, a Proxy's trap), so it may throw too.
    why: function(e) {
      try {
        if (e !== null && (typeof e === 'object' || typeof e === 'function') && 'message' in e)
          return String(e['message']);
        return String(e);
      } catch (x) {
        return '(a value whose message cannot be read)';
      }
    },

    // ------------------------------------------------------------ awaits
    settled: function(e, state, v) {
      // The await went first (nothing to do, nothing kept), or a second call.
      if (e.dropped || e.state !== 0) return;
      e.state = state;
      e.value = v;
      callUserCallback(function() {
        runtimeKeepalivePop();
        _prokio_js__await_wake(e.aw);
      });
    },

    // --------------------------------------------------- Module.prokio.spawn
    spawn: function(name) {
      var ex = PROKIO_JS.exports.get(name);
      if (!ex)
        return Promise.reject(new Error("Module.prokio.spawn: no C task is exported as '" +
                                        name + "' (prokio_js_export)"));
      var args = Array.prototype.slice.call(arguments, 1);
      var staged = args.map(function(a) { return PROKIO_JS.put(a); });
      if (staged.indexOf(0) >= 0) {
        staged.forEach(PROKIO_JS.release);
        PROKIO_JS.full('handle');
        return Promise.reject(new Error('Module.prokio.spawn: ' + PROKIO_JS.message));
      }
      PROKIO_JS.staged = staged;
      var h = _prokio_js__spawn(ex, args.length);
      if (PROKIO_JS.staged) { // C failed before it took them
        PROKIO_JS.staged.forEach(PROKIO_JS.release);
        PROKIO_JS.staged = null;
      }
      if (h < 0) return Promise.reject(new Error(PROKIO_JS.utf8(_prokio_js__last_error())));
      var p = PROKIO_JS.get(h);
      PROKIO_JS.release(h);
      return p;
    },
  },

  // ------------------------------------------------------------- values
  prokio_js__message__deps: ['$PROKIO_JS'],
  prokio_js__message: function(buf, size) { PROKIO_JS.write(PROKIO_JS.message, buf, size); },

  prokio_js__string__deps: ['$PROKIO_JS'],
  prokio_js__string: function(out, ptr) { return PROKIO_JS.out(out, PROKIO_JS.utf8(ptr)); },

  prokio_js__number__deps: ['$PROKIO_JS'],
  prokio_js__number: function(out, v) { return PROKIO_JS.out(out, v); },

  prokio_js__global__deps: ['$PROKIO_JS'],
  prokio_js__global: function(out, ptr) {
    var path = PROKIO_JS.utf8(ptr), parts = path.split('.'), v = globalThis, seen = 'globalThis';
    for (var i = 0; i < parts.length; i++) {
      if (v === undefined || v === null)
        return PROKIO_JS.fail(PROKIO_JS.ENOENT, seen + ' is ' + v + ', so ' + path + ' is not there');
      try {
        v = v[parts[i]];
      } catch (e) {
        PROKIO_JS.out(out, e);
        return PROKIO_JS.fail(PROKIO_JS.EJS, 'reading ' + path + ' threw: ' + PROKIO_JS.why(e));
      }
      seen += '.' + parts[i];
    }
    if (v === undefined)
      return PROKIO_JS.fail(PROKIO_JS.ENOENT, seen + ' is undefined');
    return PROKIO_JS.out(out, v);
  },

  prokio_js__function__deps: ['$PROKIO_JS'],
  prokio_js__function: function(out, ptr) {
    var src = PROKIO_JS.utf8(ptr), f;
    try {
      f = new Function('prokio', 'return (' + src + '\n);')(PROKIO_JS.api);
    } catch (e) {
      PROKIO_JS.out(out, e);
      return PROKIO_JS.fail(PROKIO_JS.EJS, 'the source does not evaluate: ' + PROKIO_JS.why(e));
    }
    if (typeof f !== 'function')
      return PROKIO_JS.fail(PROKIO_JS.EINVAL, 'the source is not a function expression (it ' +
                            'evaluates to a ' + typeof f + ')');
    return PROKIO_JS.out(out, f);
  },

  prokio_js__call__deps: ['$PROKIO_JS'],
  prokio_js__call: function(out, fn, self, args, nargs) {
    if (!PROKIO_JS.live(fn)) return PROKIO_JS.bad(fn, 'fn: handle');
    var f = PROKIO_JS.get(fn);
    if (typeof f !== 'function')
      return PROKIO_JS.fail(PROKIO_JS.EINVAL, 'fn: handle ' + fn + ' is a ' + typeof f +
                            ', not a function');
    if (self !== 0 && !PROKIO_JS.live(self)) return PROKIO_JS.bad(self, 'self: handle');
    var thisv = self === 0 ? undefined : PROKIO_JS.get(self), argv = [];
    for (var i = 0; i < nargs; i++) {
      var h = HEAPU32[(args >> 2) + i];
      if (!PROKIO_JS.live(h)) return PROKIO_JS.bad(h, 'args[' + i + ']: handle');
      argv.push(PROKIO_JS.get(h));
    }
    var r;
    try {
      r = f.apply(thisv, argv);
    } catch (e) {
      PROKIO_JS.out(out, e);
      return PROKIO_JS.fail(PROKIO_JS.EJS, 'the function threw: ' + PROKIO_JS.why(e));
    }
    return PROKIO_JS.out(out, r);
  },

  prokio_js__get__deps: ['$PROKIO_JS'],
  prokio_js__get: function(out, obj, ptr) {
    if (!PROKIO_JS.live(obj)) return PROKIO_JS.bad(obj, 'obj: handle');
    var key = PROKIO_JS.utf8(ptr), r;
    try {
      r = PROKIO_JS.get(obj)[key];
    } catch (e) {
      PROKIO_JS.out(out, e);
      return PROKIO_JS.fail(PROKIO_JS.EJS, 'reading ' + key + ' threw: ' + PROKIO_JS.why(e));
    }
    return PROKIO_JS.out(out, r);
  },

  prokio_js__to_string__deps: ['$PROKIO_JS'],
  prokio_js__to_string: function(h, buf, size, lenp) {
    if (!PROKIO_JS.live(h)) return PROKIO_JS.bad(h);
    var s;
    try {
      s = String(PROKIO_JS.get(h));
    } catch (e) {
      return PROKIO_JS.fail(PROKIO_JS.EJS, 'String() threw: ' + PROKIO_JS.why(e));
    }
    size = size >>> 0;
    var n = PROKIO_JS.write(s, buf, size);
    HEAPU32[lenp >> 2] = n;
    return size !== 0 && n + 1 > size ? PROKIO_JS.ERANGE : 0;
  },

  prokio_js__to_number__deps: ['$PROKIO_JS'],
  prokio_js__to_number: function(h, outp) {
    if (!PROKIO_JS.live(h)) return PROKIO_JS.bad(h);
    try {
      HEAPF64[outp >> 3] = Number(PROKIO_JS.get(h));
    } catch (e) {
      return PROKIO_JS.fail(PROKIO_JS.EJS, 'Number() threw: ' + PROKIO_JS.why(e));
    }
    return 0;
  },

  prokio_js__typeof__deps: ['$PROKIO_JS'],
  prokio_js__typeof: function(h) {
    if (!PROKIO_JS.live(h)) return PROKIO_JS.bad(h);
    var v = PROKIO_JS.get(h);
    if (v === null) return 1;
    return ['undefined', 'null', 'boolean', 'number', 'bigint', 'string', 'symbol', 'object',
            'function'].indexOf(typeof v);
  },

  prokio_js__release__deps: ['$PROKIO_JS'],
  prokio_js__release: function(h) { PROKIO_JS.release(h); },

  prokio_js__live__deps: ['$PROKIO_JS'],
  prokio_js__live: function() { return PROKIO_JS.handles.live; },

  // A function that wakes a clone of a C waker while its handle lives; the
  // handle's release releases the clone (a disposer on the slot).
  prokio_js__waker__deps: ['$PROKIO_JS'],
  prokio_js__waker: function(out, w) {
    var st = {w: w};
    // Synchronous (no maybeExit after it): JS may call this while C is
    // inside the runtime (a poll that called JS), where an implicit exit
    // would end the program mid-drive. A wake only queues work, which
    // holds its own keepalive, so no exit is due here anyway.
    var f = function() {
      if (st.w) callUserCallback(function() { if (st.w) _prokio_js__waker_wake(st.w); }, true);
    };
    var h = PROKIO_JS.put(f);
    if (!h) return PROKIO_JS.full('handle');
    PROKIO_JS.handles.dispose[h & 0xffffff] = function() {
      var c = st.w;
      st.w = 0;
      _prokio_js__waker_release(c);
    };
    HEAPU32[out >> 2] = h;
    return 0;
  },

  // ------------------------------------------------------------- awaits
  prokio_js__await_start__deps: ['$PROKIO_JS'],
  prokio_js__await_start: function(aw, h) {
    if (!PROKIO_JS.live(h)) return PROKIO_JS.bad(h, 'promise: handle');
    var e = {aw: aw, state: 0, value: undefined, dropped: false};
    var id = PROKIO_JS.tput(PROKIO_JS.awaits, e);
    if (!id) return PROKIO_JS.full('await');
    runtimeKeepalivePush();
    // A promise of our own, resolved with the value: it adopts thenables
    // (calling their `then` in a later job) and wraps plain values, and
    // never throws here. Promise.resolve(v) would read v.constructor (a
    // getter may throw) and hand back v itself, whose own `then` may call
    // back more than once.
    var v = PROKIO_JS.get(h);
    new Promise(function(resolve) { resolve(v); })
        .then(function(v) { PROKIO_JS.settled(e, 1, v); },
              function(r) { PROKIO_JS.settled(e, 2, r); });
    return id;
  },

  // 0: pending; 1: fulfilled, 2: rejected (the value's handle in *out).
  prokio_js__await_take__deps: ['$PROKIO_JS'],
  prokio_js__await_take: function(id, out) {
    var t = PROKIO_JS.awaits, i = PROKIO_JS.tslot(t, id);
    if (i < 0) return PROKIO_JS.fail(PROKIO_JS.EINVAL, 'the await is not in the JS table');
    var e = t.vals[i];
    if (e.state === 0) return 0;
    PROKIO_JS.tfree(t, i);
    var rc = PROKIO_JS.out(out, e.value);
    if (rc < 0) return rc;
    if (e.state === 2)
      PROKIO_JS.message = 'the promise was rejected: ' + PROKIO_JS.why(e.value);
    return e.state;
  },

  prokio_js__await_drop__deps: ['$PROKIO_JS'],
  prokio_js__await_drop: function(id) {
    var t = PROKIO_JS.awaits, i = PROKIO_JS.tslot(t, id);
    if (i < 0) return;
    var e = t.vals[i];
    e.dropped = true;
    if (e.state === 0) runtimeKeepalivePop(); // still pending: its keepalive goes now
    e.value = undefined;
    PROKIO_JS.tfree(t, i);
  },

  // ------------------------------------------------------ task promises
  // The deferred's promise is marked handled (a no-op catch): a task
  // promise nobody awaits, rejected at shutdown, must not end node with an
  // unhandled rejection. Whoever awaits it still sees the rejection.
  prokio_js__deferred__deps: ['$PROKIO_JS'],
  prokio_js__deferred: function(out, tp) {
    var d = {};
    d.promise = new Promise(function(resolve, reject) {
      d.resolve = resolve;
      d.reject = reject;
    });
    d.promise.catch(function() {});
    var id = PROKIO_JS.tput(PROKIO_JS.deferreds, d);
    if (!id) return PROKIO_JS.full('task promise');
    d.promise['abort'] = function() {
      var i = PROKIO_JS.tslot(PROKIO_JS.deferreds, id);
      if (i >= 0 && PROKIO_JS.deferreds.vals[i] === d) _prokio_js__task_abort(tp);
    };
    var rc = PROKIO_JS.out(out, d.promise);
    if (rc < 0) {
      PROKIO_JS.tfree(PROKIO_JS.deferreds, PROKIO_JS.tslot(PROKIO_JS.deferreds, id));
      return rc;
    }
    return id;
  },

  prokio_js__deferred_settle__deps: ['$PROKIO_JS'],
  prokio_js__deferred_settle: function(id, result, flags, why) {
    var t = PROKIO_JS.deferreds, i = PROKIO_JS.tslot(t, id);
    if (i < 0) return;
    var d = t.vals[i];
    PROKIO_JS.tfree(t, i);
    if (why) {
      var err = new Error(PROKIO_JS.utf8(why));
      err['code'] = result;
      d.reject(err);
    } else if (flags & 1) {
      if (!PROKIO_JS.live(result)) {
        d.reject(new Error('the task returned ' + result + ', which is not a live handle ' +
                           '(PROKIO_JS_RESULT_HANDLE)'));
        return;
      }
      var v = PROKIO_JS.get(result);
      PROKIO_JS.release(result);
      d.resolve(v);
    } else {
      d.resolve(result);
    }
  },

  // ------------------------------------------------------------ exports
  // Sets (or with ex 0 removes) name's export; returns the one replaced.
  prokio_js__export_set__deps: ['$PROKIO_JS'],
  prokio_js__export_set: function(ptr, ex) {
    var name = PROKIO_JS.utf8(ptr), old = PROKIO_JS.exports.get(name) || 0;
    if (ex) PROKIO_JS.exports.set(name, ex);
    else PROKIO_JS.exports.delete(name);
    return old;
  },

  prokio_js__spawn_args__deps: ['$PROKIO_JS'],
  prokio_js__spawn_args: function(ptr) {
    var s = PROKIO_JS.staged || [];
    for (var i = 0; i < s.length; i++) HEAPU32[(ptr >> 2) + i] = s[i];
    PROKIO_JS.staged = null;
  },
});
