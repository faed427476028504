export type WebhookEventType = 'message.created' | 'message.updated' | 'conversation.ended';
export interface WebhookPort { emit(type: WebhookEventType, payload: Record<string, unknown>): void; }
