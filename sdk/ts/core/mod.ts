/**
 * The runtime core of copperline-ports: framing, client, server, errors, subscriptions and the
 * transport contract. Imports nothing from Deno or Node.
 *
 * @module
 */

export * from "./errors.ts";
export * from "./framing.ts";
export * from "./descriptor.ts";
export * from "./transport.ts";
export { Channel, type ChannelHandler, type ChannelOptions } from "./channel.ts";
export { type CallOptions, type ClientOptions, PortClient } from "./client.ts";
export {
  type CapabilityTable,
  type Handler,
  PortServer,
  type RequestContext,
  type ServerOptions,
  Session,
  suggest,
} from "./server.ts";
export { Subscription, type SubscriptionOptions } from "./subscription.ts";
export { type Filters, ServiceClient, type ServiceClientClass, ServiceServer } from "./service.ts";
export { decodeFds, encodeFds, isFdHandle } from "./fd_refs.ts";
export { backoffDelay, ReconnectingClient, type ReconnectOptions, ResilientSubscription } from "./reconnect.ts";
