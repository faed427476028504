/**
 * The desk imports the hub's wire types (src/contracts, src/domain/types.ts) with `import type`.
 * Their chain reaches src/domain/ports.ts, whose transcript and mail ports name Node's Buffer;
 * the web code is checked with DOM types only, so Buffer is declared here as the bytes it is.
 * Nothing of it is bundled: type imports are erased.
 */
type Buffer = Uint8Array;
