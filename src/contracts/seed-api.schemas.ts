import { z } from 'zod';
import { attachmentSchema, jsonObject, MAX_TEXT, outboundContent, phoneSchema, uuid } from './schemas.js';

/**
 * Bodies of the chat plugin, messages and contacts endpoints (§6). They keep the seeds'
 * snake_case field names; types are derived from the schemas.
 */

const channelId = z.string().trim().min(1).max(128);
const jwtString = z.string().min(1).max(4096);
const conversationId = z.string().min(1).max(100);

export const chatPluginAuthenticateSchema = z
  .strictObject({ channel_id: channelId.optional(), resume_token: jwtString.optional() })
  .refine((b) => (b.channel_id === undefined) !== (b.resume_token === undefined), {
    message: 'send exactly one of channel_id (a new conversation) or resume_token (resume one)',
    path: ['channel_id'],
  });
export type ChatPluginAuthenticateRequest = z.infer<typeof chatPluginAuthenticateSchema>;

/** chatplugin.resumeToken: empty with a chat plugin token; channel and conversation with the system token. */
export const chatPluginResumeTokenSchema = z.strictObject({ channel_id: channelId.optional(), conversation_id: conversationId.optional() });

/** chatplugin.revokeResumeToken (extension): the conversation (system token), nothing (chat plugin token), or the resume token itself. */
export const chatPluginRevokeSchema = z.strictObject({ conversation_id: conversationId.optional(), resume_token: jwtString.optional() });

export const chatPluginSendSchema = z.strictObject({ message: outboundContent });
export type ChatPluginSendRequest = z.infer<typeof chatPluginSendSchema>;

export const MAX_PAGE_SIZE = 100;

export const messagesListSchema = z.strictObject({
  conversation_id: conversationId,
  cursor: z.string().min(1).max(500).optional(),
  page_size: z
    .number({ message: `must be a whole number from 1 to ${MAX_PAGE_SIZE}` })
    .int(`must be a whole number from 1 to ${MAX_PAGE_SIZE}`)
    .min(1, `must be from 1 to ${MAX_PAGE_SIZE}`)
    .max(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`)
    .default(20),
});
export type MessagesListRequest = z.infer<typeof messagesListSchema>;

const suggestion = z.object({
  content: z.strictObject({
    text: z.string().min(1).max(MAX_TEXT, `must be at most ${MAX_TEXT} characters`),
    attachments: z.array(attachmentSchema).max(20).optional(),
  }),
});

export const suggestRepliesSchema = z.strictObject({
  message_id: uuid,
  suggestions: z
    .record(z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'suggestion ids must be 1-100 letters, digits, "_" or "-"'), suggestion)
    .refine((s) => Object.keys(s).length <= 20, 'at most 20 suggestions'),
});
export type SuggestRepliesRequest = z.infer<typeof suggestRepliesSchema>;

export const contactsIdentifySchema = z
  .strictObject({
    channel_id: channelId,
    external_id: z.string().trim().min(1).max(200).optional(),
    email: z.email('must be an email address').max(320).optional(),
    phone_number: phoneSchema.optional(),
    metadata: jsonObject
      .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= 16_384, 'must be at most 16 KB as JSON')
      .optional(),
  })
  .refine((b) => b.external_id !== undefined || b.email !== undefined || b.phone_number !== undefined, {
    message: 'at least one of external_id, email or phone_number is required',
    path: ['external_id'],
  });
export type ContactsIdentifyRequest = z.infer<typeof contactsIdentifySchema>;
