import ar from './i18n/ar.json';
import de from './i18n/de.json';
import en from './i18n/en.json';

/** Every text the widget shows; en.json is the reference, a language file may leave keys out. */
export type Strings = typeof en;
export type StringKey = Exclude<keyof Strings, 'dir'>;

/**
 * Bundled languages. Another language is one JSON file with en.json's keys in i18n/ and a line
 * here (docs/widget.md); keys it leaves out are English.
 */
const BUNDLED: Record<string, Partial<Strings>> = { en, de, ar };

export interface Translator {
  lang: string;
  dir: 'ltr' | 'rtl';
  t(key: StringKey, values?: Record<string, string | number>): string;
}

/** The best bundled language for a tag such as `de-AT` (falls back to English). */
export function translator(tag: string): Translator {
  const lang = tag.toLowerCase().split(/[-_]/)[0] ?? 'en';
  const strings: Strings = { ...en, ...(BUNDLED[lang] ?? {}) };
  return {
    lang: BUNDLED[lang] ? lang : 'en',
    dir: strings.dir === 'rtl' ? 'rtl' : 'ltr',
    t: (key, values = {}) => strings[key].replace(/\{(\w+)\}/g, (_, name: string) => String(values[name] ?? '')),
  };
}
