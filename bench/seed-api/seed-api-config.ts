/** Knobs of the seed API case (BENCH_SEED_*; read in run.ts). */
export interface SeedApiConfig {
  /** Webhook steady run: chatplugin.send per second, and for how long. */
  rate: number;
  seconds: number;
  /** Webhook burst: messages sent as fast as the hub takes them. */
  burst: number;
  /** messages.list: messages in the one conversation that is paged through. */
  listSize: number;
  /** Chat plugin round trips (authenticate, connect, send, socket message). */
  roundTrips: number;
  /** contacts.identify calls, one at a time. */
  identifies: number;
}

/** Chat plugin visitors the webhook runs spread their messages over. */
export const WEBHOOK_VISITORS = 50;
/** Sends in flight at once during the burst (each is one HTTP request on a kept-alive connection). */
export const BURST_LANES = 50;
/** Parallel senders filling the messages.list conversation (one visitor, so one seq counter); more lanes, bigger group commits. */
export const LIST_SEED_LANES = 64;
/** messages.list page size (the largest the API takes). */
export const LIST_PAGE_SIZE = 100;
/** Pages read back from the last one by previous_cursor (each costs as much as a forward page). */
export const LIST_BACK_PAGES = 3;
/** Visitors in flight at once in the round-trip run. */
export const ROUND_TRIP_LANES = 10;
