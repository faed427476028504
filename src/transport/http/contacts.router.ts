import { Router } from 'express';
import { parseOrThrow } from '../../contracts/schemas.js';
import { contactsIdentifySchema } from '../../contracts/seed-api.schemas.js';
import type { ContactsService } from '../../domain/contacts.service.js';
import { requireSystem, type Authenticator } from './auth.middleware.js';

/** contacts.identify (seed 004): for a website's backend, with the system token. */
export function contactsRouter(contacts: ContactsService, credentials: Authenticator): Router {
  const router = Router();

  router.post('/contacts.identify', async (req, res) => {
    await requireSystem(req, credentials);
    const input = parseOrThrow(contactsIdentifySchema, req.body, 'contacts.identify request');
    res.json(await contacts.identify(input));
  });

  return router;
}
