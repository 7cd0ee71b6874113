import type { FinishReason } from '@inferkit/inference-core';

/** Finish reasons that mean the output was withheld by a filter: surfaced as `content_filtered` errors. */
export const GEMINI_FILTER_REASONS: ReadonlySet<string> = new Set([
  'SAFETY',
  'RECITATION',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
  'IMAGE_PROHIBITED_CONTENT',
  'IMAGE_RECITATION',
]);

/**
 * Gemini `finishReason` → unified reason. Gemini reports `STOP` after a function call, so the
 * caller passes whether one was seen. Filter reasons are handled before this (they become
 * errors); anything else unexpected (`MALFORMED_FUNCTION_CALL`, `OTHER`, ...) is `'error'`.
 */
export function mapGeminiFinishReason(reason: string, sawFunctionCall: boolean): FinishReason {
  switch (reason) {
    case 'STOP':
      return sawFunctionCall ? 'tool_calls' : 'stop';
    case 'MAX_TOKENS':
      return 'length';
    default:
      return GEMINI_FILTER_REASONS.has(reason) ? 'content_filter' : 'error';
  }
}
