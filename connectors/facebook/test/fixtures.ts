/** Webhook bodies in Meta's documented Messenger format, for the unit tests. */
export const PAGE_ID = '1122334455';

export function messageEvent(psid: string, message: Record<string, unknown>, timestamp = 1_700_000_000_000): Record<string, unknown> {
  return { sender: { id: psid }, recipient: { id: PAGE_ID }, timestamp, message };
}

export function pageBody(...messaging: Array<Record<string, unknown>>): Record<string, unknown> {
  return { object: 'page', entry: [{ id: PAGE_ID, time: 1_700_000_000_100, messaging }] };
}
