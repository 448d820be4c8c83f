// Lint: type-aware typescript-eslint, plus the architecture rule that subsystems import each
// other only through their index.ts.
import tseslint from "typescript-eslint";

const SUBSYSTEMS = [
  "backends",
  "build",
  "cli",
  "cluster",
  "config",
  "control",
  "dev",
  "errors",
  "events",
  "gateway",
  "node",
  "postgres",
  "registry",
  "runtime",
  "stack",
  "state",
  "telemetry",
  "testing",
];

export default tseslint.config(
  {
    ignores: [
      "node_modules/**",
      "dist/**",
      "scratch/**",
      "my-shop/**",
      ".test-tmp/**",
      ".test-tmp-bench-*/**",
      "**/.stratus/**",
      "examples/**",
      "bin/**",
      "eslint.config.js",
      "docs/**",
      // plain scripts in testharness.js style, run inside an isolate and in Node (test/conformance.test.ts)
      "test/conformance/**/*.js",
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "error",
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-base-to-string": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
    },
  },
  ...SUBSYSTEMS.map((name) => ({
    files: [`src/${name}/**/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: `^\\.\\./(?!${name}/)(${SUBSYSTEMS.join("|")})/(?!index\\.ts$).+`,
              message: "Import another subsystem only through its index.ts.",
            },
          ],
        },
      ],
    },
  })),
  {
    files: ["test/**/*.ts", "bench/**/*.ts", "src/**/*.test.ts", "src/**/conformance.ts"],
    rules: {
      "no-console": "off",
      "@typescript-eslint/no-floating-promises": [
        "error",
        { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "describe", "it", "suite"] }] },
      ],
    },
  },
);
