// Web API conformance: every case file in test/conformance/cases runs in Node 24 and inside a fresh
// isolate built from the real prelude; the isolate must pass at least 95% of what Node passes per
// API, and every case Node passes that the isolate fails must be listed in test/conformance/known.
import assert from "node:assert/strict";
import { test } from "node:test";
import { apis, problems, runApi, table, type ApiReport } from "./conformance/run.ts";

test("the isolate's Web APIs pass what Node passes (test/conformance/cases)", async (t) => {
  const reports: ApiReport[] = [];
  for (const api of apis()) reports.push(await runApi(api));
  t.diagnostic(`\n${table(reports)}`);
  const found = reports.flatMap(problems);
  assert.deepEqual(found, [], `conformance problems:\n${found.join("\n")}`);
});
