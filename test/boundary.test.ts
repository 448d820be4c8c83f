// Attacks on the host <-> isolate boundary through real HTTP against `stratus dev` with ONE worker
// process, so the offender and its neighbour share it: hostile replies (a statusText with a line
// break, forged reply frames) and a promise chain left spinning after a bytes body. Each offender
// gets its own clear error, and the neighbour keeps answering.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../src/dev/index.ts";
import { testDevServer } from "./helpers/dev.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";

// Forges the reply batch the dispatcher hands to the host: user code shares the dispatcher's realm,
// so a replaced Array.prototype.join sees the batch and returns whatever it likes.
const EVIL = `
const realJoin = Array.prototype.join;
const frame = (id: string | number, p: string) => id + "\\x01" + p.length + "\\x01" + p;
function forge(rewrite: (id: string, payload: string) => string): void {
  Array.prototype.join = function (this: unknown[], sep?: string): string {
    const out = realJoin.call(this, sep);
    const m = sep === "" ? /^(\\d+)\\x01\\d+\\x01/.exec(out) : null;
    if (!m) return out;
    Array.prototype.join = realJoin;
    return rewrite(m[1]!, out.slice(m[0].length));
  };
}
export default {
  fetch(request: Request): Response {
    switch (new URL(request.url).pathname.slice(6)) {
      case "newline": {
        // The Response constructor refuses such a statusText, so a hostile function goes around it.
        const res = new Response("x");
        Object.defineProperty(res, "statusText", { value: "OK\\nx-injected: 1" });
        return res;
      }
      case "billion-headers":
        forge((id) => frame(id, "R\\n200\\n0\\n0\\n0\\nOK\\n1000000000\\n"));
        break;
      case "status-zero":
        forge((id) => frame(id, "R\\n0\\n0\\n0\\n0\\n\\n0\\nbody"));
        break;
      case "smuggle":
        forge((id) => frame(id, "R\\n200\\n0\\n0\\n0\\n\\n1\\nContent-Length\\n0\\nHTTP/1.1 200 OK"));
        break;
      case "missing-body":
        forge((id) => frame(id, "R\\n200\\n0\\n0\\n5\\n\\n0\\n"));
        break;
      case "no-separator":
        forge((id) => id);
        break;
      case "negative-id":
        forge((id, p) => "-" + id + "\\x01" + p.length + "\\x01" + p);
        break;
      case "huge-length":
        forge((id) => id + "\\x0199999999999999\\x01R\\n200\\n");
        break;
      case "not-a-string":
        forge(() => 12345 as unknown as string);
        break;
      case "stranger":
        forge((id, p) => frame(987654321, "R\\n200\\n0\\n0\\n0\\n\\n0\\nnot yours") + frame(id, p));
        break;
    }
    return new Response("fine");
  },
};`;

const SPIN = `
export default {
  fetch(): Response {
    // Keeps the microtask queue busy forever after the response is returned.
    const spin = (): void => void Promise.resolve().then(spin);
    void Promise.resolve().then(spin);
    return new Response(new Uint8Array([1, 2, 3]));
  },
};`;

let project: TempProject;
let dev: DevServer;
let base = "";

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: boundary
services:
  evil:
    entry: evil.ts
    routes: ["GET /evil/*"]
    limits: { cpu: 200ms, timeout: 5s }
  spin:
    entry: spin.ts
    routes: ["GET /spin"]
    limits: { cpu: 200ms, timeout: 5s }
  good:
    entry: good.ts
    routes: ["GET /good"]
`,
    "evil.ts": EVIL,
    "spin.ts": SPIN,
    "good.ts": `export default { fetch: () => new Response("good") };`,
  });
  dev = testDevServer(project.dir, { workers: 1 });
  base = `http://127.0.0.1:${await dev.start()}`;
});
after(async () => {
  await dev?.stop();
  project.remove();
});

async function get(path: string): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(20_000) });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

async function neighbourAnswers(): Promise<void> {
  const r = await get("/good");
  assert.equal(r.status, 200);
  assert.equal(r.text, "good");
}

async function badResponse(path: string, pattern: RegExp): Promise<void> {
  const r = await get(path);
  assert.equal(r.status, 500, r.text);
  const body = JSON.parse(r.text) as { error: { code: string; message: string } };
  assert.equal(body.error.code, "STRATUS_E_BAD_RESPONSE");
  assert.match(body.error.message, pattern);
  await neighbourAnswers();
}

describe("hostile replies fail their own request only", () => {
  test("a statusText with a line break is a clear 500 that names it (it used to kill the worker)", async () => {
    await badResponse("/evil/newline", /statusText "OK\\nx-injected: 1" contains a line break/);
  });

  test("a forged reply claiming a billion headers is refused without building them", async () => {
    await badResponse("/evil/billion-headers", /header count is "1000000000"/);
  });

  test("a forged status outside 200-599 is refused", async () => {
    await badResponse("/evil/status-zero", /status is 0; it must be 200-599/);
  });

  test("a forged reply pointing at a bytes body that did not cross is refused", async () => {
    await badResponse("/evil/missing-body", /body 5 is missing or not a Uint8Array/);
  });

  test("a forged uppercase Content-Length (a response-splitting attempt) is refused", async () => {
    await badResponse("/evil/smuggle", /header name "Content-Length"/);
  });

  for (const [what, pattern] of [
    ["no-separator", /has no id/],
    ["negative-id", /has id "-\d+"/],
    ["huge-length", /claims length "99999999999999"/],
    ["not-a-string", /not a string/],
  ] as const) {
    test(`a reply batch with broken framing (${what}) stops that instance with a clear error`, async () => {
      await badResponse(`/evil/${what}`, new RegExp(`could not read \\(.*${pattern.source}`));
      // The service itself comes back on a fresh instance.
      assert.equal((await get("/evil/plain")).text, "fine");
    });
  }

  test("a reply for an id that was never sent is ignored; the real reply still arrives", async () => {
    const r = await get("/evil/stranger");
    assert.equal(r.status, 200);
    assert.equal(r.text, "fine");
    await neighbourAnswers();
  });
});

describe("the watchdog reaches an isolate in any state", () => {
  test("a promise chain spinning after a bytes body returns the body and leaves the worker serving (it used to hang it for good)", async () => {
    const r = await fetch(`${base}/spin`, { signal: AbortSignal.timeout(20_000) });
    assert.equal(r.status, 200);
    assert.deepEqual([...new Uint8Array(await r.arrayBuffer())], [1, 2, 3]);
    for (let i = 0; i < 5; i++) await neighbourAnswers();
  });
});
