import type { Participant } from '../contracts/schemas.js';
import type { TranscriptEntry, TranscriptHeader } from './ports.js';
import type { StoredMessage } from './types.js';

const MAX_LABEL = 200;
const MAX_URL_SHOWN = 300;

/** How an attachment's address is shown: data URLs by type and size only, long URLs shortened. */
export function shownUrl(url: string): string {
  if (url.startsWith('data:')) {
    const comma = url.indexOf(',');
    const kind = url.slice(5, comma > 0 ? Math.min(comma, 60) : 60).split(';')[0] || 'data';
    return `embedded ${kind}, ${Math.max(1, Math.round((url.length * 0.75) / 1024))} KB`;
  }
  return url.length > MAX_URL_SHOWN ? `${url.slice(0, MAX_URL_SHOWN)}…` : url;
}

/** A name from a stored payload, as plain bounded text. */
function label(value: unknown, fallback: string): string {
  const text = typeof value === 'string' ? value.trim() : '';
  return (text || fallback).slice(0, MAX_LABEL);
}

function nameOf(p: Participant | undefined): string {
  return label(p?.name, p?.id ?? 'someone');
}

function participantIn(info: Record<string, unknown> | undefined, key: string): Participant | undefined {
  const value = info?.[key];
  if (value && typeof value === 'object' && !Array.isArray(value)) return value as Participant;
  return undefined;
}

/** The quiet line an activity becomes in a transcript; undefined for activities a transcript leaves out. */
export function describeActivity(m: StoredMessage): string | undefined {
  const info = m.info;
  switch (m.activityType) {
    case 'greetings':
      return label(info?.['text'], 'Welcome');
    case 'participantJoined':
      return `${nameOf(m.from)} joined the conversation`;
    case 'participantLeft':
      return `${nameOf(m.from)} left the conversation`;
    case 'participantAdded':
      return `${nameOf(participantIn(info, 'participant'))} was added to the conversation`;
    case 'participantRemoved':
      return `${nameOf(participantIn(info, 'participant'))} was removed from the conversation`;
    case 'endOfConversation': {
      const by = participantIn(info, 'endedBy') ?? m.from;
      return `Conversation ended by ${nameOf(by)}`;
    }
    case 'handOff':
      return 'Waiting for an agent';
    case 'noAgentAvailable':
      return 'No agent was available at that moment';
    default:
      return undefined;
  }
}

/** The transcript line of a stored message, or undefined when it has none (typing). */
export function toTranscriptEntry(m: StoredMessage): TranscriptEntry | undefined {
  if (m.type === 'ChatMessage') {
    return {
      kind: 'message',
      sender: nameOf(m.from),
      role: m.from.role ?? 'participant',
      at: m.timestamp,
      text: m.text ?? '',
      attachments: (m.attachments ?? []).map((a) => ({ name: a.name, url: a.contentUrl })),
    };
  }
  const text = describeActivity(m);
  return text === undefined ? undefined : { kind: 'activity', at: m.timestamp, text };
}

/** The customer's full name as given at init. */
export function customerName(conversation: TranscriptHeader): string {
  return [conversation.customer.firstName, conversation.customer.lastName].filter(Boolean).join(' ');
}

/** The customer's ways to be reached, for the transcript header. */
export function customerContact(conversation: TranscriptHeader): string {
  const c = conversation.customer;
  return [c.email, c.phone, c.refId && c.refId !== c.email && c.refId !== c.phone ? c.refId : undefined].filter(Boolean).join(' · ');
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Building an Intl formatter costs far more than using one: keep them per style, locale and zone. */
function formatter(style: 'dateTime' | 'time' | 'date', locale: string, timeZone: string): Intl.DateTimeFormat {
  const key = `${style}|${locale}|${timeZone}`;
  let f = formatters.get(key);
  if (!f) {
    const options: Intl.DateTimeFormatOptions =
      style === 'dateTime' ? { dateStyle: 'medium', timeStyle: 'long' } : style === 'time' ? { timeStyle: 'medium' } : { dateStyle: 'full' };
    f = new Intl.DateTimeFormat(locale, { ...options, timeZone });
    if (formatters.size > 500) formatters.clear();
    formatters.set(key, f);
  }
  return f;
}

/** A date and time as a reader in `locale` and `timeZone` writes it, with the zone named. */
export function formatDateTime(at: Date, locale: string, timeZone: string): string {
  return formatter('dateTime', locale, timeZone).format(at);
}

/** A time of day (with seconds) in `locale` and `timeZone`. */
export function formatTime(at: Date, locale: string, timeZone: string): string {
  return formatter('time', locale, timeZone).format(at);
}

/** A calendar date in `locale` and `timeZone`, for day separators. */
export function formatDate(at: Date, locale: string, timeZone: string): string {
  return formatter('date', locale, timeZone).format(at);
}

/** The locale to format with: the customer's language when the runtime knows it, English otherwise. */
export function transcriptLocale(language: string | undefined): string {
  if (!language) return 'en';
  try {
    return Intl.DateTimeFormat.supportedLocalesOf([language.replace('_', '-')])[0] ?? 'en';
  } catch {
    return 'en';
  }
}
