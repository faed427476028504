import { fmt, formatTable, mib } from '../common/stats.js';
import type { TranscriptCase, TranscriptResult, TranscriptRun } from './transcript-runner.js';

function plus(peak: number | undefined, before: number | undefined): string {
  return peak !== undefined && before !== undefined ? `+${mib(Math.max(0, peak - before))}` : 'n/a';
}

function runRow(c: TranscriptCase, r: TranscriptRun): string[] {
  return [
    `${fmt(c.size)}${c.warmup ? ' (warm-up)' : ''}`,
    `${r.run}${r.cold ? ' (cold)' : ''}`,
    fmt(r.firstByteSeconds, 2),
    fmt(r.seconds, 2),
    fmt(r.bytes),
    fmt(r.pages),
    mib(r.rssBeforeBytes),
    `${mib(r.peakRssBytes)} (${plus(r.peakRssBytes, r.rssBeforeBytes)})`,
    r.hwmBytes !== undefined ? `${mib(r.hwmBytes)} (${plus(r.hwmBytes, r.rssBeforeBytes)})` : 'n/a',
    mib(r.rssAfterBytes),
    `${fmt(r.hubCpuSeconds, 2)}/${fmt(r.storeCpuSeconds, 2)}`,
    r.problems.length ? r.problems.join('; ') : 'ok',
  ];
}

function caseLine(c: TranscriptCase, pageSize: number): string {
  const s = c.seed;
  const seeded = s
    ? `${fmt(s.chat)} chat (${fmt(s.multiLine)} multi-line, ${fmt(s.withAttachments)} with attachments, ${fmt(s.textChars / Math.max(1, s.chat))} chars on average), ` +
      `${fmt(s.whispers)} whispers, ${fmt(s.activities)} participantJoined; inserted in ${s.batches} batches in ${fmt(s.seconds, 1)} s`
    : 'not seeded';
  const read = c.storeRead
    ? `the same reads alone (${c.storeRead.pages} pages of ${pageSize}, ${fmt(c.storeRead.messages)} messages): ${fmt(c.storeRead.seconds, 2)} s`
    : 'reads alone: n/a';
  const first = c.runs[0];
  const entries =
    first?.entries !== undefined && c.storeRead
      ? `; the PDF lists ${fmt(first.entries)} entries${first.entries === c.storeRead.messages ? '' : ` (MISMATCH: the customer may see ${fmt(c.storeRead.messages)})`}`
      : '';
  return `${fmt(c.size)}: ${seeded}; set up in ${fmt(c.setupSeconds, 1)} s; store held ${fmt(c.storeMessages)} messages; ${read}${entries}${c.error ? `; FAILED: ${c.error}` : ''}`;
}

/** The transcripts section of the report. */
export function transcriptSection(t: TranscriptResult | undefined): string[] {
  if (!t) return ['', '=== Transcripts: not run ==='];
  const out = [
    '',
    '=== Transcripts: GET /api/customer/transcript/:id/pdf (system token), one request at a time, on their own hub process and fresh database; ' +
      'each conversation = hub greeting and joins + seeded messages + the end notice ===',
    formatTable(
      ['messages', 'run', 'first byte s', 'last byte s', 'PDF bytes', 'pages', 'RSS before', 'peak RSS (25 ms samples)', 'peak RSS (VmHWM)', 'RSS after', 'CPU s hub/store', 'checks'],
      t.cases.flatMap((c) => c.runs.map((r) => runRow(c, r))),
    ),
    '(last byte = request → whole body read; checks: %PDF- at the start, %%EOF at the end, and on run 1 via pdftotext no whisper and the end notice present; ' +
      'cold = the hub\'s first render, which loads its fonts; the warm-up conversation takes it so the measured renders are warm)',
  ];
  for (const c of t.cases) if (!c.warmup) out.push(caseLine(c, t.pageSize));
  if (t.hubLog && t.hubLog.warn + t.hubLog.error > 0) {
    out.push(`the transcripts hub logged ${t.hubLog.warn} warnings and ${t.hubLog.error} errors; the first:`);
    for (const sample of t.hubLog.samples.slice(0, 3)) out.push(`  ${sample}`);
  }
  return out;
}

/** One summary row per size (its last run): time, size and memory increase. */
export function transcriptSummaryRows(t: TranscriptResult | undefined): string[][] {
  if (!t) return [['transcript PDF', 'not run', 'no goal', 'n/a']];
  return t.cases.filter((c) => !c.warmup).map((c) => {
    const r = c.runs[c.runs.length - 1];
    const figure = r
      ? `${fmt(r.seconds, 2)} s to the last byte, ${fmt(r.bytes)} bytes, ${fmt(r.pages)} pages, peak RSS ${mib(r.peakRssBytes)} (${plus(r.peakRssBytes, r.rssBeforeBytes)})` +
        `${r.problems.length ? `, PROBLEMS: ${r.problems.join('; ')}` : ''}`
      : `not run${c.error ? ` (${c.error.slice(0, 80)})` : ''}`;
    return [`transcript PDF, ${fmt(c.size)} messages`, figure, 'no goal', 'n/a'];
  });
}
