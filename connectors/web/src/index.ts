/** What website backends may reuse: the callback signature check and the payload types. */
export { signWebPayload, verifyWebSignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './web-signature.js';
export type { WebCallbackPayload } from './web.payload.js';
