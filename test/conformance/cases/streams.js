// Streams conformance cases (ReadableStream, WritableStream, TransformStream and the queuing
// strategies), written from the WHATWG Streams standard. Plain script in the shape of WPT's
// testharness.js.

async function readAllChunks(stream) {
  const reader = stream.getReader();
  const out = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

function fromArray(items) {
  return new ReadableStream({
    start(c) {
      for (const i of items) c.enqueue(i);
      c.close();
    },
  });
}

test(() => {
  const rs = new ReadableStream();
  assert_false(rs.locked);
  assert_class_string(rs, "ReadableStream");
}, "ReadableStream without a source");

test(() => {
  assert_throws_js(TypeError, () => ReadableStream());
  assert_throws_js(TypeError, () => new ReadableStream(null));
  assert_throws_js(TypeError, () => new ReadableStream({ type: "nope" }));
}, "ReadableStream constructor validation");

test(() => {
  assert_throws_js(RangeError, () => new ReadableStream({}, { highWaterMark: -1 }));
  assert_throws_js(RangeError, () => new ReadableStream({}, { highWaterMark: NaN }));
  assert_throws_js(TypeError, () => new ReadableStream({}, { size: 1 }));
}, "Strategy validation");

promise_test(async () => {
  assert_array_equals(await readAllChunks(fromArray(["a", "b", "c"])), ["a", "b", "c"]);
}, "Chunks enqueued in start() are read in order");

promise_test(async () => {
  let n = 0;
  const rs = new ReadableStream({
    pull(c) {
      n++;
      if (n > 3) c.close();
      else c.enqueue(n);
    },
  });
  assert_array_equals(await readAllChunks(rs), [1, 2, 3]);
}, "pull() is called until the stream closes");

promise_test(async () => {
  const rs = new ReadableStream();
  const reader = rs.getReader();
  assert_true(rs.locked);
  assert_throws_js(TypeError, () => rs.getReader());
  reader.releaseLock();
  assert_false(rs.locked);
  rs.getReader();
}, "getReader() locks and releaseLock() unlocks");

promise_test(async (t) => {
  const rs = new ReadableStream({
    start(c) {
      c.error(new RangeError("bad"));
    },
  });
  await promise_rejects_js(t, RangeError, rs.getReader().read());
}, "An errored stream rejects reads with its error");

promise_test(async () => {
  let reason;
  const rs = new ReadableStream({
    cancel(r) {
      reason = r;
    },
  });
  await rs.cancel("why");
  assert_equals(reason, "why");
}, "cancel() calls the source's cancel with the reason");

promise_test(async (t) => {
  const rs = new ReadableStream();
  rs.getReader();
  await promise_rejects_js(t, TypeError, rs.cancel());
}, "cancel() of a locked stream rejects");

promise_test(async () => {
  const reader = fromArray([1]).getReader();
  await reader.read();
  const r = await reader.read();
  assert_true(r.done);
  assert_equals(r.value, undefined);
  await reader.closed;
}, "closed resolves once the stream is done");

promise_test(async () => {
  const [a, b] = fromArray([1, 2]).tee();
  assert_array_equals(await readAllChunks(a), [1, 2]);
  assert_array_equals(await readAllChunks(b), [1, 2]);
}, "tee() gives two branches with the same chunks");

promise_test(async () => {
  const rs = fromArray([1, 2, 3]);
  const out = [];
  for await (const x of rs) out.push(x);
  assert_array_equals(out, [1, 2, 3]);
}, "Async iteration");

promise_test(async () => {
  let cancelled = false;
  const rs = new ReadableStream({
    pull(c) {
      c.enqueue(1);
    },
    cancel() {
      cancelled = true;
    },
  });
  for await (const x of rs) {
    void x;
    break;
  }
  assert_true(cancelled);
  assert_false(rs.locked);
}, "Breaking out of async iteration cancels the stream");

promise_test(async () => {
  const rs = fromArray([1]);
  const it = rs.values({ preventCancel: true });
  await it.return();
  assert_false(rs.locked);
  assert_array_equals(await readAllChunks(rs), [1]);
}, "values({ preventCancel }) leaves the stream readable");

promise_test(async () => {
  const rs = ReadableStream.from([1, 2, 3]);
  assert_array_equals(await readAllChunks(rs), [1, 2, 3]);
}, "ReadableStream.from() an array");

promise_test(async () => {
  async function* gen() {
    yield "x";
    yield "y";
  }
  assert_array_equals(await readAllChunks(ReadableStream.from(gen())), ["x", "y"]);
}, "ReadableStream.from() an async generator");

test(() => {
  assert_throws_js(TypeError, () => ReadableStream.from(1));
  assert_throws_js(TypeError, () => ReadableStream.from(null));
}, "ReadableStream.from() rejects non-iterables");

promise_test(async () => {
  const rs = new ReadableStream({
    start(c) {
      assert_equals(c.desiredSize, 1);
      c.enqueue("a");
      assert_equals(c.desiredSize, 0);
      c.enqueue("b");
      assert_equals(c.desiredSize, -1);
      c.close();
    },
  });
  assert_array_equals(await readAllChunks(rs), ["a", "b"]);
}, "desiredSize follows the queue against highWaterMark 1");

promise_test(async () => {
  const rs = new ReadableStream(
    {
      start(c) {
        assert_equals(c.desiredSize, 10);
        c.enqueue("abcd");
        assert_equals(c.desiredSize, 6);
        c.close();
      },
    },
    new CountQueuingStrategy({ highWaterMark: 10 }).highWaterMark === 10 ? { highWaterMark: 10, size: (s) => s.length } : undefined,
  );
  await readAllChunks(rs);
}, "A size() function counts chunks");

test(() => {
  const s = new CountQueuingStrategy({ highWaterMark: 4 });
  assert_equals(s.highWaterMark, 4);
  assert_equals(s.size("anything"), 1);
  assert_class_string(s, "CountQueuingStrategy");
}, "CountQueuingStrategy");

test(() => {
  const s = new ByteLengthQueuingStrategy({ highWaterMark: 16 });
  assert_equals(s.highWaterMark, 16);
  assert_equals(s.size(new Uint8Array(5)), 5);
  assert_equals(s.size({ byteLength: 3 }), 3);
  assert_class_string(s, "ByteLengthQueuingStrategy");
}, "ByteLengthQueuingStrategy");

test(() => {
  assert_throws_js(TypeError, () => new CountQueuingStrategy());
  assert_throws_js(TypeError, () => new ByteLengthQueuingStrategy({}));
}, "Queuing strategies need a highWaterMark");

test(() => {
  const a = new CountQueuingStrategy({ highWaterMark: 1 });
  const b = new CountQueuingStrategy({ highWaterMark: 2 });
  assert_equals(a.size, b.size);
}, "Queuing strategy size functions are shared");

promise_test(async () => {
  const rs = new ReadableStream({
    type: "bytes",
    start(c) {
      c.enqueue(new Uint8Array([1, 2, 3]));
      c.close();
    },
  });
  const reader = rs.getReader({ mode: "byob" });
  const r = await reader.read(new Uint8Array(2));
  assert_array_equals(r.value, [1, 2]);
  const r2 = await reader.read(new Uint8Array(2));
  assert_array_equals(r2.value, [3]);
}, "A byte stream with a BYOB reader");

promise_test(async () => {
  const rs = new ReadableStream({
    type: "bytes",
    pull(c) {
      const v = c.byobRequest.view;
      v[0] = 42;
      c.byobRequest.respond(1);
      c.close();
    },
  });
  const reader = rs.getReader({ mode: "byob" });
  const r = await reader.read(new Uint8Array(4));
  assert_array_equals(r.value, [42]);
}, "byobRequest fills the reader's buffer");

test(() => {
  assert_throws_js(TypeError, () => new ReadableStream().getReader({ mode: "byob" }));
  assert_throws_js(TypeError, () => new ReadableStream().getReader({ mode: "nope" }));
}, "A BYOB reader needs a byte stream");

promise_test(async () => {
  const rs = new ReadableStream({
    type: "bytes",
    start(c) {
      c.enqueue(new Uint8Array([9]));
      c.close();
    },
  });
  const chunks = await readAllChunks(rs);
  assert_array_equals(chunks[0], [9]);
}, "A byte stream with a default reader");

test(() => {
  const ws = new WritableStream();
  assert_false(ws.locked);
  assert_class_string(ws, "WritableStream");
}, "WritableStream without a sink");

promise_test(async () => {
  const got = [];
  const ws = new WritableStream({
    write(chunk) {
      got.push(chunk);
    },
  });
  const w = ws.getWriter();
  await w.write("a");
  await w.write("b");
  await w.close();
  assert_array_equals(got, ["a", "b"]);
}, "Writes reach the sink in order");

promise_test(async () => {
  let closed = false;
  const ws = new WritableStream({
    close() {
      closed = true;
    },
  });
  await ws.getWriter().close();
  assert_true(closed);
}, "close() calls the sink's close");

promise_test(async () => {
  let reason;
  const ws = new WritableStream({
    abort(r) {
      reason = r;
    },
  });
  await ws.abort("stop");
  assert_equals(reason, "stop");
}, "abort() calls the sink's abort with the reason");

promise_test(async (t) => {
  const ws = new WritableStream({
    write() {
      throw new RangeError("sink broke");
    },
  });
  const w = ws.getWriter();
  await promise_rejects_js(t, RangeError, w.write("x"));
  await promise_rejects_js(t, RangeError, w.closed);
}, "A throwing sink errors the stream");

promise_test(async () => {
  const ws = new WritableStream({}, new CountQueuingStrategy({ highWaterMark: 2 }));
  const w = ws.getWriter();
  assert_equals(w.desiredSize, 2);
  await w.ready;
}, "Writer desiredSize and ready");

promise_test(async () => {
  let release;
  const ws = new WritableStream(
    {
      write() {
        return new Promise((r) => (release = r));
      },
    },
    { highWaterMark: 1 },
  );
  const w = ws.getWriter();
  void w.write("a");
  void w.write("b");
  assert_true(w.desiredSize <= 0);
  await Promise.resolve();
  release();
}, "Backpressure lowers desiredSize");

test(() => {
  const ws = new WritableStream();
  ws.getWriter();
  assert_true(ws.locked);
  assert_throws_js(TypeError, () => ws.getWriter());
}, "getWriter() locks the stream");

promise_test(async () => {
  const ws = new WritableStream();
  const w = ws.getWriter();
  w.releaseLock();
  assert_false(ws.locked);
}, "releaseLock() unlocks the writable stream");

promise_test(async (t) => {
  const ws = new WritableStream();
  ws.getWriter();
  await promise_rejects_js(t, TypeError, ws.abort());
  await promise_rejects_js(t, TypeError, ws.close());
}, "abort() and close() of a locked stream reject");

promise_test(async () => {
  const got = [];
  await fromArray([1, 2, 3]).pipeTo(
    new WritableStream({
      write(c) {
        got.push(c);
      },
    }),
  );
  assert_array_equals(got, [1, 2, 3]);
}, "pipeTo() moves every chunk and closes");

promise_test(async (t) => {
  const rs = new ReadableStream({
    start(c) {
      c.error(new RangeError("src"));
    },
  });
  let aborted;
  const ws = new WritableStream({
    abort(r) {
      aborted = r;
    },
  });
  await promise_rejects_js(t, RangeError, rs.pipeTo(ws));
  assert_true(aborted instanceof RangeError);
}, "pipeTo() aborts the destination when the source errors");

promise_test(async () => {
  let closed = false;
  const ws = new WritableStream({
    close() {
      closed = true;
    },
  });
  await fromArray([1]).pipeTo(ws, { preventClose: true });
  assert_false(closed);
}, "pipeTo() with preventClose");

promise_test(async (t) => {
  const c = new AbortController();
  const rs = new ReadableStream({
    pull(ctrl) {
      ctrl.enqueue(1);
    },
  });
  const p = rs.pipeTo(new WritableStream(), { signal: c.signal });
  c.abort();
  await p.then(
    () => assert_unreached("should reject"),
    () => undefined,
  );
}, "pipeTo() stops when its signal aborts");

promise_test(async () => {
  const ts = new TransformStream({
    transform(chunk, c) {
      c.enqueue(chunk * 2);
    },
  });
  const out = await readAllChunks(fromArray([1, 2]).pipeThrough(ts));
  assert_array_equals(out, [2, 4]);
}, "pipeThrough() a TransformStream");

promise_test(async () => {
  const ts = new TransformStream();
  const w = ts.writable.getWriter();
  void w.write("same");
  void w.close();
  assert_array_equals(await readAllChunks(ts.readable), ["same"]);
}, "An identity TransformStream passes chunks through");

promise_test(async () => {
  const ts = new TransformStream({
    transform(chunk, c) {
      c.enqueue(chunk);
      c.enqueue(chunk);
    },
    flush(c) {
      c.enqueue("end");
    },
  });
  const out = await readAllChunks(fromArray(["a"]).pipeThrough(ts));
  assert_array_equals(out, ["a", "a", "end"]);
}, "transform() can enqueue many chunks and flush() adds at the end");

promise_test(async (t) => {
  const ts = new TransformStream({
    transform() {
      throw new RangeError("t");
    },
  });
  const read = ts.readable.getReader().read();
  const w = ts.writable.getWriter();
  await promise_rejects_js(t, RangeError, w.write(1));
  await promise_rejects_js(t, RangeError, read);
}, "A throwing transform errors both sides");

promise_test(async () => {
  const ts = new TransformStream({
    transform(chunk, c) {
      c.terminate();
    },
  });
  const w = ts.writable.getWriter();
  void w.write(1).catch(() => undefined);
  const r = await ts.readable.getReader().read();
  assert_true(r.done);
}, "terminate() closes the readable side");

test(() => {
  const ts = new TransformStream();
  assert_true(ts.readable instanceof ReadableStream);
  assert_true(ts.writable instanceof WritableStream);
  assert_class_string(ts, "TransformStream");
}, "TransformStream exposes its two sides");

test(() => {
  assert_throws_js(RangeError, () => new TransformStream({ readableType: "bytes" }));
  assert_throws_js(RangeError, () => new TransformStream({ writableType: "bytes" }));
}, "TransformStream rejects byte types");

promise_test(async () => {
  let started = false;
  const ts = new TransformStream({
    start() {
      started = true;
    },
  });
  assert_true(started);
  void ts;
}, "TransformStream start() runs at construction");

promise_test(async () => {
  const ts = new TransformStream(undefined, { highWaterMark: 2 }, { highWaterMark: 3 });
  assert_equals(ts.writable.getWriter().desiredSize, 2);
}, "TransformStream takes writable and readable strategies");

promise_test(async () => {
  const res = new Response(fromArray([new Uint8Array([104]), new Uint8Array([105])]));
  assert_equals(await res.text(), "hi");
}, "A ReadableStream as a Response body");

promise_test(async () => {
  const body = new Response("abc").body;
  const chunks = await readAllChunks(body.pipeThrough(new TransformStream()));
  assert_equals(
    chunks.reduce((n, c) => n + c.byteLength, 0),
    3,
  );
}, "A Response body pipes through a TransformStream");

promise_test(async () => {
  const r = fromArray([]);
  const reader = r.getReader();
  const p = reader.closed;
  reader.releaseLock();
  await p.then(
    () => undefined,
    () => undefined,
  );
  assert_false(r.locked);
}, "releaseLock() settles closed");

test(() => {
  for (const name of ["ReadableStreamDefaultReader", "ReadableStreamBYOBReader", "WritableStreamDefaultWriter"]) {
    assert_equals(typeof globalThis[name], "function", name);
  }
}, "Reader and writer classes are exposed");

test(() => {
  for (const name of [
    "ReadableStreamDefaultController",
    "ReadableByteStreamController",
    "WritableStreamDefaultController",
    "TransformStreamDefaultController",
    "ReadableStreamBYOBRequest",
  ]) {
    assert_equals(typeof globalThis[name], "function", name);
  }
}, "Controller classes are exposed");

test(() => {
  const rs = new ReadableStream();
  const reader = new ReadableStreamDefaultReader(rs);
  assert_true(rs.locked);
  void reader;
}, "ReadableStreamDefaultReader can be constructed directly");

test(() => {
  const ws = new WritableStream();
  const w = new WritableStreamDefaultWriter(ws);
  assert_true(ws.locked);
  void w;
}, "WritableStreamDefaultWriter can be constructed directly");
