import { InferenceError } from '@inferkit/inference-core';
import type { CredentialInput, Secret } from '../http/credentials.js';
import { OPENAI_PRICES } from '../pricing/pricing-table.js';
import type { RemoteRunner } from '../remote-runner.js';
import { bearerAuth, createOpenAIStyleRunner, openAIWireSettings, OpenAIWire, type OpenAIRunnerOptions } from './openai-runner.js';

export const AZURE_OPENAI_DEFAULT_API_VERSION = '2024-10-21';

export interface AzureOpenAIRunnerOptions extends Omit<OpenAIRunnerOptions, 'baseUrl'> {
  /** Resource name: `https://{resource}.openai.azure.com`. Give this or `endpoint`. */
  resource?: string;
  /** Full endpoint, e.g. `https://my-res.openai.azure.com` (or a private/proxy URL). */
  endpoint?: string;
  /** Deployment to call; defaults to `batch.model` (deployments are often named after the model). */
  deployment?: string;
  /** `api-version` query parameter. */
  apiVersion?: string;
  /** Sent as the `api-key` header (default: env `AZURE_OPENAI_API_KEY`). */
  apiKey?: CredentialInput;
  /** A Microsoft Entra ID token provider; sent as `Authorization: Bearer` instead of `api-key`. */
  entraToken?: CredentialInput;
}

/** A runner for Azure OpenAI chat completions (deployment URL, `api-version`, `api-key` header). */
export function createAzureOpenAIRunner(options: AzureOpenAIRunnerOptions): RemoteRunner {
  const endpoint = options.endpoint ?? (options.resource !== undefined ? `https://${options.resource}.openai.azure.com` : undefined);
  if (endpoint === undefined) {
    throw new InferenceError('bad_request', 'azure-openai: give resource or endpoint', { details: { param: 'endpoint' } });
  }
  const apiVersion = options.apiVersion ?? AZURE_OPENAI_DEFAULT_API_VERSION;
  const root = endpoint.replace(/\/+$/, '');
  let basePath: string;
  try {
    basePath = new URL(root).pathname.replace(/\/+$/, '');
  } catch {
    throw new InferenceError('bad_request', `azure-openai: endpoint ${JSON.stringify(endpoint)} is not a valid URL`);
  }
  const useEntra = options.entraToken !== undefined;
  const credential = useEntra ? options.entraToken : (options.apiKey ?? { from: 'env' as const, name: 'AZURE_OPENAI_API_KEY' });
  const query = `?api-version=${encodeURIComponent(apiVersion)}`;
  const wire = new OpenAIWire(
    openAIWireSettings('azure-openai', basePath, options, {
      path: (batch) => `${basePath}/openai/deployments/${encodeURIComponent(options.deployment ?? batch.model)}/chat/completions${query}`,
      auth: useEntra ? bearerAuth : (secret: Secret | undefined): Record<string, string> => (secret === undefined ? {} : { 'api-key': secret.reveal() }),
      sendModel: false,
    }),
  );
  return createOpenAIStyleRunner(wire, root, { ...options, baseUrl: root, apiKey: credential! }, OPENAI_PRICES, true);
}
