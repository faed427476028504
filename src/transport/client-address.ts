/** Express's compiled 'trust proxy' setting (`app.get('trust proxy fn')`): may the hop-th address set X-Forwarded-For? */
export type TrustProxy = (address: string, hop: number) => boolean;

/**
 * The client's address as Express computes `req.ip` (proxy-addr): the connection's peer, then
 * X-Forwarded-For from the right, stopping at the first address the trust setting does not
 * trust. Sockets are counted per address with the same answer HTTP rate limits use.
 */
export function clientAddress(remote: string | undefined, forwardedFor: string | string[] | undefined, trust: TrustProxy): string {
  const addresses = [remote ?? ''];
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  if (header) {
    const hops = header.split(',').map((s) => s.trim());
    for (let i = hops.length - 1; i >= 0; i -= 1) addresses.push(hops[i] as string);
  }
  for (let i = 0; i < addresses.length - 1; i += 1) {
    if (!trust(addresses[i] as string, i)) return addresses[i] as string;
  }
  return addresses[addresses.length - 1] as string;
}
