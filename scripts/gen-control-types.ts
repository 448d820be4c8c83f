// Generates src/cli/control-api.gen.ts (the CLI's types for the node API) from
// docs/control-api.openapi.json. Run: node --no-node-snapshot scripts/gen-control-types.ts
// (test/node.test.ts fails when the committed file is stale).
import { readFileSync, writeFileSync } from "node:fs";
import { compile, type JSONSchema } from "json-schema-to-typescript";

const DOC = new URL("../docs/control-api.openapi.json", import.meta.url);
const OUT = new URL("../src/cli/control-api.gen.ts", import.meta.url);

type Op = {
  requestBody?: { content: { "application/json": { schema: JSONSchema } } };
  responses: { "200": { content: { "application/json": { schema: JSONSchema } } } };
};

function typeName(method: string, path: string, what: string): string {
  const words = [method.toLowerCase(), ...path.split(/[^A-Za-z0-9]+/).filter(Boolean), what];
  return words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
}

/** The generated source for an OpenAPI document. */
export async function generate(doc: { paths: Record<string, Record<string, Op>> }): Promise<string> {
  const parts: string[] = [];
  const entries: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const key = `${method.toUpperCase()} ${path}`;
      const res = typeName(method, path, "Response");
      parts.push(await compile(op.responses["200"].content["application/json"].schema, res, { bannerComment: "", additionalProperties: false, format: false }));
      let req = "never";
      if (op.requestBody) {
        req = typeName(method, path, "Request");
        parts.push(await compile(op.requestBody.content["application/json"].schema, req, { bannerComment: "", additionalProperties: false, format: false }));
      }
      entries.push(`  ${JSON.stringify(key)}: { request: ${req}; response: ${res} };`);
    }
  }
  return [
    "// Generated from docs/control-api.openapi.json by scripts/gen-control-types.ts: do not edit.",
    "/* eslint-disable */",
    "",
    "/** Every endpoint of the node API: its request and 200 response bodies. */",
    "export interface Endpoints {",
    ...entries,
    "}",
    "",
    ...parts.map((p) => p.trim()),
    "",
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(OUT, await generate(JSON.parse(readFileSync(DOC, "utf8")) as { paths: Record<string, Record<string, Op>> }));
}
