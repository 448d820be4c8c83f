// A new user's first minutes with `stratus dev`: a module that cannot load is explained, an edit
// saved right after start is served, service bindings see ctx.params, and stacks point at the
// user's .ts lines.
import assert from "node:assert/strict";
import { test } from "node:test";
import { testDevServer } from "./helpers/dev.ts";
import { tempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

test("an edit saved the moment dev prints its address is served", async (t) => {
  const project = tempProject({
    "stratus.yaml": `name: t\nservices:\n  app:\n    entry: app.ts\n    routes: ["GET /*"]\n`,
    "app.ts": `export default { fetch: () => new Response("v1") };`,
  });
  // Saved from inside the print of the address: the earliest moment a user could save.
  const print = (line: string): void => {
    if (line.startsWith("stratus dev: stack")) project.write("app.ts", `export default { fetch: () => new Response("v2") };`);
  };
  const dev = testDevServer(project.dir, { print });
  t.after(async () => {
    await dev.stop();
    project.remove();
  });
  const base = `http://127.0.0.1:${await dev.start()}`;
  await waitFor(async () => (await (await fetch(base, { headers: { connection: "close" } })).text()) === "v2", 15_000, "the edit to be served");
});
