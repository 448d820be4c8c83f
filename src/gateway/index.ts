/** The HTTP gateway and its router. */
export { Gateway, type GatewayOptions, type GatewayExtensions, type SystemReply } from "./gateway.ts";
export { Router, type RouteMatch, type RouteTarget } from "./router.ts";
