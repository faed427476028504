/** Relative luminance (WCAG 2.x) of a #rrggbb colour. */
function luminance(hex: string): number {
  const channels = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  const [r = 0, g = 0, b = 0] = channels.map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio of two #rrggbb colours. */
export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

const HEX = /^#[0-9a-f]{6}$/i;
export const DEFAULT_PRIMARY = '#1d4ed8';

/**
 * The brand colour and the text on it. A site's colour is used as given, and the text on it is
 * white or near-black, whichever contrasts more; a colour that reaches 4.5:1 (WCAG AA) with
 * neither, or is not #rrggbb, is replaced by the default.
 */
export function brandColours(primary: string | undefined): { primary: string; onPrimary: string } {
  const colour = primary && HEX.test(primary) ? primary : DEFAULT_PRIMARY;
  const onPrimary = contrast(colour, '#ffffff') >= contrast(colour, '#111827') ? '#ffffff' : '#111827';
  if (contrast(colour, onPrimary) < 4.5) return { primary: DEFAULT_PRIMARY, onPrimary: '#ffffff' };
  return { primary: colour, onPrimary };
}

/**
 * The widget's styles, adopted by its shadow root (adoptedStyleSheets): no <style> element and no
 * style attribute, so a page whose CSP has no 'unsafe-inline' shows it as designed. Colours come
 * in as custom properties set through the CSSOM. Every text colour has at least 4.5:1 on its
 * background.
 */
export const CSS = `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Naskh Arabic", sans-serif; }
.root { position: fixed; inset-inline-end: 20px; bottom: 20px; z-index: 2147483000; font-size: 15px; line-height: 1.4; color: #111827; }
button, input, textarea { font: inherit; }
:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
.launcher { position: relative; border: 0; border-radius: 999px; padding: 12px 20px; background: var(--primary); color: var(--on-primary); cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); font-weight: 600; }
.badge { position: absolute; top: -6px; inset-inline-end: -6px; min-width: 22px; height: 22px; padding: 0 6px; border-radius: 11px; background: #b91c1c; color: #fff; font-size: 13px; line-height: 22px; text-align: center; }
.panel { display: flex; flex-direction: column; width: 360px; height: min(560px, calc(100vh - 40px)); background: #fff; border-radius: 12px; box-shadow: 0 10px 30px rgba(0,0,0,.3); overflow: hidden; }
[hidden] { display: none !important; }
.head { display: flex; align-items: center; gap: 8px; padding: 10px 12px; background: var(--primary); color: var(--on-primary); }
.head h2 { flex: 1; margin: 0; font-size: 16px; }
.head button { border: 1px solid currentColor; background: transparent; color: inherit; border-radius: 6px; padding: 4px 8px; cursor: pointer; }
.banner { margin: 0; padding: 8px 12px; background: #fef3c7; color: #78350f; font-size: 14px; }
.error { margin: 0; padding: 8px 12px; background: #fee2e2; color: #7f1d1d; font-size: 14px; }
.body { flex: 1; overflow-y: auto; padding: 12px; background: #fff; }
form.prechat { display: flex; flex-direction: column; gap: 8px; padding: 12px; }
label { font-weight: 600; font-size: 14px; }
input, textarea { width: 100%; border: 1px solid #6b7280; border-radius: 6px; padding: 8px; color: #111827; background: #fff; }
.primary { border: 0; border-radius: 6px; padding: 8px 14px; background: var(--primary); color: var(--on-primary); font-weight: 600; cursor: pointer; }
ol.log { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 8px; }
.msg { max-width: 85%; padding: 8px 10px; border-radius: 10px; background: #f3f4f6; color: #111827; align-self: flex-start; overflow-wrap: anywhere; }
.msg.mine { align-self: flex-end; background: var(--primary); color: var(--on-primary); }
.msg.mine a { color: inherit; }
.msg a { color: #1e40af; }
.who { display: block; font-size: 12px; font-weight: 600; }
.text { margin: 0; white-space: pre-wrap; }
.pending { font-size: 12px; font-style: italic; }
.notice { align-self: center; text-align: center; font-size: 13px; color: #374151; padding: 2px 8px; }
.typing { min-height: 1.4em; margin: 0; padding: 0 12px; font-size: 13px; color: #374151; }
form.composer { display: flex; gap: 8px; padding: 8px 12px 12px; border-top: 1px solid #d1d5db; }
form.composer textarea { resize: none; height: 44px; }
.ended { display: flex; flex-direction: column; gap: 8px; padding: 12px; border-top: 1px solid #d1d5db; }
.sr { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
@media (max-width: 480px) {
  .root.open { inset: 0; }
  .root.open .panel { width: 100vw; height: 100vh; height: 100dvh; border-radius: 0; }
}
`;
