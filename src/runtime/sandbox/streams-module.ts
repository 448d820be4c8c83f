// Sandbox code: the entry of the "streams" lazy module (prelude-build.ts LAZY_MODULES): the
// Streams standard, built on its own and evaluated in an isolate the first time one is used.
export * from "web-streams-polyfill";
