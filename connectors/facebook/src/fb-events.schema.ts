import { z } from 'zod';

/**
 * The Messenger Platform webhook body (`POST /webhook`), as Meta documents it for `object: "page"`.
 * Objects are loose: Meta adds fields over time (reply_to, quick_reply, reactions, referral…) and an
 * unknown field must never turn a correctly signed delivery into a 400 that Meta retries forever.
 * Only the fields this connector reads are checked.
 */

const id = z.string().min(1).max(200);

export const fbAttachmentSchema = z.looseObject({
  // image | video | audio | file | fallback documented; template, location, sticker-as-image… occur.
  type: z.string().min(1).max(50),
  // `fallback` (a shared link) may carry a null payload and put its URL beside it.
  payload: z
    .looseObject({
      url: z.string().max(10_000).optional(),
      title: z.string().max(2_000).optional(),
    })
    .nullish(),
  url: z.string().max(10_000).optional(),
  title: z.string().max(2_000).optional(),
});
export type FbAttachment = z.infer<typeof fbAttachmentSchema>;

export const fbMessageSchema = z.looseObject({
  mid: id,
  text: z.string().max(100_000).optional(),
  attachments: z.array(fbAttachmentSchema).max(100).optional(),
  // Messages the page itself sent (through the Send API or the inbox) come back as echoes.
  is_echo: z.boolean().optional(),
});

export const fbMessagingEventSchema = z.looseObject({
  sender: z.looseObject({ id }),
  recipient: z.looseObject({ id }),
  timestamp: z.number().optional(),
  message: fbMessageSchema.optional(),
  // Present instead of `message` for the other subscribed fields; only named to log them.
  delivery: z.unknown().optional(),
  read: z.unknown().optional(),
  postback: z.unknown().optional(),
  reaction: z.unknown().optional(),
});
export type FbMessagingEvent = z.infer<typeof fbMessagingEventSchema>;

export const fbEntrySchema = z.looseObject({
  id,
  time: z.number().optional(),
  // Absent for entries of other fields (e.g. `standby` under the handover protocol).
  messaging: z.array(fbMessagingEventSchema).max(1_000).optional(),
});

export const fbWebhookBodySchema = z.looseObject({
  object: z.string().min(1),
  entry: z.array(fbEntrySchema).max(1_000),
});
export type FbWebhookBody = z.infer<typeof fbWebhookBodySchema>;
