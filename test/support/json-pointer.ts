/** The path of a local JSON reference (`#/components/schemas/X`), its `~1` and `~0` escapes undone. */
export function refPointer(ref: string): string[] {
  if (!ref.startsWith('#/')) throw new Error(`only local refs are supported, got ${ref}`);
  return ref
    .slice(2)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The node a local reference points at in `doc`; throws for a dangling one. */
export function resolveRef(doc: unknown, ref: string): unknown {
  let node: unknown = doc;
  for (const part of refPointer(ref)) {
    node = (node as Record<string, unknown> | undefined)?.[part];
    if (node === undefined) throw new Error(`dangling $ref ${ref}`);
  }
  return node;
}
