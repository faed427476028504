/**
 * Builds an element with attributes and children. Text goes in as Text nodes (textContent), so
 * nothing a customer, an agent or a site wrote is ever parsed as HTML.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Array<Node | string | undefined>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === true) el.setAttribute(name, '');
    else if (typeof value === 'string') el.setAttribute(name, value);
  }
  for (const child of children) if (child !== undefined) el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  return el;
}
