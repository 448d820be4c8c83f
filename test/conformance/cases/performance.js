// High Resolution Time: performance.now() and performance.timeOrigin.

test(() => {
  const drift = Math.abs(performance.timeOrigin + performance.now() - Date.now());
  assert_true(drift < 1000, `timeOrigin + now() is the current time (off by ${drift} ms)`);
}, "timeOrigin + now() is the wall-clock time");

test(() => {
  const now = performance.now();
  assert_true(now >= 0, "now() is not negative");
  assert_true(now < 60 * 60 * 1000, `now() counts from this global's start, not an old origin (${now})`);
}, "now() counts from the time origin");

test(() => {
  const a = performance.now();
  const b = performance.now();
  assert_true(b >= a);
}, "now() never goes backwards");

promise_test(async () => {
  const a = performance.now();
  await new Promise((r) => setTimeout(r, 20));
  const b = performance.now();
  assert_true(b - a >= 15, `${b - a} ms passed`);
}, "now() advances with time");

test(() => {
  assert_equals(typeof performance.timeOrigin, "number");
  assert_true(performance.timeOrigin > Date.UTC(2020, 0, 1));
}, "timeOrigin is an epoch time");

test(() => {
  const j = performance.toJSON();
  assert_equals(typeof j, "object");
  assert_equals(j.timeOrigin, performance.timeOrigin);
}, "toJSON");
