/**
 * One part of a multi-part message. Told apart by `type`.
 * - `text`: plain text.
 * - `image_base64`: inline image bytes, base64-encoded, with their MIME type (`image/png`, ...).
 * - `image_url`: an image the provider fetches itself (`https:` or `data:` URL).
 */
export type ContentPart =
  | { type: 'text'; /** The text. */ text: string }
  | {
      type: 'image_base64';
      /** MIME type of the image, e.g. `'image/png'`. */
      mime: string;
      /** Base64-encoded image bytes (no `data:` prefix). */
      data: string;
    }
  | { type: 'image_url'; /** URL of the image. */ url: string };
