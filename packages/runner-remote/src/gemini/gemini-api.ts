/**
 * Gemini `generateContent` wire types (lowerCamelCase JSON): only the fields this package
 * writes or reads (see ../shared/reference/provider-wire.md §3).
 */

export type GeminiPart =
  | { text: string; thought?: boolean }
  | { inlineData: { mimeType: string; data: string } }
  | { fileData: { mimeType: string; fileUri: string } }
  | { functionCall: { name: string; args: unknown; id?: string } }
  | { functionResponse: { name: string; response: unknown; id?: string } };

export interface GeminiContent {
  role: 'user' | 'model';
  parts: GeminiPart[];
}

export interface GeminiRequest {
  contents: GeminiContent[];
  systemInstruction?: { parts: { text: string }[] };
  generationConfig?: {
    temperature?: number;
    topP?: number;
    topK?: number;
    maxOutputTokens?: number;
    stopSequences?: string[];
    presencePenalty?: number;
    frequencyPenalty?: number;
    seed?: number;
    responseMimeType?: string;
    responseJsonSchema?: Record<string, unknown>;
  };
  tools?: { functionDeclarations: { name: string; description?: string; parametersJsonSchema: Record<string, unknown> }[] }[];
  toolConfig?: { functionCallingConfig: { mode: 'AUTO' | 'ANY' | 'NONE'; allowedFunctionNames?: string[] } };
  [extra: string]: unknown;
}

export interface GeminiUsage {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
}

/** A full response, and also the shape of every streamed chunk (holding only the new parts). */
export interface GeminiResponse {
  candidates?: {
    content?: { parts?: { text?: string; thought?: boolean; functionCall?: { name?: string; args?: unknown; id?: string } }[] };
    finishReason?: string;
  }[];
  promptFeedback?: { blockReason?: string };
  usageMetadata?: GeminiUsage;
  error?: GeminiErrorObject;
}

export interface GeminiErrorObject {
  code?: unknown;
  message?: unknown;
  status?: unknown;
  details?: unknown;
}
