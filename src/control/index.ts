/** The node's control API: metrics, status and events operations (shared by `stratus dev` and `stratus start`). */
export {
  ControlServer,
  readJson,
  readJsonObject,
  refuseBrowserRequest,
  parseTarget,
  decodeSegment,
  printable,
  sendReply,
  answerClientError,
  parseFrom,
  listenControl,
  closeControl,
  type ControlSource,
  type ControlReply,
  type ControlServerOptions,
} from "./control-server.ts";
