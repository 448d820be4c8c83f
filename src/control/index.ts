/** The node's control API (read-only in this release: metrics and status). */
export { ControlServer, type ControlSource } from "./control-server.ts";
