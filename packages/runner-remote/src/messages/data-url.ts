/** `data:<mime>;base64,<data>` — providers that take inline images want the parts separately. */
export const DATA_URL = /^data:([^;,]+);base64,(.*)$/s;
