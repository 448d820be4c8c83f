/** The node's control API: metrics, status and events operations (shared by `stratus dev` and `stratus start`). */
export { ControlServer, readJson, parseFrom, listenControl, closeControl, type ControlSource, type ControlReply } from "./control-server.ts";
