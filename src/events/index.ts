/** Durable events: the store interface and its SQLite implementation, delivery, cron, CloudEvents and async invocation. */
export { EventBus, passiveEventBus, type EventBusOptions, type BusTarget, type BusRequest, type SubscriptionInfo, type Published } from "./bus.ts";
export { SqliteEventStore, type SqliteEventStoreOptions } from "./sqlite/store.ts";
export { MAX_EVENT_BYTES, fromHttp, checkEvent, makeEvent } from "./cloudevents.ts";
export { backoffMs, type DeliveryOutcome, type DeliveryFigures, type DeliveryEvent } from "./delivery.ts";
export type {
  EventStore,
  CloudEvent,
  StoredEvent,
  DeadLetter,
  InvocationRecord,
  InvocationState,
  SubscriptionState,
  AppendInput,
  AppendResult,
} from "./interface.ts";
export { busEndpoints, describeInvocation } from "./http.ts";
