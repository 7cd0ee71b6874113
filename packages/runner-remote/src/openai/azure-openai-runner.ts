import { InferenceError, RunnerOptions } from '@inferkit/inference-core';
import type { CredentialInput, Secret } from '../http/credentials.js';
import { OPENAI_PRICES } from '../pricing/pricing-table.js';
import { readCredential, REMOTE_RUNNER_OPTION_KEYS } from '../read-remote-runner-options.js';
import { RemoteRunner } from '../remote-runner.js';
import {
  bearerAuth,
  OPENAI_CAPABILITIES,
  OPENAI_OPTION_KEYS,
  openAIWireSettings,
  OpenAIWire,
  readOpenAIOptions,
  type OpenAIRunnerOptions,
} from './openai-runner.js';

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

/** Option keys of `createAzureOpenAIRunner` (no `baseUrl`: `resource` or `endpoint` instead). */
export const AZURE_OPENAI_OPTION_KEYS = [
  ...REMOTE_RUNNER_OPTION_KEYS.filter((k) => k !== 'baseUrl'),
  ...OPENAI_OPTION_KEYS,
  'resource',
  'endpoint',
  'deployment',
  'apiVersion',
  'entraToken',
] as const;

/**
 * A runner for Azure OpenAI chat completions (deployment URL, `api-version`, `api-key` header).
 * @throws InferenceError `bad_request` naming the parameter for invalid or unknown options.
 */
export function createAzureOpenAIRunner(options: AzureOpenAIRunnerOptions): RemoteRunner {
  const raw = new RunnerOptions(options, 'azure-openai', AZURE_OPENAI_OPTION_KEYS);
  const o = readOpenAIOptions(raw);
  const resource = raw.string('resource', { pattern: /^[A-Za-z0-9-]+$/, describe: 'a resource name (letters, digits, -)' });
  const endpointOption = raw.string('endpoint', { nonEmpty: true });
  const deployment = raw.string('deployment', { nonEmpty: true });
  const apiVersion = raw.string('apiVersion', { nonEmpty: true }) ?? AZURE_OPENAI_DEFAULT_API_VERSION;
  const entraToken = readCredential(raw, 'entraToken');
  const endpoint = endpointOption ?? (resource !== undefined ? `https://${resource}.openai.azure.com` : undefined);
  if (endpoint === undefined) {
    throw new InferenceError('bad_request', 'azure-openai: give resource or endpoint', { details: { param: 'endpoint' } });
  }
  const root = endpoint.replace(/\/+$/, '');
  let basePath: string;
  try {
    basePath = new URL(root).pathname.replace(/\/+$/, '');
  } catch {
    throw new InferenceError('bad_request', `azure-openai: endpoint ${JSON.stringify(endpoint)} is not a valid URL`, { details: { param: 'endpoint' } });
  }
  const useEntra = entraToken !== undefined;
  const credential = useEntra ? entraToken : (o.apiKey ?? { from: 'env' as const, name: 'AZURE_OPENAI_API_KEY' });
  const query = `?api-version=${encodeURIComponent(apiVersion)}`;
  const wire = new OpenAIWire(
    openAIWireSettings('azure-openai', basePath, o, {
      path: (batch) => `${basePath}/openai/deployments/${encodeURIComponent(deployment ?? batch.model)}/chat/completions${query}`,
      auth: useEntra ? bearerAuth : (secret: Secret | undefined): Record<string, string> => (secret === undefined ? {} : { 'api-key': secret.reveal() }),
      sendModel: false,
    }),
  );
  return new RemoteRunner({
    wire,
    baseUrl: root,
    options: { ...o, baseUrl: root, apiKey: credential },
    defaultPrices: OPENAI_PRICES,
    credentialRequired: true,
    capabilities: OPENAI_CAPABILITIES,
  });
}
